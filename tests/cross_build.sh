#!/bin/sh
# Builds every program for one zig target into build/cross/TARGET/ and says,
# as TAP, which built and for what kind of binary (the file's magic number).
# Usage: tests/cross_build.sh ZIG TARGET
set -u
zig=$1
target=$2
out=build/cross/$target
case $target in
*-macos) magic=cffaedfe kind="Mach-O 64-bit" ;; # MH_MAGIC_64, little-endian
*) magic=7f454c46 kind="ELF" ;;
esac
make -s --no-print-directory print-programs | while read -r program sources; do
    mkdir -p "$out/$(dirname "$program")"
    # shellcheck disable=SC2086
    if ! "$zig" cc -target "$target" -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 \
        -o "$out/$program" $sources >"$out/build.log" 2>&1; then
        echo "not ok - $target: $program does not build"
        sed 's/^/# /' "$out/build.log"
    elif [ "$(od -An -tx1 -N4 "$out/$program" | tr -d ' \n')" != "$magic" ]; then
        echo "not ok - $target: $program is not a $kind binary"
    else
        echo "ok - $target: $program builds ($kind)"
    fi
done
