/* http_test.c - unit tests for http.c: URLs, redirects, file names, routes
 * and both parsers, fed whole and in small pieces, good input and hostile. */
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

#define HTTPS_ERROR \
    "https is not supported (no TLS in a libc-only program); use an http:// URL"

/* A byte string that may hold NULs: S("a\0b") keeps all three bytes. */
typedef struct {
    const char *data;
    size_t len;
} bytes;
#define S(literal) {literal, sizeof(literal) - 1}

static void check_string(const char *what, const char *got, const char *want)
{
    if (got == NULL || want == NULL ? got != want : strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)",
                 want ? want : "(null)");
}

/* A string of n copies of c, to build inputs right at the limits. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- URLs ------------------------------------------------------------ */

static void test_url_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *text, *host;
        unsigned port;
        const char *path;
    } cases[] = {
        {"http://example.com", "example.com", 80, "/"},
        {"http://example.com/", "example.com", 80, "/"},
        {"http://localhost:8080/320/240", "localhost", 8080, "/320/240"},
        {"HTTP://Host.Example/a?b=c#frag", "Host.Example", 80, "/a?b=c"},
        {"http://h?x=1", "h", 80, "/?x=1"},
        {"http://h#only-fragment", "h", 80, "/"},
        {"http://h:1", "h", 1, "/"},
        {"http://h:65535/", "h", 65535, "/"},
        {"http://h:00080/x", "h", 80, "/x"},
        {"http://127.0.0.1:8000/img/1.bmp", "127.0.0.1", 8000, "/img/1.bmp"},
        {"http://my_host-1.local/caf%C3%A9", "my_host-1.local", 80, "/caf%C3%A9"},
        /* Bytes a request line cannot carry are percent-encoded, as curl and
         * browsers send them; '%' and what follows it stay as they are. */
        {"http://h/caf\xc3\xa9.bin", "h", 80, "/caf%C3%A9.bin"},
        {"http://h?q=\xc3\xa9#\xc3\xa9", "h", 80, "/?q=%C3%A9"},
        {"http://h/a b", "h", 80, "/a%20b"},
        {"http://h/a\tb", "h", 80, "/a%09b"},
        {"http://h/\x01\x7f\xff", "h", 80, "/%01%7F%FF"},
        {"http://h/\r\nX: y", "h", 80, "/%0D%0AX:%20y"},
        {"http://h/100%/%zz", "h", 80, "/100%/%zz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_url url;
        check_string(cases[i].text, http_url_parse(&url, cases[i].text), NULL);
        check_string(cases[i].text, url.host, cases[i].host);
        check_string(cases[i].text, url.path, cases[i].path);
        assert_int_equal(url.port, cases[i].port);
    }
}

static void test_url_parse_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"https://example.com/", HTTPS_ERROR},
        {"HTTPS://example.com", HTTPS_ERROR},
        {"ftp://example.com/", "only http:// URLs are supported"},
        {"example.com/a", "only http:// URLs are supported"},
        {"http:/example.com", "only http:// URLs are supported"},
        {"", "only http:// URLs are supported"},
        {"http://", "URL has no host"},
        {"http:///path", "URL has no host"},
        {"http://:80/", "URL has no host"},
        {"http://?q", "URL has no host"},
        {"http://h:/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:0/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:65536/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:99999999999999999999999/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:8a/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:-1/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:+80/", "bad port (expected a number from 1 to 65535)"},
        {"http://h:80:81/", "bad port (expected a number from 1 to 65535)"},
        {"http://a b/", "invalid character in host name"},
        {"http://h\r\nX: y/", "invalid character in host name"},
        {"http://h :80/", "invalid character in host name"},
        {"http://h: 80/", "bad port (expected a number from 1 to 65535)"},
        {"http://user@host/", "invalid character in host name"},
        {"http://[::1]/", "invalid character in host name"},
        {"http://h\xc3\xa9/", "invalid character in host name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_url url = {.host = "unchanged", .port = 1, .path = "/unchanged"};
        check_string(cases[i].text, http_url_parse(&url, cases[i].text), cases[i].error);
        check_string("host after error", url.host, "unchanged");
        check_string("path after error", url.path, "/unchanged");
    }
}

static void test_url_limits(void **state)
{
    (void)state;
    http_url url;
    char text[HTTP_URL_MAX * 2];
    char *host = repeat('h', HTTP_HOST_MAX);
    snprintf(text, sizeof text, "http://%s/", host);
    check_string("longest host", http_url_parse(&url, text), NULL);
    assert_int_equal(strlen(url.host), HTTP_HOST_MAX);
    snprintf(text, sizeof text, "http://%sh/", host);
    check_string("host too long", http_url_parse(&url, text), "host name too long");
    free(host);

    char *path = repeat('p', HTTP_PATH_MAX - 1);
    snprintf(text, sizeof text, "http://h/%s#fragment-does-not-count", path);
    check_string("longest path", http_url_parse(&url, text), NULL);
    assert_int_equal(strlen(url.path), HTTP_PATH_MAX);
    snprintf(text, sizeof text, "http://h/%sp", path);
    check_string("path too long", http_url_parse(&url, text), "URL path too long");
    free(path);

    char *query = repeat('q', HTTP_PATH_MAX - 2);  /* "/?" + query */
    snprintf(text, sizeof text, "http://h?%s", query);
    check_string("longest query", http_url_parse(&url, text), NULL);
    assert_int_equal(strlen(url.path), HTTP_PATH_MAX);
    snprintf(text, sizeof text, "http://h?%sq", query);
    check_string("query too long", http_url_parse(&url, text), "URL path too long");
    free(query);

    /* The limit holds after encoding: each byte above 0x7E takes three. */
    char *high = repeat('\xff', (HTTP_PATH_MAX - 1) / 3);
    snprintf(text, sizeof text, "http://h/%s", high);
    check_string("longest encoded path", http_url_parse(&url, text), NULL);
    assert_int_equal(strlen(url.path), HTTP_PATH_MAX);
    snprintf(text, sizeof text, "http://h/%s\xff", high);
    check_string("encoded path too long", http_url_parse(&url, text), "URL path too long");
    snprintf(text, sizeof text, "http://h/%sx", high);
    check_string("one more plain byte", http_url_parse(&url, text), "URL path too long");
    free(high);
}

/* ---- Redirects ------------------------------------------------------- */

