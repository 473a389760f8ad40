/* The lesson's first asyncio program: two coroutines, one loop. print_nums
 * counts every 0.1 s, print_time reports every third second; main gathers both.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o ticker ticker.c asyncio.c gen.c selector.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"

static const char *prog = "ticker";

/* async def print_nums(): num = 1; while True: print(num); num += 1; await asyncio.sleep(0.1) */
struct print_nums {
    struct gen gen;
    struct loop *loop;
    int num;
    struct fut sleep_done; /* what it awaits lives in its frame: awaiting allocates nothing */
};

static int print_nums_body(struct gen *g)
{
    struct print_nums *self = (struct print_nums *)g;
    GEN_BEGIN(g);
    self->num = 1;
    for (;;) {
        printf("%d\n", self->num);
        fflush(stdout); /* a pipe sees each line as it comes */
        self->num++;
        AWAIT(g, aio_sleep(self->loop, &self->sleep_done, 100));
    }
    GEN_END(g);
}

/* async def print_time(): count = 0; while True: if count % 3 == 0:
 *     print(f"{count} seconds have passed"); count += 1; await asyncio.sleep(1) */
struct print_time {
    struct gen gen;
    struct loop *loop;
    int count;
    struct fut sleep_done;
};

static int print_time_body(struct gen *g)
{
    struct print_time *self = (struct print_time *)g;
    GEN_BEGIN(g);
    self->count = 0;
    for (;;) {
        if (self->count % 3 == 0) {
            printf("%d seconds have passed\n", self->count);
            fflush(stdout);
        }
        self->count++;
        AWAIT(g, aio_sleep(self->loop, &self->sleep_done, 1000));
    }
    GEN_END(g);
}

/* async def main(): task1 = create_task(print_nums()); task2 = create_task(print_time());
 *     await asyncio.gather(task1, task2) */
struct main_coro {
    struct gen gen;
    struct loop *loop;
    struct print_nums nums;
    struct print_time time;
    struct task task1, task2;
    struct fut *tasks[2];
    struct gather_fut both;
};

static int main_body(struct gen *g)
{
    struct main_coro *self = (struct main_coro *)g;
    GEN_BEGIN(g);
    gen_init(&self->nums.gen, print_nums_body);
    self->nums.loop = self->loop;
    gen_init(&self->time.gen, print_time_body);
    self->time.loop = self->loop;
    self->tasks[0] = &aio_create_task(self->loop, &self->task1, &self->nums.gen)->fut;
    self->tasks[1] = &aio_create_task(self->loop, &self->task2, &self->time.gen)->fut;
    AWAIT(g, aio_gather(self->loop, &self->both, self->tasks, NULL, 2));
    GEN_END(g);
}

/* Ctrl-C (SIGINT) or SIGTERM: what asyncio.run() does on Ctrl-C, cancel main;
 * through the gather, that cancels both tasks, and every task ends cleanly. */
static void cancel_main(void *task)
{
    task_cancel(task);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: %s [--seconds N]\n"
                 "  Prints 1, 2, 3, ... every 0.1 s and \"N seconds have passed\" every 3 s.\n"
                 "  --seconds N  stop after N seconds (default: run until Ctrl-C)\n"
                 "  -h           show this help\n",
            prog);
}

static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, arg);
    usage(stderr);
    exit(2);
}

/* Returns the --seconds value, or -1 to run until stopped. */
static long parse_args(int argc, char **argv)
{
    long seconds = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--seconds") == 0) {
            char *end;
            if (++i == argc)
                bad_usage("missing value for", arg);
            errno = 0;
            seconds = strtol(argv[i], &end, 10);
            if (end == argv[i] || *end != '\0' || errno || seconds < 0 || seconds > 1000000)
                bad_usage("not a number of seconds (0-1000000)", argv[i]);
        } else {
            bad_usage("unknown argument", arg);
        }
    }
    return seconds;
}

int main(int argc, char **argv)
{
    long seconds;
    struct loop *loop;
    struct main_coro main_coro;
    struct task main_task;
    struct wait_for_fut deadline;
    struct fut *done;
    if (argc > 0)
        prog = argv[0];
    seconds = parse_args(argc, argv);
    loop = loop_create();
    if (!loop) {
        perror("cannot create the event loop");
        return 1;
    }
    gen_init(&main_coro.gen, main_body);
    main_coro.loop = loop;
    aio_create_task(loop, &main_task, &main_coro.gen);
    if (loop_add_signal_handler(loop, SIGINT, cancel_main, &main_task) < 0 ||
        loop_add_signal_handler(loop, SIGTERM, cancel_main, &main_task) < 0) {
        perror("cannot handle signals");
        return 1;
    }
    /* --seconds N: asyncio.wait_for(main(), N), which cancels main (and, through
     * the gather, both tasks) when time is up. */
    done = seconds >= 0 ? aio_wait_for(loop, &deadline, &main_task.fut, seconds * 1000) : &main_task.fut;
    /* asyncio.run(main()). EINTR only says a signal arrived: its handler runs next. */
    while (loop_run_until_complete(loop, done) < 0) {
        if (errno != EINTR) {
            perror("select");
            return 1;
        }
    }
    loop_close(loop);
    return 0;
}
