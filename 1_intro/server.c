/* Step 1: a blocking server. accept() and recv() wait, so while one client is
 * connected the next one waits. Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c net.c */
#define DESCRIPTION "Step 1, a blocking server: one client at a time" /* for -h */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/* One client: its socket, and its name for the log. */
struct client {
    int fd;
    char name[32];    /* "127.0.0.1:54321" */
};

/* Wait for the next client: accept() blocks until one connects. */
static int accept_connection(int listen_fd, struct client *c)
{
    fprintf(stderr, "Before accept()\n");
    c->fd = accept(listen_fd, NULL, NULL);
    if (c->fd < 0) {
        if (!stop_requested)
            fprintf(stderr, "accept: %s\n", strerror(errno));
        return -1;
    }
    describe_peer(c->fd, c->name, sizeof c->name);
    fprintf(stderr, "Connection from %s\n", c->name);
    return 0;
}

static void close_client(struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    close(c->fd);
}

/* Read what the client sent; every '\n' owes it one reply, sent at once.
 * send() blocks until the client has made room for the reply, so a client
 * that sends but never reads stops us too. Returns -1 once the client has
 * stopped sending (closed or half-closed) or the connection broke. */
static int read_lines(struct client *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
        size_t lines = 0;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        trace("fd %d: read %zd bytes, %zu lines", c->fd, n, lines);
        for (; lines > 0; lines--) {
            if (send(c->fd, REPLY, REPLY_LEN, 0) < (ssize_t)REPLY_LEN) {
                trace("fd %d: send: %s", c->fd, strerror(errno));
                return -1;
            }
        }
        return 0;
    } else if (n == 0) {
        trace("fd %d: end of stream", c->fd);
    } else if (errno != EINTR) {
        trace("fd %d: recv: %s", c->fd, strerror(errno));
    }
    return -1;
}

/* Serve one client until it leaves. Nobody else is served meanwhile: this is
 * the problem the next steps solve. */
static void serve_client(struct client *c)
{
    while (!stop_requested) {
        fprintf(stderr, "Before recv()\n");
        if (read_lines(c) < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    int listen_fd, port = parse_args(argc, argv, DESCRIPTION);
    stop_by_shutdown();
    listen_fd = listen_on(port);
    shutdown_on_signal[0] = listen_fd;
    while (!stop_requested) {
        struct client c;
        if (accept_connection(listen_fd, &c) < 0)
            continue;
        shutdown_on_signal[1] = c.fd;
        serve_client(&c);
        shutdown_on_signal[1] = -1;
        fprintf(stderr, "Outside inner while loop\n"); /* the lesson's words: serve_client() is its inner loop */
        close_client(&c);
    }
    close(listen_fd);
    fprintf(stderr, "Stopped\n");
    return 0;
}
