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
. scripts/benchlib.sh
bin gateway GATEWAY_BIN
bin chatload CHATLOAD_BIN

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The load logs 40 agents in at once from one address: lift the per-address
# websocket cap and the bound on password checks for it.
start_gateway GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0 GATEWAY_AUTH_LOGIN_CHECKS_PER_SECOND=1000 \
  GATEWAY_AUTH_LOGIN_CHECKS_BURST=1000 GATEWAY_AGENTS="$("$work/chatload" -print-agents -agents 40 -capacity 50)"

"$work/chatload" -base "$url" -gateway-pid "$gw_pid" -mode chat -agents 40 -conns 2000 \
  -pairs-per-sec "$PAIRS" -warmup "$WARMUP" -duration "$DURATION" -fsync-probe "$work"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
