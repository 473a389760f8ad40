/* http.c - URL handling and incremental HTTP/1.1 parsers (see http.h).
 * Everything here works on memory only and treats its input as hostile. */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char https_error[] =
    "https is not supported (no TLS in a libc-only program); "
    "use an http:// URL";

/* ---- Small helpers --------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Control bytes and spaces may not appear in a request target. */
static bool is_ctl_or_space(char c)
{
    unsigned char u = (unsigned char)c;
    return u <= 0x20 || u == 0x7f;
}

/* Header names and methods are "tokens" (RFC 9110): one or more of these. */
static bool is_token(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    return *s != '\0';
}

static bool starts_with_nocase(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses decimal digits at s into *out, refusing values above max.
 * Returns the end of the digits, or NULL if there are none or too many. */
static const char *parse_decimal(const char *s, unsigned long long max,
                                 unsigned long long *out)
{
    unsigned long long n = 0;
    const char *p = s;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (max - d) / 10)
            return NULL;
        n = n * 10 + d;
    }
    if (p == s)
        return NULL;
    *out = n;
    return p;
}

/* Is word one of the comma-separated items of list (any case)? */
static bool has_list_item(const char *list, const char *word)
{
    size_t n = strlen(word);
    while (*list) {
        list += strspn(list, " \t,");
        size_t len = strcspn(list, ",");
        while (len > 0 && (list[len - 1] == ' ' || list[len - 1] == '\t'))
            len--;
        if (len == n && strncasecmp(list, word, n) == 0)
            return true;
        list += strcspn(list, ",");
    }
    return false;
}

/* ---- URLs ------------------------------------------------------------ */

/* The one place that builds a request target: appends src[0..len) to the
 * target at out (holding *pos bytes), percent-encoding every byte a request
 * line cannot carry - control bytes, space, DEL and all bytes above 0x7E -
 * as browsers and curl do: "/caf\xc3\xa9" becomes "/caf%C3%A9". Other bytes,
 * '%' included, are kept as they are. Returns false if the result would be
 * longer than HTTP_PATH_MAX (out is then unfinished). */
static bool append_target(char out[HTTP_PATH_MAX + 1], size_t *pos,
                          const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        bool encode = c <= 0x20 || c >= 0x7f;
        if (n + (encode ? 3 : 1) > HTTP_PATH_MAX)
            return false;
        if (encode) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    *pos = n;
    return true;
}

const char *http_url_parse(http_url *url, const char *text)
{
    if (starts_with_nocase(text, "https://"))
        return https_error;
    if (!starts_with_nocase(text, "http://"))
        return "only http:// URLs are supported";

    const char *host = text + strlen("http://");
    size_t host_len = strcspn(host, ":/?#");
    if (host_len == 0)
        return "URL has no host";
    if (host_len > HTTP_HOST_MAX)
        return "host name too long";
    for (size_t i = 0; i < host_len; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr("-._", host[i]))
            return "invalid character in host name";

    const char *rest = host + host_len;
    unsigned long long port = 80;
    if (*rest == ':') {
        const char *end = parse_decimal(rest + 1, 65535, &port);
        if (end == NULL || port == 0 || (*end != '\0' && !strchr("/?#", *end)))
            return "bad port (expected a number from 1 to 65535)";
        rest = end;
    }

    /* A missing path means "/"; the fragment is never sent to a server. */
    char path[HTTP_PATH_MAX + 1] = "/";
    size_t len = *rest == '/' ? 0 : 1;
    if (!append_target(path, &len, rest, strcspn(rest, "#")))
        return "URL path too long";

    memcpy(url->host, host, host_len);
    url->host[host_len] = '\0';
    url->port = (unsigned)port;
    memcpy(url->path, path, len + 1);
    return NULL;
}

/* RFC 3986: a reference starting with ALPHA *(ALPHA / DIGIT / + - .) ":"
 * names a scheme; anything else is relative. */
static bool has_scheme(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    while (isalnum((unsigned char)*s) || (*s != '\0' && strchr("+-.", *s)))
        s++;
    return *s == ':';
}

