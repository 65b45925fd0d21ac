#!/bin/bash
if [ -e /tests/test.sh ]; then echo present; else echo absent; fi > /logs/verifier/tests-during-verifier.txt
if [ "$(cat /app/answer.txt 2>/dev/null)" = "$(printf 'fixture data\ninstalled')" ]; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
echo "${FIXTURE_ENV:-unset} ${FIXTURE_VERIFIER:-unset}" > /logs/verifier/env.txt