static void test_redirects(void **state)
{
    (void)state;
    static const struct {
        const char *location, *error, *host;
        unsigned port;
        const char *path;
    } cases[] = {
        {"http://other/x", NULL, "other", 80, "/x"},
        {"HTTP://UP:81", NULL, "UP", 81, "/"},
        {"http://other/x#frag", NULL, "other", 80, "/x"},
        {"https://other/x", HTTPS_ERROR, NULL, 0, NULL},
        {"ftp://other/x", "only http:// URLs are supported", NULL, 0, NULL},
        {"mailto:someone", "only http:// URLs are supported", NULL, 0, NULL},
        {"//other:8081/y#f", NULL, "other", 8081, "/y"},
        {"//other", NULL, "other", 80, "/"},
        {"//", "URL has no host", NULL, 0, NULL},
        {"/img/1.bmp", NULL, "h", 8080, "/img/1.bmp"},
        {"/", NULL, "h", 8080, "/"},
        {"/x?y=1#z", NULL, "h", 8080, "/x?y=1"},
        {"img/1.bmp", NULL, "h", 8080, "/a/b/img/1.bmp"},
        {"1.bmp#frag", NULL, "h", 8080, "/a/b/1.bmp"},
        {"../d", NULL, "h", 8080, "/a/b/../d"},
        {"?x=2", NULL, "h", 8080, "/a/b/c.bmp?x=2"},
        {"", "empty redirect location", NULL, 0, NULL},
        {"#only", "empty redirect location", NULL, 0, NULL},
        /* A raw UTF-8 Location: curl and browsers send it percent-encoded. */
        {"/caf\xc3\xa9.bin", NULL, "h", 8080, "/caf%C3%A9.bin"},
        {"caf\xc3\xa9.bin", NULL, "h", 8080, "/a/b/caf%C3%A9.bin"},
        {"?q=\xc3\xa9", NULL, "h", 8080, "/a/b/c.bmp?q=%C3%A9"},
        {"http://other/\xc3\xa9", NULL, "other", 80, "/%C3%A9"},
        {"//other/\xc3\xa9", NULL, "other", 80, "/%C3%A9"},
        {"/a b", NULL, "h", 8080, "/a%20b"},
        {"x\ry", NULL, "h", 8080, "/a/b/x%0Dy"},
        {"//a b/", "invalid character in host name", NULL, 0, NULL},
    };
    http_url base;
    assert_null(http_url_parse(&base, "http://h:8080/a/b/c.bmp?q=/1/2"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_url next = {.host = "unchanged"};
        check_string(cases[i].location,
                      http_url_resolve(&next, &base, cases[i].location), cases[i].error);
        if (cases[i].error != NULL) {
            check_string("host after error", next.host, "unchanged");
            continue;
        }
        check_string(cases[i].location, next.host, cases[i].host);
        check_string(cases[i].location, next.path, cases[i].path);
        assert_int_equal(next.port, cases[i].port);
    }
}

static void test_redirect_in_place_and_limits(void **state)
{
    (void)state;
    http_url url;
    assert_null(http_url_parse(&url, "http://h/dir/page"));
    assert_null(http_url_resolve(&url, &url, "next"));
    check_string("in place", url.path, "/dir/next");
    assert_int_equal(url.port, 80);

    char *long_ref = repeat('r', HTTP_PATH_MAX - strlen("/dir/"));
    assert_null(http_url_resolve(&url, &url, long_ref));
    assert_int_equal(strlen(url.path), HTTP_PATH_MAX);
    assert_null(http_url_parse(&url, "http://h/dir/page"));
    char *too_long = repeat('r', HTTP_PATH_MAX - strlen("/dir/") + 1);
    check_string("too long", http_url_resolve(&url, &url, too_long), "URL path too long");
    free(long_ref);
    free(too_long);

    char *huge = repeat('x', HTTP_URL_MAX);
    huge[0] = huge[1] = '/';
    check_string("huge", http_url_resolve(&url, &url, huge), "redirect URL too long");
    free(huge);
}

/* ---- File names ------------------------------------------------------ */

static void test_safe_names(void **state)
{
    (void)state;
    static const struct {
        const char *path, *name;
    } cases[] = {
        {"/img/1.bmp", "1.bmp"},
        {"/a/b/photo.jpg?x=1#y", "photo.jpg"},
        {"/dir/name?next=/x/y", "name"},
        {"/my%20cat.bmp", "my cat.bmp"},
        {"/100%25.bmp", "100%.bmp"},
        {"/bad%zz.bmp", "bad%zz.bmp"},
        {"/end%4", "end%4"},
        {"/end%", "end%"},
        {"/caf%C3%A9.bmp", "caf\xc3\xa9.bmp"},
        {"/x..y", "x..y"},
        {"", "image-17.bin"},
        {"/", "image-17.bin"},
        {"/a/", "image-17.bin"},
        {"/a/?q=name", "image-17.bin"},
        {"/.", "image-17.bin"},
        {"/..", "image-17.bin"},
        {"/%2e%2e", "image-17.bin"},
        {"/%2E%2e", "image-17.bin"},
        {"/%2e", "image-17.bin"},
        {"/.hidden", "image-17.bin"},
        {"/%2ehidden", "image-17.bin"},
        {"/a%2Fb", "image-17.bin"},
        {"/a%2fb", "image-17.bin"},
        {"/..%2f..%2fetc%2fpasswd", "image-17.bin"},
        {"/a%5Cb", "image-17.bin"},
        {"/a\\b", "image-17.bin"},
        {"/a%00b", "image-17.bin"},
        {"/a%0ab", "image-17.bin"},
        {"/a%0Db", "image-17.bin"},
        {"/a%1Fb", "image-17.bin"},
        {"/a%7f", "image-17.bin"},
        {"/a\x01" "b", "image-17.bin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[HTTP_NAME_MAX + 1];
        http_safe_name(name, cases[i].path, 17);
        check_string(cases[i].path, name, cases[i].name);
    }
}

static void test_safe_name_lengths(void **state)
{
    (void)state;
    char name[HTTP_NAME_MAX + 1], path[1024];
    char *longest = repeat('n', HTTP_NAME_MAX);
    snprintf(path, sizeof path, "/dir/%s", longest);
    http_safe_name(name, path, 0);
    check_string("255 bytes", name, longest);
    snprintf(path, sizeof path, "/dir/%sn", longest);
    http_safe_name(name, path, 0);
    check_string("256 bytes", name, "image-0.bin");

    /* The limit applies after decoding: 255 "%41" give 255 bytes. */
    strcpy(path, "/");
    for (int i = 0; i < HTTP_NAME_MAX; i++)
        strcat(path, "%41");
    http_safe_name(name, path, 0);
    assert_int_equal(strlen(name), HTTP_NAME_MAX);
    assert_int_equal(strspn(name, "A"), HTTP_NAME_MAX);
    strcat(path, "%41");
    http_safe_name(name, path, 4294967295UL);
    check_string("256 decoded bytes", name, "image-4294967295.bin");
    free(longest);
}

static void test_numbered_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned n;
        const char *want;
    } cases[] = {
        {"cat.bmp", 1, "cat-1.bmp"},
        {"cat.bmp", 2, "cat-2.bmp"},
        {"cat.bmp", 4294967295U, "cat-4294967295.bmp"},
        {"README", 1, "README-1"},
        {"a.tar.gz", 3, "a.tar-3.gz"},
        {".bashrc", 1, ".bashrc-1"},
        {"x.", 1, "x-1."},
        {"image-17.bin", 2, "image-17-2.bin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[HTTP_NAME_MAX + 1];
        http_numbered_name(out, cases[i].name, cases[i].n);
        check_string(cases[i].name, out, cases[i].want);
    }
}

static void test_numbered_name_limits(void **state)
{
    (void)state;
    char out[HTTP_NAME_MAX + 1], name[HTTP_NAME_MAX + 1];
    /* A 255-byte name loses the end of its stem, keeps its extension. */
    char *stem = repeat('a', HTTP_NAME_MAX - 4);
    snprintf(name, sizeof name, "%s.bmp", stem);
    http_numbered_name(out, name, 1);
    assert_int_equal(strlen(out), HTTP_NAME_MAX);
    assert_int_equal(strspn(out, "a"), HTTP_NAME_MAX - 6);
    check_string("suffix", out + HTTP_NAME_MAX - 6, "-1.bmp");
    http_numbered_name(out, name, 4294967295U);
    assert_int_equal(strlen(out), HTTP_NAME_MAX);
    check_string("suffix", out + HTTP_NAME_MAX - 15, "-4294967295.bmp");
    free(stem);

    /* The cut would split the two bytes of "\xc3\xa9": drop both. */
    stem = repeat('a', 248);
    snprintf(name, sizeof name, "%s\xc3\xa9.bmp", stem);
    http_numbered_name(out, name, 1);
    snprintf(name, sizeof name, "%s-1.bmp", stem);
    check_string("utf-8", out, name);
    free(stem);

    /* An "extension" too long to keep is treated as part of the stem. */
    char *ext = repeat('x', HTTP_NAME_MAX - 2);
    snprintf(name, sizeof name, "a.%s", ext);
    http_numbered_name(out, name, 1);
    assert_int_equal(strlen(out), HTTP_NAME_MAX);
    assert_memory_equal(out, name, HTTP_NAME_MAX - 2);
    check_string("suffix", out + HTTP_NAME_MAX - 2, "-1");
    free(ext);
}

/* ---- Response parser ------------------------------------------------- */

enum { BODY_MAX = 1 << 16 };

/* Everything one parse produced, to compare parses of different splits. */
typedef struct {
    http_event end;    /* HTTP_DONE, HTTP_ERROR, or HTTP_MORE if unfinished */
    int heads;         /* how often HTTP_HEAD was reported */
    int status;
    long long content_length;
    bool chunked, keep_alive;
    char location[HTTP_URL_MAX + 1];
    const char *error;
    size_t consumed;   /* input bytes the parser used */
    size_t body_len;
    char body[BODY_MAX];
} response_run;

/* Parses text fed in pieces of step bytes, each piece in an exactly-sized
 * heap buffer so that AddressSanitizer catches any read past it; eof says
 * whether the connection closes after the text. */
static response_run *parse_response(bytes text, size_t step, bool head_request, bool eof)
{
    response_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    http_response r;
    http_response_init(&r, head_request);
    run->end = HTTP_MORE;
    for (size_t off = 0; off < text.len && run->end == HTTP_MORE; off += step) {
        size_t n = text.len - off < step ? text.len - off : step;
        char *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, text.data + off, n);
        http_slice in = {piece, n}, body;
        http_event event;
        while ((event = http_response_feed(&r, &in, &body)) == HTTP_HEAD || event == HTTP_BODY) {
            if (event == HTTP_HEAD) {
                run->heads++;
                continue;
            }
            assert_true(body.len > 0 && body.data >= piece && body.data + body.len <= piece + n);
            assert_true(run->body_len + body.len <= BODY_MAX);
            memcpy(run->body + run->body_len, body.data, body.len);
            run->body_len += body.len;
        }
        run->end = event;
        run->consumed += n - in.len;
        free(piece);
    }
    if (eof && run->end == HTTP_MORE)
        run->end = http_response_eof(&r);
    run->status = r.status;
    run->content_length = r.content_length;
    run->chunked = r.chunked;
    run->keep_alive = r.keep_alive;
    strcpy(run->location, r.location);
    run->error = r.error;
    return run;
}