const char *http_url_resolve(http_url *next, const http_url *base,
                             const char *location)
{
    if (has_scheme(location))
        return http_url_parse(next, location);
    if (location[0] == '/' && location[1] == '/') {
        char absolute[HTTP_URL_MAX + 1];
        if (strlen(location) > HTTP_URL_MAX - strlen("http:"))
            return "redirect URL too long";
        snprintf(absolute, sizeof absolute, "http:%s", location);
        return http_url_parse(next, absolute);
    }
    size_t ref_len = strcspn(location, "#");
    if (ref_len == 0)
        return "empty redirect location";

    /* How much of the current path the new one keeps: nothing for "/path",
     * the path without its query for "?query", else its directory. */
    size_t keep = 0;
    size_t base_end = strcspn(base->path, "?");
    if (location[0] == '?')
        keep = base_end;
    else if (location[0] != '/')
        for (size_t i = 0; i < base_end; i++)
            if (base->path[i] == '/')
                keep = i + 1;

    http_url url = *base;  /* a copy, so next may alias base */
    if (!append_target(url.path, &keep, location, ref_len))
        return "URL path too long";
    *next = url;
    return NULL;
}

void http_safe_name(char out[HTTP_NAME_MAX + 1], const char *path,
                    unsigned long number)
{
    size_t end = strcspn(path, "?#");
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;

    size_t n = 0;
    bool safe = true;
    for (size_t i = start; i < end && safe; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%' && i + 2 < end && hex_value(path[i + 1]) >= 0 &&
            hex_value(path[i + 2]) >= 0) {
            c = (unsigned char)(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
            i += 2;
        }
        if (n == HTTP_NAME_MAX || c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            safe = false;
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    /* A leading dot also rules out "." and ".." and hidden files. */
    if (!safe || n == 0 || out[0] == '.')
        snprintf(out, HTTP_NAME_MAX + 1, "image-%lu.bin", number);
}

void http_numbered_name(char out[HTTP_NAME_MAX + 1], const char *name,
                        unsigned n)
{
    char suffix[16];
    size_t suffix_len = (size_t)snprintf(suffix, sizeof suffix, "-%u", n);
    size_t len = strlen(name);
    const char *dot = strrchr(name, '.');
    size_t stem = dot != NULL && dot != name ? (size_t)(dot - name) : len;
    if (len - stem + suffix_len > HTTP_NAME_MAX)
        stem = len;  /* an absurdly long "extension": treat it as the stem */

    size_t keep = stem;
    if (keep + suffix_len + (len - stem) > HTTP_NAME_MAX)
        keep = HTTP_NAME_MAX - suffix_len - (len - stem);
    /* Do not cut a UTF-8 character in half. */
    while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80)
        keep--;
    snprintf(out, HTTP_NAME_MAX + 1, "%.*s%s%s", (int)keep, name, suffix,
             name + stem);
}

/* ---- Lines and headers (shared by both parsers) ---------------------- */

enum { LINE_MORE, LINE_DONE, LINE_TOO_LONG, LINE_BARE_CR, LINE_BARE_LF, LINE_CTL };

/* The one place that reads a line: moves bytes from *in into the buffer
 * until it holds a whole line, then NUL-terminates it without its end.
 * A line ends in CR LF; with lf_ok also in a bare LF, which RFC 9112 (2.2)
 * lets a recipient accept in start lines and header fields (not in chunk
 * framing). A CR anywhere else is refused: one parser keeps it inside the
 * line, the next ends the line there, and the two see different messages.
 * Other control bytes (all but HTAB) may appear in no line of HTTP/1.1. */
static int read_line(http_lines *l, http_slice *in, bool lf_ok)
{
    while (in->len > 0) {
        unsigned char c = (unsigned char)*in->data++;
        in->len--;
        if (++l->total > HTTP_HEAD_MAX)
            return LINE_TOO_LONG;
        bool after_cr = l->len > 0 && l->buf[l->len - 1] == '\r';
        if (c == '\n') {
            if (after_cr)
                l->len--;
            else if (!lf_ok)
                return LINE_BARE_LF;
            if (l->len > HTTP_LINE_MAX)
                return LINE_TOO_LONG;
            l->buf[l->len] = '\0';
            l->len = 0;
            return LINE_DONE;
        }
        if (after_cr)
            return LINE_BARE_CR;
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
            return LINE_CTL;
        if (l->len == HTTP_LINE_MAX + 1)  /* room for the line and a CR */
            return LINE_TOO_LONG;
        l->buf[l->len++] = (char)c;
    }
    return LINE_MORE;
}

/* A header line that starts with a space or tab continues the one before
 * it ("obsolete line folding", RFC 9112 5.2). */
static bool is_folded(const char *line)
{
    return line[0] == ' ' || line[0] == '\t';
}

/* Splits "Name: value" in place, trimming spaces around the value.
 * Returns NULL or an error message. */
static const char *split_header(char *line, char **name, char **value)
{
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return "header line without colon";
    *colon = '\0';
    if (!is_token(line))
        return "invalid header name";
    char *v = colon + 1 + strspn(colon + 1, " \t");
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    v[len] = '\0';
    *name = line;
    *value = v;
    return NULL;
}

/* Content-Length: digits only, so no sign, no spaces inside, no lists.
 * Repeats must agree with the value already seen (-1: none yet). */
static const char *parse_length(const char *s, long long *length)
{
    unsigned long long n;
    const char *end = parse_decimal(s, LLONG_MAX, &n);
    if (end == NULL || *end != '\0')
        return "bad Content-Length";
    if (*length >= 0 && (long long)n != *length)
        return "conflicting Content-Length";
    *length = (long long)n;
    return NULL;
}

/* Connection: "close" wins over "keep-alive"; the defaults depend on the
 * version, so the parsers decide at the end of the head. */
static void note_connection(const char *value, bool *saw_close,
                            bool *saw_keep_alive)
{
    if (has_list_item(value, "close"))
        *saw_close = true;
    if (has_list_item(value, "keep-alive"))
        *saw_keep_alive = true;
}

/* ---- Response parser ------------------------------------------------- */

enum {
    R_STATUS_LINE, R_HEADERS,      /* the head */
    R_BODY,                        /* counted bytes: body or one chunk */
    R_UNTIL_CLOSE,                 /* body runs until the connection ends */
    R_CHUNK_SIZE, R_CHUNK_CR, R_CHUNK_LF, R_TRAILERS,
    R_DONE, R_ERROR,
};

void http_response_init(http_response *r, bool head_request)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    r->head_request = head_request;
    r->state = R_STATUS_LINE;
}

