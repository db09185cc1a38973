/* Container logs: the CRI writer (line splitting, rotation, instances), the reader kubectl logs
 * gets (tail, limit, since, timestamps, previous, partial lines), the API server's provider,
 * and following a growing log. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/fsutil.h"
#include "kubelua/podlog.h"

#include "apiserver/apiserver.h"
#include "unit/test_util.h"

typedef struct fx {
    char root[64];
    char *dir; /* the container's log directory */
} fx_t;

static int rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    return system(cmd);
}

static void put_fixture(const char *dir, const char *fixture, const char *name)
{
    size_t len;
    char *text = kl_test_read_fixture(fixture, &len);
    char *path = kl_path_join(dir, name);
    assert_int_equal(kl_file_write_atomic(path, text, len, 0644, NULL), 0);
    free(path);
    free(text);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/kl-podlog-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    f->dir = kl_podlog_container_dir(f->root, "default", "pi", "uid-1", "c");
    assert_non_null(f->dir);
    assert_int_equal(kl_mkdir_p(f->dir, 0755, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    rm_rf(f->root);
    free(f->dir);
    free(f);
    return 0;
}

static void fixtures(fx_t *f)
{
    put_fixture(f->dir, "cluster/previous.log", "0.log");
    put_fixture(f->dir, "cluster/current.log", "1.log");
    put_fixture(f->dir, "cluster/current.log.1", "1.log.1");
}

static char *read_log(fx_t *f, const kl_podlog_query_t *base, int expect_rc)
{
    kl_podlog_query_t q = *base;
    q.namespace = "default";
    q.pod = "pi";
    q.uid = "uid-1";
    q.container = "c";
    char *data = NULL;
    size_t len = 0;
    kl_errinfo_t err;
    int rc = kl_podlog_read(f->root, &q, 0, &data, &len, &err);
    assert_int_equal(rc, expect_rc);
    if (rc == 0)
        assert_int_equal(strlen(data), len);
    return data;
}

static void expect_log(fx_t *f, const kl_podlog_query_t *q, const char *want)
{
    char *got = read_log(f, q, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_podlog_read_default(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    expect_log(f, &q, "rotated\nfirst line\nsecond line\npart-a part-b-end\noffset time\n\nlast\n");
}

static void test_podlog_read_timestamps(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.timestamps = true;
    q.tail_lines = 6;
    expect_log(f, &q,
               "2026-11-25T12:00:01.500000000Z second line\n"
               "2026-11-25T12:00:02.000000000Z part-a part-b-end\n"
               "2026-11-25T11:00:03.000000000Z offset time\n"
               "2026-11-25T12:00:04.000000000Z \n"
               "2026-11-25T12:00:05.000000000Z last\n");
}

static void test_podlog_read_tail(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.tail_lines = 2;
    expect_log(f, &q, "\nlast\n");
    q.tail_lines = 5; /* the malformed record counts as a line, as in kubelet */
    expect_log(f, &q, "part-a part-b-end\noffset time\n\nlast\n");
    q.tail_lines = 0;
    expect_log(f, &q, "");
    q.tail_lines = 100;
    expect_log(f, &q, "rotated\nfirst line\nsecond line\npart-a part-b-end\noffset time\n\nlast\n");
}

static void test_podlog_read_limit_since(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.limit_bytes = 19;
    expect_log(f, &q, "rotated\nfirst line\n");
    q.limit_bytes = 22;
    expect_log(f, &q, "rotated\nfirst line\nsec");
    q.limit_bytes = -1;
    q.since_time_ns = INT64_C(1795608001) * 1000000000; /* 2026-11-25T12:00:01Z */
    expect_log(f, &q, "second line\npart-a part-b-end\n\nlast\n");
    /* since_seconds is relative to now: these records are old. */
    q.since_time_ns = 0;
    q.since_seconds = 60;
    expect_log(f, &q, "");
}

static void test_podlog_read_previous(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.previous = true;
    expect_log(f, &q, "old run\n");
    char *p0 = kl_path_join(f->dir, "0.log");
    unlink(p0);
    free(p0);
    free(read_log(f, &q, KL_ENOTFOUND));
    q.previous = false;
    q.container = "other";
    kl_podlog_query_t q2 = q;
    char *data = NULL;
    size_t len;
    q2.namespace = "default";
    q2.pod = "pi";
    q2.uid = "uid-1";
    assert_int_equal(kl_podlog_read(f->root, &q2, 0, &data, &len, NULL), KL_ENOTFOUND);
    q2.container = "../c";
    assert_int_equal(kl_podlog_read(f->root, &q2, 0, &data, &len, NULL), KL_EINVAL);
}

static void test_podlog_provider(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    kl_log_request_t r = {.namespace = "default",
                          .pod = "pi",
                          .uid = "uid-1",
                          .container = "c",
                          .previous = 0,
                          .tail_lines = 1,
                          .limit_bytes = -1,
                          .since_seconds = -1,
                          .timestamps = 1};
    kl_apiserver_log_fn fn = kl_podlog_provider;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fn(&r, &data, &len, f->root), 0);
    assert_string_equal(data, "2026-11-25T12:00:05.000000000Z last\n");
    assert_int_equal(len, strlen(data));
    free(data);
    r.previous = 1;
    r.timestamps = 0;
    assert_int_equal(fn(&r, &data, &len, f->root), 0);
    assert_string_equal(data, "old run\n");
    free(data);
    r.uid = "uid-2";
    assert_int_equal(fn(&r, &data, &len, f->root), KL_ENOTFOUND);
}

static char *slurp(const char *dir, const char *name)
{
    char *path = kl_path_join(dir, name);
    char *data = NULL;
    int rc = kl_file_read(path, 1 << 24, &data, NULL, NULL);
    free(path);
    return rc == 0 ? data : NULL;
}

static bool exists(const char *dir, const char *name)
{
    char *path = kl_path_join(dir, name);
    struct stat st;
    bool r = stat(path, &st) == 0;
    free(path);
    return r;
}

static void test_podlog_writer_lines(void **state)
{
    fx_t *f = *state;
    kl_podlog_writer_t *w;
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 0, 0, &w, NULL), 0);
    /* A 40000-byte line comes out as 16 KiB "P" chunks and an "F" rest. */
    char *big = malloc(40001);
    memset(big, 'x', 40000);
    big[40000] = '\n';
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, "one\r\ntw", 7), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDERR, "err\n", 4), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, "o\n", 2), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, big, 40001), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, "no newline", 10), 0);
    assert_false(exists(f->dir, "0.done"));
    kl_podlog_writer_close(w, true);
    assert_true(exists(f->dir, "0.done"));

    char *raw = slurp(f->dir, "0.log");
    assert_non_null(raw);
    int records = 0, partial = 0;
    char tags[8] = {0};
    for (char *line = raw; *line; records++) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            free(raw);
        assert_non_null(nl);
        /* "2026-...Z stdout F msg": the timestamp has 9 fraction digits. */
        assert_int_equal(line[29], 'Z');
        assert_int_equal(line[19], '.');
        char *tag = line + 38;
        if (records < 7)
            tags[records] = *tag;
        partial += *tag == 'P';
        line = nl + 1;
    }
    assert_int_equal(records, 7);
    assert_string_equal(tags, "FFFPPFF");
    assert_int_equal(partial, 2);
    assert_non_null(strstr(raw, " stdout F one\n"));
    assert_non_null(strstr(raw, " stderr F err\n"));
    assert_non_null(strstr(raw, " stdout F two\n"));
    assert_non_null(strstr(raw, " stdout F no newline\n"));
    free(raw);

    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    char *out = read_log(f, &q, 0);
    assert_int_equal(strlen(out), 4 + 4 + 4 + 40001 + 11);
    assert_memory_equal(out, "one\nerr\ntwo\nxxx", 15);
    assert_string_equal(out + 12 + 40001, "no newline\n");
    free(out);
    q.tail_lines = 2; /* the long line is one line */
    out = read_log(f, &q, 0);
    assert_int_equal(strlen(out), 40001 + 11);
    free(out);
    free(big);
}

