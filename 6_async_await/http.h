/* http.h - I/O-free HTTP/1.1 helpers shared by the image server and the
 * downloader: URLs, redirects, safe file names and incremental parsers. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Fixed limits in bytes, not counting the terminating NUL. */
enum {
    HTTP_HOST_MAX = 255,    /* host name (the DNS limit) */
    HTTP_PATH_MAX = 2047,   /* path + query of a URL; a request target */
    HTTP_URL_MAX = 4095,    /* a whole URL, e.g. a Location header */
    HTTP_NAME_MAX = 255,    /* a file name (the usual file system limit) */
    HTTP_METHOD_MAX = 15,   /* a request method */
    HTTP_LINE_MAX = 8192,   /* one line of a head or of chunk framing */
    HTTP_HEAD_MAX = 16384,  /* a whole head: start line, headers, blank line */
};

/* ---- URLs ------------------------------------------------------------ */

/* A parsed http:// URL. Host names are letters, digits, '-', '.' and '_'
 * (so no IPv6 literals and no user@ part); the #fragment is dropped. */
typedef struct {
    char host[HTTP_HOST_MAX + 1];
    unsigned port;                  /* 1..65535, 80 when not given */
    char path[HTTP_PATH_MAX + 1];   /* path and ?query, ready for a request
                                       line: starts with '/', and control
                                       bytes, spaces and bytes above 0x7E are
                                       percent-encoded ("/caf%C3%A9") */
} http_url;

/* Parses "http://host[:port][/path][?query][#fragment]".
 * Returns NULL on success, else a one-line error message (a static string);
 * *url is only written on success. */
const char *http_url_parse(http_url *url, const char *text);

/* Resolves a redirect's Location value against the current URL: absolute
 * "http://...", scheme-relative "//host/path", absolute path "/path", query
 * "?q", or a path relative to the directory of base's path. Dot segments are
 * kept as they are; bytes are encoded as in http_url. Returns NULL or an
 * error message like http_url_parse; next may point to the same object as
 * base. */
const char *http_url_resolve(http_url *next, const http_url *base,
                             const char *location);

/* Writes to out a file name that is safe to create in the current directory:
 * the percent-decoded last segment of path (a URL path such as url.path; the
 * query and fragment are ignored). If that is empty, starts with '.', holds
 * '/', '\\' or a control byte, or is longer than HTTP_NAME_MAX, writes
 * "image-<number>.bin" instead. */
void http_safe_name(char out[HTTP_NAME_MAX + 1], const char *path,
                    unsigned long number);

/* Writes name with "-<n>" put before its last extension ("cat.bmp", 2 ->
 * "cat-2.bmp"; "README", 1 -> "README-1"), shortening the stem if needed so
 * the result stays within HTTP_NAME_MAX bytes. */
void http_numbered_name(char out[HTTP_NAME_MAX + 1], const char *name,
                        unsigned n);

/* ---- Incremental parsers --------------------------------------------- */

/* A run of bytes inside someone else's buffer. */
typedef struct {
    const char *data;
    size_t len;
} http_slice;

/* What a parser reports after each call. */
typedef enum {
    HTTP_MORE,   /* all input is used up: feed more bytes (or report EOF) */
    HTTP_HEAD,   /* response head parsed: status and header fields are set */
    HTTP_BODY,   /* *body holds decoded body bytes, pointing into the input */
    HTTP_DONE,   /* message complete; any bytes after it are left in *in */
    HTTP_ERROR,  /* malformed or too large: the error field says why */
} http_event;

/* Private: collects one line at a time (both parsers use it). Because of
 * this buffer a parser takes about 10-12 KiB: keep it with the connection's
 * state, not on a small coroutine stack. */
typedef struct {
    char buf[HTTP_LINE_MAX + 1];
    size_t len;     /* bytes of the current line so far */
    size_t total;   /* bytes seen by this section (head, trailers, ...) */
} http_lines;

/* Both parsers read lines that end in CRLF or a bare LF (RFC 9112 2.2) and
 * refuse a CR not followed by LF, or any other control byte but HTAB,
 * anywhere in a head, a chunk line or the trailers: parsers that let them
 * through disagree about where lines end. Header lines starting with a space
 * or tab (obsolete line folding) are refused in requests; in responses they
 * are dropped if they continue a header the parser ignores. */

