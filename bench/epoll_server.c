/* epoll_server: the benchmark's limit row. The step servers' protocol ("Hello world\n" per line
 * received, on 127.0.0.1:PORT, 0 = any free port) written straight on level-triggered epoll (Linux
 * only): each fd is registered once and stays registered, and a reply costs one recv and one send.
 * Build: cc -std=c11 -O2 -Wall -Wextra -Wpedantic -o build/epoll_server bench/epoll_server.c */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)
#define REPLIES_PER_SEND 341     /* a block of replies just under 4 KiB */
#define OWED_LIMIT (64 * 1024)   /* stop reading a client that does not read its replies */

struct client { int fd; int eof; size_t owed; }; /* what an idle connection costs us */

static char replies[REPLY_LEN * REPLIES_PER_SEND];
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

/* Interest changes only when a client's output backs up or drains, never per reply. */
static void watch(int ep, int op, struct client *c, int want_read)
{
    struct epoll_event ev = { .events = (want_read ? EPOLLIN : 0u) | (c->owed ? EPOLLOUT : 0u),
                              .data.ptr = c };
    epoll_ctl(ep, op, c->fd, &ev);
}

/* Read what is there, send what is owed; returns 1 if the client is gone. */
static int serve(int ep, struct client *c, unsigned events)
{
    int backed_up = c->owed > OWED_LIMIT, was_owed = c->owed > 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        for (ssize_t i = 0; i < n; i++)
            c->owed += buf[i] == '\n' ? REPLY_LEN : 0;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            c->eof = 1, c->owed = n == 0 ? c->owed : 0;
    }
    if (c->owed > 0) { /* send at once: the socket is almost always writable */
        size_t start = (REPLY_LEN - c->owed % REPLY_LEN) % REPLY_LEN; /* resume mid-reply */
        size_t len = sizeof replies - start < c->owed ? sizeof replies - start : c->owed;
        ssize_t n = send(c->fd, replies + start, len, MSG_NOSIGNAL);
        if (n >= 0)
            c->owed -= (size_t)n;
        else if (errno != EAGAIN && errno != EINTR)
            c->eof = 1, c->owed = 0;
    }
    if (c->eof && c->owed == 0) {
        close(c->fd); /* which also takes it out of the epoll set */
        free(c);
        return 1;
    }
    if (c->eof || (c->owed > OWED_LIMIT) != backed_up || (c->owed > 0) != was_owed)
        watch(ep, EPOLL_CTL_MOD, c, !c->eof && c->owed <= OWED_LIMIT);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    struct sigaction sa = { .sa_handler = on_signal };
    struct rlimit lim;
    struct epoll_event ready[256], listening = { .events = EPOLLIN, .data.ptr = NULL };
    sigset_t blocked, none;
    int one = 1, ep, lfd, paused = 0;
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;

    if (argc != 2 || end == argv[1] || *end || port < 0 || port > 65535) {
        int help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
        fprintf(help ? stdout : stderr, "usage: %s PORT   (0 = any free port)\n", argv[0]);
        return help ? 0 : 2;
    }
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max; /* every client is an fd */
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    /* SIGTERM/SIGINT are blocked except inside epoll_pwait, so a stop is never missed. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &none);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    addr.sin_port = htons((unsigned short)port);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, SOMAXCONN) < 0 ||
        (ep = epoll_create1(0)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &listening) < 0) {
        perror("epoll_server");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&addr, &len);
    printf("Listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    while (!stop) {
        int n = epoll_pwait(ep, ready, 256, -1, &none);
        for (int i = 0; i < n; i++) {
            struct client *c = ready[i].data.ptr;
            int fd;
            if (c) {
                if (serve(ep, c, ready[i].events) && paused) /* an fd is free again */
                    paused = epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &listening) < 0;
                continue;
            }
            fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
            if (fd < 0 && (errno == EMFILE || errno == ENFILE)) { /* the loop would spin: wait for a close */
                epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
                paused = 1;
            } else if (fd >= 0 && !(c = calloc(1, sizeof *c))) {
                close(fd);
            } else if (fd >= 0) {
                c->fd = fd;
                watch(ep, EPOLL_CTL_ADD, c, 1);
            }
        }
    }
    return 0;
}
