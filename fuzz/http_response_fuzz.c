/* http_response_fuzz.c - libFuzzer harness for the response parser: parses
 * each input whole and in small pieces and aborts if the results differ. */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

typedef struct {
    http_event end;     /* HTTP_DONE, HTTP_ERROR, or HTTP_MORE if unfinished */
    int heads;          /* how often HTTP_HEAD was reported */
    size_t head_end;    /* input bytes used when it was */
    size_t consumed;
    http_response r;
    unsigned char *body;
    size_t body_len;
} result;

/* Parses text in pieces: all at once if max_step is 0, else of sizes
 * 1, 2, ..., max_step, 1, 2, ... Each piece sits in its own exactly-sized
 * heap buffer, so AddressSanitizer catches reads beyond it. */
static void parse(const uint8_t *text, size_t len, size_t max_step,
                  bool head_request, bool eof, result *out)
{
    memset(out, 0, sizeof *out);
    out->end = HTTP_MORE;
    out->body = malloc(len + 1);
    if (out->body == NULL)
        abort();
    http_response_init(&out->r, head_request);
    for (size_t off = 0, k = 0; off < len && out->end == HTTP_MORE; k++) {
        size_t n = max_step == 0 ? len : k % max_step + 1;
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, text + off, n);
        http_slice in = {piece, n}, body;
        http_event event;
        while ((event = http_response_feed(&out->r, &in, &body)) == HTTP_HEAD ||
               event == HTTP_BODY) {
            if (event == HTTP_HEAD) {
                out->heads++;
                out->head_end = out->consumed + (n - in.len);
                continue;
            }
            if (body.len == 0 || body.data < piece || body.data + body.len > piece + n)
                abort();  /* the body must lie inside the input just given */
            memcpy(out->body + out->body_len, body.data, body.len);
            out->body_len += body.len;
        }
        out->end = event;
        out->consumed += n - in.len;
        off += n;
        free(piece);
    }
    if (eof && out->end == HTTP_MORE)
        out->end = http_response_eof(&out->r);
}

static bool same(const result *a, const result *b)
{
    bool head = a->heads == b->heads && a->r.status == b->r.status &&
                a->r.content_length == b->r.content_length &&
                a->r.chunked == b->r.chunked && a->r.keep_alive == b->r.keep_alive &&
                strcmp(a->r.location, b->r.location) == 0;
    return a->end == b->end && head && a->head_end == b->head_end && a->r.error == b->r.error &&
           a->consumed == b->consumed && a->body_len == b->body_len &&
           memcmp(a->body, b->body, a->body_len) == 0;
}

/* The first byte holds options (bit 0: answers a HEAD request, bit 1: the
 * connection closes after the input); the rest is the response. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool head_request = data[0] & 1, eof = data[0] & 2;
    static result whole, split;  /* large: keep them off the stack */
    parse(data + 1, size - 1, 0, head_request, eof, &whole);
    parse(data + 1, size - 1, 7, head_request, eof, &split);
    if (!same(&whole, &split))
        abort();
    if ((whole.end == HTTP_ERROR) != (whole.r.error != NULL) || whole.heads > 1 ||
        whole.body_len > whole.consumed)
        abort();
    /* The rule of the one line reader: a head that was accepted (interim
     * heads included) holds no CR without its LF, no control byte but HTAB. */
    const uint8_t *text = data + 1;
    for (size_t i = 0; whole.heads == 1 && i < whole.head_end; i++)
        if ((text[i] == '\r' && text[i + 1] != '\n') ||
            (text[i] < 0x20 && text[i] != '\t' && text[i] != '\r' && text[i] != '\n') || text[i] == 0x7f)
            abort();
    free(whole.body);
    free(split.body);
    return 0;
}
