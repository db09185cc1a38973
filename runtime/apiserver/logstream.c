/* Followed logs (pods/log?follow=true): the follower's chunks go out as one streaming response,
 * one chunk in flight at a time. The follower waits for resume() after each chunk, so the
 * chunk's bytes stay valid until h2o's proceed(), as the generator contract requires.
 *
 * An HTTP/1.1 client that goes away is only noticed on the next write (h2o-notes.md §6): a
 * follow of a silent container lingers until it prints again or ends. */
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "apiserver/handlers_int.h"

typedef struct kl_logstream {
    h2o_generator_t gen; /* first: h2o hands us this pointer */
    struct kl_logstream *next, *prev;
    kl_apiserver_t *srv;
    h2o_req_t *req;
    void *handle;        /* the follower */
    const char *pending; /* a chunk that arrived while another was in flight */
    size_t pending_len;
    bool sending;  /* an h2o_send is waiting for proceed */
    bool chunk;    /* the chunk in flight came from the follower: resume it on proceed */
    bool ended;    /* the follower is done: send FINAL once idle */
    bool finished; /* FINAL sent or the client left: req is gone */
    int in_send;
} kl_logstream_t;

static void unlink_stream(kl_logstream_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (s->srv->log_streams == s)
        s->srv->log_streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void release(kl_logstream_t *s)
{
    unlink_stream(s);
    if (s->handle)
        s->srv->follow.free(s->handle);
    free(s);
}

static void send_chunk(kl_logstream_t *s, const char *data, size_t len)
{
    h2o_iovec_t iov = h2o_iovec_init(data, len);
    s->sending = true;
    s->chunk = true;
    s->in_send++;
    h2o_send(s->req, &iov, 1, H2O_SEND_STATE_IN_PROGRESS);
    s->in_send--;
    if (s->finished && s->in_send == 0)
        release(s); /* the client left during the send: s is gone for the caller too */
}

static void send_final(kl_logstream_t *s)
{
    s->finished = true;
    s->in_send++;
    h2o_send(s->req, NULL, 0, H2O_SEND_STATE_FINAL);
    s->in_send--;
    release(s);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    kl_logstream_t *s = (kl_logstream_t *)g;
    (void)req;
    s->sending = false;
    if (s->chunk) {
        s->chunk = false;
        if (s->handle && !s->ended)
            s->srv->follow.resume(s->handle);
    }
    if (s->pending) {
        const char *d = s->pending;
        s->pending = NULL;
        send_chunk(s, d, s->pending_len);
        return;
    }
    if (s->ended)
        send_final(s);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    kl_logstream_t *s = (kl_logstream_t *)g;
    (void)req;
    s->finished = true;
    if (s->in_send == 0)
        release(s);
}

static void on_data(void *stream, const char *data, size_t len)
{
    kl_logstream_t *s = stream;
    if (s->finished)
        return;
    if (s->sending) {
        s->pending = data;
        s->pending_len = len;
        return;
    }
    send_chunk(s, data, len);
}

static void on_end(void *stream, int rc)
{
    kl_logstream_t *s = stream;
    if (rc < 0)
        KL_DEBUG("apiserver", "following a log ended: %s", kl_strerror(rc));
    s->ended = true;
    if (s->finished)
        return;
    if (!s->sending && s->pending == NULL)
        send_final(s);
}

int kl_logstream_start(kl_apiserver_t *srv, h2o_req_t *req, const kl_log_request_t *lr)
{
    kl_logstream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KL_ENOMEM;
    s->srv = srv;
    s->req = req;
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    int rc = srv->follow.start(srv->loop, lr, on_data, on_end, s, &s->handle, srv->follow.ud);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->next = srv->log_streams;
    if (s->next)
        s->next->prev = s;
    srv->log_streams = s;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain"));
    h2o_start_response(req, &s->gen);
    /* Flush the headers now: kubectl waits for them before printing anything. */
    s->sending = true;
    s->in_send++;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    s->in_send--;
    if (s->finished)
        release(s);
    return 0;
}

void kl_logstream_close_all(kl_apiserver_t *srv)
{
    while (srv->log_streams) {
        kl_logstream_t *s = srv->log_streams;
        s->srv->follow.free(s->handle);
        s->handle = NULL;
        s->pending = NULL; /* its bytes belonged to the follower */
        unlink_stream(s);
        s->ended = true;
        if (!s->sending && !s->finished) {
            s->finished = true;
            s->in_send++;
            h2o_send(s->req, NULL, 0, H2O_SEND_STATE_FINAL);
            s->in_send--;
            free(s);
        }
        /* Otherwise proceed or stop runs later and frees it (unlinked, handle gone). */
    }
}
