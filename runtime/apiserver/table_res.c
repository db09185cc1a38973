/* Built-in printers of the kinds served without a controller: RBAC bindings, ResourceQuota,
 * PersistentVolume(Claim), PodTemplate, ReplicationController, PriorityClass,
 * PodDisruptionBudget, Ingress, IngressClass, NetworkPolicy, EndpointSlice,
 * HorizontalPodAutoscaler, StorageClass and RuntimeClass. Columns and cells are those of
 * kube-apiserver 1.32 (pkg/printers/internalversion), printed wide. Roles, ClusterRoles and
 * LimitRanges have no printer upstream: they get the default (Name, Created At). Quantities are
 * printed as stored, not re-canonicalized. */
#include <stdlib.h>
#include <string.h>

#include "apiserver/table_int.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static void cell_name(kl__cells_t *c, kl_val_t obj)
{
    size_t n;
    const char *s = kl__str(kl_val_get(obj, "metadata"), "name", &n);
    kl__cell_strn(c, s, n);
}

static void cell_age(kl__cells_t *c, kl_val_t obj)
{
    kl__cell_age(c, kl_val_path(obj, "metadata", "creationTimestamp", NULL));
}

static bool terminating(kl_val_t obj)
{
    return kl__present(kl_val_path(obj, "metadata", "deletionTimestamp", NULL));
}

/* A Quantity or IntOrString as text (numbers as integers). */
static void tmp_scalar(kl__cells_t *c, kl_val_t v)
{
    size_t n;
    const char *s = kl_val_str(v, &n);
    if (s)
        kl__tmp_putn(c, s, n);
    else if (kl_val_type(v) == KL_TINT || kl_val_type(v) == KL_TDOUBLE)
        kl__tmp_printf(c, "%lld", (long long)kl_val_int(v));
    else
        kl__tmp_puts(c, "0");
}

/* helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order. */
static void cell_access_modes(kl__cells_t *c, kl_val_t modes)
{
    static const char *const names[][2] = {{"ReadWriteOnce", "RWO"},
                                           {"ReadOnlyMany", "ROX"},
                                           {"ReadWriteMany", "RWX"},
                                           {"ReadWriteOncePod", "RWOP"}};
    kl__tmp_reset(c);
    bool first = true;
    for (int k = 0; k < 4; k++) {
        for (uint32_t i = 0; i < kl_val_len(modes); i++) {
            if (kl__str_is(kl_val_at(modes, i), names[k][0])) {
                kl__tmp_puts(c, first ? "" : ",");
                kl__tmp_puts(c, names[k][1]);
                first = false;
                break;
            }
        }
    }
    kl__cell_tmp(c);
}

/* The class of a volume or claim: the beta annotation wins over spec.storageClassName. */
static void cell_storage_class(kl__cells_t *c, kl_val_t obj)
{
    kl_val_t ann = kl_val_path(obj, "metadata", "annotations",
                               "volume.beta.kubernetes.io/storage-class", NULL);
    size_t n;
    const char *s = kl_val_str(ann, &n);
    if (s == NULL)
        s = kl__str(kl_val_get(obj, "spec"), "storageClassName", &n);
    kl__cell_strn(c, s, n);
}

static void cell_str_or(kl__cells_t *c, kl_val_t v, const char *key, const char *dflt)
{
    size_t n;
    const char *s = kl_val_str(kl_val_get(v, key), &n);
    if (s)
        kl__cell_strn(c, s, n);
    else
        kl__cell_str(c, dflt);
}

/* ---- RBAC bindings ---------------------------------------------------------------------- */

static const kl__column_t binding_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Role", "string", "", "The role granted, as kind/name.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Users", "string", "", "Users the role is granted to.", 1},
    {"Groups", "string", "", "Groups the role is granted to.", 1},
    {"ServiceAccounts", "string", "", "Service accounts the role is granted to.", 1},
};

