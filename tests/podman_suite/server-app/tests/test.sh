#!/bin/bash
body=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8765/index.html', timeout=5).read().decode().strip())")
if [ "$body" = "served by the agent" ]; then echo 1; else echo 0; fi > /logs/verifier/reward.txt
