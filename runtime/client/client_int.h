/* client/client_int.h - internals shared by the client's sources (and by the informer, which
 * uses the JSON skimmer). Loop thread only. */
#ifndef KL_CLIENT_CLIENT_INT_H
#define KL_CLIENT_CLIENT_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/client.h"
#include "kubelua/metrics.h"

/* ---- kubeconfig.c ---- */
int kl__base64_decode(const char *in, size_t len, char **out, size_t *outlen);
int kl__read_token_file(const char *path, char **token, kl_errinfo_t *err);
int kl__restconfig_copy(const kl_restconfig_t *src, kl_restconfig_t **out);
void kl__restconfig_free_exec(kl_exec_config_t *e);

/* ---- skim.c: finding value boundaries in JSON text without building anything ---- */

/* Returns the end of the JSON value starting at p (after leading whitespace), or NULL when the
 * text is malformed or cut short. *has_kind (optional) is set when the value is an object with
 * a top-level "kind" member. Validation is shallow: kl_obj_parse_json() checks the value. */
const char *kl__skim_value(const char *p, const char *end, bool *has_kind);
const char *kl__skim_ws(const char *p, const char *end);
/* Iterates the members of the top-level object in [p, end): call with *pos = NULL first.
 * Returns 1 with the raw key bytes (without quotes; escapes left as is) and the value span,
 * 0 at the end, KL_ESYNTAX when malformed. */
int kl__skim_member(const char *p, const char *end, const char **pos, const char **key,
                    size_t *keylen, const char **val, const char **val_end);

/* Decodes one watch event line: sets *type and *obj (a new reference, or NULL when the event
 * carries no object). KL_ESYNTAX (err says why) for malformed lines. */
int kl__watch_decode_line(const char *line, size_t len, unsigned parse_flags, kl_watch_type_t *type,
                          kl_obj_t **obj, kl_errinfo_t *err);

/* Line splitter with a ceiling; feeds complete lines (without '\n', whitespace-only lines
 * skipped) to a callback. */
typedef int (*kl_line_fn)(const char *line, size_t len, void *ud);
typedef struct kl_linebuf {
    kl_buf_t buf;
} kl_linebuf_t;
void kl__linebuf_init(kl_linebuf_t *lb, size_t max_line);
void kl__linebuf_cleanup(kl_linebuf_t *lb);
/* Returns 0, KL_ETOOBIG (line over the ceiling), or the first non-zero callback result. */
int kl__linebuf_feed(kl_linebuf_t *lb, const char *data, size_t len, kl_line_fn fn, void *ud);

/* Splits a list body: calls item_fn for every item (a new reference) and fills the metadata
 * (strings copied into the caller's buffers). */
typedef struct kl__list_meta {
    char resource_version[64];
    char *continue_token; /* malloc'ed, "" when absent */
    int64_t remaining;
    size_t items;
} kl__list_meta_t;
int kl__list_split(const char *body, size_t len, unsigned parse_flags, kl_list_item_cb item_fn,
                   void *ud, kl__list_meta_t *meta, kl_errinfo_t *err);

/* ---- client.c ---- */

enum { VERB_GET, VERB_LIST, VERB_WATCH, VERB_POST, VERB_PUT, VERB_PATCH, VERB_DELETE, NVERBS };

typedef enum req_kind {
    REQ_OBJ,   /* body decoded into one document */
    REQ_LIST,  /* body split into items */
    REQ_WATCH, /* streamed events */
} req_kind_t;

typedef enum req_state {
    RS_PENDING, /* waiting for its time, a token or credentials */
    RS_ACTIVE,  /* in curl */
    RS_DONE,
} req_state_t;

