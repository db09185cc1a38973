/* kubelua/version.h - the kubelua version and the Kubernetes version whose API it emulates. */
#ifndef KUBELUA_VERSION_H
#define KUBELUA_VERSION_H

#ifndef KL_VERSION
#define KL_VERSION "0.1.0"
#endif

/* The embedded API server reports this in /version, and the bundled controllers follow the
 * behaviour of kube-controller-manager of the same minor version. */
#define KL_KUBE_MAJOR "1"
#define KL_KUBE_MINOR "32"
#define KL_KUBE_GIT_VERSION "v1.32.0"

#endif
