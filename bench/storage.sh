#!/usr/bin/env bash
# The storage benchmarks of issue 22 in one run (figures in BENCHMARKS.md, "Storage written once"): both
# databases durable (a SQLite file with synchronous=FULL; PostgreSQL with fsync on, on this machine), release
# builds, every comparison side by side in the same invocation.
#
#   TILEBOX_TEST_POSTGRES_URL=postgres://user@127.0.0.1:PORT/postgres bench/storage.sh [LOAD_SECONDS=30]
#
# The URL's server must run with fsync on (the default) and its user must create databases; psql on PATH.
# Binaries from BIN (default target/release):
#   cargo build --release -p tilebox-server --bin tilebox-server -p tilebox-examples --bin workflows_bench \
#     --bin workflows_load -p tilebox-client-tests --bin server-bench
set -euo pipefail
cd "$(dirname "$0")/.."
export BIN=${BIN:-target/release}
seconds=${1:-30}
: "${TILEBOX_TEST_POSTGRES_URL:?a PostgreSQL URL (fsync on)}"
fsync=$(psql -Atq "$TILEBOX_TEST_POSTGRES_URL" -c "SHOW fsync")
[ "$fsync" = on ] || { echo "the PostgreSQL server runs with fsync=$fsync; this benchmark wants it on" >&2; exit 1; }

echo "== 2,001 no-op tasks (one fan-out task + 2,000 leaves), 8 runner processes, 1 server (bench/multi_server.sh)"
for round in 1 2; do
  bench/multi_server.sh sqlite 1 2000 8 | tail -1
  bench/multi_server.sh postgres 1 2000 8 | tail -1
done
echo "== 8,001 tasks on PostgreSQL, 1 server (per-task cost against the 2,001-task job above)"
bench/multi_server.sh postgres 1 8000 8 | tail -1
echo "== 2,001 tasks on PostgreSQL, 3 servers vs 1"
for round in 1 2; do
  bench/multi_server.sh postgres 3 2000 8 | tail -1
  bench/multi_server.sh postgres 1 2000 8 | tail -1
done
echo "== runner-protocol throughput, 8 loops, 1 server, 10 s (bench/workflows_load.sh)"
bench/workflows_load.sh sqlite 1 8 10 | tail -1
bench/workflows_load.sh postgres 1 8 10 | tail -1
echo "== load test: 64 loops, 3 servers on one PostgreSQL, ${seconds} s"
bench/workflows_load.sh postgres 3 64 "$seconds" 64 2000 | tail -1
echo "== seed workload read from PostgreSQL vs SQLite (server-bench)"
name="tilebox_server_bench_$(date +%s%N)"
psql -q "$TILEBOX_TEST_POSTGRES_URL" -c "CREATE DATABASE $name"
"$BIN/server-bench" --runs 3 --rounds 6 --postgres "${TILEBOX_TEST_POSTGRES_URL%/*}/$name" | tail -5
