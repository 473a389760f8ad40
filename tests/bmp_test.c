/* bmp_test.c - unit tests for the BMP generator: header fields, row
 * padding, byte ranges and that pictures depend on the id (and only on it). */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bmp.h"

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The whole file in an exactly-sized buffer, so ASan sees any overrun. */
static unsigned char *whole_image(unsigned w, unsigned h, uint32_t id)
{
    size_t size = bmp_size(w, h);
    unsigned char *image = malloc(size);
    assert_non_null(image);
    assert_int_equal(bmp_read(w, h, id, 0, image, size), size);
    return image;
}

static void test_size(void **state)
{
    (void)state;
    /* Rows of 3, 6, 9, 12, 15 bytes are padded to 4, 8, 12, 12, 16. */
    assert_int_equal(bmp_size(1, 1), 54 + 4);
    assert_int_equal(bmp_size(2, 1), 54 + 8);
    assert_int_equal(bmp_size(3, 1), 54 + 12);
    assert_int_equal(bmp_size(4, 1), 54 + 12);
    assert_int_equal(bmp_size(5, 1), 54 + 16);
    assert_int_equal(bmp_size(5, 3), 54 + 16 * 3);
    assert_int_equal(bmp_size(320, 240), 54 + 960 * 240);
    assert_int_equal(bmp_size(BMP_MAX_SIDE, BMP_MAX_SIDE), 54 + 4096 * 3 * 4096);
}

static void test_invalid_sizes(void **state)
{
    (void)state;
    unsigned char buf[64] = {0};
    assert_int_equal(bmp_size(0, 1), 0);
    assert_int_equal(bmp_size(1, 0), 0);
    assert_int_equal(bmp_size(BMP_MAX_SIDE + 1, 1), 0);
    assert_int_equal(bmp_size(1, BMP_MAX_SIDE + 1), 0);
    assert_int_equal(bmp_read(0, 5, 1, 0, buf, sizeof buf), 0);
    assert_int_equal(bmp_read(5, BMP_MAX_SIDE + 1, 1, 0, buf, sizeof buf), 0);
}

static void test_header_fields(void **state)
{
    (void)state;
    unsigned char *image = whole_image(5, 3, 42);
    assert_memory_equal(image, "BM", 2);
    assert_int_equal(le32(image + 2), 54 + 16 * 3);   /* file size */
    assert_int_equal(le32(image + 6), 0);             /* reserved */
    assert_int_equal(le32(image + 10), 54);           /* pixel offset */
    assert_int_equal(le32(image + 14), 40);           /* info header size */
    assert_int_equal(le32(image + 18), 5);            /* width */
    assert_int_equal(le32(image + 22), 3);            /* height: bottom-up */
    assert_int_equal(le16(image + 26), 1);            /* planes */
    assert_int_equal(le16(image + 28), 24);           /* bits per pixel */
    assert_int_equal(le32(image + 30), 0);            /* no compression */
    assert_int_equal(le32(image + 34), 16 * 3);       /* pixel bytes */
    free(image);

    unsigned char header[BMP_HEADER_SIZE];
    assert_int_equal(bmp_read(4096, 4096, 7, 0, header, sizeof header), sizeof header);
    assert_int_equal(le32(header + 2), 54 + 12288 * 4096);
    assert_int_equal(le32(header + 18), 4096);
    assert_int_equal(le32(header + 22), 4096);
    assert_int_equal(le32(header + 34), 12288 * 4096);
}

static void test_row_padding(void **state)
{
    (void)state;
    for (unsigned w = 1; w <= 5; w++) {
        unsigned h = 4;
        size_t row = bmp_size(w, 1) - 54;
        assert_int_equal(row % 4, 0);
        assert_true(row >= 3 * w && row < 3 * w + 4);
        unsigned char *image = whole_image(w, h, w);
        for (unsigned y = 0; y < h; y++)
            for (size_t i = 3 * w; i < row; i++)
                assert_int_equal(image[54 + y * row + i], 0);
        free(image);
    }
}

