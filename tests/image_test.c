/* Tests of step 6's image server and downloader (`image_test`, run from the
 * repository root): the server against curl, the downloader against the image
 * server, against python3's http.server, and against broken servers. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bmp.h"
#include "harness.h"

#define IMAGE_SERVER "6_async_await/image_server"
#define DOWNLOADER "6_async_await/downloader"
#define TMP "build/image_test.tmp"

static char out[65536];

/* Runs a shell command line, output in out; returns its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    const char *args[] = { "-c", cmd, NULL };
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run_program("/bin/sh", args, out, sizeof out);
}

static int setup(void **state)
{
    static struct server s;
    const char *args[] = { "--delay-ms", "100", NULL };
    sh("rm -rf " TMP " && mkdir -p " TMP);
    assert_int_equal(server_start(&s, IMAGE_SERVER, args), 0);
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(server_stop(*state), 0);
    sh("rm -rf " TMP);
    return 0;
}

static int port_of(void **state)
{
    return ((struct server *)*state)->port;
}

/* Number of entries in a folder (dot files too), -1 if it cannot be read. */
static int count_files(const char *dir)
{
    int n = 0;
    struct dirent *e;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_redirect(void **state)
{
    unsigned w, h, id1, id2;
    int port = port_of(state);
    assert_int_equal(sh("curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' http://127.0.0.1:%d/320/240",
                        port), 0);
    assert_int_equal(sscanf(out, "302 http://127.0.0.1:%*d/img/%ux%u/%u.bmp", &w, &h, &id1), 3);
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    assert_int_equal(sh("curl -s -o /dev/null -w '%%{redirect_url}' http://127.0.0.1:%d/320/240", port), 0);
    assert_int_equal(sscanf(out, "http://127.0.0.1:%*d/img/%ux%u/%u.bmp", &w, &h, &id2), 3);
    assert_true(id1 != id2); /* a new picture each time */
}

static void test_image_bytes(void **state)
{
    unsigned w, h, id;
    static unsigned char got[200000], want[200000];
    FILE *f;
    size_t n;
    assert_int_equal(sh("curl -sL -o " TMP "/x.bmp -w '%%{url_effective}' http://127.0.0.1:%d/200/100",
                        port_of(state)), 0);
    assert_int_equal(sscanf(out, "http://127.0.0.1:%*d/img/%ux%u/%u.bmp", &w, &h, &id), 3);
    assert_int_equal(w, 200);
    assert_int_equal(h, 100);
    f = fopen(TMP "/x.bmp", "rb");
    assert_non_null(f);
    n = fread(got, 1, sizeof got, f);
    fclose(f);
    assert_int_equal(n, bmp_size(200, 100));
    assert_memory_equal(got, "BM", 2);
    assert_int_equal(bmp_read(200, 100, id, 0, want, sizeof want), n);
    assert_memory_equal(got, want, n);
}

static void test_head(void **state)
{
    char expect[64];
    assert_int_equal(sh("curl -sI http://127.0.0.1:%d/img/10x10/3.bmp", port_of(state)), 0);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "Content-Type: image/bmp"));
    snprintf(expect, sizeof expect, "Content-Length: %zu", bmp_size(10, 10));
    assert_non_null(strstr(out, expect));
    assert_null(strstr(out, "BM")); /* headers only */
}

static void test_errors(void **state)
{
    int port = port_of(state);
    assert_int_equal(sh("curl -s -w ' %%{http_code}' http://127.0.0.1:%d/nope", port), 0);
    assert_non_null(strstr(out, "404 Not Found"));
    assert_non_null(strstr(out, " 404"));
    assert_int_equal(sh("curl -si -X POST http://127.0.0.1:%d/320/240", port), 0);
    assert_non_null(strstr(out, "HTTP/1.1 405"));
    assert_non_null(strstr(out, "Allow: GET, HEAD"));
    assert_int_equal(sh("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/5000/5000", port), 0);
    assert_string_equal(out, "400");
    assert_int_equal(sh("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/img/5000x10/1.bmp", port), 0);
    assert_string_equal(out, "404");
}

