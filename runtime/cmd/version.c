#include <stdio.h>

#include <lua.h>

#include "cmd/cmd.h"
#include "kubelua/version.h"

int kl_cmd_version(int argc, char **argv)
{
    printf("kubelua %s (Kubernetes API %s, %s)\n", KL_VERSION, KL_KUBE_GIT_VERSION, LUA_RELEASE);
    return 0;
}
