/* http_request_fuzz.c - libFuzzer harness for the request parser and the
 * size route: parses each input whole and in small pieces, compares results. */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

typedef struct {
    http_event end;
    size_t consumed;
    http_request r;
} result;

/* Like the response harness: whole if max_step is 0, else in pieces of
 * 1..max_step bytes, each in its own exactly-sized heap buffer. */
static void parse(const uint8_t *text, size_t len, size_t max_step, result *out)
{
    memset(out, 0, sizeof *out);
    out->end = HTTP_MORE;
    http_request_init(&out->r);
    for (size_t off = 0, k = 0; off < len && out->end == HTTP_MORE; k++) {
        size_t n = max_step == 0 ? len : k % max_step + 1;
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, text + off, n);
        http_slice in = {piece, n};
        out->end = http_request_feed(&out->r, &in);
        out->consumed += n - in.len;
        off += n;
        free(piece);
    }
}

/* The rule of the one line reader: an accepted head holds no CR without
 * its LF and no control byte but HTAB, CR and LF. */
static void check_head_bytes(const uint8_t *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((text[i] == '\r' && (i + 1 == len || text[i + 1] != '\n')) ||
            (text[i] < 0x20 && text[i] != '\t' && text[i] != '\r' && text[i] != '\n') || text[i] == 0x7f)
            abort();
}

/* What an accepted request promises: a target of printable ASCII that
 * starts with '/', and a size route within its bounds. */
static void check_accepted(const http_request *r)
{
    unsigned w, h;
    if (r->target[0] != '/' || r->method[0] == '\0')
        abort();
    for (const char *p = r->target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            abort();
    if (http_route_size(r->target, 4096, &w, &h) && (w < 1 || w > 4096 || h < 1 || h > 4096))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static result whole, split;  /* large: keep them off the stack */
    parse(data, size, 0, &whole);
    parse(data, size, 5, &split);
    const http_request *a = &whole.r, *b = &split.r;
    if (whole.end != split.end || whole.consumed != split.consumed ||
        a->error != b->error || a->error_status != b->error_status ||
        strcmp(a->method, b->method) != 0 || strcmp(a->target, b->target) != 0 ||
        a->keep_alive != b->keep_alive)
        abort();
    if (whole.end == HTTP_ERROR && a->error_status != 400 && a->error_status != 414 &&
        a->error_status != 431 && a->error_status != 505)
        abort();
    if (whole.end == HTTP_DONE) {
        check_accepted(a);
        check_head_bytes(data, whole.consumed);
    }
    return 0;
}
