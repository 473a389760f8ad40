/* Step 6's image server: a local stand-in for loremflickr.com, HTTP/1.1 on the same small asyncio as
 * server.c. One task per connection; each image waits --delay-ms with an async sleep, holding up no one.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o image_server image_server.c common.c tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c http.c bmp.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "asyncio.h"
#include "common.h"
#include "bmp.h"
#include "http.h"

#define DEFAULT_PORT 8000
#define DEFAULT_DELAY_MS 100
/* A client gets this long to send a whole request head (and an idle
 * keep-alive connection this long to send the next one). */
#define REQUEST_TIMEOUT_MS 10000
/* ... and this long for each block of the response to leave. */
#define SEND_TIMEOUT_MS 10000
/* After a response with "Connection: close", how long unread request bytes
 * are drained so that close() does not reset the connection (see linger_close). */
#define LINGER_MS 2000
#define PAGE_IMAGES 12

static long long delay_ms = DEFAULT_DELAY_MS;
/* Each redirect names a new picture, as loremflickr's do. */
static uint32_t next_id = 1;

void usage(FILE *out)
{
    fprintf(out, "usage: %s [-v] [--delay-ms MS] [PORT]\n"
                 "  Serves pictures like loremflickr.com on 127.0.0.1:PORT (default %d, 0 = any free port):\n"
                 "  GET /W/H redirects to a new W x H picture; GET / shows a page of them.\n"
                 "  --delay-ms MS  wait MS milliseconds before each picture (default %d)\n"
                 "  -v  trace what the event loop decides\n"
                 "  -h  show this help\n",
            prog, DEFAULT_PORT, DEFAULT_DELAY_MS);
}

/* A whole decimal number in [0, max], or -1. */
static long parse_long(const char *arg, long max)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || errno || n < 0 || n > max)
        return -1;
    return n;
}

static int parse_args(int argc, char **argv)
{
    int port = DEFAULT_PORT, have_port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(arg, "--delay-ms") == 0) {
            if (i + 1 == argc)
                bad_usage("missing value", arg);
            delay_ms = parse_long(argv[++i], 3600000);
            if (delay_ms < 0)
                bad_usage("not a delay in milliseconds (0-3600000)", argv[i]);
        } else if (arg[0] == '-' && arg[1] != '\0') {
            bad_usage("unknown option", arg);
        } else {
            port = port_arg(arg, &have_port);
        }
    }
    return port;
}

/* A picture goes out in blocks of 32 KB: fewer, larger sends matter when a
 * thousand downloads arrive at once. */
#define BLOCK 32768

/* What a request is read with: the parser (its line buffer is most of it)
 * and what recv() fills. Taken when a request's first bytes arrive. */
struct reading {
    http_request req;
    char buf[4096];
};

/* One client task: the task and its coroutine's frame, in one allocation of
 * under 1 KB. The buffers are taken only while they are used: while
 * a request is read, and while a response is sent. An idle connection only
 * waits for its socket to become readable (curio's read_wait), reading
 * nothing, and costs little more than its socket (nginx keeps an idle
 * keep-alive connection the same way). */
struct client {
    struct conn conn;      /* first: its task, fd and name (common.h) */
    struct gen serve;      /* the coroutine serving the connection */
    struct sock_op io;     /* the socket operation it awaits ... */
    struct wait_for_fut wait;  /* ... within a time limit */
    struct fut sleep;      /* the delay before a picture */
    long long deadline;    /* loop time by which the request head must be in */
    struct reading *rd;    /* while a request is read (and while bytes of a
                              pipelined one wait in it) */
    http_slice in;         /* received bytes the parser has not seen yet */
    /* The response being sent: */
    int status;
    int keep_alive;
    int head_only;         /* HEAD: the same headers, no body */
    unsigned w, h;         /* a picture's size, or 0 */
    uint32_t id;
    size_t size, sent;     /* the picture's size and the bytes of it queued */
    char *out;             /* while a response is sent: its head, then blocks */
    size_t out_len, out_cap;
};

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* The Date header an origin server must send (RFC 9110 6.6.1), in the one
 * format allowed: "Sun, 06 Nov 1994 08:49:37 GMT" (English names whatever the
 * locale). */