static void test_podlog_writer_rotation(void **state)
{
    fx_t *f = *state;
    kl_podlog_writer_t *w;
    assert_int_equal(kl_podlog_writer_open(f->dir, 3, 2048, 2, &w, NULL), 0);
    char line[64];
    for (int i = 0; i < 500; i++) {
        int n = snprintf(line, sizeof(line), "line %d\n", i);
        assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, line, (size_t)n), 0);
    }
    kl_podlog_writer_close(w, true);
    struct stat st;
    char *p = kl_path_join(f->dir, "3.log");
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size <= 2048);
    free(p);
    p = kl_path_join(f->dir, "3.log.1");
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size <= 2048 && st.st_size > 1024);
    free(p);
    assert_false(exists(f->dir, "3.log.2"));

    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    char *out = read_log(f, &q, 0);
    /* The newest lines survive, contiguous, ending with the last one. */
    int first = -1, expect = -1;
    for (char *s = out; *s;) {
        int v;
        assert_int_equal(sscanf(s, "line %d", &v), 1);
        if (first < 0)
            first = expect = v;
        assert_int_equal(v, expect);
        expect++;
        s = strchr(s, '\n') + 1;
    }
    assert_true(first > 0);
    assert_int_equal(expect, 500);
    free(out);
}

static void test_podlog_writer_instances(void **state)
{
    fx_t *f = *state;
    for (uint32_t i = 0; i < 4; i++) {
        kl_podlog_writer_t *w;
        assert_int_equal(kl_podlog_writer_open(f->dir, i, 0, 0, &w, NULL), 0);
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "run %u\n", i);
        assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, msg, (size_t)n), 0);
        /* Instance 2 never closes cleanly: opening 3 marks it done. */
        kl_podlog_writer_close(w, i != 2);
    }
    assert_false(exists(f->dir, "0.log"));
    assert_false(exists(f->dir, "1.log"));
    assert_false(exists(f->dir, "1.done"));
    assert_true(exists(f->dir, "2.log"));
    assert_true(exists(f->dir, "2.done"));
    assert_true(exists(f->dir, "3.done"));
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    expect_log(f, &q, "run 3\n");
    q.previous = true;
    expect_log(f, &q, "run 2\n");
    /* Restarting at a lower count (a new pod with the same uid cannot, but a reset agent
     * might) drops the newer files. */
    kl_podlog_writer_t *w;
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 0, 0, &w, NULL), 0);
    kl_podlog_writer_close(w, false);
    assert_false(exists(f->dir, "3.log"));
    assert_false(exists(f->dir, "2.log"));
}