/* A client that connects and says nothing is closed after the request time
 * limit (10 s), and holds up no one meanwhile. */
static void test_silent_client_times_out(void **state)
{
    int port = port_of(state), silent = client_connect(port);
    assert_true(silent >= 0);
    assert_int_equal(client_send(silent, "GET /320/2", 10, MUST_MS), 10); /* and no more */
    assert_int_equal(sh("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/nope", port), 0);
    assert_string_equal(out, "404");
    assert_true(client_quiet(silent, QUIET_MS)); /* not closed at once */
    assert_true(client_wait_close(silent, MUST_MS));
    close(silent);
}

/* An origin server sends Date (RFC 9110 6.6.1), in IMF-fixdate, now. */
static void test_date_header(void **state)
{
    char day[4], month[4];
    int mday, year, hh, mm, ss;
    time_t now = time(NULL);
    struct tm tm;
    const char *date;
    assert_int_equal(sh("curl -sI http://127.0.0.1:%d/nope", port_of(state)), 0);
    date = strstr(out, "\r\nDate: ");
    assert_non_null(date);
    assert_int_equal(sscanf(date + 8, "%3s, %d %3s %d %d:%d:%d GMT", day, &mday, month, &year, &hh, &mm, &ss), 7);
    assert_int_equal(date[11], ',');
    gmtime_r(&now, &tm);
    assert_true(strstr("SunMonTueWedThuFriSat", day) != NULL);
    assert_true(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", month) != NULL);
    assert_true(year == tm.tm_year + 1900 || (tm.tm_mon == 0 && tm.tm_mday == 1 && year == tm.tm_year + 1899));
}

/* A server of our own choosing, started for one test. */
static int start_image_server(struct server *s, const char *delay_ms)
{
    const char *args[] = { "--delay-ms", delay_ms, NULL };
    return server_start(s, IMAGE_SERVER, args);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Pictures one after another on one kept-alive connection leave at once: the
 * head goes with the first block, and TCP_NODELAY keeps the end of each from
 * waiting for the client's delayed ACK (about 40 ms a picture before). The
 * bound is wide; make bench holds the real figure. */
static void test_keep_alive_pictures_are_quick(void **state)
{
    struct server fast;
    char cmd[4096];
    double times[30];
    int n = 0, connects = 0, pos;
    (void)state;
    assert_int_equal(start_image_server(&fast, "0"), 0);
    pos = snprintf(cmd, sizeof cmd, "curl -s -w '%%{time_total} %%{num_connects}\\n'");
    for (int i = 1; i <= 30; i++)
        pos += snprintf(cmd + pos, sizeof cmd - (size_t)pos, " -o /dev/null http://127.0.0.1:%d/img/64x64/%d.bmp",
                        fast.port, i);
    assert_int_equal(sh("%s", cmd), 0);
    assert_int_equal(server_stop(&fast), 0);
    for (const char *p = out; n < 30 && *p; p = strchr(p, '\n') + 1) {
        int c;
        assert_int_equal(sscanf(p, "%lf %d", &times[n++], &c), 2);
        connects += c;
        if (!strchr(p, '\n'))
            break;
    }
    assert_int_equal(n, 30);
    assert_int_equal(connects, 1); /* all on one connection */
    qsort(times, 30, sizeof times[0], compare_doubles);
    fprintf(stderr, "# median %.2f ms a picture\n", times[14] * 1000);
    if (!getenv("SERVER_WRAPPER")) /* valgrind runs everything 20-50 times slower */
        assert_true(times[14] < 0.040);
}


/* A connection that sends nothing holds no buffer: 1,000 of them cost the
 * server less than 4 KiB each (46 KB before: a parser and two buffers from
 * accept() on). Not under sanitizers or valgrind, which keep memory of their own. */
static void test_idle_connections_cost_little(void **state)
{
    enum { N = 1000 };
    static int fds[N];
    struct server *s = *state;
    long before, after;
    if (SANITIZED || getenv("SERVER_WRAPPER"))
        skip();
    assert_true(raise_fd_limit() > N + 100);
    assert_int_equal(sh("curl -s -o /dev/null http://127.0.0.1:%d/img/64x64/1.bmp", s->port), 0); /* warm up */
    before = server_rss_kib(s);
    for (int i = 0; i < N; i++)
        assert_true((fds[i] = client_connect(s->port)) >= 0);
    assert_int_equal(sh("curl -s -o /dev/null http://127.0.0.1:%d/nope", s->port), 0); /* all accepted by now */
    after = server_rss_kib(s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    fprintf(stderr, "# +%ld B per idle connection\n", (after - before) * 1024 / N);
    assert_true(before > 0);
    assert_true((after - before) * 1024 / N <= 4096);
}

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request on a new connection; returns how many ms the answer took. */
static long long timed_request(int port)
{
    static const char req[] = "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char reply[64];
    long long start = ms_now();
    int fd = client_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(client_send(fd, req, sizeof req - 1, MUST_MS), sizeof req - 1);
    assert_int_equal(client_recv(fd, reply, 12, MUST_MS), 12);
    close(fd);
    assert_memory_equal(reply, "HTTP/1.1 404", 12);
    return ms_now() - start;
}

/* 1,000 clients sending their heads a byte at a time hold up no one: a normal
 * request among them is answered within 50 ms, round after round. */
static void test_trickling_clients_delay_no_one(void **state)
{
    enum { N = 1000, ROUNDS = 8 };
    static int fds[N];
    static const char head[] = "GET /img/64x64/1.bmp HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct server *s = *state;
    long long worst = 0;
    assert_true(raise_fd_limit() > N + 100);
    for (int i = 0; i < N; i++) {
        assert_true((fds[i] = client_connect(s->port)) >= 0);
        assert_int_equal(client_send(fds[i], "G", 1, MUST_MS), 1);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) /* the next byte of every head */
            assert_int_equal(client_send(fds[i], head + 1 + r, 1, MUST_MS), 1);
        for (int k = 0; k < 3; k++) {
            long long t = timed_request(s->port);
            worst = t > worst ? t : worst;
        }
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    fprintf(stderr, "# slowest answer among %d trickling clients: %lld ms\n", N, worst);
    if (!getenv("SERVER_WRAPPER")) /* valgrind runs everything 20-50 times slower */
        assert_true(worst < 50);
}

/* "MODE: N images, B bytes in T s" from the downloader's output. */
static double seconds(const char *mode, int *images, long long *bytes)
{
    char prefix[32];
    double t = -1;
    int len = snprintf(prefix, sizeof prefix, "%s: ", mode);
    for (const char *p = out; (p = strstr(p, prefix)); p++)
        if ((p == out || p[-1] == '\n') && sscanf(p + len, "%d images, %lld bytes in %lf s", images, bytes, &t) == 3)
            break;
    return t;
}

static void test_download_both_modes(void **state)
{
    int images = 0;
    long long bytes = 0;
    double sync_s, async_s;
    struct stat st;
    char path[128];
    int status = sh(DOWNLOADER " -n 20 -o " TMP "/both --timeline " TMP "/t.svg http://127.0.0.1:%d/320/240",
                    port_of(state));
    if (status != 0)
        fprintf(stderr, "# %s", out);
    assert_int_equal(status, 0);
    sync_s = seconds("sync", &images, &bytes);
    assert_int_equal(images, 20);
    assert_int_equal(bytes, 20 * (long long)bmp_size(320, 240));
    async_s = seconds("async", &images, &bytes);
    assert_int_equal(images, 20);
    assert_int_equal(bytes, 20 * (long long)bmp_size(320, 240));
    /* 20 x 100 ms one after another, against about 100 ms all at once. */
    assert_true(sync_s >= 2.0);
    assert_true(async_s < sync_s / 3);
    assert_non_null(strstr(out, "speedup: "));
    assert_int_equal(count_files(TMP "/both"), 40); /* numbered, not overwritten */
    for (int i = 1; i <= 40; i++) {
        snprintf(path, sizeof path, TMP "/both/%d.bmp", i);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, bmp_size(320, 240));
    }
    assert_int_equal(stat(TMP "/t.svg", &st), 0);
    assert_int_equal(sh("grep -c '<rect' " TMP "/t.svg"), 0);
    assert_int_equal(atoi(out), 41); /* a background, a bar per download */
}

/* python3 -m http.server on a folder: a server nobody here wrote. */
static void test_download_from_python(void **state)
{
    int fds[2], port = 0;
    pid_t pid;
    FILE *f;
    char line[256];
    (void)state;
    assert_int_equal(sh("mkdir -p " TMP "/www && head -c 100000 /dev/urandom > " TMP "/www/a.bin"
                        " && printf 'hello\\n' > " TMP "/www/b.txt"), 0);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        dup2(null, 2); /* its request log */
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
               TMP "/www", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f)); /* "Serving HTTP on 127.0.0.1 port N ..." */
    fclose(f);
    assert_int_equal(sscanf(strstr(line, "port ") ? strstr(line, "port ") : "", "port %d", &port), 1);
    assert_int_equal(sh(DOWNLOADER " -n 3 -o " TMP "/py http://127.0.0.1:%d/a.bin", port), 0);
    assert_int_equal(sh(DOWNLOADER " -n 1 --async -o " TMP "/py http://127.0.0.1:%d/b.txt", port), 0);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_equal(count_files(TMP "/py"), 7);
    assert_int_equal(sh("cmp " TMP "/www/a.bin " TMP "/py/a.bin && cmp " TMP "/www/a.bin " TMP "/py/a-5.bin"
                        " && cmp " TMP "/www/b.txt " TMP "/py/b.txt"), 0);
}

