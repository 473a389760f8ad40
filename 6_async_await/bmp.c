/* bmp.c - draws a deterministic landscape (sky, sun, two mountain ranges)
 * for an image id and serves any byte range of it as a 24-bit BMP file. */
#define _POSIX_C_SOURCE 200809L

#include "bmp.h"

#include <string.h>

enum { SKY_TOP, SKY_BOTTOM, SUN, FAR_HILLS, NEAR_HILLS };

/* Hand-picked colour sets (RGB) so every picture looks good. */
static const unsigned char palettes[][5][3] = {
    {{40, 60, 130}, {250, 160, 110}, {255, 230, 140}, {120, 80, 130}, {60, 40, 80}},
    {{90, 160, 230}, {200, 230, 250}, {255, 245, 200}, {110, 150, 170}, {60, 120, 80}},
    {{10, 15, 40}, {50, 60, 110}, {230, 230, 210}, {40, 45, 80}, {20, 25, 45}},
    {{240, 180, 110}, {255, 225, 170}, {255, 250, 235}, {200, 130, 80}, {150, 85, 50}},
    {{150, 210, 200}, {250, 240, 210}, {255, 200, 120}, {110, 170, 150}, {50, 110, 100}},
    {{110, 70, 140}, {255, 180, 190}, {255, 240, 220}, {150, 90, 140}, {90, 50, 100}},
};

/* A wave of peaks along x: a triangle wave with a second, shorter one on
 * top, so ridges do not look machine-made. */
typedef struct {
    unsigned base, height, period, phase;
} ridge;

typedef struct {
    unsigned h;
    const unsigned char (*colour)[3];
    long sun_x, sun_y, sun_r;
    ridge far, near;
} scene;

/* A good 32-bit integer hash (Chris Wellons' "lowbias32"). */
static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* The next pseudo-random number in lo..hi from the sequence in *seed. */
static unsigned pick(uint32_t *seed, unsigned lo, unsigned hi)
{
    *seed = mix(*seed + 0x9e3779b9U);
    return lo + *seed % (hi - lo + 1);
}

static unsigned triangle(unsigned x, unsigned period, unsigned height)
{
    unsigned t = x % period, half = period / 2;
    return height * (t <= half ? t : period - t) / half;  /* 0..height */
}

/* The y coordinate (0 = top) of the ridge line above column x. */
static unsigned ridge_top(const ridge *r, unsigned x)
{
    unsigned big = triangle(x + r->phase, r->period, r->height);
    unsigned small = triangle(x + r->phase / 3, r->period / 3 + 2, r->height / 4);
    return r->base - big - small;
}

static scene make_scene(unsigned w, unsigned h, uint32_t id)
{
    uint32_t seed = id;
    unsigned side = w < h ? w : h;
    scene s = {.h = h};
    s.colour = palettes[pick(&seed, 0, sizeof palettes / sizeof palettes[0] - 1)];
    s.sun_x = (long)(w * pick(&seed, 15, 85) / 100);
    s.sun_y = (long)(h * pick(&seed, 10, 40) / 100);
    s.sun_r = (long)(side * pick(&seed, 6, 14) / 100 + 1);
    s.far = (ridge){h * pick(&seed, 55, 65) / 100, h * pick(&seed, 10, 25) / 100,
                    w * pick(&seed, 30, 90) / 100 + 2, pick(&seed, 0, w)};
    s.near = (ridge){h * pick(&seed, 80, 90) / 100, h * pick(&seed, 5, 12) / 100,
                     w * pick(&seed, 40, 120) / 100 + 2, pick(&seed, 0, w)};
    return s;
}

/* One row of pixels, y = 0 being the top row, in BMP's B, G, R order.
 * near_top[x] and far_top[x] are the ridge lines, worked out once per call
 * (a row at a time, not a pixel at a time: an image server draws a 320 x 240
 * picture in a fraction of a millisecond). */
