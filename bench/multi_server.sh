#!/usr/bin/env bash
# Workflows throughput with one or several server processes on one database (issue 12; run by hand, figures in
# BENCHMARKS.md): a job of N no-op tasks (the `bench/Fan` task of workflows_bench submits them) run by R runner
# processes (`workflows_bench URL runner JOB 1`) spread round-robin over S `tilebox-server` processes.
#
#   bench/multi_server.sh sqlite|postgres SERVERS [TASKS=2000] [RUNNERS=8]
#
# sqlite: a fresh database file in a temporary directory (several processes share it through SQLite's own file
# locking; every write transaction is BEGIN IMMEDIATE). postgres: a fresh database created on the server at
# TILEBOX_TEST_POSTGRES_URL (a URL whose user may create databases; psql on PATH). Binaries from
# BIN (default target/release): cargo build --release -p tilebox-server -p tilebox-examples --bin workflows_bench
set -euo pipefail
backend=$1
servers=$2
tasks=${3:-2000}
runners=${4:-8}
source "$(dirname "$0")/servers.sh"
start_servers "$backend" "$servers"
job=$("$BIN/workflows_bench" "${urls[0]}" submit "$tasks" 0)
start=$(date +%s.%N)
runner_pids=()
for r in $(seq 0 $((runners - 1))); do
  "$BIN/workflows_bench" "${urls[$((r % servers))]}" runner "$job" 1 &
  runner_pids+=($!)
done
wait "${runner_pids[@]}"
end=$(date +%s.%N)
python3 -c "
n = $tasks + 1; s = $end - $start
print(f'$backend, $servers server(s), $runners runners: {n} tasks in {s:.3f} s = {s * 1000 / n:.3f} ms per task')"
