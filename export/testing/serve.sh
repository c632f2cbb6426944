# export/testing/serve.sh: sourced by the exporter's end-to-end shell tests
# (TMP is a scratch directory; steady_workload.py lies beside this file).
#
# serve LIB NAME [VAR=VALUE...]: starts python3 running steady_workload.py
# with LIB preloaded and XSMEM_HTTP=127.0.0.1:0 (plus the given variables),
# waits for the line in which it names its port (port 0: the exporter picks a
# free one, so tests running at once never collide) and sets SERVED_PID and
# SERVED_PORT. Returns 1, saying why, when no port is named within 15 s.
SERVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
serve() {
  local lib=$1 name=$2
  shift 2
  local err="$TMP/$name.err"
  env "$@" LD_PRELOAD="$lib" XSMEM_HTTP=127.0.0.1:0 /usr/bin/python3 "$SERVE_DIR/steady_workload.py" 120 \
    2>"$err" &
  SERVED_PID=$!
  SERVED_PORT=""
  for _ in $(seq 300); do
    # Under load the shell may get here before the child has opened $err:
    # sed's status 2 would end a `set -e -o pipefail` test without a word.
    SERVED_PORT=$(sed -n 's/.* serves .* on port \([0-9]*\).*/\1/p' "$err" 2>/dev/null | head -1 || true)
    [ -n "$SERVED_PORT" ] && return 0
    kill -0 "$SERVED_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: $name: no port named on stderr: $(cat "$err")"
  return 1
}

# scrape PORT [PATH]: prints the body of http://127.0.0.1:PORT/PATH (default
# /metrics), fetched by a python3 that has nothing preloaded.
scrape() {
  /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=10).read().decode())' \
    "$1" "${2:-/metrics}"
}