static http_event response_error(http_response *r, const char *message)
{
    r->state = R_ERROR;
    r->error = message;
    return HTTP_ERROR;
}

static bool reading_head(const http_response *r)
{
    return r->state == R_STATUS_LINE || r->state == R_HEADERS;
}

/* Moves to a state that reads lines; each chunk framing line and the
 * trailer section get the same size limits as a head. */
static void expect_lines(http_response *r, int state)
{
    r->state = state;
    r->lines.total = 0;
}

/* What read_line's refusal means in the section being read. */
static const char *response_line_error(const http_response *r, int result)
{
    bool head = reading_head(r);
    switch (result) {
    case LINE_TOO_LONG:
        return head ? "response head too large" : "chunk framing too large";
    case LINE_BARE_CR:
        return head ? "bare CR (not followed by LF) in response head"
                    : "bare CR (not followed by LF) in chunk framing";
    case LINE_BARE_LF:
        return "chunk size line not ended by CRLF";
    default:
        return head ? "control character in response head"
                    : "control character in chunk framing";
    }
}

static const char *parse_status_line(http_response *r, const char *s)
{
    /* "HTTP/1.x NNN" then a space and a reason, or nothing. */
    if (strncmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' ||
        !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) ||
        (s[12] != ' ' && s[12] != '\0'))
        return "malformed status line";
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (r->status < 100 || r->status > 599)
        return "malformed status line";
    r->http10 = s[7] == '0';
    r->keep_alive = !r->http10;  /* HTTP/1.1 keeps connections by default */
    return NULL;
}

