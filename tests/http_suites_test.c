/* http_suites_test.c - the parsers against the test data of other HTTP
 * parsers (llhttp, http-parser, h11, picohttpparser): each raw message of
 * tests/http_suites.inc with the outcome we expect, fed whole, byte by byte
 * and in random splits. A row says where in its suite the message comes from
 * and, when we do not agree with that suite, what it does and why we differ
 * (6_async_await/HTTP_NOTES.md sums those up). */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* A byte string that may hold NULs. */
typedef struct {
    const char *data;
    size_t len;
} bytes;
#define S(literal) {literal, sizeof(literal) - 1}

typedef struct {
    const char *suite;   /* "llhttp", "http-parser", "h11", "picohttpparser" */
    const char *name;    /* the file and case in that suite */
    char kind;           /* 'Q' a request, 'R' a response, 'H' a response to HEAD */
    bool eof;            /* response: the connection closes after the text */
    bool missing_host;   /* request: HTTP/1.1 without Host, so 400 as it is;
                            with a Host line added after the request line,
                            the outcome below */
    bytes text;
    /* The outcome: */
    http_event end;      /* HTTP_DONE, HTTP_ERROR or HTTP_MORE (incomplete) */
    int status;          /* request: the error status; response: its status */
    const char *method, *target;
    int keep_alive;      /* -1: not checked */
    bytes body;          /* response: the body (so far); data NULL: none */
    long consumed;       /* HTTP_DONE: bytes of the first message; -1: all */
    const char *error;   /* HTTP_ERROR: the message; NULL: not checked */
    const char *peer;    /* NULL if the suite agrees; else how we differ */
} suite_case;

#include "http_suites.inc"

enum { CASES = sizeof suite_cases / sizeof suite_cases[0], RANDOM_SPLITS = 8, BODY_MAX = 4096 };

/* What one parse of a message gave. */
typedef struct {
    http_event end;
    int status;
    char method[HTTP_METHOD_MAX + 1];
    char target[HTTP_PATH_MAX + 1];
    bool keep_alive;
    const char *error;
    size_t consumed;
    size_t body_len;
    char body[BODY_MAX];
} outcome;

/* A small fixed-seed generator (xorshift64*), so every run splits alike. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* The size of the next piece: everything (step 0), step bytes, or a random
 * size from 1 to 16 bytes (step -1). */
static size_t piece_size(long step, size_t left, uint64_t *seed)
{
    size_t n = step == 0 ? left : step > 0 ? (size_t)step : 1 + next_random(seed) % 16;
    return n < left ? n : left;
}

/* Feeds text to a parser of c's kind in pieces, each in an exactly-sized
 * heap buffer (AddressSanitizer catches a read past one). */
static void parse(const suite_case *c, bytes text, long step, uint64_t seed, outcome *out)
{
    memset(out, 0, sizeof *out);
    out->end = HTTP_MORE;
    http_request q;
    http_response r;
    if (c->kind == 'Q')
        http_request_init(&q);
    else
        http_response_init(&r, c->kind == 'H');
    for (size_t off = 0; off < text.len && out->end == HTTP_MORE;) {
        size_t n = piece_size(step, text.len - off, &seed);
        char *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, text.data + off, n);
        http_slice in = {piece, n}, body;
        if (c->kind == 'Q') {
            out->end = http_request_feed(&q, &in);
        } else {
            http_event event;
            while ((event = http_response_feed(&r, &in, &body)) == HTTP_HEAD || event == HTTP_BODY) {
                if (event != HTTP_BODY)
                    continue;
                assert_true(body.data >= piece && body.data + body.len <= piece + n);
                assert_true(out->body_len + body.len <= BODY_MAX);
                memcpy(out->body + out->body_len, body.data, body.len);
                out->body_len += body.len;
            }
            out->end = event;
        }
        out->consumed += n - in.len;
        off += n;
        free(piece);
    }
    if (c->kind == 'Q') {
        out->status = q.error_status;
        strcpy(out->method, q.method);
        strcpy(out->target, q.target);
        out->keep_alive = q.keep_alive;
        out->error = q.error;
    } else {
        if (c->eof && out->end == HTTP_MORE)
            out->end = http_response_eof(&r);
        out->status = r.status;
        out->keep_alive = r.keep_alive;
        out->error = r.error;
    }
}

static bool same_outcome(const outcome *a, const outcome *b)
{
    return a->end == b->end && a->status == b->status && strcmp(a->method, b->method) == 0 &&
           strcmp(a->target, b->target) == 0 && a->keep_alive == b->keep_alive &&
           a->error == b->error && a->consumed == b->consumed && a->body_len == b->body_len &&
           memcmp(a->body, b->body, a->body_len) == 0;
}

static const char *event_name(http_event e)
{
    return e == HTTP_DONE ? "accepted" : e == HTTP_ERROR ? "rejected" : "incomplete";
}