/* ---- Following ------------------------------------------------------------------------------ */

typedef struct follow_ctx {
    uv_loop_t loop;
    kl_buf_t got;
    int chunks;
    int ended;
    int end_rc;
    bool auto_resume;
    kl_podlog_follow_t *f;
    kl_podlog_writer_t *w;
    int step;
    uv_timer_t timer;
} follow_ctx_t;

static void on_data(kl_podlog_follow_t *fl, const char *data, size_t len, void *ud)
{
    follow_ctx_t *c = ud;
    assert_int_equal(kl_buf_append(&c->got, data, len), 0);
    c->chunks++;
    if (c->auto_resume)
        kl_podlog_follow_resume(fl);
}

static void on_end(kl_podlog_follow_t *fl, int rc, void *ud)
{
    follow_ctx_t *c = ud;
    c->ended++;
    c->end_rc = rc;
    kl_podlog_follow_free(fl);
    c->f = NULL;
}

static bool run_until(follow_ctx_t *c, bool (*cond)(follow_ctx_t *), int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000;
    while (!cond(c)) {
        if (uv_hrtime() > deadline)
            return false;
        uv_run(&c->loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    return true;
}

static bool has_ended(follow_ctx_t *c)
{
    return c->ended > 0;
}

static bool got_three(follow_ctx_t *c)
{
    return strstr(c->got.data ? c->got.data : "", "appended 3\n") != NULL;
}

static bool got_any(follow_ctx_t *c)
{
    return c->chunks > 0;
}

static void follow_open(fx_t *f, follow_ctx_t *c, const kl_podlog_query_t *base, int expect)
{
    kl_podlog_query_t q = *base;
    q.namespace = "default";
    q.pod = "pi";
    q.uid = "uid-1";
    q.container = "c";
    kl_errinfo_t err;
    int rc = kl_podlog_follow_start(&c->loop, f->root, &q, on_data, on_end, c, &c->f, &err);
    assert_int_equal(rc, expect);
}

static void follow_close(follow_ctx_t *c)
{
    kl_podlog_follow_free(c->f);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    kl_buf_cleanup(&c->got);
}

static void test_podlog_follow_appends(void **state)
{
    fx_t *f = *state;
    follow_ctx_t c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = true;
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 0, 0, &c.w, NULL), 0);
    assert_int_equal(kl_podlog_writer_write(c.w, KL_PODLOG_STDOUT, "a\nb\nc\n", 6), 0);

    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.tail_lines = 1;
    follow_open(f, &c, &q, 0);
    assert_int_equal(c.chunks, 0); /* never called back synchronously */
    assert_true(run_until(&c, got_any, 2000));
    assert_string_equal(c.got.data, "c\n");

    uint64_t t0 = uv_hrtime();
    for (int i = 1; i <= 3; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "appended %d\n", i);
        assert_int_equal(kl_podlog_writer_write(c.w, KL_PODLOG_STDERR, msg, (size_t)n), 0);
    }
    assert_true(run_until(&c, got_three, 3000));
    uint64_t latency_ms = (uv_hrtime() - t0) / 1000000;
    print_message("follow: appended lines delivered after %llu ms\n",
                  (unsigned long long)latency_ms);
    assert_string_equal(c.got.data, "c\nappended 1\nappended 2\nappended 3\n");
    assert_int_equal(c.ended, 0);
    /* The instance ends: the follower delivers what is left and ends. */
    assert_int_equal(kl_podlog_writer_write(c.w, KL_PODLOG_STDOUT, "bye", 3), 0);
    kl_podlog_writer_close(c.w, true);
    assert_true(run_until(&c, has_ended, 3000));
    assert_int_equal(c.end_rc, 0);
    assert_string_equal(c.got.data, "c\nappended 1\nappended 2\nappended 3\nbye\n");
    follow_close(&c);
}