static void http_date(char out[64])
{
    static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Takes the output buffer and writes the response head into it, then body
 * (if any, and not for HEAD). type and length describe the body; extra is
 * more header lines, each ending in CRLF. A picture's body is not given: the
 * buffer gets room for the head and its first block, to leave in one send.
 * Errors close the connection: the request may not have been read to its
 * end, so what follows it cannot be trusted. Returns 0, or -1 if out of memory. */
static int respond(struct client *c, int status, const char *extra, const char *type, size_t length,
                   const char *body)
{
    char head[512], date[64];
    int n;
    c->status = status;
    if (status >= 400)
        c->keep_alive = 0;
    http_date(date);
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nDate: %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                 status, reason(status), date, extra, type, length, c->keep_alive ? "keep-alive" : "close");
    c->out_len = n < 0 ? 0 : (size_t)n < sizeof head ? (size_t)n : sizeof head - 1;
    if (c->head_only)
        length = 0;
    else if (!body && length > BLOCK)
        length = BLOCK;
    c->out_cap = c->out_len + length;
    if (!(c->out = malloc(c->out_cap)))
        return -1;
    memcpy(c->out, head, c->out_len);
    if (body && length) {
        memcpy(c->out + c->out_len, body, length);
        c->out_len += length;
    }
    return 0;
}

/* A short text body saying what went wrong. */
static int respond_error(struct client *c, int status, const char *extra, const char *why)
{
    char body[256];
    snprintf(body, sizeof body, "%d %s%s%s\n", status, reason(status), why ? ": " : "", why ? why : "");
    return respond(c, status, extra, "text/plain; charset=utf-8", strlen(body), body);
}

/* GET /: a grid of pictures, each from /320/240. The query makes each address
 * distinct, so the browser fetches every one (and we ignore it). */
static int respond_page(struct client *c)
{
    char page[2048];
    size_t len = (size_t)snprintf(page, sizeof page,
                                  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Pictures</title>"
                                  "<style>body{font-family:sans-serif}img{margin:4px}</style></head>\n"
                                  "<body><h1>%d pictures, %lld ms each</h1>\n",
                                  PAGE_IMAGES, delay_ms);
    for (int i = 1; i <= PAGE_IMAGES; i++)
        len += (size_t)snprintf(page + len, sizeof page - len,
                                "<img src=\"/320/240?n=%d\" width=\"320\" height=\"240\" alt=\"picture %d\">\n", i, i);
    len += (size_t)snprintf(page + len, sizeof page - len, "</body></html>\n");
    return respond(c, 200, "", "text/html; charset=utf-8", len, page);
}

/* A decimal number in 1..max at s: returns where it ends, or NULL. */
static const char *parse_number(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long n = 0;
    if (*s < '0' || *s > '9')
        return NULL;
    for (; *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (unsigned long)(*s - '0');
        if (n > max)
            return NULL;
    }
    if (n == 0)
        return NULL;
    *out = n;
    return s;
}

/* "/img/<w>x<h>/<id>.bmp": the size travels in the address, so the server
 * keeps no table of the pictures it handed out. */
static int route_picture(const char *path, unsigned *w, unsigned *h, uint32_t *id)
{
    unsigned long width, height, n;
    const char *p = strncmp(path, "/img/", 5) == 0 ? parse_number(path + 5, BMP_MAX_SIDE, &width) : NULL;
    if (!p || *p != 'x' || !(p = parse_number(p + 1, BMP_MAX_SIDE, &height)) || *p != '/')
        return 0;
    if (!(p = parse_number(p + 1, UINT32_MAX, &n)) || strcmp(p, ".bmp") != 0)
        return 0;
    *w = (unsigned)width;
    *h = (unsigned)height;
    *id = (uint32_t)n;
    return 1;
}

