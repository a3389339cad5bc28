# Shared by bench.sh and chatbench.sh (sourced, not run): a work directory
# removed at exit, the binaries, and a fresh gateway on loopback ports.
# The caller sets HTTP_PORT and KAFKA_PORT first.

work=$(mktemp -d "${DATA_PARENT:-${TMPDIR:-/tmp}}/gateway-bench.XXXXXX")
gw_pid=""
cleanup() {
  if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
url="http://127.0.0.1:$HTTP_PORT"

# bin NAME VAR: the binary $VAR names (prebuilt, e.g. another commit's for
# an A/B), else ./cmd/NAME built here; copied into the work directory.
bin() {
  local prebuilt=${!2:-}
  if [ -n "$prebuilt" ]; then cp "$prebuilt" "$work/$1"; else go build -o "$work/$1" "./cmd/$1"; fi
}

# start_gateway [NAME=VALUE…]: a gateway with an empty data directory and the
# per-address rate limit lifted (the load comes from one address); waits
# until it is ready.
start_gateway() {
  rm -rf "$work/data"
  env GATEWAY_DATA_DIR="$work/data" GATEWAY_HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
    GATEWAY_KAFKA_EMBEDDED_ADDR="127.0.0.1:$KAFKA_PORT" \
    GATEWAY_RATE_LIMIT_PER_IP=1000000 GATEWAY_RATE_LIMIT_PER_IP_BURST=1000000 \
    GATEWAY_LOG_LEVEL=warn "$@" "$work/gateway" 2>"$work/gateway.log" &
  gw_pid=$!
  for _ in $(seq 100); do
    curl -sf "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway not ready:" >&2; cat "$work/gateway.log" >&2; exit 1
}

stop_gateway() { kill -TERM "$gw_pid"; wait "$gw_pid" || true; gw_pid=""; }
