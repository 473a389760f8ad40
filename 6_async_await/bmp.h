/* bmp.h - generates the image server's pictures as 24-bit BMP files, any
 * byte range at a time, so a big image never has to sit in memory whole. */
#ifndef BMP_H
#define BMP_H

#include <stddef.h>
#include <stdint.h>

enum {
    BMP_HEADER_SIZE = 54,  /* BITMAPFILEHEADER (14) + BITMAPINFOHEADER (40) */
    BMP_MAX_SIDE = 4096,   /* largest width or height: files up to ~48 MiB */
};

/* Size in bytes of the BMP file for a w x h image: the header, then rows of
 * 3 bytes per pixel padded to a multiple of 4, bottom row first.
 * Returns 0 unless 1 <= w, h <= BMP_MAX_SIDE. */
size_t bmp_size(unsigned w, unsigned h);

/* Writes bytes [offset, offset + len) of the w x h picture for id into buf,
 * stopping at the end of the file. Returns the number of bytes written (0
 * if offset is past the end or the size is invalid). The picture, a little
 * landscape, depends only on w, h and id. */
size_t bmp_read(unsigned w, unsigned h, uint32_t id, size_t offset,
                unsigned char *buf, size_t len);

#endif