/* What a fake server answers to requests that start a certain way (NULL:
 * any request); a %d in the answer stands for its port. */
struct route {
    const char *request;
    const char *answer;
};

/* A fake server of our own on a free port: it answers each request by the
 * first route that matches, then closes (or, with hold, keeps the connection
 * open and says no more). Returns its pid; *port gets the port. */
static pid_t fake_server(const struct route *routes, int *port, int hold)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    pid_t pid;
    /* 127.0.0.1: macOS hides INADDR_LOOPBACK under _POSIX_C_SOURCE */
    addr.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    pid = fork();
    if (pid == 0) {
        char buf[4096], reply[512];
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1); /* so it never holds the test's output open */
        dup2(null, 2);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            size_t got = 0;
            ssize_t n;
            if (c < 0)
                continue;
            while (got < sizeof buf - 1 && (n = recv(c, buf + got, sizeof buf - 1 - got, 0)) > 0) {
                got += (size_t)n;
                buf[got] = '\0';
                if (strstr(buf, "\r\n\r\n"))
                    break;
            }
            const struct route *r = routes;
            while (r->request && strncmp(buf, r->request, strlen(r->request)) != 0)
                r++;
            snprintf(reply, sizeof reply, r->answer, *port);
            send(c, reply, strlen(reply), 0);
            if (!hold)
                close(c);
        }
    }
    close(fd);
    return pid;
}

