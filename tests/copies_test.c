/* Each step stands alone, so some files are copied from an earlier step. The
 * copies must stay byte-identical, or a reader's `diff` would lie: this test
 * compares each copy with its original. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated, with its size; fails the test if unreadable. */
static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, got;
    char chunk[4096];
    if (!f) {
        fprintf(stderr, "# cannot read %s\n", path);
        fail();
    }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf = realloc(buf, n + got + 1);
        assert_non_null(buf);
        memcpy(buf + n, chunk, got);
        n += got;
    }
    fclose(f);
    *size = n;
    return buf;
}

static void assert_same_file(const char *original, const char *copy)
{
    size_t a_size, b_size;
    char *a = slurp(original, &a_size), *b = slurp(copy, &b_size);
    if (a_size != b_size || memcmp(a, b, a_size) != 0) {
        fprintf(stderr, "# %s differs from %s: copy it again (cp %s %s)\n", copy, original, original, copy);
        fail();
    }
    free(a);
    free(b);
}

static const char *const selector_files[] = { "selector.h", "selector.c", "selector_epoll.c", "selector_kqueue.c",
                                              "selector_poll.c" };

static void assert_copies(const char *from, const char *to, const char *const *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "%s/%s", from, files[i]);
        snprintf(b, sizeof b, "%s/%s", to, files[i]);
        assert_same_file(a, b);
    }
}

static void test_selector_copied_unchanged(void **state)
{
    const char *steps[] = { "4_generators", "5_coroutines", "6_async_await" };
    (void)state;
    for (size_t i = 0; i < 3; i++)
        assert_copies("3_selectors_callbacks", steps[i], selector_files, 5);
}

/* The servers' plumbing, written once in step 1 and used by steps 1 to 5. */
static void test_net_copied_unchanged(void **state)
{
    const char *const files[] = { "net.h", "net.c" };
    const char *steps[] = { "2_select", "3_selectors_callbacks", "4_generators", "5_coroutines" };
    (void)state;
    for (size_t i = 0; i < 4; i++)
        assert_copies("1_intro", steps[i], files, 2);
}

static void test_coroutines_copied_unchanged(void **state)
{
    const char *const files[] = { "gen.h", "gen.c" };
    (void)state;
    assert_copies("5_coroutines", "6_async_await", files, 2);
}

/* Whatever two step folders share by name is the same file, except server.c
 * (each step's lesson) and gen.c and gen.h, where step 4 keeps the smaller
 * original that step 5 extends. */
static void test_same_name_same_bytes(void **state)
{
    const char *steps[] = { "1_intro", "2_select", "3_selectors_callbacks", "4_generators", "5_coroutines",
                            "6_async_await" };
    int compared = 0;
    (void)state;
    for (size_t a = 0; a < 6; a++) {
        DIR *dir = opendir(steps[a]);
        struct dirent *e;
        assert_non_null(dir);
        while ((e = readdir(dir))) {
            size_t len = strlen(e->d_name);
            int is_gen = strcmp(e->d_name, "gen.c") == 0 || strcmp(e->d_name, "gen.h") == 0;
            if (len < 3 || (strcmp(e->d_name + len - 2, ".c") != 0 && strcmp(e->d_name + len - 2, ".h") != 0) ||
                strcmp(e->d_name, "server.c") == 0)
                continue;
            for (size_t b = a + 1; b < 6; b++) {
                char original[300], copy[300];
                FILE *f;
                if (is_gen && a == 3) /* step 4's own gen.c and gen.h */
                    continue;
                snprintf(original, sizeof original, "%s/%s", steps[a], e->d_name);
                snprintf(copy, sizeof copy, "%s/%s", steps[b], e->d_name);
                f = fopen(copy, "rb");
                if (!f)
                    continue; /* not shared with step b */
                fclose(f);
                assert_same_file(original, copy);
                compared++;
            }
        }
        closedir(dir);
    }
    assert_true(compared >= 4 * 2 + 3 * 5 + 2); /* net.*, the selector, gen.* at least */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_copied_unchanged),
        cmocka_unit_test(test_coroutines_copied_unchanged),
        cmocka_unit_test(test_net_copied_unchanged),
        cmocka_unit_test(test_same_name_same_bytes),
    };
    return cmocka_run_group_tests_name("copies between steps", tests, NULL, NULL);
}