static void binding_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t b)
{
    cell_name(c, b);
    kl_val_t rr = kl_val_get(b, "roleRef");
    size_t kn, nn;
    const char *k = kl__str(rr, "kind", &kn), *n = kl__str(rr, "name", &nn);
    kl__cell_printf(c, "%.*s/%.*s", (int)kn, k, (int)nn, n);
    cell_age(c, b);
    /* rbac.SubjectsStrings: users, groups, and namespace/name of service accounts. */
    kl_val_t subs = kl_val_get(b, "subjects");
    static const char *const kinds[] = {"User", "Group", "ServiceAccount"};
    for (int k2 = 0; k2 < 3; k2++) {
        kl__tmp_reset(c);
        bool first = true;
        for (uint32_t i = 0; i < kl_val_len(subs); i++) {
            kl_val_t s = kl_val_at(subs, i);
            if (!kl__str_is(kl_val_get(s, "kind"), kinds[k2]))
                continue;
            size_t ln, sn;
            const char *name = kl__str(s, "name", &ln);
            kl__tmp_puts(c, first ? "" : ", ");
            first = false;
            if (k2 == 2) {
                const char *ns = kl__str(s, "namespace", &sn);
                kl__tmp_putn(c, ns, sn);
                kl__tmp_puts(c, "/");
            }
            kl__tmp_putn(c, name, ln);
        }
        kl__cell_tmp(c);
    }
}

/* ---- Core ------------------------------------------------------------------------------- */

static const kl__column_t quota_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Request", "string", "", "Used and hard amounts of the resources other than limits.", 0},
    {"Limit", "string", "", "Used and hard amounts of the limits.* resources.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void quota_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t q)
{
    cell_name(c, q);
    kl_val_t hard = kl_val_path(q, "status", "hard", NULL);
    kl_val_t used = kl_val_path(q, "status", "used", NULL);
    uint32_t n = kl_val_type(hard) == KL_TOBJECT ? kl_val_len(hard) : 0;
    const char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
    if (n && keys == NULL) {
        c->rc = KL_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kn;
        kl_val_member(hard, i, &k, &kn);
        keys[i] = strndup(k, kn);
        if (keys[i] == NULL)
            c->rc = KL_ENOMEM;
    }
    if (c->rc < 0) {
        for (uint32_t i = 0; i < n; i++)
            free((char *)keys[i]);
        free(keys);
        return;
    }
    if (n > 1)
        qsort(keys, n, sizeof(*keys), cmp_str);
    for (int lim = 0; lim < 2; lim++) {
        kl__tmp_reset(c);
        bool first = true;
        for (uint32_t i = 0; i < n; i++) {
            bool is_limit = strncmp(keys[i], "limits.", 7) == 0;
            if (is_limit != (lim == 1))
                continue;
            kl__tmp_printf(c, "%s%s: ", first ? "" : ", ", keys[i]);
            first = false;
            tmp_scalar(c, kl_val_get(used, keys[i]));
            kl__tmp_puts(c, "/");
            tmp_scalar(c, kl_val_get(hard, keys[i]));
        }
        kl__cell_tmp(c);
    }
    for (uint32_t i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
    cell_age(c, q);
}

static const kl__column_t pv_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Capacity", "string", "", "Storage capacity of the volume.", 0},
    {"Access Modes", "string", "", "How the volume can be mounted.", 0},
    {"Reclaim Policy", "string", "", "What happens to the volume when its claim goes.", 0},
    {"Status", "string", "", "Phase of the volume.", 0},
    {"Claim", "string", "", "The claim bound to the volume, as namespace/name.", 0},
    {"StorageClass", "string", "", "StorageClass of the pv", 0},
    {"VolumeAttributesClass", "string", "", "VolumeAttributesClass of the pv", 0},
    {"Reason", "string", "", "Why the volume failed, if it did.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"VolumeMode", "string", "", "Block or Filesystem.", 1},
};

static void pv_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pv)
{
    kl_val_t spec = kl_val_get(pv, "spec"), status = kl_val_get(pv, "status");
    cell_name(c, pv);
    kl__tmp_reset(c);
    tmp_scalar(c, kl_val_path(spec, "capacity", "storage", NULL));
    kl__cell_tmp(c);
    cell_access_modes(c, kl_val_get(spec, "accessModes"));
    size_t n;
    const char *s = kl__str(spec, "persistentVolumeReclaimPolicy", &n);
    kl__cell_strn(c, s, n);
    if (terminating(pv)) {
        kl__cell_str(c, "Terminating");
    } else {
        s = kl__str(status, "phase", &n);
        kl__cell_strn(c, s, n);
    }
    kl_val_t cr = kl_val_get(spec, "claimRef");
    if (kl__present(cr)) {
        size_t a, b;
        const char *ns = kl__str(cr, "namespace", &a), *nm = kl__str(cr, "name", &b);
        kl__cell_printf(c, "%.*s/%.*s", (int)a, ns, (int)b, nm);
    } else {
        kl__cell_str(c, "");
    }
    cell_storage_class(c, pv);
    cell_str_or(c, spec, "volumeAttributesClassName", "<unset>");
    s = kl__str(status, "reason", &n);
    kl__cell_strn(c, s, n);
    cell_age(c, pv);
    cell_str_or(c, spec, "volumeMode", "<unset>");
}

static const kl__column_t pvc_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Status", "string", "", "Phase of the claim.", 0},
    {"Volume", "string", "", "The volume bound to the claim.", 0},
    {"Capacity", "string", "", "Capacity of the bound volume.", 0},
    {"Access Modes", "string", "", "Access modes of the bound volume.", 0},
    {"StorageClass", "string", "", "StorageClass of the pvc", 0},
    {"VolumeAttributesClass", "string", "", "VolumeAttributesClass of the pvc", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"VolumeMode", "string", "", "Block or Filesystem.", 1},
};

