#!/usr/bin/env bash
# Workflows runner benchmark runs on a fresh server each (run by hand, figures in BENCHMARKS.md "Workflows"):
#
#   bench/workflows_runs.sh run rust|python N MS [CONCURRENT=1]    one runner on a job of N leaves of MS ms
#   bench/workflows_runs.sh procs runner|poll|python               4 runner processes started together on a
#                                                                  submitted 500 x 20 ms job; prints wall time
#
# `runner` processes wait out the server's idle answers (`workflows_bench URL runner`); `poll` ones loop over
# `run_all` and a job check (`workflows_bench URL poll`), as `bench/workflows_python.py` does. Binaries from BIN
# (default target/release): cargo build --release -p tilebox-server -p tilebox-examples --bin tilebox-server
# --bin workflows_bench. PYTHON: an interpreter with tilebox-workflows 0.66.0 (default .venv/bin/python).
set -euo pipefail
BIN=${BIN:-target/release}
PYTHON=${PYTHON:-.venv/bin/python}
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
"$BIN/tilebox-server" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
case $1 in
  run)
    case $2 in
      rust) "$BIN/workflows_bench" "$url" run "$3" "$4" "${5:-1}" ;;
      python) "$PYTHON" bench/workflows_python.py "$url" run "$3" "$4" ;;
      *) echo "run: rust or python" >&2; exit 2 ;;
    esac
    ;;
  procs)
    job=$("$BIN/workflows_bench" "$url" submit 500 20)
    start=$(date +%s.%N)
    pids=()
    for _ in 1 2 3 4; do
      case $2 in
        runner | poll) "$BIN/workflows_bench" "$url" "$2" "$job" 1 & ;;
        python) "$PYTHON" bench/workflows_python.py "$url" runner "$job" & ;;
        *) echo "procs: runner, poll or python" >&2; exit 2 ;;
      esac
      pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    echo "4 $2 processes: $(echo "$end - $start" | bc) s"
    ;;
  *) sed -n 2,11p "$0" >&2; exit 2 ;;
esac
