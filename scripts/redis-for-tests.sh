#!/usr/bin/env sh
# Start a throw-away redis-server (no persistence) for the backend tests and print the
# environment line to use it:   eval "$(scripts/redis-for-tests.sh 6390)"
# Stop it with:                  kill "$MFBOOK_TEST_REDIS_PID"
set -eu
port="${1:-6390}"
command -v redis-server >/dev/null 2>&1 || {
    echo "redis-server not found (Debian/Ubuntu: apt-get install -y redis-server)" >&2
    exit 1
}
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
pid=$!
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "redis-server did not start on port $port" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done
echo "export MFBOOK_TEST_REDIS_URL=redis://127.0.0.1:$port/0 MFBOOK_TEST_REDIS_PID=$pid"
