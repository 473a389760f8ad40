/* libFuzzer harness for the playground's command parser (5_coroutines/coroutines.c):
 * any line must parse, or give a terminated error message; never crash or read
 * past the line. The playground's main() is renamed out of the way. */
#define main playground_main
#include "coroutines.c"
#undef main

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    struct command cmd;
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0'; /* getline() hands over a NUL-terminated line */
    if (parse_command(line, &cmd) < 0 || cmd.name == CMD_SEND) {
        if (!memchr(cmd.text, '\0', sizeof cmd.text))
            abort(); /* the message or the value must be a C string */
    }
    if (cmd.name == CMD_SEND && cmd.is_number && !isfinite(cmd.number))
        abort();
    free(line);
    return 0;
}
