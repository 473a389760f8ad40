/* check_images DIR W H - checks a folder of downloaded pictures byte for byte: each file must be named
 * <id>.bmp (or <id>-N.bmp, the downloader's name when <id>.bmp was taken) and hold what bmp_read() makes.
 * Build: cc -O2 -I6_async_await -o build/check_images bench/check_images.c 6_async_await/bmp.c */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmp.h"

/* Reads the decimal number at *s, digits only (no sign, no spaces), if it is at most max. */
static int parse_number(const char **s, unsigned long max, unsigned long *out)
{
    const char *p = *s;
    unsigned long n = 0;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned long digit = (unsigned long)(*p - '0');
        if (n > (max - digit) / 10)
            return 0;
        n = n * 10 + digit;
    }
    *s = p;
    *out = n;
    return 1;
}

/* Finds the id in a name "<id>.bmp" or "<id>-N.bmp"; 0 if the name is neither. */
static int id_of(const char *name, uint32_t *id)
{
    unsigned long n, copy;
    if (!parse_number(&name, UINT32_MAX, &n))
        return 0;
    if (*name == '-') {
        name++;
        if (!parse_number(&name, UINT_MAX, &copy))
            return 0;
    }
    *id = (uint32_t)n;
    return strcmp(name, ".bmp") == 0;
}

/* A side of the picture from the command line (1 to BMP_MAX_SIDE), or 0. */
static unsigned side_arg(const char *arg)
{
    unsigned long n;
    return parse_number(&arg, BMP_MAX_SIDE, &n) && *arg == '\0' ? (unsigned)n : 0;
}

/* Compares the file with the w x h picture for id, chunk by chunk so no picture sits in memory whole;
 * writes the first difference into why. */
static int same_bytes(FILE *f, unsigned w, unsigned h, uint32_t id, char *why, size_t why_size)
{
    static unsigned char got[65536], want[sizeof got];
    size_t size = bmp_size(w, h), offset = 0, got_n, want_n;
    while ((got_n = fread(got, 1, sizeof got, f)) > 0) {
        want_n = bmp_read(w, h, id, offset, want, got_n);
        for (size_t i = 0; i < want_n; i++) {
            if (got[i] != want[i]) {
                snprintf(why, why_size, "byte %zu is 0x%02x, expected 0x%02x", offset + i, got[i], want[i]);
                return 0;
            }
        }
        if (want_n < got_n) {
            snprintf(why, why_size, "longer than the %zu bytes expected", size);
            return 0;
        }
        offset += got_n;
    }
    if (ferror(f)) {
        snprintf(why, why_size, "cannot read: %s", strerror(errno));
        return 0;
    }
    if (offset < size) {
        snprintf(why, why_size, "%zu bytes, expected %zu", offset, size);
        return 0;
    }
    return 1;
}

/* Checks one file of the folder; 0, with the reason in why, if it is not the picture its name says. */
static int check_file(DIR *dir, const char *name, unsigned w, unsigned h, char *why, size_t why_size)
{
    uint32_t id;
    int fd, same;
    FILE *f;
    if (!id_of(name, &id)) {
        snprintf(why, why_size, "not named <id>.bmp or <id>-N.bmp");
        return 0;
    }
    if ((fd = openat(dirfd(dir), name, O_RDONLY)) < 0 || !(f = fdopen(fd, "rb"))) {
        snprintf(why, why_size, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    same = same_bytes(f, w, h, id, why, why_size);
    fclose(f);
    return same;
}

int main(int argc, char **argv)
{
    const char *dir_name = argc > 1 ? argv[1] : "";
    unsigned w = argc > 2 ? side_arg(argv[2]) : 0, h = argc > 3 ? side_arg(argv[3]) : 0;
    size_t files = 0;
    char why[128];
    struct dirent *entry;
    int read_error;
    DIR *dir;
    if (argc != 4 || w == 0 || h == 0) {
        fprintf(stderr, "usage: check_images DIR W H  (W, H: 1 to %d pixels)\n", BMP_MAX_SIDE);
        return 2;
    }
    if (!(dir = opendir(dir_name))) {
        fprintf(stderr, "check_images: cannot open %s: %s\n", dir_name, strerror(errno));
        return 1;
    }
    while ((errno = 0, entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (!check_file(dir, entry->d_name, w, h, why, sizeof why))
            break; /* the first mismatch is enough to fail */
        files++;
    }
    read_error = errno;
    if (entry)
        printf("%s/%s: %s\n", dir_name, entry->d_name, why);
    else if (read_error)
        fprintf(stderr, "check_images: cannot read %s: %s\n", dir_name, strerror(read_error));
    else
        printf("%zu files, all byte-identical\n", files);
    closedir(dir);
    return entry || read_error ? 1 : 0;
}
