#!/usr/bin/env bash
# The live-chat benchmark of docs/benchmarks.md, against the real binary: a
# fresh gateway (empty data directory, embedded broker), 40 agents and 2,000
# citizens exchanging PAIRS messages per second (each citizen message
# answered by its agent), latency from send to the other side's receipt.
#
# Knobs: PAIRS (2000), DURATION (30s), WARMUP (5s), HTTP_PORT (18081),
# KAFKA_PORT (19093), DATA_PARENT (a temp dir), GATEWAY_BIN and
# CHATLOAD_BIN (prebuilt binaries instead of go build).
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-2000}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-5s}
HTTP_PORT=${HTTP_PORT:-18081}
KAFKA_PORT=${KAFKA_PORT:-19093}
work=$(mktemp -d "${DATA_PARENT:-${TMPDIR:-/tmp}}/gateway-chatbench.XXXXXX")
gw_pid=""
cleanup() {
  if [ -n "$gw_pid" ]; then kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${GATEWAY_BIN:-}" ]; then cp "$GATEWAY_BIN" "$work/gateway"; else go build -o "$work/gateway" ./cmd/gateway; fi
if [ -n "${CHATLOAD_BIN:-}" ]; then cp "$CHATLOAD_BIN" "$work/chatload"; else go build -o "$work/chatload" ./cmd/chatload; fi
url="http://127.0.0.1:$HTTP_PORT"

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The load comes from one address and logs 40 agents in at once: lift the
# per-address limits and the bound on password checks for it.
GATEWAY_DATA_DIR="$work/data" GATEWAY_HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
  GATEWAY_KAFKA_EMBEDDED_ADDR="127.0.0.1:$KAFKA_PORT" \
  GATEWAY_RATE_LIMIT_PER_IP=1000000 GATEWAY_RATE_LIMIT_PER_IP_BURST=1000000 \
  GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0 GATEWAY_AUTH_LOGIN_CHECKS_PER_SECOND=1000 \
  GATEWAY_AUTH_LOGIN_CHECKS_BURST=1000 GATEWAY_LOG_LEVEL=warn \
  GATEWAY_AGENTS="$("$work/chatload" -print-agents -agents 40 -capacity 50)" \
  "$work/gateway" 2>"$work/gateway.log" &
gw_pid=$!
for _ in $(seq 100); do
  curl -sf "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || { echo "gateway not ready:" >&2; cat "$work/gateway.log" >&2; exit 1; }

"$work/chatload" -base "$url" -gateway-pid "$gw_pid" -mode chat -agents 40 -conns 2000 \
  -pairs-per-sec "$PAIRS" -warmup "$WARMUP" -duration "$DURATION" -fsync-probe "$work"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
