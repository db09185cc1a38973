#include "kubelua/version.h"

#include <lua.h>
#include <stdio.h>

#include "cmd/cmd.h"

int kl_cmd_version(int argc, char **argv)
{
    printf("kubelua %s (Kubernetes API %s, %s)\n", KL_VERSION, KL_KUBE_GIT_VERSION, LUA_RELEASE);
    return 0;
}
