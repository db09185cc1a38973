/* kubelua __exec - the container supervisor the node agent spawns for each container process
 * (see kubelua/proc.h). Hidden: not meant to be run by hand. */
#include "kubelua/proc.h"

#include "cmd/cmd.h"

int kl_cmd_exec(int argc, char **argv)
{
    return kl_proc_exec_main(argc, argv);
}
