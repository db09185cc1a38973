/* Object model benchmark: decode throughput and held size of a realistic 4.5 KB Pod, compared
 * in the same run with a plain cJSON tree.
 *
 *   object_bench [iterations] [held-copies]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelua/json.h"
#include "kubelua/object.h"
#ifdef KL_HAVE_CJSON
#include <cJSON.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void report(const char *what, double dt, long n, size_t len)
{
    printf("%-34s %8.2f us/object %8.1f MB/s\n", what, dt / (double)n * 1e6,
           (double)len * (double)n / dt / 1e6);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    long held = argc > 2 ? atol(argv[2]) : 100000;
    size_t len;
    char *pod = read_file(KL_SOURCE_DIR "/tests/fixtures/pod.json", &len);
    kl_parse_opts_t strip = {.flags = KL_PARSE_STRIP_MANAGED_FIELDS};
    size_t sink = 0;

    printf("input: pod.json, %zu bytes; %ld iterations\n\n", len, n);

    for (int round = 0; round < 2; round++) {
        double t0 = now();
        for (long i = 0; i < n; i++) {
            kl_obj_t *d;
            if (kl_obj_parse_json(pod, len, NULL, &d, NULL) < 0)
                return 1;
            sink += kl_val_len(kl_obj_root(d));
            kl_obj_unref(d);
        }
        if (round)
            report("kubelua decode+compact", now() - t0, n, len);

        t0 = now();
        for (long i = 0; i < n; i++) {
            kl_obj_t *d;
            if (kl_obj_parse_json(pod, len, &strip, &d, NULL) < 0)
                return 1;
            sink += kl_val_len(kl_obj_root(d));
            kl_obj_unref(d);
        }
        if (round)
            report("kubelua decode, strip managedFields", now() - t0, n, len);

#ifdef KL_HAVE_CJSON
        t0 = now();
        for (long i = 0; i < n; i++) {
            cJSON *j = cJSON_ParseWithLength(pod, len);
            sink += (size_t)cJSON_GetArraySize(j);
            cJSON_Delete(j);
        }
        if (round)
            report("cJSON parse (tree)", now() - t0, n, len);
#endif
    }

    kl_obj_t *doc;
    if (kl_obj_parse_json(pod, len, NULL, &doc, NULL) < 0)
        return 1;
    kl_buf_t out;
    kl_buf_init(&out, 0);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        kl_buf_reset(&out);
        if (kl_val_encode(kl_obj_root(doc), &out) < 0)
            return 1;
    }
    report("kubelua encode", now() - t0, n, len);
    kl_buf_cleanup(&out);

    double tg = now();
    kl_key_t k_meta = kl_key_lookup("metadata", 8), k_name = kl_key_lookup("name", 4);
    for (long i = 0; i < n * 10; i++) {
        kl_val_t v = kl_val_get_key(kl_val_get_key(kl_obj_root(doc), k_meta), k_name);
        sink += kl_val_len(v) + (size_t)kl_val_type(v);
    }
    printf("%-34s %8.1f ns/lookup\n", "metadata.name by interned key",
           (now() - tg) / (double)n / 10 * 1e9);
    tg = now();
    for (long i = 0; i < n * 10; i++) {
        const char *s = kl_val_path_str(kl_obj_root(doc), "metadata", "name", NULL);
        sink += s[0];
    }
    printf("%-34s %8.1f ns/lookup\n", "metadata.name by string path",
           (now() - tg) / (double)n / 10 * 1e9);
    kl_obj_unref(doc);

    /* Held size: compact documents (managedFields stripped, the cache's default) vs cJSON. */
    kl_json_t *j;
    if (kl_json_parse(pod, len, NULL, &j, NULL) < 0)
        return 1;
    kl_json_del(kl_json_get(j, "metadata"), "managedFields");
    size_t stripped_len;
    char *stripped = kl_json_encode_alloc(j, &stripped_len);
    kl_json_free(j);

    printf("\nheld: %ld copies; JSON without managedFields is %zu bytes\n", held, stripped_len);
    void **keep = malloc(sizeof(void *) * (size_t)held);
    long base = rss_kb();
    size_t accounted = 0;
    for (long i = 0; i < held; i++) {
        kl_obj_t *d;
        if (kl_obj_parse_json(pod, len, &strip, &d, NULL) < 0)
            return 1;
        accounted += kl_obj_size(d);
        keep[i] = d;
    }
    long rss = rss_kb();
    double per = (double)(rss - base) * 1024.0 / (double)held;
    printf("%-34s %8.0f bytes/object (RSS), %zu accounted, %.2fx the JSON\n", "kubelua compact",
           per, accounted / (size_t)held, per / (double)stripped_len);
    for (long i = 0; i < held; i++)
        kl_obj_unref(keep[i]);

#ifdef KL_HAVE_CJSON
    base = rss_kb();
    for (long i = 0; i < held; i++)
        keep[i] = cJSON_ParseWithLength(stripped, stripped_len);
    rss = rss_kb();
    per = (double)(rss - base) * 1024.0 / (double)held;
    printf("%-34s %8.0f bytes/object (RSS), %.2fx the JSON\n", "cJSON tree", per,
           per / (double)stripped_len);
    for (long i = 0; i < held; i++)
        cJSON_Delete(keep[i]);
#endif
    free(keep);
    free(stripped);
    free(pod);
    return sink == 0;
}
