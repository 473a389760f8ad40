#!/bin/sh
# Prints the compiler flags for cmocka. Uses the system's cmocka when there is
# one; on Debian/Ubuntu without it, unpacks Debian's package into build/cmocka
# (nothing is installed on the system); elsewhere says what to install.
set -e
cc=${CC:-cc}
local=build/cmocka
has_header() {
    echo '#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>' | $cc "$@" -E -x c - >/dev/null 2>&1
}
if has_header; then
    echo "-lcmocka"
    exit 0
fi
lib=$(ls -d "$local"/usr/lib/*/ 2>/dev/null | head -n 1)
if [ ! -f "$local/usr/include/cmocka.h" ] || [ -z "$lib" ]; then
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        echo "cmocka is missing: install it (Debian/Ubuntu: libcmocka-dev, Fedora: libcmocka-devel, macOS: brew install cmocka)" >&2
        exit 1
    fi
    echo "cmocka is missing: unpacking Debian's libcmocka-dev into $local" >&2
    rm -rf "$local" && mkdir -p "$local/debs"
    fetch() { (cd "$local/debs" && apt-get download libcmocka0 libcmocka-dev >/dev/null 2>&1); }
    # A fresh machine may have no package lists yet; as root, fetch them once.
    if ! fetch; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >/dev/null 2>&1 || true
        fi
        fetch || { echo "cannot download cmocka: run 'apt-get update' or install libcmocka-dev" >&2; exit 1; }
    fi
    for deb in "$local"/debs/*.deb; do dpkg-deb -x "$deb" "$local"; done
    lib=$(ls -d "$local"/usr/lib/*/ | head -n 1)
fi
lib=${lib%/}
echo "-isystem $local/usr/include -L$lib -Wl,-rpath,$(pwd)/$lib -lcmocka"