/* Parses text whole, byte by byte and 7 bytes at a time; all three must
 * agree exactly. Returns the first (free it). */
static response_run *check_response(bytes text, bool head_request, bool eof)
{
    response_run *whole = parse_response(text, text.len ? text.len : 1, head_request, eof);
    static const size_t steps[] = {1, 7};
    for (size_t i = 0; i < 2; i++) {
        response_run *split = parse_response(text, steps[i], head_request, eof);
        assert_int_equal(split->end, whole->end);
        assert_int_equal(split->heads, whole->heads);
        assert_int_equal(split->status, whole->status);
        assert_true(split->content_length == whole->content_length);
        assert_int_equal(split->chunked, whole->chunked);
        assert_int_equal(split->keep_alive, whole->keep_alive);
        assert_string_equal(split->location, whole->location);
        assert_ptr_equal(split->error, whole->error);
        assert_int_equal(split->consumed, whole->consumed);
        assert_int_equal(split->body_len, whole->body_len);
        assert_memory_equal(split->body, whole->body, whole->body_len);
        free(split);
    }
    return whole;
}

static void expect_body(const response_run *run, const char *body)
{
    assert_int_equal(run->body_len, strlen(body));
    assert_memory_equal(run->body, body, run->body_len);
}

static void test_response_content_length(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Other: y\r\n\r\nhello");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_int_equal(run->heads, 1);
    assert_int_equal(run->status, 200);
    assert_true(run->content_length == 5);
    assert_false(run->chunked);
    assert_true(run->keep_alive);
    check_string("location", run->location, "");
    assert_null(run->error);
    assert_int_equal(run->consumed, text.len);
    expect_body(run, "hello");
    free(run);
}

static void test_response_redirect(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 302 Found\nlocation:   /img/7.bmp \t\nCONTENT-LENGTH: 0\n\n");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_int_equal(run->status, 302);
    check_string("location", run->location, "/img/7.bmp");
    assert_true(run->content_length == 0);
    expect_body(run, "");
    free(run);
}

static void test_response_chunked(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                   "5;name=value\r\nhello\r\n"
                   "6 ; x=\"y\"\r\n world\r\n"
                   "000A\r\n0123456789\r\n"
                   "1\r\nZ\r\n"
                   "0;last\r\nX-Trailer: 1\nChecksum: abc\n\r\n");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_true(run->chunked);
    assert_true(run->content_length == -1);
    assert_true(run->keep_alive);
    assert_int_equal(run->consumed, text.len);
    expect_body(run, "hello world0123456789Z");
    free(run);

    bytes empty = S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    run = check_response(empty, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    expect_body(run, "");
    free(run);
}

/* Both Content-Length and Transfer-Encoding: the chunks frame the body, and
 * the connection is not used again (RFC 9112 6.3). */
static void test_response_both_framings(void **state)
{
    (void)state;
    static const bytes cases[] = {
        S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
          "2\r\nok\r\n0\r\n\r\n"),
        S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
          "2\r\nok\r\n0\r\n\r\n"),
        S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n"
          "Connection: keep-alive\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
        /* Chunks in HTTP/1.0: read them, then close (RFC 9112 6.1). */
        S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
          "2\r\nok\r\n0\r\n\r\n"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        response_run *run = check_response(cases[i], false, false);
        if (run->end != HTTP_DONE)
            fail_msg("case %zu: %s", i, run->error ? run->error : "not done");
        assert_true(run->chunked);
        assert_true(run->content_length == -1);
        assert_false(run->keep_alive);
        assert_int_equal(run->consumed, cases[i].len);
        expect_body(run, "ok");
        free(run);
    }
}

/* Interim responses (1xx but 101) are read past: the head reported, its
 * headers and its body are the final response's. */