/* Client side. Parses "HTTP/1.x NNN reason", the headers listed below and
 * the body, framed by Content-Length, by chunked encoding (extensions and
 * trailers are ignored; chunk size lines and the end of chunk data must be
 * CRLF) or by the end of the connection. Interim responses (1xx but 101)
 * are read and skipped: the head reported is the final one. Each line may be
 * HTTP_LINE_MAX bytes and each head HTTP_HEAD_MAX bytes in all; the trailer
 * section has the same limit. */
typedef struct {
    /* Set when HTTP_HEAD is reported: */
    int status;                       /* 101..599 */
    long long content_length;         /* -1 when absent, or overridden by
                                         Transfer-Encoding */
    bool chunked;                     /* Transfer-Encoding: chunked */
    bool keep_alive;                  /* false after "Connection: close", for
                                         HTTP/1.0 (unless keep-alive), for
                                         bodies that end with the connection,
                                         and when both Content-Length and
                                         Transfer-Encoding came (RFC 9112 6.3) */
    char location[HTTP_URL_MAX + 1];  /* Location header, "" when absent */
    const char *error;                /* set when HTTP_ERROR is reported */

    /* Private parser state: */
    bool head_request;                /* responses to HEAD have no body */
    bool http10;
    bool saw_close, saw_keep_alive;
    bool folding_read;                /* the last header is one we read */
    int state;
    long long remaining;              /* bytes left in the body or chunk */
    http_lines lines;
} http_response;

/* Prepares r for one response; head_request tells if it answers a HEAD. */
void http_response_init(http_response *r, bool head_request);

/* Consumes bytes from the front of *in (advancing it) until something
 * happens, and reports it. Call it again while it reports HTTP_HEAD or
 * HTTP_BODY; any split of the input gives the same head and body bytes.
 * Once HTTP_DONE or HTTP_ERROR is reported, it keeps reporting that. */
http_event http_response_feed(http_response *r, http_slice *in,
                              http_slice *body);

/* Tells r the connection was closed. Returns HTTP_DONE if the response is
 * complete (a body that runs until the close is), else HTTP_ERROR with
 * "truncated head" or "truncated body". */
http_event http_response_eof(http_response *r);

/* Server side: parses the request line and headers. Empty lines before the
 * request line are skipped. The target is in origin form ("/path?query") or
 * absolute form ("http://host/path", reduced to its path), ASCII only.
 * HTTP/1.1 requests need exactly one Host header (and 1.0 requests at most
 * one). Request bodies are not supported: Content-Length > 0 or any
 * Transfer-Encoding is rejected, and both together too. Limits: a request
 * line over HTTP_LINE_MAX or a target over HTTP_PATH_MAX -> 414; a header
 * line over HTTP_LINE_MAX or a head over HTTP_HEAD_MAX -> 431; a version
 * other than HTTP/1.0 or 1.1 -> 505; anything else malformed -> 400. */
typedef struct {
    /* Set when HTTP_DONE is reported: */
    char method[HTTP_METHOD_MAX + 1];
    char target[HTTP_PATH_MAX + 1];  /* always starts with '/' */
    bool keep_alive;                 /* HTTP/1.1: unless "Connection: close";
                                        HTTP/1.0: only with "keep-alive" */
    /* Set when HTTP_ERROR is reported: */
    int error_status;                /* 400, 414, 431 or 505 */
    const char *error;

    /* Private parser state: */
    bool http11;
    bool saw_close, saw_keep_alive, transfer_encoding;
    int hosts;                       /* Host headers seen */
    long long content_length;        /* -1 when absent */
    int state;
    http_lines lines;
} http_request;

/* Prepares r for one request (call it again for the next one). */
void http_request_init(http_request *r);

/* Consumes bytes from the front of *in (advancing it). Returns HTTP_MORE,
 * HTTP_DONE when the head is complete (bytes of a pipelined next request
 * stay in *in) or HTTP_ERROR; after the last two it keeps returning them. */
http_event http_request_feed(http_request *r, http_slice *in);

/* ---- Routes of the image server -------------------------------------- */

/* Matches exactly "/<w>/<h>" with both numbers in 1..max_side. */
bool http_route_size(const char *target, unsigned max_side,
                     unsigned *w, unsigned *h);

#endif
