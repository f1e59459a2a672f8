#!/usr/bin/env bash
# Runner-protocol load on one or several server processes sharing one database (see examples/src/bin/
# workflows_load.rs): JOBS jobs of PER_JOB no-op tasks submitted first, then LOOPS runner loops for SECONDS.
#
#   bench/workflows_load.sh sqlite|postgres SERVERS LOOPS SECONDS [JOBS=16] [PER_JOB=2000]
#
# sqlite: a fresh durable database file (synchronous=FULL) in a temporary directory, shared by the processes.
# postgres: a fresh database on the server at TILEBOX_TEST_POSTGRES_URL (psql on PATH). Binaries from BIN
# (default target/release).
set -euo pipefail
backend=$1; servers=$2; loops=$3; seconds=$4; jobs=${5:-16}; per_job=${6:-2000}
source "$(dirname "$0")/servers.sh"
start_servers "$backend" "$servers"
IFS=,
echo -n "$backend: "
"$BIN/workflows_load" "${urls[*]}" "$loops" "$seconds" "$jobs" "$per_job"
