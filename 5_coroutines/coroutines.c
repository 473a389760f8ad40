/* Step 5's playground: drive the lesson's coroutines by hand, as in Python's
 * REPL: send values in, throw errors in, close them, and watch their state.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o coroutines coroutines.c gen.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

/* Errors of our own, beside errno's and gen.h's: the lesson's
 * `class BlaBlaException(Exception)`, and the TypeError average() meets when it
 * is sent None (`summ += None`). */
enum { BLABLA_ERROR = -100, NONE_SENT_ERROR = -101 };

/* Python prints an exception as its class and message. */
static const char *error_text(int err)
{
    switch (err) {
    case GEN_EXIT: return "GeneratorExit";
    case GEN_STOP: return "StopIteration";
    case GEN_BAD_SEND: return "TypeError: can't send non-None value to a just-started generator";
    case GEN_IGNORED_EXIT: return "RuntimeError: generator ignored GeneratorExit";
    case GEN_REENTERED: return "ValueError: generator already executing";
    case BLABLA_ERROR: return "BlaBlaException";
    case NONE_SENT_ERROR: return "TypeError: unsupported operand type(s) for +=: 'int' and 'NoneType'";
    default: return strerror(err);
    }
}

/* subgen(): message = yield 'Ready to accept message', then prints it. It is
 * not primed: it must be started with next() (or send(None)) first. */
static int subgen_body(struct gen *g)
{
    GEN_BEGIN(g);
    GEN_YIELD(g, "Ready to accept message");
    printf("Subgen received: %s\n", g->sent ? (const char *)g->sent : "None");
    GEN_END(g);
}

/* average(): x = yield average; the running average of what it was sent.
 * Its frame: count, sum and average survive each yield. */
struct average {
    struct gen gen;
    int count;
    double sum;
    double average; /* None (yielded as NULL) until the first value */
};

static int average_body(struct gen *g)
{
    struct average *self = (struct average *)g;
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, self->count ? &self->average : NULL); /* x = yield average */
        /* except StopIteration: the lesson's way to say "no more values" */
        if (g->thrown == GEN_STOP) {
            printf("Done\n");
            break;
        }
        if (g->thrown)
            GEN_RAISE(g, g->thrown);
        if (!g->sent)
            GEN_RAISE(g, NONE_SENT_ERROR);
        self->count++;
        self->sum += *(const double *)g->sent;
        self->average = self->sum / self->count; /* printed rounded: round(summ / count, 2) */
    }
    GEN_RETURN(g, self->count ? &self->average : NULL);
    GEN_END(g);
}

/* The coroutine being played with. */
enum coroutine_name { NO_COROUTINE, AVERAGE, SUBGEN };
static enum coroutine_name current;
static struct average average;
static struct gen subgen;

static struct gen *current_gen(void)
{
    return current == AVERAGE ? &average.gen : &subgen;
}

/* One line of input, parsed. */
enum command_name {
    CMD_EMPTY, CMD_SEND, CMD_NEXT, CMD_THROW, CMD_CLOSE, CMD_STATE, CMD_USE, CMD_HELP, CMD_QUIT
};

struct command {
    enum command_name name;
    enum coroutine_name coroutine; /* use: which one */
    int thrown;                    /* throw: the error to throw in */
    int is_none, is_number;        /* send: None, a number, or else text */
    double number;
    char text[128];                /* send: the value as typed; on error, what is wrong */
};

#define HELP "commands: use average|subgen, send VALUE, next, throw [error], close, state, help, quit"

/* Parses one line into out: a command word and at most one argument (send's
 * is the rest of the line). Returns 0, or -1 with out->text saying what is
 * wrong. No I/O, so it can be tested and fuzzed alone. */
int parse_command(const char *line, struct command *out)
{
    static const struct { const char *word; enum command_name name; } words[] = {
        { "send", CMD_SEND }, { "next", CMD_NEXT }, { "throw", CMD_THROW }, { "close", CMD_CLOSE },
        { "state", CMD_STATE }, { "use", CMD_USE }, { "help", CMD_HELP }, { "quit", CMD_QUIT },
    };
    const char *spaces = " \t\r\n";
    size_t word_len, arg_len;
    const char *arg;
    memset(out, 0, sizeof *out);
    line += strspn(line, spaces);
    word_len = strcspn(line, spaces);
    arg = line + word_len;
    arg += strspn(arg, spaces);
    arg_len = strlen(arg);
    while (arg_len > 0 && strchr(spaces, arg[arg_len - 1]))
        arg_len--;
    if (word_len == 0)
        return 0; /* CMD_EMPTY */
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == word_len && strncmp(line, words[i].word, word_len) == 0)
            out->name = words[i].name;
    if (out->name == CMD_EMPTY) {
        snprintf(out->text, sizeof out->text, "unknown command '%.*s' (try help)",
                 word_len > 32 ? 32 : (int)word_len, line);
        return -1;
    }
    if (arg_len >= sizeof out->text) {
        snprintf(out->text, sizeof out->text, "argument too long (at most %zu characters)",
                 sizeof out->text - 1);
        return -1;
    }
    memcpy(out->text, arg, arg_len);
    out->text[arg_len] = '\0';
    switch (out->name) {
    case CMD_SEND:
        if (arg_len == 0) {
            snprintf(out->text, sizeof out->text, "send needs a value: send VALUE (or send None)");
            return -1;
        } else {
            char *end;
            errno = 0;
            out->number = strtod(out->text, &end);
            out->is_number = *end == '\0' && errno == 0 && isfinite(out->number);
            out->is_none = strcmp(out->text, "None") == 0;
        }
        return 0;
    case CMD_THROW:
        if (arg_len == 0 || strcmp(out->text, "stop") == 0) {
            out->thrown = GEN_STOP;
        } else if (strcmp(out->text, "error") == 0) {
            out->thrown = BLABLA_ERROR;
        } else {
            snprintf(out->text, sizeof out->text,
                     "throw takes nothing (StopIteration) or 'error' (BlaBlaException)");
            return -1;
        }
        return 0;
    case CMD_USE:
        if (strcmp(out->text, "average") == 0) {
            out->coroutine = AVERAGE;
        } else if (strcmp(out->text, "subgen") == 0) {
            out->coroutine = SUBGEN;
        } else {
            snprintf(out->text, sizeof out->text, "use average or use subgen");
            return -1;
        }
        return 0;
    default:
        if (arg_len > 0) {
            snprintf(out->text, sizeof out->text, "%.*s takes no argument", (int)word_len, line);
            return -1;
        }
        return 0;
    }
}