static void test_podlog_follow_backpressure_limit(void **state)
{
    fx_t *f = *state;
    follow_ctx_t c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = false;
    kl_podlog_writer_t *w;
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 0, 0, &w, NULL), 0);
    /* ~1 MiB of output: more than one chunk. */
    char line[128];
    memset(line, 'y', sizeof(line));
    line[127] = '\n';
    for (int i = 0; i < 8192; i++)
        assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, line, sizeof(line)), 0);

    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    follow_open(f, &c, &q, 0);
    assert_true(run_until(&c, got_any, 2000));
    /* Nothing more arrives until the chunk is released. */
    for (int i = 0; i < 20; i++) {
        uv_run(&c.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(c.chunks, 1);
    assert_true(c.got.len < (size_t)8192 * 128);
    while (c.got.len < (size_t)8192 * 128) {
        int before = c.chunks;
        kl_podlog_follow_resume(c.f);
        uv_run(&c.loop, UV_RUN_NOWAIT);
        for (int i = 0; i < 200 && c.chunks == before; i++) {
            uv_run(&c.loop, UV_RUN_NOWAIT);
            usleep(1000);
        }
        assert_int_equal(c.chunks, before + 1);
    }
    assert_int_equal(c.got.len, (size_t)8192 * 128);
    assert_true(c.chunks >= 4);
    kl_podlog_writer_close(w, true);
    kl_podlog_follow_resume(c.f);
    assert_true(run_until(&c, has_ended, 3000));
    follow_close(&c);

    /* limit_bytes ends the stream once delivered, even while the instance runs. */
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = true;
    assert_int_equal(kl_podlog_writer_open(f->dir, 1, 0, 0, &w, NULL), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, "0123456789\n", 11), 0);
    q.limit_bytes = 5;
    follow_open(f, &c, &q, 0);
    assert_true(run_until(&c, has_ended, 3000));
    assert_string_equal(c.got.data, "01234");
    follow_close(&c);

    /* --previous -f: the previous instance is complete, so it just ends. */
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = true;
    q.limit_bytes = -1;
    q.previous = true;
    q.tail_lines = 1;
    follow_open(f, &c, &q, 0);
    assert_true(run_until(&c, has_ended, 3000));
    assert_int_equal(c.got.len, 128);
    follow_close(&c);
    kl_podlog_writer_close(w, false);

    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    q.previous = false;
    q.container = "nope";
    kl_podlog_query_t q2 = q;
    q2.namespace = "default";
    q2.pod = "pi";
    q2.uid = "uid-1";
    kl_podlog_follow_t *fl = NULL;
    assert_int_equal(kl_podlog_follow_start(&c.loop, f->root, &q2, on_data, on_end, &c, &fl, NULL),
                     KL_ENOTFOUND);
    assert_int_equal(uv_loop_close(&c.loop), 0);
}

