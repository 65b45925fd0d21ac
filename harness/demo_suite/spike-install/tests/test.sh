#!/bin/bash
# Verifier: exit 0 if the work product in the working directory is right, else 1.
cd "${HARNESS_WORKDIR:-$PWD}"
fail() { echo "FAIL: $*"; exit 1; }
num() { case "$1" in ""|*[!0-9]*) fail "$2: not a number: $1";; esac; }
test -f result.txt || fail "no result.txt (the install did not finish)"
line=$(grep "^sum " result.txt) || fail "result.txt has no build line"
n=${line#*n=}; n=${n%% *}; total=${line##*total=}
num "$n" n; num "$total" total
[ "$total" = "$(( n * (n + 1) / 2 ))" ] || fail "sum 1..$n is not $total"
echo PASS