/* The lesson's round(summ / count, 2) as Python prints a float (its repr):
 * rounded to two decimals, then the fewest digits that read back as the same
 * double, a whole number keeping its ".0" (4.0, 4.5, 4.33). */
static void print_number(double x)
{
    char buf[400]; /* %.2f of the largest double: 309 digits */
    double size;
    int exponent;
    snprintf(buf, sizeof buf, "%.2f", x);
    x = strtod(buf, NULL); /* round(x, 2) */
    size = x < 0 ? -x : x;
    exponent = size != 0 && (size >= 1e16 || size < 1e-4); /* where Python writes 1e+16 */
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, exponent ? "%.*g" : "%.*f", exponent ? digits : digits - 1, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    printf(strpbrk(buf, ".en") ? "%s\n" : "%s.0\n", buf); /* n: nan and inf */
}

/* What a yielded value looks like in the REPL: average's numbers, subgen's text. */
static void print_value(const void *value)
{
    if (!value)
        printf("None\n");
    else if (current == AVERAGE)
        print_number(*(const double *)value);
    else
        printf("'%s'\n", (const char *)value);
}

/* Makes name the coroutine being played with, a new one. */
static void use(enum coroutine_name name)
{
    if (current != NO_COROUTINE)
        gen_close(current_gen()); /* as Python does when it frees the old one */
    current = name;
    if (current == AVERAGE) {
        average = (struct average){ .count = 0 };
        gen_init(&average.gen, average_body);
        coro_start(&average.gen); /* the lesson's @coroutine decorator */
    } else {
        gen_init(&subgen, subgen_body);
    }
}

/* One line for what send, next or throw did. */
static void print_result(int result, int was_closed)
{
    struct gen *g = current_gen();
    if (result == GEN_YIELDED) {
        print_value(g->yielded);
    } else if (result == GEN_RAISED) {
        printf("%s\n", error_text(g->error));
    } else if (was_closed) {
        printf("StopIteration\n"); /* it had finished already: nothing ran */
    } else {
        printf("returned ");      /* StopIteration.value */
        print_value(g->returned);
    }
}

/* Runs one command; returns 0 to quit. */
static int run_command(struct command *cmd)
{
    int was_closed;
    if (cmd->name == CMD_HELP) {
        printf("%s\n", HELP);
        return 1;
    }
    if (cmd->name == CMD_QUIT)
        return 0;
    if (cmd->name == CMD_USE) {
        use(cmd->coroutine);
        if (current == AVERAGE)
            printf("average() started with coro_start: %s, ready for numbers\n",
                   gen_state_name(gen_state(&average.gen)));
        else
            printf("subgen() created, not started: %s\n", gen_state_name(gen_state(&subgen)));
        return 1;
    }
    was_closed = gen_state(current_gen()) == GEN_CLOSED;
    switch (cmd->name) {
    case CMD_SEND:
        if (cmd->is_none)
            print_result(gen_send(current_gen(), NULL), was_closed);
        else if (current == SUBGEN)
            print_result(gen_send(current_gen(), cmd->text), was_closed);
        else if (cmd->is_number)
            print_result(gen_send(current_gen(), &cmd->number), was_closed);
        else
            printf("error: not a number: %s\n", cmd->text);
        break;
    case CMD_NEXT:
        print_result(gen_send(current_gen(), NULL), was_closed);
        break;
    case CMD_THROW:
        print_result(gen_throw(current_gen(), cmd->thrown), was_closed);
        break;
    case CMD_CLOSE: {
        int err = gen_close(current_gen());
        printf("%s\n", err ? error_text(err) : "closed");
        break;
    }
    default: /* CMD_STATE */
        printf("%s\n", gen_state_name(gen_state(current_gen())));
        break;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* no options: the demo always does the same */
        int help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
        if (!help)
            fprintf(stderr, "%s: takes no arguments: %s\n", argv[0], argv[1]);
        fprintf(help ? stdout : stderr, "usage: %s\n  %s\n", argv[0], "reads commands on stdin (send 4, throw, state, help, ...)");
        return help ? 0 : 2;
    }
    int interactive = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t size = 0;
    use(AVERAGE); /* the lesson's first coroutine, primed: send it numbers */
    if (interactive)
        printf("average() is ready for numbers: send 4, send 5, throw, state, help\n");
    for (;;) {
        struct command cmd;
        if (interactive) {
            printf("> ");
            fflush(stdout);
        }
        if (getline(&line, &size, stdin) < 0)
            break;
        if (parse_command(line, &cmd) < 0)
            printf("error: %s\n", cmd.text);
        else if (cmd.name != CMD_EMPTY && !run_command(&cmd))
            break;
        fflush(stdout);
    }
    if (interactive && feof(stdin))
        printf("\n");
    free(line);
    return 0;
}
