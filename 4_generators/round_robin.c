/* Step 4's first demo: two generators take turns, run by a round-robin loop,
 * as the lesson's gen_of_str('any string') and gen_of_num(11) do.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o round_robin round_robin.c gen.c */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* gen_of_str(s): the characters of s, one at a time. Both generators yield
 * text, so the loop prints whatever it is given, as Python's print() does; the
 * text is in the frame, as it must survive the yield. */
struct str_gen {
    struct gen gen;
    const char *s;
    char text[2]; /* the current character, as a string */
};

static int str_gen_body(struct gen *g)
{
    struct str_gen *self = (struct str_gen *)g;
    GEN_BEGIN(g);
    for (; *self->s != '\0'; self->s++) {
        self->text[0] = *self->s;
        GEN_YIELD(g, self->text);
    }
    GEN_END(g);
}

static struct gen *gen_of_str(struct str_gen *self, const char *s)
{
    gen_init(&self->gen, str_gen_body);
    self->s = s;
    self->text[1] = '\0';
    return &self->gen;
}

/* gen_of_num(n): the numbers 0 to n - 1. */
struct num_gen {
    struct gen gen;
    int n, i;
    char text[16];
};

static int num_gen_body(struct gen *g)
{
    struct num_gen *self = (struct num_gen *)g;
    GEN_BEGIN(g);
    for (self->i = 0; self->i < self->n; self->i++) {
        snprintf(self->text, sizeof self->text, "%d", self->i);
        GEN_YIELD(g, self->text);
    }
    GEN_END(g);
}

static struct gen *gen_of_num(struct num_gen *self, int n)
{
    gen_init(&self->gen, num_gen_body);
    self->n = n;
    return &self->gen;
}

/* The task list, first in, first out: Python's list with append() and pop(0),
 * which moves the others up one place. */
#define MAX_TASKS 2
static struct gen *tasks[MAX_TASKS];
static int ntasks;

static void tasks_append(struct gen *g)
{
    tasks[ntasks++] = g;
}

static struct gen *tasks_pop_first(void)
{
    struct gen *g = tasks[0];
    ntasks--;
    memmove(tasks, tasks + 1, (size_t)ntasks * sizeof *tasks);
    return g;
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* no options: the demo always does the same */
        int help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
        if (!help)
            fprintf(stderr, "%s: takes no arguments: %s\n", argv[0], argv[1]);
        fprintf(help ? stdout : stderr, "usage: %s\n  %s\n", argv[0], "prints what the lesson's two generators yield, taking turns");
        return help ? 0 : 2;
    }
    struct str_gen g1;
    struct num_gen g2;
    tasks_append(gen_of_str(&g1, "any string"));
    tasks_append(gen_of_num(&g2, 11));
    /* Round robin: run the first task to its next yield, then put it at the
     * back of the line; a task that is done (StopIteration) leaves the line. */
    while (ntasks > 0) {
        struct gen *task = tasks_pop_first();
        const char *value = gen_next(task);
        if (value == GEN_EXHAUSTED)
            continue;
        printf("%s\n", value);
        tasks_append(task);
    }
    return 0;
}