/* How many times text occurs in out. */
static int occurrences(const char *text)
{
    int n = 0;
    for (const char *p = out; (p = strstr(p, text)); p += strlen(text))
        n++;
    return n;
}

/* Three downloads of url fail, each for the same cause: it is said once, in
 * one line, the first image's; after a sync mode that saved nothing the async
 * mode does not run (it would say the same), and no speedup is claimed.
 * Nothing is left behind, not even a part file. */
/* A server that answers every request the same way. */
static pid_t broken_server(const char *answer, int *port, int hold)
{
    const struct route routes[] = { { NULL, answer } };
    return fake_server(routes, port, hold);
}

static void expect_failure(const char *options, const char *url, const char *message)
{
    char expect[768];
    int status = sh(DOWNLOADER " -n 3 %s -o " TMP "/fail %s", options, url);
    /* In async mode any image may be the first to fail. */
    snprintf(expect, sizeof expect, "%s: %s: %s\n", strstr(options, "--async") ? "" : "image 1", url, message);
    if (occurrences(expect) != 1 || occurrences(message) != 1)
        fprintf(stderr, "# expected \"%s\" once in:\n%s", expect, out);
    assert_int_equal(occurrences(expect), 1);
    assert_int_equal(occurrences(message), 1);
    if (strstr(options, "--async")) {
        assert_non_null(strstr(out, "async: 0 images, 0 bytes in "));
    } else {
        assert_non_null(strstr(out, "sync: 0 images, 0 bytes in "));
        assert_null(strstr(out, "async:"));
    }
    assert_non_null(strstr(out, ", 3 failed\n"));
    assert_null(strstr(out, "speedup"));
    assert_int_equal(status, 1);
    assert_true(count_files(TMP "/fail") <= 0);
}