static void rotate_step(uv_timer_t *t)
{
    follow_ctx_t *c = t->data;
    char line[64];
    for (int k = 0; k < 20 && c->step < 2000; k++, c->step++) {
        int n = snprintf(line, sizeof(line), "row %d\n", c->step);
        assert_int_equal(kl_podlog_writer_write(c->w, KL_PODLOG_STDOUT, line, (size_t)n), 0);
    }
    if (c->step == 2000) {
        uv_timer_stop(t);
        kl_podlog_writer_close(c->w, true);
        c->w = NULL;
    }
}

static void test_podlog_follow_rotation(void **state)
{
    fx_t *f = *state;
    follow_ctx_t c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = true;
    /* 4 KiB files, one rotated kept: the follower must keep up across many rotations. */
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 4096, 2, &c.w, NULL), 0);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    follow_open(f, &c, &q, 0);
    uv_timer_init(&c.loop, &c.timer);
    c.timer.data = &c;
    uv_timer_start(&c.timer, rotate_step, 1, 1);
    assert_true(run_until(&c, has_ended, 10000));
    assert_int_equal(c.end_rc, 0);
    int expect = 0;
    for (char *s = c.got.data; s && *s; expect++) {
        int v;
        assert_int_equal(sscanf(s, "row %d", &v), 1);
        assert_int_equal(v, expect);
        s = strchr(s, '\n') + 1;
    }
    assert_int_equal(expect, 2000);
    uv_close((uv_handle_t *)&c.timer, NULL);
    follow_close(&c);
}

static void test_podlog_follow_pod_removed(void **state)
{
    fx_t *f = *state;
    follow_ctx_t c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    c.auto_resume = true;
    kl_podlog_writer_t *w;
    assert_int_equal(kl_podlog_writer_open(f->dir, 0, 0, 0, &w, NULL), 0);
    assert_int_equal(kl_podlog_writer_write(w, KL_PODLOG_STDOUT, "x\n", 2), 0);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    follow_open(f, &c, &q, 0);
    assert_true(run_until(&c, got_any, 2000));
    kl_podlog_writer_close(w, false); /* killed agent: no done marker */
    char *pod = kl_podlog_pod_dir(f->root, "default", "pi", "uid-1");
    rm_rf(pod);
    free(pod);
    assert_true(run_until(&c, has_ended, 3000));
    assert_int_equal(c.end_rc, 0);
    follow_close(&c);
}

static void test_podlog_follow_free_mid_stream(void **state)
{
    fx_t *f = *state;
    fixtures(f);
    follow_ctx_t c;
    memset(&c, 0, sizeof(c));
    uv_loop_init(&c.loop);
    kl_buf_init(&c.got, 0);
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    follow_open(f, &c, &q, 0);
    assert_true(run_until(&c, got_any, 2000));
    kl_podlog_follow_free(c.f); /* mid-stream, chunk in flight */
    c.f = NULL;
    uv_run(&c.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.ended, 0);
    follow_close(&c);
}

static void test_podlog_paths(void **state)
{
    (void)state;
    char *p = kl_podlog_container_dir("/d", "ns", "pod", "u", "c");
    assert_string_equal(p, "/d/pods/ns_pod_u/logs/c");
    free(p);
    assert_null(kl_podlog_container_dir("/d", "ns", "..", "u", "c"));
    assert_null(kl_podlog_container_dir("/d", "ns", "pod", "u", "a/b"));
    assert_null(kl_podlog_pod_dir("/d", "", "pod", "u"));
    assert_null(kl_podlog_pod_dir("/d", "ns", "pod", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_podlog_read_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_read_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_read_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_read_limit_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_read_previous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_writer_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_writer_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_writer_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_follow_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_follow_backpressure_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_follow_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_follow_pod_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_podlog_follow_free_mid_stream, setup, teardown),
        cmocka_unit_test(test_podlog_paths),
    };
    return cmocka_run_group_tests_name("cluster_podlog", tests, NULL, NULL);
}
