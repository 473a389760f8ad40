/* Every program says at its top how to build it alone, from inside its folder
 * ("Build alone: cc ..."). This test runs each of those lines in a copy of the
 * folder and checks that it builds, without a single warning. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* The command after "Build alone: " in the first lines of path, or 0. */
static int build_line(const char *path, char *out, size_t size)
{
    char line[512];
    int found = 0;
    FILE *f = fopen(path, "r");
    for (int i = 0; f && !found && i < 6 && fgets(line, sizeof line, f); i++) {
        char *cmd = strstr(line, "Build alone: ");
        if (cmd) {
            cmd += strlen("Build alone: ");
            cmd[strcspn(cmd, "*\n")] = '\0'; /* up to the comment's end */
            snprintf(out, size, "%s", cmd);
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void test_every_build_line_works(void **state)
{
    const char *steps[] = { "1_intro", "2_select", "3_selectors_callbacks", "4_generators", "5_coroutines",
                            "6_async_await" };
    int programs = 0;
    (void)state;
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        DIR *dir = opendir(steps[s]);
        struct dirent *e;
        assert_non_null(dir);
        while ((e = readdir(dir))) {
            char path[300], cmd[512], script[1400], out[4096];
            const char *args[] = { "-c", script, NULL };
            size_t len = strlen(e->d_name);
            if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", steps[s], e->d_name);
            if (!build_line(path, cmd, sizeof cmd))
                continue;
            snprintf(script, sizeof script,
                     "rm -rf build/alone && mkdir -p build/alone && cp -R %s build/alone/ && cd build/alone/%s && %s",
                     steps[s], steps[s], cmd);
            if (run_program("/bin/sh", args, out, sizeof out) != 0 || out[0] != '\0')
                fail_msg("%s: `%s` printed:\n%s", path, cmd, out);
            programs++;
        }
        closedir(dir);
    }
    assert_true(programs >= 12); /* every program of the six steps */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_build_line_works),
    };
    return cmocka_run_group_tests_name("build alone", tests, NULL, NULL);
}