static const char *parse_response_header(http_response *r, char *line)
{
    /* A user agent must unfold (RFC 9112 5.2): a fold of a header we do not
     * read is dropped with it; one of a header we read changes its meaning. */
    if (is_folded(line))
        return r->folding_read ? "folded header line (obsolete line folding)" : NULL;
    char *name, *value;
    const char *error = split_header(line, &name, &value);
    if (error != NULL)
        return error;
    r->folding_read = true;
    if (strcasecmp(name, "Content-Length") == 0) {
        return parse_length(value, &r->content_length);
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Only plain "chunked", once: other codings would need decoders. */
        if (r->chunked || strcasecmp(value, "chunked") != 0)
            return "unsupported Transfer-Encoding";
        r->chunked = true;
    } else if (strcasecmp(name, "Connection") == 0) {
        note_connection(value, &r->saw_close, &r->saw_keep_alive);
    } else if (strcasecmp(name, "Location") == 0) {
        if (strlen(value) > HTTP_URL_MAX)
            return "Location too long";
        strcpy(r->location, value);
    } else {
        r->folding_read = false;
    }
    return NULL;
}

/* The blank line after the headers: decide how the body is framed. */
static const char *end_of_head(http_response *r)
{
    /* An interim response (100 Continue, 103 Early Hints, ...) comes before
     * the final one: read past it, as RFC 9110 (15.2) asks of a client. A
     * 101 is final here: this parser does not switch protocols. */
    if (r->status < 200 && r->status != 101) {
        http_response_init(r, r->head_request);
        return NULL;
    }
    /* Both framings (RFC 9112 6.3): Transfer-Encoding wins, and since the
     * message may be an attempt at request smuggling, the connection is
     * not used again. The same for chunked bodies in HTTP/1.0 (6.1). */
    if (r->chunked && (r->content_length >= 0 || r->http10)) {
        r->content_length = -1;
        r->saw_close = true;
    }
    r->keep_alive = !r->saw_close && (r->keep_alive || r->saw_keep_alive);

    if (r->head_request || r->status < 200 || r->status == 204 ||
        r->status == 304 || (!r->chunked && r->content_length == 0)) {
        r->state = R_DONE;
    } else if (r->chunked) {
        expect_lines(r, R_CHUNK_SIZE);
    } else if (r->content_length > 0) {
        r->remaining = r->content_length;
        r->state = R_BODY;
    } else {
        r->state = R_UNTIL_CLOSE;
        r->keep_alive = false;
    }
    return NULL;
}

/* "1a2b[;extension...]": the size of the next chunk in hex. Extensions are
 * ignored; read_line has made sure they hide no line end. */
static const char *parse_chunk_size(http_response *r, const char *s)
{
    long long size = 0;
    const char *p = s;
    for (; hex_value(*p) >= 0; p++) {
        if (size > (LLONG_MAX - 15) / 16)
            return "chunk size too large";
        size = size * 16 + hex_value(*p);
    }
    p += strspn(p, " \t");
    if (p == s || (*p != '\0' && *p != ';'))
        return "bad chunk size";
    if (size == 0) {
        expect_lines(r, R_TRAILERS);
    } else {
        r->remaining = size;
        r->state = R_BODY;
    }
    return NULL;
}

/* Handles one complete line in whichever state reads lines. */
static const char *response_line(http_response *r, char *line)
{
    switch (r->state) {
    case R_STATUS_LINE:
        if (line[0] == '\0')  /* empty lines before it, as before a request */
            return NULL;
        r->state = R_HEADERS;
        return parse_status_line(r, line);
    case R_HEADERS:
        return line[0] == '\0' ? end_of_head(r) : parse_response_header(r, line);
    case R_CHUNK_SIZE:
        return parse_chunk_size(r, line);
    default:  /* R_TRAILERS: skipped until the blank line */
        if (line[0] == '\0')
            r->state = R_DONE;
        return NULL;
    }
}

/* Hands the caller the first len input bytes as body, without copying. */
static http_event take_body(http_slice *in, http_slice *body, size_t len)
{
    body->data = in->data;
    body->len = len;
    in->data += len;
    in->len -= len;
    return HTTP_BODY;
}