static void test_ranges_match_whole_image(void **state)
{
    (void)state;
    static const unsigned sizes[][2] = {{1, 1}, {5, 3}, {7, 4}, {64, 48}};
    static const size_t lengths[] = {1, 2, 3, 5, 54, 100, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        unsigned w = sizes[s][0], h = sizes[s][1];
        size_t size = bmp_size(w, h);
        unsigned char *image = whole_image(w, h, 99);
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            for (size_t offset = 0; offset < size; offset++) {
                size_t len = lengths[l];
                unsigned char *part = malloc(len);
                assert_non_null(part);
                size_t expect = len < size - offset ? len : size - offset;
                assert_int_equal(bmp_read(w, h, 99, offset, part, len), expect);
                assert_memory_equal(part, image + offset, expect);
                free(part);
            }
        }
        unsigned char byte;
        assert_int_equal(bmp_read(w, h, 99, size, &byte, 1), 0);
        assert_int_equal(bmp_read(w, h, 99, size + 1000, &byte, 1), 0);
        free(image);
    }
}

/* The last bytes of the biggest image, without building all 48 MiB. */
static void test_end_of_largest_image(void **state)
{
    (void)state;
    size_t size = bmp_size(BMP_MAX_SIDE, BMP_MAX_SIDE);
    unsigned char tail[10], again[10];
    assert_int_equal(bmp_read(BMP_MAX_SIDE, BMP_MAX_SIDE, 3, size - 7, tail, sizeof tail), 7);
    assert_int_equal(bmp_read(BMP_MAX_SIDE, BMP_MAX_SIDE, 3, size - 7, again, sizeof again), 7);
    assert_memory_equal(tail, again, 7);
}

static void test_same_id_same_pixels(void **state)
{
    (void)state;
    unsigned char *a = whole_image(40, 30, 12345);
    unsigned char *b = whole_image(40, 30, 12345);
    assert_memory_equal(a, b, bmp_size(40, 30));
    free(a);
    free(b);
}

static void test_different_ids_differ(void **state)
{
    (void)state;
    enum { IDS = 16, W = 40, H = 30 };
    size_t size = bmp_size(W, H);
    unsigned char *images[IDS];
    for (uint32_t id = 0; id < IDS; id++)
        images[id] = whole_image(W, H, id);
    for (int i = 0; i < IDS; i++)
        for (int j = i + 1; j < IDS; j++)
            if (memcmp(images[i] + 54, images[j] + 54, size - 54) == 0)
                fail_msg("ids %d and %d give the same picture", i, j);
    for (int i = 0; i < IDS; i++)
        free(images[i]);
}

/* BMP rows go bottom-up: the first row in the file is the bottom of the
 * picture, which the near hills cover in one colour (the top is sky, where
 * the sun and its glow often reach). */
static void test_bottom_row_comes_first(void **state)
{
    (void)state;
    enum { W = 40, H = 30 };
    size_t row = bmp_size(W, 1) - 54;
    int tops_uniform = 0;
    for (uint32_t id = 0; id < 32; id++) {
        unsigned char *image = whole_image(W, H, id);
        const unsigned char *bottom = image + 54, *top = image + 54 + (H - 1) * row;
        bool top_uniform = true;
        for (size_t x = 1; x < W; x++) {
            if (memcmp(bottom + 3 * x, bottom, 3) != 0)
                fail_msg("id %u: bottom row is not uniform", (unsigned)id);
            top_uniform &= memcmp(top + 3 * x, top, 3) == 0;
        }
        tops_uniform += top_uniform;
        free(image);
    }
    assert_true(tops_uniform < 32);
}

/* A picture, not noise and not a blank: many pixels share a colour (sky,
 * hills), yet it has several distinct colours. */
static void test_picture_has_structure(void **state)
{
    (void)state;
    unsigned char *image = whole_image(64, 48, 5);
    size_t row = bmp_size(64, 1) - 54;
    size_t distinct = 0, same_as_left = 0;
    for (size_t y = 0; y < 48; y++) {
        for (size_t x = 0; x < 64; x++) {
            const unsigned char *p = image + 54 + y * row + 3 * x;
            if (x > 0 && memcmp(p, p - 3, 3) == 0)
                same_as_left++;
            bool seen = false;
            for (size_t i = 0; i < y * 64 + x && !seen; i++)
                seen = memcmp(p, image + 54 + (i / 64) * row + 3 * (i % 64), 3) == 0;
            distinct += !seen;
        }
    }
    assert_true(same_as_left > 48 * 63 / 2);
    assert_true(distinct >= 5);
    free(image);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_invalid_sizes),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_row_padding),
        cmocka_unit_test(test_ranges_match_whole_image),
        cmocka_unit_test(test_end_of_largest_image),
        cmocka_unit_test(test_same_id_same_pixels),
        cmocka_unit_test(test_different_ids_differ),
        cmocka_unit_test(test_bottom_row_comes_first),
        cmocka_unit_test(test_picture_has_structure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