static void pvc_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pvc)
{
    kl_val_t spec = kl_val_get(pvc, "spec"), status = kl_val_get(pvc, "status");
    cell_name(c, pvc);
    size_t n;
    const char *s;
    if (terminating(pvc)) {
        kl__cell_str(c, "Terminating");
    } else {
        s = kl__str(status, "phase", &n);
        kl__cell_strn(c, s, n);
    }
    const char *vol = kl__str(spec, "volumeName", &n);
    kl__cell_strn(c, vol, n);
    if (n > 0) {
        kl__tmp_reset(c);
        tmp_scalar(c, kl_val_path(status, "capacity", "storage", NULL));
        kl__cell_tmp(c);
        cell_access_modes(c, kl_val_get(status, "accessModes"));
    } else {
        kl__cell_str(c, "");
        kl__cell_str(c, "");
    }
    cell_storage_class(c, pvc);
    cell_str_or(c, spec, "volumeAttributesClassName", "<unset>");
    cell_age(c, pvc);
    cell_str_or(c, spec, "volumeMode", "<unset>");
}

static const kl__column_t podtemplate_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Containers", "string", "", kl__desc_containers, 0},
    {"Images", "string", "", kl__desc_images, 0},
    {"Pod Labels", "string", "", "Labels of the pod template.", 0},
};

static void podtemplate_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pt)
{
    cell_name(c, pt);
    kl__cell_containers(c, kl_val_path(pt, "template", "spec", "containers", NULL));
    kl__cell_labels(c, kl_val_path(pt, "template", "metadata", "labels", NULL));
}

static const kl__column_t rc_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Desired", "integer", "", "Number of desired pods.", 0},
    {"Current", "integer", "", "Number of pods created.", 0},
    {"Ready", "integer", "", "Number of ready pods.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "", "Labels of the pods managed.", 1},
};

static void rc_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t rc)
{
    kl_val_t spec = kl_val_get(rc, "spec"), status = kl_val_get(rc, "status");
    cell_name(c, rc);
    kl_val_t r = kl_val_get(spec, "replicas");
    kl__cell_int(c, kl__present(r) ? kl_val_int(r) : 1);
    kl__cell_int(c, kl_val_int(kl_val_get(status, "replicas")));
    kl__cell_int(c, kl_val_int(kl_val_get(status, "readyReplicas")));
    cell_age(c, rc);
    kl__cell_containers(c, kl_val_path(spec, "template", "spec", "containers", NULL));
    kl__cell_labels(c, kl_val_get(spec, "selector"));
}

/* ---- Scheduling, policy ----------------------------------------------------------------- */

static const kl__column_t pc_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Value", "integer", "", "Priority of the pods of this class.", 0},
    {"Global-Default", "boolean", "", "Whether pods without a class get this one.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"PreemptionPolicy", "string", "", "Whether pods of this class preempt lower ones.", 0},
};