http_event http_response_feed(http_response *r, http_slice *in,
                              http_slice *body)
{
    for (;;) {
        switch (r->state) {
        case R_DONE:
            return HTTP_DONE;
        case R_ERROR:
            return HTTP_ERROR;
        case R_UNTIL_CLOSE:
            return in->len == 0 ? HTTP_MORE : take_body(in, body, in->len);
        case R_BODY: {
            if (in->len == 0)
                return HTTP_MORE;
            size_t len = in->len;
            if ((unsigned long long)r->remaining < len)
                len = (size_t)r->remaining;
            r->remaining -= (long long)len;
            if (r->remaining == 0)
                r->state = r->chunked ? R_CHUNK_CR : R_DONE;
            return take_body(in, body, len);
        }
        case R_CHUNK_CR:
        case R_CHUNK_LF:
            /* Chunk data ends in exactly CR LF: its size says where. */
            if (in->len == 0)
                return HTTP_MORE;
            if (*in->data != (r->state == R_CHUNK_CR ? '\r' : '\n'))
                return response_error(r, "missing CRLF after chunk data");
            in->data++;
            in->len--;
            if (r->state == R_CHUNK_CR)
                r->state = R_CHUNK_LF;
            else
                expect_lines(r, R_CHUNK_SIZE);
            break;
        default: {
            bool was_head = reading_head(r);
            int result = read_line(&r->lines, in, r->state != R_CHUNK_SIZE);
            if (result == LINE_MORE)
                return HTTP_MORE;
            if (result != LINE_DONE)
                return response_error(r, response_line_error(r, result));
            const char *error = response_line(r, r->lines.buf);
            if (error != NULL)
                return response_error(r, error);
            if (was_head && !reading_head(r))
                return HTTP_HEAD;
        }
        }
    }
}

http_event http_response_eof(http_response *r)
{
    if (r->state == R_UNTIL_CLOSE)
        r->state = R_DONE;
    if (r->state == R_DONE)
        return HTTP_DONE;
    if (r->state == R_ERROR)
        return HTTP_ERROR;
    return response_error(r, reading_head(r) ? "truncated head" : "truncated body");
}

/* ---- Request parser -------------------------------------------------- */

enum { Q_REQUEST_LINE, Q_HEADERS, Q_DONE, Q_ERROR };

void http_request_init(http_request *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    r->state = Q_REQUEST_LINE;
}

static http_event request_error(http_request *r, int status, const char *message)
{
    r->state = Q_ERROR;
    r->error_status = status;
    r->error = message;
    return HTTP_ERROR;
}

/* The path (and query) of a request target: the target itself in origin
 * form ("/path?query"); what follows the authority in absolute form
 * ("http://host/path?query"), which a server must accept too (RFC 9112
 * 3.2.2). NULL for any other form. */
static const char *target_path(const char *target)
{
    if (target[0] == '/')
        return target;
    const char *authority = starts_with_nocase(target, "http://") ? target + 7
                          : starts_with_nocase(target, "https://") ? target + 8
                          : NULL;
    size_t len = authority != NULL ? strcspn(authority, "/?#") : 0;
    /* user:password@ in an http URI is an error (RFC 9110 4.2.4) */
    if (len == 0 || memchr(authority, '@', len) != NULL)
        return NULL;
    return authority + len;
}

/* "METHOD target HTTP/1.x", single spaces. */
static http_event parse_request_line(http_request *r, char *line)
{
    char *space1 = strchr(line, ' ');
    char *space2 = space1 != NULL ? strchr(space1 + 1, ' ') : NULL;
    if (space2 == NULL || strchr(space2 + 1, ' ') != NULL)
        return request_error(r, 400, "malformed request line");
    *space1 = *space2 = '\0';
    const char *method = line, *target = space1 + 1, *version = space2 + 1;

    if (!is_token(method) || strlen(method) > HTTP_METHOD_MAX)
        return request_error(r, 400, "bad method");
    /* A target is ASCII (RFC 3986): a client percent-encodes other bytes. */
    const char *path = target_path(target);
    for (const char *p = target; path != NULL && *p; p++)
        if (is_ctl_or_space(*p) || (unsigned char)*p > 0x7e)
            path = NULL;
    if (path == NULL)
        return request_error(r, 400, "bad request target");
    bool slash = path[0] != '/';  /* "http://h" or "http://h?q": add the "/" */
    if (slash + strlen(path) > HTTP_PATH_MAX)
        return request_error(r, 414, "request target too long");
    if (strcmp(version, "HTTP/1.0") != 0 && strcmp(version, "HTTP/1.1") != 0) {
        bool looks_like_version = strncmp(version, "HTTP/", 5) == 0 &&
            is_digit(version[5]) && version[6] == '.' && is_digit(version[7]) &&
            version[8] == '\0';
        return looks_like_version
            ? request_error(r, 505, "HTTP version not supported")
            : request_error(r, 400, "malformed request line");
    }
    strcpy(r->method, method);
    r->target[0] = '/';
    strcpy(r->target + slash, path);
    r->http11 = version[7] == '1';
    r->state = Q_HEADERS;
    return HTTP_MORE;
}

