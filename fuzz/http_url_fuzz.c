/* http_url_fuzz.c - libFuzzer harness for URLs, redirects and file names:
 * input is "URL\nLocation"; every result must keep the documented rules. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static void check_url(const http_url *url)
{
    size_t host_len = strlen(url->host);
    if (host_len == 0 || host_len > HTTP_HOST_MAX || strlen(url->path) > HTTP_PATH_MAX ||
        url->path[0] != '/' || url->port < 1 || url->port > 65535)
        abort();
    /* A path is ready for a request line: printable ASCII, no fragment. */
    for (const char *p = url->path; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
            abort();
}

static void check_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > HTTP_NAME_MAX || name[0] == '.' || strpbrk(name, "/\\"))
        abort();
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Two NUL-terminated strings, cut at the first newline. */
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *location = strchr(text, '\n');
    if (location != NULL)
        *location++ = '\0';
    else
        location = text + size;

    http_url url, next;
    if (http_url_parse(&url, text) == NULL)
        check_url(&url);
    else if (http_url_parse(&url, "http://example.com/dir/page?q=1") != NULL)
        abort();
    if (http_url_resolve(&next, &url, location) == NULL)
        check_url(&next);

    char name[HTTP_NAME_MAX + 1], numbered[HTTP_NAME_MAX + 1];
    http_safe_name(name, location, size);
    check_name(name);
    http_numbered_name(numbered, name, (unsigned)size * 2654435761U);
    if (strlen(numbered) > HTTP_NAME_MAX || strchr(numbered, '-') == NULL)
        abort();
    unsigned w, h;
    http_route_size(text, 4096, &w, &h);
    free(text);
    return 0;
}