static void draw_row(const scene *s, unsigned w, unsigned y, const unsigned short *near_top,
                     const unsigned short *far_top, unsigned char *out)
{
    long dy = (long)y - s->sun_y, r2 = s->sun_r * s->sun_r;
    int sky[3];
    for (int c = 0; c < 3; c++) {
        int top = s->colour[SKY_TOP][c], bottom = s->colour[SKY_BOTTOM][c];
        sky[c] = top + (bottom - top) * (int)y / (int)s->h;
    }
    for (unsigned x = 0; x < w; x++, out += 3) {
        long dx = (long)x - s->sun_x, d2 = dx * dx + dy * dy;
        const unsigned char *solid = NULL; /* front to back: what covers (x, y)? */
        if (y >= near_top[x])
            solid = s->colour[NEAR_HILLS];
        else if (y >= far_top[x])
            solid = s->colour[FAR_HILLS];
        else if (d2 <= r2)
            solid = s->colour[SUN];
        for (int c = 0; c < 3; c++) {
            int v = sky[c];
            if (solid != NULL)
                v = solid[c];
            else if (d2 < 3 * r2) /* a glow around the sun, fading outwards */
                v += (int)((s->colour[SUN][c] - v) * (3 * r2 - d2) / (4 * r2));
            out[2 - c] = (unsigned char)v;
        }
    }
}

static size_t row_size(unsigned w)
{
    return ((size_t)w * 3 + 3) / 4 * 4;
}

size_t bmp_size(unsigned w, unsigned h)
{
    if (w < 1 || w > BMP_MAX_SIDE || h < 1 || h > BMP_MAX_SIDE)
        return 0;
    return BMP_HEADER_SIZE + row_size(w) * h;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));  /* little-endian */
}

static void make_header(unsigned w, unsigned h, unsigned char header[BMP_HEADER_SIZE])
{
    memset(header, 0, BMP_HEADER_SIZE);
    header[0] = 'B';
    header[1] = 'M';
    put32(header + 2, (uint32_t)bmp_size(w, h));
    put32(header + 10, BMP_HEADER_SIZE);            /* where the pixels start */
    put32(header + 14, 40);                         /* BITMAPINFOHEADER size */
    put32(header + 18, w);
    put32(header + 22, h);                          /* positive: bottom-up */
    header[26] = 1;                                 /* colour planes */
    header[28] = 24;                                /* bits per pixel */
    put32(header + 34, (uint32_t)(row_size(w) * h)); /* pixel bytes */
    put32(header + 38, 2835);                       /* 72 DPI, in pixels/metre */
    put32(header + 42, 2835);
}

size_t bmp_read(unsigned w, unsigned h, uint32_t id, size_t offset,
                unsigned char *buf, size_t len)
{
    size_t size = bmp_size(w, h), row_bytes = row_size(w), done = 0;
    unsigned char header[BMP_HEADER_SIZE], line[BMP_MAX_SIDE * 3 + 3];
    unsigned short near_top[BMP_MAX_SIDE], far_top[BMP_MAX_SIDE];
    scene s;
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = size - offset;
    if (offset < BMP_HEADER_SIZE) {
        make_header(w, h, header);
        done = BMP_HEADER_SIZE - offset < len ? BMP_HEADER_SIZE - offset : len;
        memcpy(buf, header + offset, done);
    }
    if (done == len)
        return len;
    s = make_scene(w, h, id);
    for (unsigned x = 0; x < w; x++) {
        near_top[x] = (unsigned short)ridge_top(&s.near, x);
        far_top[x] = (unsigned short)ridge_top(&s.far, x);
    }
    memset(line, 0, sizeof line); /* the padding at the end of each row */
    while (done < len) {
        size_t pos = offset + done - BMP_HEADER_SIZE;
        size_t row = pos / row_bytes, col = pos % row_bytes;
        size_t n = row_bytes - col < len - done ? row_bytes - col : len - done;
        /* Rows are stored bottom-up. */
        draw_row(&s, w, h - 1 - (unsigned)row, near_top, far_top, line);
        memcpy(buf + done, line + col, n);
        done += n;
    }
    return len;
}