static void test_response_interim(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
                   "Location: /not-this\r\nConnection: close\r\n\r\n"
                   "HTTP/1.1 100 Continue\n\n"
                   "HTTP/1.1 102 Processing\r\nContent-Length: 9\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_int_equal(run->heads, 1);
    assert_int_equal(run->status, 200);
    assert_true(run->content_length == 2);
    assert_true(run->keep_alive);  /* the interim's "close" is not the final's */
    check_string("location", run->location, "");
    assert_int_equal(run->consumed, text.len - 4);
    expect_body(run, "ok");
    free(run);

    /* Empty lines before a status line are skipped, as before a request. */
    run = check_response((bytes)S("HTTP/1.1 100 Continue\r\n\r\n\r\n\nHTTP/1.1 204 No Content\r\n\r\n"), false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_int_equal(run->status, 204);
    free(run);

    /* An interim response alone is no answer yet. */
    run = check_response((bytes)S("HTTP/1.1 100 Continue\r\n\r\n"), false, false);
    assert_int_equal(run->end, HTTP_MORE);
    assert_int_equal(run->heads, 0);
    free(run);
    run = check_response((bytes)S("HTTP/1.1 100 Continue\r\n\r\n"), false, true);
    check_string("error", run->error, "truncated head");
    free(run);
    /* Each head is checked and has its own size limit. */
    run = check_response((bytes)S("HTTP/1.1 100 Continue\r\nX: a\rb\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\n\r\n"), false, true);
    check_string("error", run->error, "bare CR (not followed by LF) in response head");
    free(run);
}

/* A folded line continuing a header the parser ignores is ignored with it
 * (a user agent must unfold, RFC 9112 5.2: the result is the same). */
static void test_response_folded_lines(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 200 OK\r\n  leading fold\r\nX-Long: a\r\n\tb\r\n c\r\n"
                   "Content-Length: 2\r\nServer: x\r\n y\r\n\r\nok");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_true(run->content_length == 2);
    expect_body(run, "ok");
    free(run);
}

static void test_response_read_until_close(void **state)
{
    (void)state;
    bytes text = S("HTTP/1.1 200 OK\r\nContent-Type: image/bmp\r\n\r\nall of\r\nthis");
    response_run *run = check_response(text, false, false);
    assert_int_equal(run->end, HTTP_MORE);  /* only the close ends it */
    free(run);
    run = check_response(text, false, true);
    assert_int_equal(run->end, HTTP_DONE);
    assert_false(run->keep_alive);
    expect_body(run, "all of\r\nthis");
    free(run);

    bytes empty = S("HTTP/1.0 200 OK\r\n\r\n");
    run = check_response(empty, false, true);
    assert_int_equal(run->end, HTTP_DONE);
    expect_body(run, "");
    free(run);
}

static void test_response_without_body(void **state)
{
    (void)state;
    static const struct {
        bytes text;
        bool head_request;
        int status;
    } cases[] = {
        {S("HTTP/1.1 204 No Content\r\n\r\n"), false, 204},
        {S("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"), false, 304},
        {S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), true, 200},
        {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), true, 200},
        {S("HTTP/1.1 200 OK\r\n\r\n"), true, 200},
        {S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), false, 101},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Done right after the head, without waiting for a close. */
        response_run *run = check_response(cases[i].text, cases[i].head_request, false);
        assert_int_equal(run->end, HTTP_DONE);
        assert_int_equal(run->heads, 1);
        assert_int_equal(run->status, cases[i].status);
        assert_int_equal(run->body_len, 0);
        free(run);
    }
}

static void test_response_keep_alive(void **state)
{
    (void)state;
    static const struct {
        bytes text;
        bool keep_alive;
    } cases[] = {
        {S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), true},
        {S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), false},
        {S("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n"), false},
        {S("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"), false},
        {S("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n"), true},
        {S("HTTP/1.1 200 OK\r\nConnection: x ,close\t, y\r\nContent-Length: 0\r\n\r\n"), false},
        {S("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), false},
        {S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"), true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        response_run *run = check_response(cases[i].text, false, false);
        assert_int_equal(run->end, HTTP_DONE);
        if (run->keep_alive != cases[i].keep_alive)
            fail_msg("case %zu: keep_alive is %d", i, run->keep_alive);
        free(run);
    }
}

/* Bytes after the response stay in the input; feeding on reports DONE. */
static void test_response_leaves_extra_bytes(void **state)
{
    (void)state;
    const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                        "Content-Length: 3\r\n\r\nabcEXTRA";
    http_response r;
    http_response_init(&r, false);
    http_slice in = {text, strlen(text)}, body = {NULL, 0};
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_HEAD);
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_BODY);
    assert_int_equal(body.len, 3);
    assert_memory_equal(body.data, "abc", 3);
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_DONE);
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_DONE);
    assert_int_equal(in.len, 5);
    assert_memory_equal(in.data, "EXTRA", 5);
    assert_int_equal(http_response_eof(&r), HTTP_DONE);
}

/* Once a parser has failed it stays failed, whatever comes next. */
static void test_errors_are_final(void **state)
{
    (void)state;
    const char bad[] = "HTTP/9 200 OK\r\n\r\n", good[] = "HTTP/1.1 200 OK\r\n\r\n";
    http_response r;
    http_response_init(&r, false);
    http_slice in = {bad, strlen(bad)}, body;
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_ERROR);
    in = (http_slice){good, strlen(good)};
    assert_int_equal(http_response_feed(&r, &in, &body), HTTP_ERROR);
    assert_int_equal(in.len, strlen(good));
    assert_int_equal(http_response_eof(&r), HTTP_ERROR);
    check_string("error", r.error, "malformed status line");

    http_request q;
    http_request_init(&q);
    in = (http_slice){bad, strlen(bad)};
    assert_int_equal(http_request_feed(&q, &in), HTTP_ERROR);
    in = (http_slice){"GET / HTTP/1.1\r\n\r\n", 18};
    assert_int_equal(http_request_feed(&q, &in), HTTP_ERROR);
    assert_int_equal(in.len, 18);
    assert_int_equal(q.error_status, 400);
}

static void test_response_large_numbers(void **state)
{
    (void)state;
    bytes length = S("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nab");
    response_run *run = check_response(length, false, false);
    assert_int_equal(run->end, HTTP_MORE);
    assert_true(run->content_length == 9223372036854775807LL);
    expect_body(run, "ab");
    free(run);

    bytes chunk = S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab");
    run = check_response(chunk, false, true);
    assert_int_equal(run->end, HTTP_ERROR);
    check_string("error", run->error, "truncated body");
    expect_body(run, "ab");
    free(run);
}