/* Compares a parse with the expected outcome; returns NULL or what differs. */
static const char *mismatch(const suite_case *c, const outcome *got, size_t text_len,
                            char *why, size_t size)
{
    if (got->end != c->end)
        snprintf(why, size, "%s (%.80s), want %s", event_name(got->end), got->error ? got->error : "-",
                 event_name(c->end));
    else if (c->end == HTTP_ERROR && c->kind == 'Q' && got->status != c->status)
        snprintf(why, size, "status %d, want %d", got->status, c->status);
    else if (c->end == HTTP_ERROR && c->error && strcmp(got->error, c->error) != 0)
        snprintf(why, size, "error \"%.80s\", want \"%.80s\"", got->error, c->error);
    else if (c->end == HTTP_ERROR)
        return NULL;
    else if (c->kind != 'Q' && got->status != c->status)
        snprintf(why, size, "status %d, want %d", got->status, c->status);
    else if (c->method && strcmp(got->method, c->method) != 0)
        snprintf(why, size, "method \"%.20s\", want \"%.20s\"", got->method, c->method);
    else if (c->target && strcmp(got->target, c->target) != 0)
        snprintf(why, size, "target \"%.80s\", want \"%.80s\"", got->target, c->target);
    else if (c->keep_alive >= 0 && got->keep_alive != c->keep_alive)
        snprintf(why, size, "keep-alive %d, want %d", got->keep_alive, c->keep_alive);
    else if (c->body.data && (got->body_len != c->body.len || memcmp(got->body, c->body.data, got->body_len) != 0))
        snprintf(why, size, "body of %zu bytes \"%.*s\", want %zu bytes", got->body_len,
                 got->body_len > 60 ? 60 : (int)got->body_len, got->body, c->body.len);
    else if (c->end == HTTP_DONE && got->consumed != (c->consumed < 0 ? text_len : (size_t)c->consumed))
        snprintf(why, size, "used %zu bytes, want %ld", got->consumed, c->consumed < 0 ? (long)text_len : c->consumed);
    else if (c->end == HTTP_MORE && got->consumed != text_len)
        snprintf(why, size, "used %zu of %zu bytes", got->consumed, text_len);
    else
        return NULL;
    return why;
}

/* The text with "Host: h" put after the request line. */
static char *with_host(bytes text, size_t *len)
{
    static const char line[] = "Host: h\r\n";
    size_t at = strspn(text.data, "\r\n");
    const char *lf = memchr(text.data + at, '\n', text.len - at);
    at = lf ? (size_t)(lf - text.data) + 1 : text.len;
    char *s = malloc(text.len + sizeof line);
    assert_non_null(s);
    memcpy(s, text.data, at);
    memcpy(s + at, line, sizeof line - 1);
    memcpy(s + at + sizeof line - 1, text.data + at, text.len - at);
    *len = text.len + sizeof line - 1;
    return s;
}

/* Runs one case whole, byte by byte and in random splits; returns whether
 * all agree with each other and with the expected outcome. */
static bool check_case(size_t index)
{
    const suite_case *c = &suite_cases[index];
    static outcome whole, split;  /* large: keep them off the stack */
    suite_case as_is = *c;
    bytes text = c->text;
    char *added = NULL;
    char why[256];
    bool ok = true;
    if (c->missing_host) {
        /* As it is: 400, for want of a Host. */
        as_is.end = HTTP_ERROR;
        as_is.status = 400;
        as_is.error = "missing Host header (HTTP/1.1 requires one)";
        parse(c, text, 0, 0, &whole);
        if (mismatch(&as_is, &whole, text.len, why, sizeof why)) {
            print_message("# %s %s (as it is): %s\n", c->suite, c->name, why);
            ok = false;
        }
        as_is = *c;
        added = with_host(c->text, &text.len);
        text.data = added;
        if (as_is.consumed >= 0)
            as_is.consumed += (long)strlen("Host: h\r\n");
    }
    parse(c, text, 0, 0, &whole);
    if (mismatch(&as_is, &whole, text.len, why, sizeof why)) {
        print_message("# %s %s: %s\n", c->suite, c->name, why);
        ok = false;
    }
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ index;
    for (int i = -1; i < RANDOM_SPLITS; i++) {
        parse(c, text, i < 0 ? 1 : -1, next_random(&seed), &split);
        if (!same_outcome(&whole, &split)) {
            print_message("# %s %s: %s gives another result (%s, %s)\n", c->suite, c->name,
                          i < 0 ? "byte by byte" : "a random split", event_name(split.end),
                          split.error ? split.error : "-");
            ok = false;
            break;
        }
    }
    free(added);
    return ok;
}

static void check_suite(const char *suite, size_t at_least)
{
    size_t n = 0, failed = 0;
    for (size_t i = 0; i < CASES; i++) {
        if (strcmp(suite_cases[i].suite, suite) != 0)
            continue;
        n++;
        failed += !check_case(i);
    }
    if (failed > 0)
        fail_msg("%zu of %zu %s cases failed", failed, n, suite);
    if (n < at_least)
        fail_msg("only %zu %s cases, want at least %zu", n, suite, at_least);
}

static void test_llhttp(void **state)
{
    (void)state;
    check_suite("llhttp", 100);
}

static void test_http_parser(void **state)
{
    (void)state;
    check_suite("http-parser", 20);
}

static void test_h11(void **state)
{
    (void)state;
    check_suite("h11", 20);
}

static void test_picohttpparser(void **state)
{
    (void)state;
    check_suite("picohttpparser", 20);
}

/* Every row names its source, and the table is as large as promised. */
static void test_table(void **state)
{
    (void)state;
    assert_true(CASES >= 150);
    for (size_t i = 0; i < CASES; i++) {
        const suite_case *c = &suite_cases[i];
        assert_non_null(c->name);
        assert_true(strchr("QRH", c->kind) != NULL);
        assert_true(c->kind == 'Q' || !c->missing_host);
        assert_true(c->end != HTTP_ERROR || c->kind != 'Q' || c->status >= 400);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_llhttp),
        cmocka_unit_test(test_http_parser),
        cmocka_unit_test(test_h11),
        cmocka_unit_test(test_picohttpparser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
