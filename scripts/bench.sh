#!/usr/bin/env bash
# The load benchmark of docs/benchmarks.md, against the real binary:
#   1. raw fsync latency of the disk holding the data directory;
#   2. a lone request's latency (sequential requests, one at a time);
#   3. an open-loop constant-rate load on the web endpoint.
# Each step starts a fresh gateway (empty data directory, embedded broker,
# durable logging and relay on) and stops it with SIGTERM.
#
# Knobs: RATE (5000), DURATION (20s), CONCURRENCY (512), SEQUENTIAL (1000),
# HTTP_PORT (18080), KAFKA_PORT (19092), DATA_PARENT (a temp dir),
# GATEWAY_BIN and LOADGEN_BIN (prebuilt binaries instead of go build).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-5000}
DURATION=${DURATION:-20s}
CONCURRENCY=${CONCURRENCY:-512}
SEQUENTIAL=${SEQUENTIAL:-1000}
HTTP_PORT=${HTTP_PORT:-18080}
KAFKA_PORT=${KAFKA_PORT:-19092}
work=$(mktemp -d "${DATA_PARENT:-${TMPDIR:-/tmp}}/gateway-bench.XXXXXX")
gw_pid=""
cleanup() {
  if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${GATEWAY_BIN:-}" ]; then cp "$GATEWAY_BIN" "$work/gateway"; else go build -o "$work/gateway" ./cmd/gateway; fi
if [ -n "${LOADGEN_BIN:-}" ]; then cp "$LOADGEN_BIN" "$work/loadgen"; else go build -o "$work/loadgen" ./cmd/loadgen; fi
url="http://127.0.0.1:$HTTP_PORT"

start_gateway() {
  rm -rf "$work/data"
  GATEWAY_DATA_DIR="$work/data" GATEWAY_HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
    GATEWAY_KAFKA_EMBEDDED_ADDR="127.0.0.1:$KAFKA_PORT" \
    GATEWAY_RATE_LIMIT_PER_IP=1000000 GATEWAY_RATE_LIMIT_PER_IP_BURST=1000000 \
    GATEWAY_LOG_LEVEL=warn "$work/gateway" 2>"$work/gateway.log" &
  gw_pid=$!
  for _ in $(seq 100); do
    curl -sf "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway not ready:" >&2; cat "$work/gateway.log" >&2; exit 1
}
stop_gateway() { kill -TERM "$gw_pid"; wait "$gw_pid" || true; gw_pid=""; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. raw fsync (4 KiB pwrite + fdatasync) on the data directory's disk"
mkdir -p "$work/data"
"$work/loadgen" -fsync "$work/data" -n 1000

echo "== 2. lone request: $SEQUENTIAL sequential requests"
start_gateway
"$work/loadgen" -url "$url" -sequential "$SEQUENTIAL"
stop_gateway

echo "== 3. open loop: $RATE req/s for $DURATION, at most $CONCURRENCY in flight"
start_gateway
# -probe: the disk's own fsync latency during the run, beside the gateway's
"$work/loadgen" -url "$url" -rate "$RATE" -duration "$DURATION" -concurrency "$CONCURRENCY" -probe "$work"
stop_gateway
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