static void test_response_hostile_table(void **state)
{
    (void)state;
#define CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define OK_LINE "HTTP/1.1 200 OK\r\n"
    static const struct {
        bytes text;
        const char *error;
    } cases[] = {
        {S(""), "truncated head"},
        {S("HTTP/1.1 200 OK"), "truncated head"},
        {S(OK_LINE "Content-Length: 5\r\n"), "truncated head"},
        {S(OK_LINE "Content-Length: 5\r\n\r\nabc"), "truncated body"},
        {S(CHUNKED), "truncated body"},
        {S(CHUNKED "5\r\nab"), "truncated body"},
        {S(CHUNKED "5\r\nhello"), "truncated body"},
        {S(CHUNKED "5\r\nhello\r\n"), "truncated body"},
        {S(CHUNKED "0\r\nTrailer: x\r\n"), "truncated body"},
        {S("HTTP/2 200 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 20 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 2000 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 099 Low\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 600 High\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1  200 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 2x0 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1.1 -20 OK\r\n\r\n"), "malformed status line"},
        {S("http/1.1 200 OK\r\n\r\n"), "malformed status line"},
        {S("HTTP/1. 200 OK\r\n\r\n"), "malformed status line"},
        {S("\r\n \r\nHTTP/1.1 200 OK\r\n\r\n"), "malformed status line"},
        {S("<html>hello</html>"), "truncated head"},
        {S("<html>\n"), "malformed status line"},
        {S(OK_LINE "Content-Length: -1\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: +5\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: abc\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length:\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 1 2\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 5, 5\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 0x10\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 9223372036854775808\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 99999999999999999999999\r\n\r\n"), "bad Content-Length"},
        {S(OK_LINE "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), "conflicting Content-Length"},
        {S(OK_LINE "Transfer-Encoding: gzip\r\n\r\n"), "unsupported Transfer-Encoding"},
        {S(OK_LINE "Transfer-Encoding: gzip, chunked\r\n\r\n"), "unsupported Transfer-Encoding"},
        {S(OK_LINE "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
         "unsupported Transfer-Encoding"},
        {S(CHUNKED "zz\r\n"), "bad chunk size"},
        {S(CHUNKED "\r\n"), "bad chunk size"},
        {S(CHUNKED ";ext\r\n"), "bad chunk size"},
        {S(CHUNKED " 5\r\n"), "bad chunk size"},
        {S(CHUNKED "-5\r\n"), "bad chunk size"},
        {S(CHUNKED "0x5\r\n"), "bad chunk size"},
        {S(CHUNKED "5 5\r\n"), "bad chunk size"},
        {S(CHUNKED "8000000000000000\r\nab"), "chunk size too large"},
        {S(CHUNKED "ffffffffffffffffffffffff\r\n"), "chunk size too large"},
        {S(CHUNKED "5\r\nhelloX\r\n0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(CHUNKED "5\r\nhello\n0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(CHUNKED "5\r\nhello\r0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(CHUNKED "5\r\nhello\r\r\n0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(CHUNKED "5\nhello\r\n0\r\n\r\n"), "chunk size line not ended by CRLF"},
        {S(CHUNKED "5\r\nhello\r\n0\n\r\n"), "chunk size line not ended by CRLF"},
        {S(CHUNKED "5;a=b\nhello\r\n0\r\n\r\n"), "chunk size line not ended by CRLF"},
        {S(CHUNKED "5\r\nhello0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(CHUNKED "3\r\nhello\r\n0\r\n\r\n"), "missing CRLF after chunk data"},
        {S(OK_LINE "X-No-Colon\r\n\r\n"), "header line without colon"},
        {S(OK_LINE "Bad Name: x\r\n\r\n"), "invalid header name"},
        {S(OK_LINE ": no name\r\n\r\n"), "invalid header name"},
        {S(OK_LINE "Name : x\r\n\r\n"), "invalid header name"},
        {S(OK_LINE "X: a\0b\r\n\r\n"), "control character in response head"},
        {S("HTTP/1.1 200 OK\0\r\n\r\n"), "control character in response head"},
        {S("\0"), "control character in response head"},
        {S(OK_LINE "X: a\x01\r\n\r\n"), "control character in response head"},
        {S(OK_LINE "X: \x1b[31m\r\n\r\n"), "control character in response head"},
        {S(OK_LINE "X: \x7f\r\n\r\n"), "control character in response head"},
        {S(OK_LINE "X\x0b: y\r\n\r\n"), "control character in response head"},
        {S(CHUNKED "5\0\r\nhello\r\n"), "control character in chunk framing"},
        {S(CHUNKED "0\r\nX: \0\r\n\r\n"), "control character in chunk framing"},
        {S(CHUNKED "5;x=\x01\r\nhello\r\n"), "control character in chunk framing"},
        /* A CR not followed by LF, anywhere in a line. */
#define BARE_CR_HEAD "bare CR (not followed by LF) in response head"
#define BARE_CR_CHUNK "bare CR (not followed by LF) in chunk framing"
        {S("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n"), BARE_CR_HEAD},
        {S("HTTP/1.1 200 OK\r\rContent-Length: 4\r\n\r\nEvil"), BARE_CR_HEAD},
        {S("HTTP/1.1 200\r OK\r\n\r\n"), BARE_CR_HEAD},
        {S(OK_LINE "X: a\rContent-Length: 2\r\n\r\nokEXTRA"), BARE_CR_HEAD},
        {S(OK_LINE "Foo: 1\rBar: 2\r\n\r\n"), BARE_CR_HEAD},
        {S(OK_LINE "Content\rLength: 3\r\n\r\nabc"), BARE_CR_HEAD},
        {S(OK_LINE "x:\rTransfer-Encoding: chunked\r\n\r\n"), BARE_CR_HEAD},
        {S(OK_LINE "Content-Length: 3\r\n\rabc"), BARE_CR_HEAD},
        {S(OK_LINE "Content-Length: 0\r\n\r\r\n"), BARE_CR_HEAD},
        {S(CHUNKED "5\r;x\r\nhello\r\n"), BARE_CR_CHUNK},
        {S(CHUNKED "5;a=\"\r\"\r\nhello\r\n0\r\n\r\n"), BARE_CR_CHUNK},
        {S(CHUNKED "0\r\nX: a\rb\r\n\r\n"), BARE_CR_CHUNK},
        {S(CHUNKED "0\r\n\r\r\n"), BARE_CR_CHUNK},
#undef BARE_CR_HEAD
#undef BARE_CR_CHUNK
        /* Folded lines: a fold continuing a header we read. */
        {S(OK_LINE "Content-Length: 2\r\n 0\r\n\r\nok"), "folded header line (obsolete line folding)"},
        {S(OK_LINE "Transfer-Encoding: chunked\r\n  abc\r\n\r\n5\r\nWorld\r\n0\r\n\r\n"),
         "folded header line (obsolete line folding)"},
        {S(OK_LINE "Connection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n"),
         "folded header line (obsolete line folding)"},
    };
#undef CHUNKED
#undef OK_LINE
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        response_run *run = check_response(cases[i].text, false, true);
        if (run->end != HTTP_ERROR)
            fail_msg("case %zu (%s): no error", i, cases[i].error);
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        check_string(what, run->error, cases[i].error);
        free(run);
    }
}

/* A response head with one header line ("f:fff...") of line_len bytes,
 * then eol (CR LF or LF) and the blank line. */
static char *head_with_line(size_t line_len, const char *eol, size_t *len)
{
    const char *start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
    *len = strlen(start) + line_len + strlen(eol) + 2;
    char *text = malloc(*len);
    assert_non_null(text);
    memcpy(text, start, strlen(start));
    memset(text + strlen(start), 'f', line_len);
    text[strlen(start) + 1] = ':';
    memcpy(text + strlen(start) + line_len, eol, strlen(eol));
    memcpy(text + *len - 2, "\r\n", 2);
    return text;
}

static void test_response_limits(void **state)
{
    (void)state;
    /* A head split over two filler lines, to stay under the line limit. */
    char *text = malloc(HTTP_HEAD_MAX + 2);
    assert_non_null(text);
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t len = HTTP_HEAD_MAX + extra;
        const char *start = "HTTP/1.1 204 None\r\n";
        size_t rest = len - strlen(start) - 2;   /* minus the blank line */
        size_t first = rest / 2, second = rest - first;
        strcpy(text, start);
        char *p = text + strlen(start);
        memcpy(p, "A: ", 3);
        memset(p + 3, 'a', first - 5);
        memcpy(p + first - 2, "\r\n", 2);
        p += first;
        memcpy(p, "B: ", 3);
        memset(p + 3, 'b', second - 5);
        memcpy(p + second - 2, "\r\n\r\n", 4);
        response_run *run = check_response((bytes){text, len}, false, true);
        assert_int_equal(run->end, extra ? HTTP_ERROR : HTTP_DONE);
        check_string("16 KiB head", run->error, extra ? "response head too large" : NULL);
        free(run);
    }
    free(text);

    /* One line of exactly HTTP_LINE_MAX bytes is fine, one more is not. */
    for (size_t extra = 0; extra <= 1; extra++) {
        for (int lf_only = 0; lf_only <= 1; lf_only++) {
            size_t len;
            text = head_with_line(HTTP_LINE_MAX + extra, lf_only ? "\n" : "\r\n", &len);
            response_run *run = check_response((bytes){text, len}, false, true);
            check_string("8 KiB line", run->error, extra ? "response head too large" : NULL);
            free(run);
            free(text);
        }
    }

    text = malloc(HTTP_URL_MAX + 100);
    assert_non_null(text);
    for (size_t extra = 0; extra <= 1; extra++) {
        char *location = repeat('l', HTTP_URL_MAX + extra);
        snprintf(text, HTTP_URL_MAX + 100, "HTTP/1.1 302 Found\r\nLocation: %s\r\n\r\n", location);
        free(location);
        response_run *run = check_response((bytes){text, strlen(text)}, false, true);
        check_string("Location", run->error, extra ? "Location too long" : NULL);
        if (!extra)
            assert_int_equal(strlen(run->location), HTTP_URL_MAX);
        free(run);
    }
    free(text);
}

static void test_response_chunk_limits(void **state)
{
    (void)state;
    /* Limits are per framing line: many chunks together may be any size. */
    enum { CHUNKS = 4000 };
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    size_t len = strlen(head) + CHUNKS * 6 + 5;
    char *text = malloc(len);
    assert_non_null(text);
    memcpy(text, head, strlen(head));
    for (size_t i = 0; i < CHUNKS; i++)
        memcpy(text + strlen(head) + i * 6, "1\r\nx\r\n", 6);
    memcpy(text + len - 5, "0\r\n\r\n", 5);
    response_run *run = check_response((bytes){text, len}, false, false);
    assert_int_equal(run->end, HTTP_DONE);
    assert_int_equal(run->body_len, CHUNKS);
    assert_int_equal(strspn(run->body, "x"), CHUNKS);
    free(run);
    free(text);

    /* A chunk extension longer than a line may be. */
    head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
    len = strlen(head) + HTTP_LINE_MAX + 10;
    text = malloc(len);
    assert_non_null(text);
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'e', len - strlen(head));
    run = check_response((bytes){text, len}, false, true);
    check_string("extension", run->error, "chunk framing too large");
    free(run);
    free(text);

    /* Trailers get the head limit, in total. */
    const char *body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
    size_t lines = HTTP_HEAD_MAX / 100 + 1;
    len = strlen(body) + lines * 100 + 2;
    text = malloc(len);
    assert_non_null(text);
    memcpy(text, body, strlen(body));
    for (size_t i = 0; i < lines; i++) {
        char *line = text + strlen(body) + i * 100;
        memset(line, 't', 98);
        line[1] = ':';
        memcpy(line + 98, "\r\n", 2);
    }
    memcpy(text + len - 2, "\r\n", 2);
    run = check_response((bytes){text, len}, false, true);
    check_string("trailers", run->error, "chunk framing too large");
    expect_body(run, "x");
    free(run);
    free(text);
}

/* ---- Request parser -------------------------------------------------- */

typedef struct {
    http_event end;
    char method[HTTP_METHOD_MAX + 1];
    char target[HTTP_PATH_MAX + 1];
    bool keep_alive;
    int error_status;
    const char *error;
    size_t consumed;
} request_run;

static request_run parse_request(bytes text, size_t step)
{
    request_run run = {.end = HTTP_MORE};
    http_request r;
    http_request_init(&r);
    for (size_t off = 0; off < text.len && run.end == HTTP_MORE; off += step) {
        size_t n = text.len - off < step ? text.len - off : step;
        char *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, text.data + off, n);
        http_slice in = {piece, n};
        run.end = http_request_feed(&r, &in);
        run.consumed += n - in.len;
        free(piece);
    }
    strcpy(run.method, r.method);
    strcpy(run.target, r.target);
    run.keep_alive = r.keep_alive;
    run.error_status = r.error_status;
    run.error = r.error;
    return run;
}

/* Parses whole and byte by byte; both must agree. */
static request_run check_request(bytes text)
{
    request_run whole = parse_request(text, text.len ? text.len : 1);
    request_run split = parse_request(text, 1);
    assert_int_equal(split.end, whole.end);
    assert_string_equal(split.method, whole.method);
    assert_string_equal(split.target, whole.target);
    assert_int_equal(split.keep_alive, whole.keep_alive);
    assert_int_equal(split.error_status, whole.error_status);
    assert_ptr_equal(split.error, whole.error);
    assert_int_equal(split.consumed, whole.consumed);
    return whole;
}

static void test_request_good(void **state)
{
    (void)state;
    static const struct {
        bytes text;
        const char *method, *target;
        bool keep_alive;
    } cases[] = {
        {S("GET /320/240 HTTP/1.1\r\nHost: localhost\r\n\r\n"), "GET", "/320/240", true},
        {S("HEAD /img/3.bmp HTTP/1.1\nHost: x\n\n"), "HEAD", "/img/3.bmp", true},
        {S("GET / HTTP/1.1\r\nConnection: close\r\nHost: x\r\n\r\n"), "GET", "/", false},
        {S("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: Close\r\n\r\n"), "GET", "/", false},
        {S("GET / HTTP/1.0\r\n\r\n"), "GET", "/", false},
        {S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), "GET", "/", true},
        {S("GET / HTTP/1.0\r\nHost: x\r\n\r\n"), "GET", "/", false},
        {S("GET /a?b=%20c HTTP/1.1\r\nContent-Length: 0\r\nX-Empty:\r\nhost:\r\n\r\n"), "GET", "/a?b=%20c", true},
        {S("POST /x HTTP/1.1\r\nHost: x\r\n\r\n"), "POST", "/x", true},
        {S("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"), "GET", "/", true},
        /* Host values: a name, an address, a port, an IPv6 literal. */
        {S("GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"), "GET", "/", true},
        {S("GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n"), "GET", "/", true},
        {S("GET / HTTP/1.1\r\nHOST: caf%C3%A9.example\r\n\r\n"), "GET", "/", true},
        /* Empty lines before a request are skipped (RFC 9112 2.2). */
        {S("\r\n\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n"), "GET", "/x", true},
        /* Absolute form: a server must accept it (RFC 9112 3.2.2). */
        {S("GET http://h:8000/1/2?q HTTP/1.1\r\nHost: h\r\n\r\n"), "GET", "/1/2?q", true},
        {S("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n"), "GET", "/", true},
        {S("GET https://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"), "GET", "/?q=1", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request_run run = check_request(cases[i].text);
        if (run.end != HTTP_DONE)
            fail_msg("case %zu: not done (%s)", i, run.error ? run.error : "more");
        check_string("method", run.method, cases[i].method);
        check_string("target", run.target, cases[i].target);
        assert_int_equal(run.keep_alive, cases[i].keep_alive);
        assert_int_equal(run.consumed, cases[i].text.len);
    }
}

static void test_request_pipelined(void **state)
{
    (void)state;
    const char text[] = "GET /1/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3";
    http_request r;
    http_slice in = {text, strlen(text)};
    const char *targets[] = {"/1/1", "/2/2"};
    for (int i = 0; i < 2; i++) {
        http_request_init(&r);
        assert_int_equal(http_request_feed(&r, &in), HTTP_DONE);
        assert_int_equal(http_request_feed(&r, &in), HTTP_DONE);  /* stays done */
        check_string("target", r.target, targets[i]);
    }
    http_request_init(&r);
    assert_int_equal(http_request_feed(&r, &in), HTTP_MORE);
    assert_int_equal(in.len, 0);
}

static void test_request_limits(void **state)
{
    (void)state;
    char *text = malloc(2 * HTTP_HEAD_MAX);
    assert_non_null(text);
    /* Request line of exactly HTTP_LINE_MAX bytes, target too long: 414. */
    char *target = repeat('t', HTTP_LINE_MAX - strlen("GET / HTTP/1.1"));
    sprintf(text, "GET /%s HTTP/1.1\r\n\r\n", target);
    request_run run = check_request((bytes){text, strlen(text)});
    assert_int_equal(run.error_status, 414);
    check_string("long target", run.error, "request target too long");
    /* One more byte: the line itself is too long. */
    sprintf(text, "GET /%st HTTP/1.1\r\n\r\n", target);
    run = check_request((bytes){text, strlen(text)});
    assert_int_equal(run.error_status, 414);
    check_string("long line", run.error, "request line too long");
    free(target);

    /* The longest target that fits. */
    target = repeat('t', HTTP_PATH_MAX - 1);
    sprintf(text, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n", target);
    run = check_request((bytes){text, strlen(text)});
    assert_int_equal(run.end, HTTP_DONE);
    assert_int_equal(strlen(run.target), HTTP_PATH_MAX);
    free(target);

    /* A header line over HTTP_LINE_MAX: 431. */
    char *value = repeat('v', HTTP_LINE_MAX);
    sprintf(text, "GET / HTTP/1.1\r\nHost: h\r\nX:%s\r\n\r\n", value);
    run = check_request((bytes){text, strlen(text)});
    assert_int_equal(run.error_status, 431);
    value[HTTP_LINE_MAX - 2] = '\0';  /* X: + value is exactly the limit */
    sprintf(text, "GET / HTTP/1.1\r\nHost: h\r\nX:%s\r\n\r\n", value);
    run = check_request((bytes){text, strlen(text)});
    assert_int_equal(run.end, HTTP_DONE);
    free(value);

    /* A head of exactly HTTP_HEAD_MAX bytes is fine, one more byte: 431. */
    for (size_t extra = 0; extra <= 1; extra++) {
        const char *start = "GET / HTTP/1.1\r\nHost: h\r\n";
        size_t rest = HTTP_HEAD_MAX + extra - strlen(start) - 2;
        size_t lines = 4, each = rest / lines;
        strcpy(text, start);
        char *p = text + strlen(start);
        for (size_t i = 0; i < lines; i++) {
            size_t n = i < lines - 1 ? each : rest - each * (lines - 1);
            memset(p, 'h', n - 2);
            p[1] = ':';
            memcpy(p + n - 2, "\r\n", 2);
            p += n;
        }
        memcpy(p, "\r\n", 2);
        run = check_request((bytes){text, HTTP_HEAD_MAX + extra});
        assert_int_equal(run.end, extra ? HTTP_ERROR : HTTP_DONE);
        assert_int_equal(run.error_status, extra ? 431 : 0);
    }
    free(text);
}

static void test_request_bad_table(void **state)
{
    (void)state;
    static const struct {
        bytes text;
        int status;
        const char *error;
    } cases[] = {
#define H "Host: h\r\n"
#define BARE_CR "bare CR (not followed by LF) in request head"
#define CTL "control character in request head"
        {S("\r\n\r\nGET\r\n"), 400, "malformed request line"},
        {S("GET /\r\n\r\n"), 400, "malformed request line"},
        {S("GET  / HTTP/1.1\r\n\r\n"), 400, "malformed request line"},
        {S("GET / HTTP/1.1 \r\n\r\n"), 400, "malformed request line"},
        {S("GET / HTTP/1.1 extra\r\n\r\n"), 400, "malformed request line"},
        {S("GET\t/ HTTP/1.1\r\n\r\n"), 400, "malformed request line"},
        {S(" / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {S("G@T / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {S("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {S("GET ftp://h/ HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET http:///x HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET http:/x HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET http://u:p@h/x HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("CONNECT h:443 HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("OPTIONS * HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET /\xee HTTP/1.1\r\n" H "\r\n"), 400, "bad request target"},
        {S("GET /a\x01" "b HTTP/1.1\r\n\r\n"), 400, CTL},
        {S("GET /a\x7f HTTP/1.1\r\n\r\n"), 400, CTL},
        {S("GET / HTTPS/1.1\r\n\r\n"), 400, "malformed request line"},
        {S("GET / http/1.1\r\n\r\n"), 400, "malformed request line"},
        {S("GET / HTTP/1.10\r\n\r\n"), 400, "malformed request line"},
        {S("GET / HTTP/1\r\n\r\n"), 400, "malformed request line"},
        {S("GET / HTTP/2.0\r\n\r\n"), 505, "HTTP version not supported"},
        {S("GET / HTTP/1.2\r\n\r\n"), 505, "HTTP version not supported"},
        {S("GET / HTTP/0.9\r\n\r\n"), 505, "HTTP version not supported"},
        {S("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400, "header line without colon"},
        {S("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400, "invalid header name"},
        {S("GET / HTTP/1.1\r\nName : x\r\n\r\n"), 400, "invalid header name"},
        {S("GET / HTTP/1.1\r\n folded: x\r\n\r\n"), 400, "folded header line (obsolete line folding)"},
        {S("GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n"), 400, "folded header line (obsolete line folding)"},
        {S("GET / HTTP/1.1\r\n" H "X: a\r\n\t\r\n\r\n"), 400, "folded header line (obsolete line folding)"},
        {S("GET / HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello"), 400, "request bodies are not supported"},
        {S("GET / HTTP/1.1\r\n" H "Content-Length: x\r\n\r\n"), 400, "bad Content-Length"},
        {S("GET / HTTP/1.1\r\n" H "Content-Length: -0\r\n\r\n"), 400, "bad Content-Length"},
        {S("GET / HTTP/1.1\r\n" H "Content-Length: 0\r\nContent-Length: 1\r\n\r\n"), 400, "conflicting Content-Length"},
        {S("GET / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"), 400, "request bodies are not supported"},
        {S("GET / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n"), 400, "request bodies are not supported"},
        /* Both framings: 400, whatever the values and their order. */
        {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"), 400,
         "both Content-Length and Transfer-Encoding"},
        {S("POST / HTTP/1.1\r\n" H "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400,
         "both Content-Length and Transfer-Encoding"},
        {S("GET / HTTP/1.0\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\n\r\n"), 400,
         "both Content-Length and Transfer-Encoding"},
        /* Host: exactly one in HTTP/1.1, at most one in HTTP/1.0. */
        {S("GET / HTTP/1.1\r\n\r\n"), 400, "missing Host header (HTTP/1.1 requires one)"},
        {S("GET /img/1.bmp HTTP/1.1\r\nAccept: */*\r\nConnection: close\r\n\r\n"), 400,
         "missing Host header (HTTP/1.1 requires one)"},
        {S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "more than one Host header"},
        {S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400, "more than one Host header"},
        {S("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "more than one Host header"},
        {S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "bad Host header"},
        {S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, "bad Host header"},
        {S("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), 400, "bad Host header"},
        {S("GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n"), 400, "bad Host header"},
        /* Control bytes, and a CR without its LF, anywhere in the head. */
        {S("GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n"), 400, CTL},
        {S("GET /\0 HTTP/1.1\r\n\r\n"), 400, CTL},
        {S("GET / HTTP/1.1\r\n" H "X: \x1b[0m\r\n\r\n"), 400, CTL},
        {S("GET / HTTP/1.1\r\n" H "X: a\x0c" "b\r\n\r\n"), 400, CTL},
        {S("GET / HTTP/1.1\r\n" H "X\x01: b\r\n\r\n"), 400, CTL},
        {S("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400, BARE_CR},
        {S("GET /\r HTTP/1.1\r\n" H "\r\n"), 400, BARE_CR},
        {S("GET / HTTP/1.1\r\n" H "X: y\rConnection: close\r\n\r\n"), 400, BARE_CR},
        {S("GET / HTTP/1.1\r\n" H "x:\rTransfer-Encoding: chunked\r\n\r\n"), 400, BARE_CR},
        {S("GET / HTTP/1.1\r\n" H "Content\rLength: 3\r\n\r\n"), 400, BARE_CR},
        {S("GET / HTTP/1.1\r\n" H "\rGET /evil HTTP/1.1\r\n" H "\r\n"), 400, BARE_CR},
        {S("GET / HTTP/1.1\r\n" H "X: a\r\r\n\r\n"), 400, BARE_CR},
        {S("\rGET / HTTP/1.1\r\n" H "\r\n"), 400, BARE_CR},
#undef H
#undef BARE_CR
#undef CTL
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request_run run = check_request(cases[i].text);
        if (run.end != HTTP_ERROR || run.error_status != cases[i].status)
            fail_msg("case %zu: end %d, status %d", i, run.end, run.error_status);
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        check_string(what, run.error, cases[i].error);
    }
}

static void test_request_incomplete(void **state)
{
    (void)state;
    request_run run = check_request((bytes)S("GET / HTTP/1.1\r\nHost: x\r\n"));
    assert_int_equal(run.end, HTTP_MORE);
    run = check_request((bytes)S(""));
    assert_int_equal(run.end, HTTP_MORE);
    run = check_request((bytes)S("\r\n\r\n\n"));  /* empty lines are skipped */
    assert_int_equal(run.end, HTTP_MORE);
    run = check_request((bytes)S("GET / HTTP/1.1\r\nHost: x\r\n\r"));
    assert_int_equal(run.end, HTTP_MORE);
}

/* ---- Routes ---------------------------------------------------------- */

static void test_route_size(void **state)
{
    (void)state;
    static const struct {
        const char *target;
        bool ok;
        unsigned w, h;
    } cases[] = {
        {"/320/240", true, 320, 240},
        {"/1/1", true, 1, 1},
        {"/4096/4096", true, 4096, 4096},
        {"/007/08", true, 7, 8},
        {"/0/5", false, 0, 0},
        {"/5/0", false, 0, 0},
        {"/4097/1", false, 0, 0},
        {"/1/4097", false, 0, 0},
        {"/99999999999999999999999/1", false, 0, 0},
        {"/1/18446744073709551617", false, 0, 0},
        {"/a/1", false, 0, 0},
        {"/+1/1", false, 0, 0},
        {"/-1/1", false, 0, 0},
        {"/ 1/1", false, 0, 0},
        {"/1/1/", false, 0, 0},
        {"/1/1?x=1", false, 0, 0},
        {"/1/1x", false, 0, 0},
        {"//1/1", false, 0, 0},
        {"/1//1", false, 0, 0},
        {"/1", false, 0, 0},
        {"/1/", false, 0, 0},
        {"1/1", false, 0, 0},
        {"", false, 0, 0},
        {"/", false, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned w = 0, h = 0;
        if (http_route_size(cases[i].target, 4096, &w, &h) != cases[i].ok)
            fail_msg("\"%s\" should %s", cases[i].target, cases[i].ok ? "match" : "not match");
        assert_int_equal(w, cases[i].w);
        assert_int_equal(h, cases[i].h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse_good),
        cmocka_unit_test(test_url_parse_bad),
        cmocka_unit_test(test_url_limits),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_redirect_in_place_and_limits),
        cmocka_unit_test(test_safe_names),
        cmocka_unit_test(test_safe_name_lengths),
        cmocka_unit_test(test_numbered_names),
        cmocka_unit_test(test_numbered_name_limits),
        cmocka_unit_test(test_response_content_length),
        cmocka_unit_test(test_response_redirect),
        cmocka_unit_test(test_response_chunked),
        cmocka_unit_test(test_response_both_framings),
        cmocka_unit_test(test_response_interim),
        cmocka_unit_test(test_response_folded_lines),
        cmocka_unit_test(test_response_read_until_close),
        cmocka_unit_test(test_response_without_body),
        cmocka_unit_test(test_response_keep_alive),
        cmocka_unit_test(test_response_leaves_extra_bytes),
        cmocka_unit_test(test_errors_are_final),
        cmocka_unit_test(test_response_large_numbers),
        cmocka_unit_test(test_response_hostile_table),
        cmocka_unit_test(test_response_limits),
        cmocka_unit_test(test_response_chunk_limits),
        cmocka_unit_test(test_request_good),
        cmocka_unit_test(test_request_pipelined),
        cmocka_unit_test(test_request_limits),
        cmocka_unit_test(test_request_bad_table),
        cmocka_unit_test(test_request_incomplete),
        cmocka_unit_test(test_route_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
