#!/bin/bash
# Verifier: exit 0 if the work product in the working directory is right, else 1.
cd "${HARNESS_WORKDIR:-$PWD}"
fail() { echo "FAIL: $*"; exit 1; }
num() { case "$1" in ""|*[!0-9]*) fail "$2: not a number: $1";; esac; }
test -f deadline.txt || fail "no deadline.txt"
grep -q "^status=done " deadline.txt || fail "deadline missed: $(cat deadline.txt)"
echo PASS