/* A broken server for one failure: answer is what it says to every request;
 * a %d in answer or message stands for its port. */
static void expect_server_failure(const char *answer, int hold, const char *options, const char *message)
{
    char url[64], text[512];
    int port;
    pid_t pid = broken_server(answer, &port, hold);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.bmp", port);
    snprintf(text, sizeof text, message, port);
    expect_failure(options, url, text);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Each cause of failure: one line, the cause, what to do. */
static void test_failures(void **state)
{
    char url[128], message[256];
    int sock;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t len = sizeof addr;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nope", port_of(state));
    expect_failure("", url, "HTTP 404 Not Found: no picture at that address; check the URL");
    /* A port bound but not listening: connections to it are refused. */
    sock = socket(AF_INET, SOCK_STREAM, 0);
    /* 127.0.0.1: macOS hides INADDR_LOOPBACK under _POSIX_C_SOURCE */
    addr.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof addr), 0);
    getsockname(sock, (struct sockaddr *)&addr, &len);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.bmp", ntohs(addr.sin_port));
    snprintf(message, sizeof message,
             "nothing is listening on 127.0.0.1:%d; start the image server: 6_async_await/image_server %d",
             ntohs(addr.sin_port), ntohs(addr.sin_port));
    expect_failure("", url, message);
    expect_failure("--async", url, message);
    close(sock);

    expect_server_failure("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", 0, "",
                          "the connection closed before the whole picture came (truncated body); try again");
    expect_server_failure("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/again\r\nContent-Length: 0\r\n\r\n",
                          0, "",
                          "too many redirects (10, the last to http://127.0.0.1:%d/again): the server sends the "
                          "downloader in circles");
    expect_server_failure("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", 0, "",
                          "HTTP 302 without a Location header: the server says the picture moved, not where to");
    expect_server_failure("SSH-2.0-OpenSSH_9.6\r\n", 0, "",
                          "the answer from 127.0.0.1:%d is not HTTP (it begins \"SSH-2.0-OpenSSH_\"); "
                          "check that the URL names a web server");
    expect_server_failure("", 1, "--timeout 1",
                          "no progress from 127.0.0.1:%d in 1 s (timed out); check the server, or wait longer "
                          "with --timeout");
    expect_server_failure("", 1, "--timeout 1 --async",
                          "no progress from 127.0.0.1:%d in 1 s (timed out); check the server, or wait longer "
                          "with --timeout");
}

/* Interim responses (103 Early Hints, 100 Continue) come before the answer:
 * the downloader reads past them (RFC 9110 15.2) and saves the right bytes. */
