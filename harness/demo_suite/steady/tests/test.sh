#!/bin/bash
# Verifier: exit 0 if the work product in the working directory is right, else 1.
cd "${HARNESS_WORKDIR:-$PWD}"
fail() { echo "FAIL: $*"; exit 1; }
num() { case "$1" in ""|*[!0-9]*) fail "$2: not a number: $1";; esac; }
test -f squares.txt || fail "no squares.txt"
read -r n total < squares.txt || fail "squares.txt is empty"
num "$n" n; num "$total" total
[ "$total" = "$(( n * (n + 1) * (2 * n + 1) / 6 ))" ] || fail "sum of squares 1..$n is not $total"
echo PASS
