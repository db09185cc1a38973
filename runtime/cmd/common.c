/* Option handling shared by the subcommands. */
#include <stdio.h>

#include "kubelua/log.h"

#include "cmd/cmd.h"

int kl_cmd_set_verbosity(const char *cmd, const char *level)
{
    int lvl = kl_log_level_parse(level);
    if (lvl < 0) {
        fprintf(stderr, "kubelua %s: bad -v level '%s' (error, warn, info, debug, trace or 0-4)\n",
                cmd, level);
        return -1;
    }
    kl_log_set_level((kl_log_level_t)lvl);
    return 0;
}
