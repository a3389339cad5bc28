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
. scripts/benchlib.sh
bin gateway GATEWAY_BIN
bin loadgen LOADGEN_BIN

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