/* A Host value: empty, or host[:port] in the characters RFC 3986 allows
 * there (a name, an IPv4 address or an [IPv6] literal). */
static bool is_host_value(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._~!$&'()*+,;=%:[]", *s))
            return false;
    return true;
}

static http_event parse_request_header(http_request *r, char *line)
{
    /* A server may refuse folded lines (RFC 9112 5.2), and should: not every
     * program before or after it unfolds them the same way. */
    if (is_folded(line))
        return request_error(r, 400, "folded header line (obsolete line folding)");
    char *name, *value;
    const char *error = split_header(line, &name, &value);
    if (error != NULL)
        return request_error(r, 400, error);
    if (strcasecmp(name, "Host") == 0) {
        if (++r->hosts > 1)
            return request_error(r, 400, "more than one Host header");
        if (!is_host_value(value))
            return request_error(r, 400, "bad Host header");
    } else if (strcasecmp(name, "Content-Length") == 0) {
        if ((error = parse_length(value, &r->content_length)) != NULL)
            return request_error(r, 400, error);
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        r->transfer_encoding = true;
    } else if (strcasecmp(name, "Connection") == 0) {
        note_connection(value, &r->saw_close, &r->saw_keep_alive);
    }
    return HTTP_MORE;
}

static http_event end_of_request(http_request *r)
{
    /* Both framings: the request may be smuggling another; refuse it
     * (RFC 9112 6.3). */
    if (r->transfer_encoding && r->content_length >= 0)
        return request_error(r, 400, "both Content-Length and Transfer-Encoding");
    if (r->transfer_encoding || r->content_length > 0)
        return request_error(r, 400, "request bodies are not supported");
    if (r->hosts == 0 && r->http11)
        return request_error(r, 400, "missing Host header (HTTP/1.1 requires one)");
    r->keep_alive = !r->saw_close && (r->http11 || r->saw_keep_alive);
    r->state = Q_DONE;
    return HTTP_DONE;
}

http_event http_request_feed(http_request *r, http_slice *in)
{
    if (r->state == Q_DONE)
        return HTTP_DONE;
    if (r->state == Q_ERROR)
        return HTTP_ERROR;
    for (;;) {
        switch (read_line(&r->lines, in, true)) {
        case LINE_MORE:
            return HTTP_MORE;
        case LINE_TOO_LONG:
            return r->state == Q_REQUEST_LINE
                ? request_error(r, 414, "request line too long")
                : request_error(r, 431, "request head too large");
        case LINE_BARE_CR:
            return request_error(r, 400, "bare CR (not followed by LF) in request head");
        case LINE_CTL:
            return request_error(r, 400, "control character in request head");
        }
        char *line = r->lines.buf;
        /* Empty lines before a request are skipped (RFC 9112 2.2): some
         * clients end a body with an extra CRLF. */
        http_event event = r->state == Q_REQUEST_LINE
                               ? (line[0] != '\0' ? parse_request_line(r, line) : HTTP_MORE)
                         : line[0] != '\0' ? parse_request_header(r, line)
                                           : end_of_request(r);
        if (event != HTTP_MORE)
            return event;
    }
}

/* ---- Routes ---------------------------------------------------------- */

bool http_route_size(const char *target, unsigned max_side,
                     unsigned *w, unsigned *h)
{
    unsigned long long width, height;
    const char *p = target[0] == '/' ? parse_decimal(target + 1, max_side, &width) : NULL;
    if (p == NULL || *p != '/')
        return false;
    p = parse_decimal(p + 1, max_side, &height);
    if (p == NULL || *p != '\0' || width == 0 || height == 0)
        return false;
    *w = (unsigned)width;
    *h = (unsigned)height;
    return true;
}
