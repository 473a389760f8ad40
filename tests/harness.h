/* Test harness shared by every step's tests: start a server binary on a free
 * port, talk to it as clients do, with timeouts, and stop it. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#define REPLY "Hello world\n"
#define REPLY_LEN 12

/* Generous limit for what must happen: a busy CI machine can be slow. */
#define MUST_MS 20000
/* Short wait, only to show that something does NOT happen. */
#define QUIET_MS 300

struct server {
    pid_t pid;
    int port;
    char log[256]; /* the server's stderr goes to this file */
    int fd_limit;  /* set before server_start(): if > 0, the server may open
                      only this many fds (RLIMIT_NOFILE, soft and hard) */
};

/* Starts `binary [args...] 0` and reads its port from the first line
 * ("Listening on 127.0.0.1:PORT"). args may be NULL. Returns 0 or -1.
 * With SERVER_WRAPPER set in the environment (e.g. "valgrind -q"), the server
 * runs behind it. */
int server_start(struct server *s, const char *binary, const char *const *args);
/* SIGTERM, then waits; returns the exit status, or -1 if it had to be killed
 * or died from a signal. */
int server_stop(struct server *s);
int server_alive(const struct server *s);
/* Resident memory of the server in KiB (Linux /proc), or -1. */
long server_rss_kib(const struct server *s);
/* How many lines of the server's log contain text. */
int server_log_count(const struct server *s, const char *text);
/* The CPU time the server has used so far, user and system, in seconds
 * (Linux /proc), or -1. */
double server_cpu_seconds(const struct server *s);

/* Runs `binary args...` to completion with stdout and stderr captured into
 * out (NUL-terminated, truncated to size); returns the exit status or -1. */
int run_program(const char *binary, const char *const *args, char *out, size_t size);

/* Runs `binary arg`; 1 if it exits with status having printed text (on
 * stdout or stderr), else 0, after showing what it printed. */
int run_expect(const char *binary, const char *arg, int status, const char *text);

/* Raises this process's fd limit to the hard limit; returns the limit. */
int raise_fd_limit(void);

/* A connected client socket (blocking), or -1. */
int client_connect(int port);
/* Sends buf within timeout_ms; returns how many bytes were sent (less than
 * len on timeout or error). */
size_t client_send(int fd, const void *buf, size_t len, int timeout_ms);
/* Receives exactly len bytes within timeout_ms; returns how many arrived
 * (less than len on timeout or end of stream). */
size_t client_recv(int fd, void *buf, size_t len, int timeout_ms);
/* Receives n replies within timeout_ms and checks every byte; 0 if all
 * arrived intact, -1 otherwise. */
int client_expect_replies(int fd, size_t n, int timeout_ms);
/* Sends len bytes while reading the replies as they come (so neither side
 * blocks the other), expecting exactly n replies; 0 or -1. */
int client_exchange(int fd, const void *buf, size_t len, size_t n, int timeout_ms);
/* 1 if nothing arrives (and the socket stays open) for ms. */
int client_quiet(int fd, int ms);
/* 1 if the peer closes (end of stream, or reset) within timeout_ms, with no
 * data before. */
int client_wait_close(int fd, int timeout_ms);
/* Closes with a TCP reset instead of an orderly close. */
void client_reset(int fd);

/* 1 in a build with AddressSanitizer (gcc or clang), which holds freed memory
 * back: memory measurements there measure it, not the program. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#endif