struct kl_req {
    kl_client_t *c;
    kl_req_t *next, *prev; /* pending list or active list */
    req_state_t state;
    req_kind_t kind;
    int verb;
    CURL *easy;
    struct curl_slist *headers;
    char *method;
    char *url;
    char *ctype;
    const char *accept; /* static string; NULL: application/json */
    char *body;
    size_t body_len;
    long timeout_ms;
    unsigned parse_flags;
    int attempts;
    bool retry_transport; /* transport errors and 5xx without Retry-After are retried */
    bool canceled;
    bool creds_retried; /* a 401 already refreshed the exec credentials */
    uint64_t ready_ns;  /* when it may start */
    uint64_t start_ns;
    kl_buf_t resp;
    char retry_after[32];
    char errbuf[CURL_ERROR_SIZE];
    kl_client_cb cb;
    kl_list_item_cb item_cb;
    kl_list_done_cb list_cb;
    void *ud;
    kl_watch_t *watch;
};

struct kl_watch {
    kl_req_t *req;
    kl_client_t *c;
    kl_watch_event_cb event_cb;
    kl_watch_done_cb done_cb;
    void *ud;
    kl_linebuf_t lines;
    unsigned parse_flags;
    long idle_ms;
    uv_timer_t idle;
    uint64_t last_data_ns;
    int status; /* HTTP status once known */
    int fail;   /* decoder failure to report */
    kl_errinfo_t failinfo;
    bool stopped;
    bool done;
};

typedef struct code_count {
    int verb;
    int code;
    uint64_t n;
} code_count_t;

typedef struct kl_disc kl_disc_t; /* discovery.c */

struct kl_client {
    uv_loop_t *loop;
    kl_restconfig_t *cfg;
    kl_client_opts_t opts;
    char *user_agent;
    CURLM *multi;
    uv_timer_t curl_timer; /* CURLMOPT_TIMERFUNCTION */
    uv_timer_t wake;       /* pending requests */
    uv_timer_t disc_timer; /* discovery answers */
    int open_handles;
    bool freeing;
    int in_curl; /* depth of curl_multi_socket_action calls */
    kl_req_t *pending_head, *pending_tail;
    kl_req_t *active;
    kl_req_t *deferred; /* canceled while inside curl; removed after it returns */
    /* token bucket */
    double tokens;
    uint64_t tokens_ns;
    /* credentials */
    char *token;
    uint64_t token_read_ns; /* token file re-read time */
    struct curl_blob cert_blob, key_blob;
    char *exec_cert, *exec_key;
    int64_t exec_expiry; /* unix seconds, 0 = none */
    bool exec_running, exec_valid;
    int exec_failures;
    kl_errinfo_t exec_err;
    uv_process_t *exec_proc;
    /* metrics */
    code_count_t *codes;
    size_t ncodes, codes_cap;
    kl_histogram_t latency[NVERBS];
    kl_client_stats_t stats;
    /* discovery */
    kl_disc_t *disc;
};

uint64_t kl__now_ns(void);
/* Runs the pending queue from the loop soon. */
void kl__client_wake(kl_client_t *c);
/* Ends a watch: calls its done callback (unless stopped) and releases it. */
void kl__watch_finish(kl_watch_t *w, int rc, const kl_status_t *st);
/* Builds the URL for r plus query o (and extra raw query parts, may be NULL). */
int kl__build_url(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                  const kl_watch_opts_t *wo, kl_buf_t *out);
/* Queues a request built by the verb functions (takes ownership of req). */
void kl__req_submit(kl_client_t *c, kl_req_t *req);
kl_req_t *kl__req_new(kl_client_t *c, req_kind_t kind, const char *method, int verb);
void kl__req_free(kl_req_t *req);
/* Maps an HTTP status (and Status reason) to a KL_E* code. */
int kl__status_to_rc(int http, const char *reason);
/* Fills st from a response body (a Status or anything else). */
void kl__status_from_body(kl_status_t *st, int http, const char *body, size_t len, kl_obj_t **doc);

/* ---- exec.c ---- */
/* Starts the exec plugin unless running; pending requests wait for it. */
void kl__exec_refresh(kl_client_t *c);
bool kl__exec_needed(kl_client_t *c);
void kl__exec_cleanup(kl_client_t *c);

/* ---- discovery.c ---- */
void kl__disc_free(kl_disc_t *d);

#endif