static void test_interim_responses(void **state)
{
    int port;
    pid_t pid = broken_server("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                              "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n", &port, 0);
    int status = sh(DOWNLOADER " -n 2 -o " TMP "/early http://127.0.0.1:%d/x.txt", port);
    (void)state;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (status != 0)
        fprintf(stderr, "# %s", out);
    assert_int_equal(status, 0);
    assert_int_equal(count_files(TMP "/early"), 4);
    assert_int_equal(sh("printf 'hello\\n' > " TMP "/hello && for f in x.txt x-1.txt x-2.txt x-3.txt; do "
                        "cmp " TMP "/hello " TMP "/early/$f || exit 1; done"), 0);
}

/* A redirect to a raw UTF-8 Location: the downloader asks for it
 * percent-encoded, as curl and browsers do, and names the file in UTF-8. */
static void test_utf8_redirect(void **state)
{
    const struct route routes[] = {
        { "GET /caf%C3%A9.bin HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ncaf\xc3\xa9" },
        { "GET /start HTTP/1.1\r\n", "HTTP/1.1 302 Found\r\nLocation: /caf\xc3\xa9.bin\r\nContent-Length: 0\r\n\r\n" },
        { NULL, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" },
    };
    int port, status;
    pid_t pid = fake_server(routes, &port, 0);
    (void)state;
    status = sh(DOWNLOADER " -n 1 -o " TMP "/utf8 http://127.0.0.1:%d/start", port);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (status != 0)
        fprintf(stderr, "# %s", out);
    assert_int_equal(status, 0);
    assert_int_equal(sh("printf 'caf\\303\\251' | cmp - " TMP "/utf8/caf\xc3\xa9.bin && "
                        "printf 'caf\\303\\251' | cmp - " TMP "/utf8/caf\xc3\xa9-1.bin"), 0);
}

/* Bad URLs and numbers: one line saying what is wrong, before any download. */
static void test_bad_urls_and_numbers(void **state)
{
    static const struct {
        const char *args, *message;
    } cases[] = {
        { "ftp://127.0.0.1/x.bmp", "downloader: ftp://127.0.0.1/x.bmp: only http:// URLs are supported\n" },
        { "https://127.0.0.1/x.bmp", "downloader: https://127.0.0.1/x.bmp: https is not supported (no TLS in a "
                                     "libc-only program); use an http:// URL\n" },
        { "-n 0", "downloader: -n 0: give a whole number from 1 to 10000\n" },
        { "-n 10001", "downloader: -n 10001: give a whole number from 1 to 10000\n" },
        { "-c x", "downloader: -c x: give a whole number from 1 to 10000\n" },
        { "--timeout 0", "downloader: --timeout 0: give a whole number from 1 to 86400\n" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(sh("cd " TMP " && ../../" DOWNLOADER " -o bad %s 2>&1"
                            " | sed 's|^[^:]*/downloader:|downloader:|'", cases[i].args), 0);
        if (strcmp(out, cases[i].message) != 0)
            fprintf(stderr, "# %s: got \"%s\"\n", cases[i].args, out);
        assert_string_equal(out, cases[i].message);
    }
    assert_int_equal(sh(DOWNLOADER " -o " TMP "/bad ftp://x/"), 2);
    assert_int_equal(count_files(TMP "/bad"), -1); /* not even the folder */
}

/* Ctrl-C in the middle of a download, in either mode: the part file goes,
 * and the downloader ends with the shell's code for Ctrl-C. */
static void test_ctrl_c_leaves_nothing(void **state)
{
    const char *modes[] = { "--sync", "--async" };
    (void)state;
    for (int m = 0; m < 2; m++) {
        char url[64];
        int port, status, started;
        pid_t server = broken_server("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", &port, 1);
        pid_t pid = fork();
        snprintf(url, sizeof url, "http://127.0.0.1:%d/x.bin", port);
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execl(DOWNLOADER, DOWNLOADER, modes[m], "-n", "2", "-o", TMP "/int", url, (char *)NULL);
            _exit(127);
        }
        /* A part file shows the download is under way. */
        for (int tries = 0; count_files(TMP "/int") < 1 && tries < MUST_MS / 10; tries++)
            nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
        started = count_files(TMP "/int");
        kill(pid, SIGINT);
        waitpid(pid, &status, 0);
        kill(server, SIGKILL); /* before any assertion, so no server outlives a failure */
        waitpid(server, NULL, 0);
        assert_true(started >= 1);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 130);
        assert_int_equal(count_files(TMP "/int"), 0);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(sh(DOWNLOADER " -n 0"), 2);
    assert_int_equal(sh(DOWNLOADER " --sync --async"), 2);
    assert_int_equal(sh(IMAGE_SERVER " --delay-ms x"), 2);
    assert_int_equal(sh(IMAGE_SERVER " -h"), 0);
    assert_non_null(strstr(out, "usage:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_client_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_date_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_pictures_are_quick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connections_cost_little, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trickling_clients_delay_no_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_both_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_from_python, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls_and_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_responses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_c_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