/* Decides the response to a parsed request: writes its head (and a short
 * body) into c->out, or sets c->w, c->h, c->id for a picture, whose head is
 * written after the delay. Returns 0, or -1 if out of memory. */
static int route(struct client *c)
{
    char path[HTTP_PATH_MAX + 1], location[128];
    const http_request *req = &c->rd->req;
    unsigned w, h;
    memcpy(path, req->target, sizeof path);
    path[strcspn(path, "?")] = '\0'; /* the query names nothing here */
    c->head_only = strcmp(req->method, "HEAD") == 0;
    c->keep_alive = req->keep_alive;
    c->w = c->h = 0;
    if (strcmp(req->method, "GET") != 0 && !c->head_only)
        return respond_error(c, 405, "Allow: GET, HEAD\r\n", NULL);
    if (strcmp(path, "/") == 0)
        return respond_page(c);
    if (http_route_size(path, BMP_MAX_SIDE, &w, &h)) {
        snprintf(location, sizeof location, "Location: /img/%ux%u/%lu.bmp\r\nCache-Control: no-store\r\n", w, h,
                 (unsigned long)next_id++);
        return respond(c, 302, location, "text/plain; charset=utf-8", 0, NULL);
    }
    if (http_route_size(path, UINT_MAX, &w, &h))
        return respond_error(c, 400, "", "sides are 1 to 4096 pixels");
    if (route_picture(path, &c->w, &c->h, &c->id)) {
        c->status = 200;
        c->size = bmp_size(c->w, c->h);
        c->sent = 0;
        return 0;
    }
    return respond_error(c, 404, "", NULL);
}

/* Puts the next bytes of the picture into c->out after its first `at` bytes
 * (the head, for the first block): bmp_read makes any byte range, so a
 * picture of 48 MB never sits in memory whole. */
static void next_block(struct client *c, size_t at)
{
    size_t n = bmp_read(c->w, c->h, c->id, c->sent, (unsigned char *)c->out + at, c->out_cap - at);
    c->out_len = at + n;
    c->sent += n;
}

/* Sends what c->out holds, within the time limit for each block. */
static struct fut *send_out(struct client *c)
{
    return aio_wait_for(c->conn.loop, &c->wait, sock_sendall(c->conn.loop, &c->io, c->conn.fd, c->out, c->out_len),
                        SEND_TIMEOUT_MS);
}

/* What is left of the request's time. */
static long long time_left(const struct client *c)
{
    long long left = c->deadline - loop_time(c->conn.loop);
    return left > 0 ? left : 0;
}

/* Idle: done once the next request's bytes can be read, within the request's
 * time. Nothing is read yet, so no buffer waits with it. */
static struct fut *await_request(struct client *c)
{
    return aio_wait_for(c->conn.loop, &c->wait, sock_read_wait(c->conn.loop, &c->io, c->conn.fd), time_left(c));
}

/* Receives into buf, within what is left of the request's time. */
static struct fut *read_request(struct client *c, char *buf, size_t len)
{
    return aio_wait_for(c->conn.loop, &c->wait, sock_recv(c->conn.loop, &c->io, c->conn.fd, buf, len), time_left(c));
}

/* Takes the reading buffers (they may be there still, holding a pipelined
 * request's bytes). 0, or -1 if out of memory. */
static int take_reading(struct client *c)
{
    if (!c->rd && !(c->rd = malloc(sizeof *c->rd)))
        return -1;
    return 0;
}

/* Gives back the buffers once they hold nothing that is still needed. */
static void drop_buffers(struct client *c)
{
    free(c->out);
    c->out = NULL;
    if (c->in.len == 0) {
        free(c->rd);
        c->rd = NULL;
    }
}

/* Serving a connection: read a request, answer it, and again while the
 * connection is kept alive. Errors (a reset, a timeout) end it. */
