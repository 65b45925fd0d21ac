#!/bin/bash
set -e
# Harbor runs this in the image's WORKDIR, with /tests not yet copied in.
if [ -e /tests ]; then echo present; else echo absent; fi > /logs/agent/tests-during-agent.txt
echo "pwd=$PWD" >> /logs/agent/tests-during-agent.txt
cat /app/data.txt /app/installed.txt > /app/answer.txt
