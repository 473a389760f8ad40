/* The lesson's first asyncio program: two coroutines, one loop. print_nums
 * counts every 0.1 s, print_time reports every third second; main gathers both.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o ticker ticker.c tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio.h"

/* The frame of print_nums and print_time: a count, and the sleep it awaits (in
 * the frame: awaiting allocates nothing). */
struct counter {
    struct gen gen;
    struct loop *loop;
    int n;
    struct fut sleep_done;
};

/* async def print_nums(): num = 1; while True: print(num); num += 1; await asyncio.sleep(0.1) */
static int print_nums_body(struct gen *g)
{
    struct counter *num = (struct counter *)g;
    GEN_BEGIN(g);
    for (num->n = 1;; num->n++) {
        printf("%d\n", num->n);
        fflush(stdout); /* a pipe sees each line as it comes */
        AWAIT(g, aio_sleep(num->loop, &num->sleep_done, 100));
    }
    GEN_END(g);
}

/* async def print_time(): count = 0; while True: if count % 3 == 0:
 *     print(f"{count} seconds have passed"); count += 1; await asyncio.sleep(1) */
static int print_time_body(struct gen *g)
{
    struct counter *count = (struct counter *)g;
    GEN_BEGIN(g);
    for (count->n = 0;; count->n++) {
        if (count->n % 3 == 0) {
            printf("%d seconds have passed\n", count->n);
            fflush(stdout);
        }
        AWAIT(g, aio_sleep(count->loop, &count->sleep_done, 1000));
    }
    GEN_END(g);
}

/* async def main(): task1 = create_task(print_nums()); task2 = create_task(print_time());
 *     await asyncio.gather(task1, task2)
 * With --seconds N, main awaits the gather through asyncio.wait_for(..., N),
 * which cancels it (and so both tasks) when time is up. */
struct main_coro {
    struct gen gen;
    struct loop *loop;
    long seconds; /* -1: until Ctrl-C */
    struct counter nums, time;
    struct task task1, task2;
    struct fut *tasks[2];
    struct gather_fut both;
    struct wait_for_fut in_time;
};

static int main_body(struct gen *g)
{
    struct main_coro *self = (struct main_coro *)g;
    struct fut *both;
    GEN_BEGIN(g);
    self->nums.loop = self->time.loop = self->loop;
    gen_init(&self->nums.gen, print_nums_body);
    gen_init(&self->time.gen, print_time_body);
    self->tasks[0] = &aio_create_task(self->loop, &self->task1, &self->nums.gen)->fut;
    self->tasks[1] = &aio_create_task(self->loop, &self->task2, &self->time.gen)->fut;
    both = aio_gather(self->loop, &self->both, self->tasks, NULL, 2);
    if (self->seconds >= 0)
        both = aio_wait_for(self->loop, &self->in_time, both, self->seconds * 1000);
    AWAIT(g, both);
    GEN_END(g);
}

static const char usage[] = "usage: %s [--seconds N]\n"
                            "  Prints 1, 2, 3, ... every 0.1 s and \"N seconds have passed\" every 3 s.\n"
                            "  --seconds N  stop after N seconds (default: run until Ctrl-C)\n"
                            "  -h           show this help\n";

int main(int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "ticker", *arg = argc > 1 ? argv[1] : "", *error = NULL;
    struct main_coro main_coro = { .seconds = -1 };
    char *end;
    int rc;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        return printf(usage, prog) < 0;
    if (argc == 3 && strcmp(arg, "--seconds") == 0) {
        errno = 0;
        main_coro.seconds = strtol(arg = argv[2], &end, 10);
        if (end == arg || *end != '\0' || errno || main_coro.seconds < 0 || main_coro.seconds > 1000000)
            error = "not a number of seconds (0-1000000)";
    } else if (argc > 1) {
        error = argc == 2 && strcmp(arg, "--seconds") == 0 ? "missing value for" : "unknown argument";
    }
    if (error) {
        fprintf(stderr, "%s: %s: %s\n", prog, error, arg);
        fprintf(stderr, usage, prog);
        return 2;
    }
    if (!(main_coro.loop = loop_create())) {
        perror("cannot create the event loop");
        return 1;
    }
    gen_init(&main_coro.gen, main_body);
    /* asyncio.run(main()): Ctrl-C cancels main and, through the gather, both tasks. */
    rc = aio_run(main_coro.loop, &main_coro.gen);
    loop_close(main_coro.loop);
    if (rc < 0)
        perror("the event loop failed");
    return rc < 0;
}
