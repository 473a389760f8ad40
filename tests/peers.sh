#!/bin/sh
# Some tests talk to real programs nobody here wrote (nc, curl, python3's
# http.server). On Debian/Ubuntu, installs the missing ones when run as root;
# elsewhere names them, and those tests fail saying what is missing.
missing=""
command -v nc >/dev/null 2>&1 || missing="$missing netcat-openbsd"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing test peers:$missing" >&2
    { apt-get install -y -qq $missing || { apt-get update -qq && apt-get install -y -qq $missing; }; } >/dev/null 2>&1
else
    echo "tests need:$missing (install them to run every test)" >&2
fi
exit 0