static void pc_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pc)
{
    cell_name(c, pc);
    kl__cell_int(c, kl_val_int(kl_val_get(pc, "value")));
    kl__cell_bool(c, kl_val_bool(kl_val_get(pc, "globalDefault")));
    cell_age(c, pc);
    size_t n;
    const char *s = kl__str(pc, "preemptionPolicy", &n);
    kl__cell_strn(c, s, n);
}

static const kl__column_t pdb_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Min Available", "string", "", "Pods that must stay available.", 0},
    {"Max Unavailable", "string", "", "Pods that may be unavailable.", 0},
    {"Allowed Disruptions", "integer", "", "Evictions allowed now.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void pdb_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pdb)
{
    kl_val_t spec = kl_val_get(pdb, "spec");
    cell_name(c, pdb);
    static const char *const keys[] = {"minAvailable", "maxUnavailable"};
    for (int k = 0; k < 2; k++) {
        kl_val_t v = kl_val_get(spec, keys[k]);
        if (!kl__present(v)) {
            kl__cell_str(c, "N/A");
            continue;
        }
        kl__tmp_reset(c);
        tmp_scalar(c, v);
        kl__cell_tmp(c);
    }
    kl__cell_int(c, kl_val_int(kl_val_path(pdb, "status", "disruptionsAllowed", NULL)));
    cell_age(c, pdb);
}

/* ---- Networking ------------------------------------------------------------------------- */

static const kl__column_t ingress_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Class", "string", "", "IngressClass of the ingress.", 0},
    {"Hosts", "string", "", "Hosts the rules match.", 0},
    {"Address", "string", "", "Addresses of the load balancer.", 0},
    {"Ports", "string", "", "Ports the ingress opens.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void ingress_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ing)
{
    kl_val_t spec = kl_val_get(ing, "spec");
    cell_name(c, ing);
    cell_str_or(c, spec, "ingressClassName", "<none>");
    /* formatHosts: the first three hosts, then "+ N more...", "*" when none. */
    kl_val_t rules = kl_val_get(spec, "rules");
    uint32_t nr = kl_val_len(rules), listed = 0;
    bool more = false;
    kl__tmp_reset(c);
    for (uint32_t i = 0; i < nr; i++) {
        if (listed == 3)
            more = true;
        size_t n;
        const char *h = kl__str(kl_val_at(rules, i), "host", &n);
        if (!more && n) {
            kl__tmp_puts(c, listed ? "," : "");
            kl__tmp_putn(c, h, n);
            listed++;
        }
    }
    if (listed == 0)
        kl__tmp_puts(c, "*");
    else if (more)
        kl__tmp_printf(c, " + %u more...", nr - 3);
    kl__cell_tmp(c);
    /* Load balancer IPs or host names, sorted and unique. */
    kl_val_t lbs = kl_val_path(ing, "status", "loadBalancer", "ingress", NULL);
    uint32_t nl = kl_val_len(lbs);
    const char **addrs = nl ? calloc(nl, sizeof(*addrs)) : NULL;
    uint32_t na = 0;
    for (uint32_t i = 0; addrs && i < nl; i++) {
        const char *a = kl__str(kl_val_at(lbs, i), "ip", NULL);
        if (!*a)
            a = kl__str(kl_val_at(lbs, i), "hostname", NULL);
        if (*a)
            addrs[na++] = a;
    }
    if (na > 1)
        qsort(addrs, na, sizeof(*addrs), cmp_str);
    kl__tmp_reset(c);
    for (uint32_t i = 0; i < na; i++)
        if (i == 0 || strcmp(addrs[i], addrs[i - 1]) != 0)
            kl__tmp_printf(c, "%s%s", c->tmp.len ? "," : "", addrs[i]);
    free(addrs);
    kl__cell_tmp(c);
    kl__cell_str(c, kl_val_len(kl_val_get(spec, "tls")) ? "80, 443" : "80");
    cell_age(c, ing);
}

static const kl__column_t ingressclass_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Controller", "string", "", "Controller implementing the class.", 0},
    {"Parameters", "string", "", "Object holding the controller's configuration.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void ingressclass_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ic)
{
    kl_val_t spec = kl_val_get(ic, "spec");
    cell_name(c, ic);
    size_t n;
    const char *s = kl__str(spec, "controller", &n);
    kl__cell_strn(c, s, n);
    kl_val_t par = kl_val_get(spec, "parameters");
    if (!kl__present(par)) {
        kl__cell_str(c, "<none>");
    } else {
        size_t kn, gn, nn;
        const char *k = kl__str(par, "kind", &kn), *g = kl__str(par, "apiGroup", &gn);
        const char *nm = kl__str(par, "name", &nn);
        kl__tmp_reset(c);
        kl__tmp_putn(c, k, kn);
        if (kl__present(kl_val_get(par, "apiGroup"))) {
            kl__tmp_puts(c, ".");
            kl__tmp_putn(c, g, gn);
        }
        kl__tmp_puts(c, "/");
        kl__tmp_putn(c, nm, nn);
        kl__cell_tmp(c);
    }
    cell_age(c, ic);
}

static const kl__column_t netpol_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Pod-Selector", "string", "", "Pods the policy applies to.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void netpol_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t np)
{
    cell_name(c, np);
    kl__cell_selector(c, kl_val_path(np, "spec", "podSelector", NULL));
    cell_age(c, np);
}

static const kl__column_t endpointslice_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"AddressType", "string", "", "IPv4, IPv6 or FQDN.", 0},
    {"Ports", "string", "", "Ports of the endpoints.", 0},
    {"Endpoints", "string", "", "Addresses of the endpoints.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

/* listWithMoreString over the first three items. */
static void tmp_more(kl__cells_t *c, uint32_t count)
{
    if (count > 3)
        kl__tmp_printf(c, " + %u more...", count - 3);
    else if (c->tmp.len == 0)
        kl__tmp_puts(c, "<unset>");
}

static void endpointslice_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t es)
{
    cell_name(c, es);
    size_t n;
    const char *at = kl__str(es, "addressType", &n);
    kl__cell_strn(c, at, n);
    kl_val_t ports = kl_val_get(es, "ports");
    uint32_t count = 0;
    kl__tmp_reset(c);
    for (uint32_t i = 0; i < kl_val_len(ports); i++, count++) {
        if (count >= 3)
            continue;
        kl_val_t pt = kl_val_at(ports, i);
        kl__tmp_puts(c, count ? "," : "");
        if (kl__present(kl_val_get(pt, "port")))
            kl__tmp_printf(c, "%lld", (long long)kl_val_int(kl_val_get(pt, "port")));
        else if (kl__present(kl_val_get(pt, "name")))
            kl__tmp_puts(c, kl__str(pt, "name", NULL));
        else
            kl__tmp_puts(c, "*");
    }
    tmp_more(c, count);
    kl__cell_tmp(c);
    kl_val_t eps = kl_val_get(es, "endpoints");
    count = 0;
    kl__tmp_reset(c);
    for (uint32_t i = 0; i < kl_val_len(eps); i++) {
        kl_val_t addrs = kl_val_get(kl_val_at(eps, i), "addresses");
        for (uint32_t j = 0; j < kl_val_len(addrs); j++, count++) {
            if (count >= 3)
                continue;
            size_t an;
            const char *a = kl_val_str(kl_val_at(addrs, j), &an);
            kl__tmp_puts(c, count ? "," : "");
            if (a)
                kl__tmp_putn(c, a, an);
        }
    }
    tmp_more(c, count);
    kl__cell_tmp(c);
    cell_age(c, es);
}

/* ---- Autoscaling ------------------------------------------------------------------------ */

static const kl__column_t hpa_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Reference", "string", "", "The scaled resource, as kind/name.", 0},
    {"Targets", "string", "", "Current and target values of the metrics.", 0},
    {"MinPods", "string", "", "Lower bound of the replica count.", 0},
    {"MaxPods", "string", "", "Upper bound of the replica count.", 0},
    {"Replicas", "string", "", "Current replica count.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

/* One metric of formatHPAMetrics (stored objects are autoscaling/v2). */
static void tmp_metric(kl__cells_t *c, kl_val_t spec, kl_val_t status)
{
    size_t n;
    const char *type = kl__str(spec, "type", &n);
    static const struct {
        const char *type, *member;
        bool named;
    } kinds[] = {{"External", "external", false},
                 {"Pods", "pods", false},
                 {"Object", "object", false},
                 {"Resource", "resource", true},
                 {"ContainerResource", "containerResource", true}};
    for (size_t k = 0; k < 5; k++) {
        if (strlen(kinds[k].type) != n || memcmp(type, kinds[k].type, n) != 0)
            continue;
        kl_val_t src = kl_val_get(spec, kinds[k].member);
        kl_val_t cur = kl_val_path(status, kinds[k].member, "current", NULL);
        bool has_cur = kl__present(kl_val_get(status, kinds[k].member));
        kl_val_t target = kl_val_get(src, "target");
        kl_val_t avg = kl_val_get(target, "averageValue");
        if (kinds[k].named) {
            kl__tmp_puts(c, kl__str(src, "name", NULL));
            kl__tmp_puts(c, ": ");
        }
        if (!strcmp(kinds[k].type, "Pods") || kl__present(avg)) {
            if (has_cur && kl__present(kl_val_get(cur, "averageValue")))
                tmp_scalar(c, kl_val_get(cur, "averageValue"));
            else
                kl__tmp_puts(c, "<unknown>");
            kl__tmp_puts(c, "/");
            tmp_scalar(c, avg);
            if (!kinds[k].named && strcmp(kinds[k].type, "Pods"))
                kl__tmp_puts(c, " (avg)");
        } else if (kinds[k].named) {
            kl_val_t cu = kl_val_get(cur, "averageUtilization");
            if (has_cur && kl__present(cu))
                kl__tmp_printf(c, "%lld%%", (long long)kl_val_int(cu));
            else
                kl__tmp_puts(c, "<unknown>");
            kl_val_t tu = kl_val_get(target, "averageUtilization");
            if (kl__present(tu))
                kl__tmp_printf(c, "/%lld%%", (long long)kl_val_int(tu));
            else
                kl__tmp_puts(c, "/<auto>");
        } else {
            if (has_cur)
                tmp_scalar(c, kl_val_get(cur, "value"));
            else
                kl__tmp_puts(c, "<unknown>");
            kl__tmp_puts(c, "/");
            tmp_scalar(c, kl_val_get(target, "value"));
        }
        return;
    }
    kl__tmp_puts(c, "<unknown type>");
}

static void hpa_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t hpa)
{
    kl_val_t spec = kl_val_get(hpa, "spec"), status = kl_val_get(hpa, "status");
    cell_name(c, hpa);
    kl_val_t ref = kl_val_get(spec, "scaleTargetRef");
    size_t kn, nn;
    const char *k = kl__str(ref, "kind", &kn), *n = kl__str(ref, "name", &nn);
    kl__cell_printf(c, "%.*s/%.*s", (int)kn, k, (int)nn, n);
    kl_val_t metrics = kl_val_get(spec, "metrics");
    kl_val_t cur = kl_val_get(status, "currentMetrics");
    uint32_t count = kl_val_len(metrics);
    kl__tmp_reset(c);
    if (count == 0)
        kl__tmp_puts(c, "<none>");
    for (uint32_t i = 0; i < count && i < 2; i++) {
        kl__tmp_puts(c, i ? ", " : "");
        tmp_metric(c, kl_val_at(metrics, i),
                   i < kl_val_len(cur) ? kl_val_at(cur, i) : (kl_val_t){0});
    }
    if (count > 2)
        kl__tmp_printf(c, " + %u more...", count - 2);
    kl__cell_tmp(c);
    kl_val_t minr = kl_val_get(spec, "minReplicas");
    if (kl__present(minr))
        kl__cell_printf(c, "%lld", (long long)kl_val_int(minr));
    else
        kl__cell_str(c, "<unset>");
    kl__cell_int(c, kl_val_int(kl_val_get(spec, "maxReplicas")));
    kl__cell_int(c, kl_val_int(kl_val_get(status, "currentReplicas")));
    cell_age(c, hpa);
}

/* ---- Storage, node ---------------------------------------------------------------------- */

static const kl__column_t sc_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Provisioner", "string", "", "The volume provisioner.", 0},
    {"ReclaimPolicy", "string", "", "Reclaim policy of provisioned volumes.", 0},
    {"VolumeBindingMode", "string", "", "When volumes are bound and provisioned.", 0},
    {"AllowVolumeExpansion", "string", "", "Whether claims may grow.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void sc_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t sc)
{
    kl_val_t ann = kl_val_path(sc, "metadata", "annotations", NULL);
    bool def =
        kl__str_is(kl_val_get(ann, "storageclass.kubernetes.io/is-default-class"), "true") ||
        kl__str_is(kl_val_get(ann, "storageclass.beta.kubernetes.io/is-default-class"), "true");
    size_t n;
    const char *name = kl__str(kl_val_get(sc, "metadata"), "name", &n);
    kl__cell_printf(c, "%.*s%s", (int)n, name, def ? " (default)" : "");
    const char *s = kl__str(sc, "provisioner", &n);
    kl__cell_strn(c, s, n);
    cell_str_or(c, sc, "reclaimPolicy", "Delete");
    cell_str_or(c, sc, "volumeBindingMode", "Immediate");
    kl__cell_bool(c, kl_val_bool(kl_val_get(sc, "allowVolumeExpansion")));
    cell_age(c, sc);
}

static const kl__column_t runtimeclass_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Handler", "string", "", "The runtime handler.", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void runtimeclass_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t rc)
{
    cell_name(c, rc);
    size_t n;
    const char *s = kl__str(rc, "handler", &n);
    kl__cell_strn(c, s, n);
    cell_age(c, rc);
}

/* ---- Registry --------------------------------------------------------------------------- */

#define PRINTER(id, columns, fn)                                                                   \
    static const kl_printer_t id = {                                                               \
        .name = #id, .cols = columns, .ncols = COUNT(columns), .row = fn}

PRINTER(rolebindings, binding_cols, binding_row);
PRINTER(clusterrolebindings, binding_cols, binding_row);
PRINTER(resourcequotas, quota_cols, quota_row);
PRINTER(persistentvolumes, pv_cols, pv_row);
PRINTER(persistentvolumeclaims, pvc_cols, pvc_row);
PRINTER(podtemplates, podtemplate_cols, podtemplate_row);
PRINTER(replicationcontrollers, rc_cols, rc_row);
PRINTER(priorityclasses, pc_cols, pc_row);
PRINTER(poddisruptionbudgets, pdb_cols, pdb_row);
PRINTER(ingresses, ingress_cols, ingress_row);
PRINTER(ingressclasses, ingressclass_cols, ingressclass_row);
PRINTER(networkpolicies, netpol_cols, netpol_row);
PRINTER(endpointslices, endpointslice_cols, endpointslice_row);
PRINTER(horizontalpodautoscalers, hpa_cols, hpa_row);
PRINTER(storageclasses, sc_cols, sc_row);
PRINTER(runtimeclasses, runtimeclass_cols, runtimeclass_row);

const kl_printer_t *kl__table_res_builtin(const char *group, const char *kind)
{
    static const struct {
        const char *group, *kind;
        const kl_printer_t *printer;
    } builtins[] = {
        {"rbac.authorization.k8s.io", "RoleBinding", &rolebindings},
        {"rbac.authorization.k8s.io", "ClusterRoleBinding", &clusterrolebindings},
        {"", "ResourceQuota", &resourcequotas},
        {"", "PersistentVolume", &persistentvolumes},
        {"", "PersistentVolumeClaim", &persistentvolumeclaims},
        {"", "PodTemplate", &podtemplates},
        {"", "ReplicationController", &replicationcontrollers},
        {"scheduling.k8s.io", "PriorityClass", &priorityclasses},
        {"policy", "PodDisruptionBudget", &poddisruptionbudgets},
        {"networking.k8s.io", "Ingress", &ingresses},
        {"networking.k8s.io", "IngressClass", &ingressclasses},
        {"networking.k8s.io", "NetworkPolicy", &networkpolicies},
        {"discovery.k8s.io", "EndpointSlice", &endpointslices},
        {"autoscaling", "HorizontalPodAutoscaler", &horizontalpodautoscalers},
        {"storage.k8s.io", "StorageClass", &storageclasses},
        {"node.k8s.io", "RuntimeClass", &runtimeclasses},
    };
    for (size_t i = 0; i < COUNT(builtins); i++)
        if (strcmp(builtins[i].group, group) == 0 && strcmp(builtins[i].kind, kind) == 0)
            return builtins[i].printer;
    return NULL;
}
