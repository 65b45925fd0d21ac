#!/bin/bash
set -e
echo "served by the agent" > /app/index.html
# A daemon the verifier needs: it must outlive this script.
setsid nohup python3 -m http.server 8765 --bind 127.0.0.1 --directory /app >/dev/null 2>&1 < /dev/null &
for i in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/', timeout=1)" 2>/dev/null && exit 0
  sleep 0.2
done
echo "server did not come up" >&2
exit 1
