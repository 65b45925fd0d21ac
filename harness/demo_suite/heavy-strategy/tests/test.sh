#!/bin/bash
# Verifier: exit 0 if the work product in the working directory is right, else 1.
cd "${HARNESS_WORKDIR:-$PWD}"
fail() { echo "FAIL: $*"; exit 1; }
num() { case "$1" in ""|*[!0-9]*) fail "$2: not a number: $1";; esac; }
test -f answer.txt || fail "no answer.txt"
read -r n count < answer.txt || fail "answer.txt is empty"
num "$n" n; num "$count" count
case "$n" in
  44000000) want=2661384;; 45000000) want=2718160;; 46000000) want=2775053;;
  47000000) want=2831693;; 48000000) want=2888144;; 49000000) want=2944531;;
  50000000) want=3001134;; 51000000) want=3057494;;
  *) fail "n=$n is not one of the problem sizes";;
esac
[ "$count" = "$want" ] || fail "primes below $n: $count, expected $want"
echo PASS
