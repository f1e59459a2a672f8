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
BIN=${BIN:-target/release}
backend=$1; servers=$2; loops=$3; seconds=$4; jobs=${5:-16}; per_job=${6:-2000}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
case $backend in
  sqlite) db="$tmp/tilebox.db" ;;
  postgres)
    name="tilebox_load_$(date +%s%N)"
    psql -q "$TILEBOX_TEST_POSTGRES_URL" -c "CREATE DATABASE $name"
    db="${TILEBOX_TEST_POSTGRES_URL%/*}/$name"
    ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
urls=()
for i in $(seq 1 "$servers"); do
  RUST_LOG=warn "$BIN/tilebox-server" --listen 127.0.0.1:0 --database "$db" >"$tmp/server$i.out" 2>"$tmp/server$i.err" &
  pids+=($!)
  until grep -qs "listening on" "$tmp/server$i.out"; do
    kill -0 "${pids[-1]}" || { cat "$tmp/server$i.err" >&2; exit 1; }
    sleep 0.05
  done
  urls+=("$(grep -o 'http://[0-9.:]*' "$tmp/server$i.out" | head -1)")
done
IFS=,
echo -n "$backend: "
"$BIN/workflows_load" "${urls[*]}" "$loops" "$seconds" "$jobs" "$per_job"
