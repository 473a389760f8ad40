#!/bin/sh
# Runs each test command given (one argument each), prints its TAP output,
# and ends with one line: "N passed, M failed" (and ", K skipped" if any test
# was skipped, which counts as neither). A command that crashes or exits
# non-zero without reporting a failure counts as one failure.
passed=0
failed=0
skipped=0
mkdir -p build/logs
for cmd in "$@"; do
    log=build/logs/last-run.tap
    echo "# $cmd"
    CMOCKA_MESSAGE_OUTPUT=TAP $cmd >"$log" 2>&1
    status=$?
    cat "$log"
    ok=$(grep -c '^ok ' "$log")
    skip=$(grep -c '^not ok [0-9]* # SKIP' "$log")
    bad=$(($(grep -c '^not ok ' "$log") - skip))
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "not ok - $cmd exited with status $status"
        bad=1
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    skipped=$((skipped + skip))
done
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