static int serve_body(struct gen *g)
{
    struct client *c = (struct client *)((char *)g - offsetof(struct client, serve));
    int one = 1;
    GEN_BEGIN(g);
    /* Each response leaves as soon as it is written: without this, the end of
     * a picture may wait for the client's delayed ACK (Nagle's algorithm),
     * some 40 ms per picture on a kept-alive connection. */
    setsockopt(c->conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        c->deadline = loop_time(c->conn.loop) + REQUEST_TIMEOUT_MS;
        /* Idle: wait until the next request can be read, holding no buffer; the
         * recv() below then reads it without waiting (or finds the end of stream). */
        if (c->in.len == 0)
            AWAIT(g, await_request(c));
        if (take_reading(c) < 0)
            GEN_RAISE(g, ENOMEM);
        http_request_init(&c->rd->req);
        /* Bytes of a pipelined request may be left in c->in: parse them first. */
        while (http_request_feed(&c->rd->req, &c->in) == HTTP_MORE) {
            AWAIT(g, read_request(c, c->rd->buf, sizeof c->rd->buf));
            if (c->io.n == 0) {
                trace("fd %d: end of stream", c->conn.fd);
                GEN_RETURN(g, NULL);
            }
            c->in = (http_slice){ c->rd->buf, c->io.n };
        }
        if (c->rd->req.error) {
            c->head_only = 0;
            c->w = 0;
            if (respond_error(c, c->rd->req.error_status, "", c->rd->req.error) < 0)
                GEN_RAISE(g, ENOMEM);
            fprintf(stderr, "%s: bad request: %s %d\n", c->conn.name, c->rd->req.error, c->status);
        } else {
            if (route(c) < 0)
                GEN_RAISE(g, ENOMEM);
            fprintf(stderr, "%s %s %d\n", c->rd->req.method, c->rd->req.target, c->status);
        }
        if (c->in.len == 0) { /* the request is read: give its buffers back */
            free(c->rd);
            c->rd = NULL;
        }
        if (c->w > 0) { /* a picture: take our time, as a far-away server would */
            trace("fd %d: picture %lu, %ux%u, %zu bytes, after %lld ms", c->conn.fd, (unsigned long)c->id, c->w, c->h,
                  c->size, delay_ms);
            AWAIT(g, aio_sleep(c->conn.loop, &c->sleep, delay_ms));
            if (respond(c, 200, "", "image/bmp", c->size, NULL) < 0)
                GEN_RAISE(g, ENOMEM);
            if (!c->head_only)
                next_block(c, c->out_len); /* the head and the first block: one send */
        }
        AWAIT(g, send_out(c));
        while (c->w > 0 && !c->head_only && c->sent < c->size) {
            next_block(c, 0);
            AWAIT(g, send_out(c));
        }
        drop_buffers(c);
        if (!c->keep_alive)
            break;
    }
    /* Closing with unread bytes in the socket would reset the connection, and
     * the reset can destroy the response before the client reads it. So: say
     * we are done (FIN), and read until the client closes, for a short while. */
    shutdown(c->conn.fd, SHUT_WR);
    c->deadline = loop_time(c->conn.loop) + LINGER_MS;
    if (take_reading(c) < 0)
        GEN_RETURN(g, NULL);
    do {
        AWAIT_CATCH(g, read_request(c, c->rd->buf, sizeof c->rd->buf));
        if (g->thrown == ECANCELED)
            GEN_RAISE(g, g->thrown);
    } while (!g->thrown && c->io.n > 0);
    GEN_END(g);
}

/* The client task: serves the connection, and gives the buffers back however
 * that ends (a reset, a timeout, cancelled at shutdown): Python's
 * try: await serve(conn) finally: ... */
static int client_body(struct gen *g)
{
    struct client *c = (struct client *)g;
    GEN_BEGIN(g);
    gen_init(&c->serve, serve_body);
    AWAIT_CORO_CATCH(g, &c->serve);
    c->in.len = 0;
    drop_buffers(c);
    if (g->thrown)
        GEN_RAISE(g, g->thrown);
    GEN_END(g);
}

int main(int argc, char **argv)
{
    int port;
    if (argc > 0)
        prog = argv[0];
    port = parse_args(argc, argv);
    return run_server(port, client_body, sizeof(struct client));
}
