# Sourced by the benchmark scripts: `start_servers sqlite|postgres SERVERS` starts SERVERS `tilebox-server`
# processes (from BIN) on one fresh database — a durable SQLite file in a temporary directory, or a new database
# on the server at TILEBOX_TEST_POSTGRES_URL (psql on PATH) — and sets `urls`; everything stops and the
# temporary directory goes when the script exits.
BIN=${BIN:-target/release}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

start_servers() {
  local backend=$1 servers=$2 db name i
  case $backend in
    sqlite) db="$tmp/tilebox.db" ;;
    postgres)
      name="tilebox_bench_$(date +%s%N)"
      psql -q "$TILEBOX_TEST_POSTGRES_URL" -c "CREATE DATABASE $name"
      db="${TILEBOX_TEST_POSTGRES_URL%/*}/$name"
      ;;
    *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
  esac
  urls=()
  for i in $(seq 1 "$servers"); do
    # One after the other: the first creates the schema.
    RUST_LOG=warn "$BIN/tilebox-server" --listen 127.0.0.1:0 --database "$db" >"$tmp/server$i.out" 2>"$tmp/server$i.err" &
    pids+=($!)
    until grep -qs "listening on" "$tmp/server$i.out"; do
      kill -0 "${pids[-1]}" || { cat "$tmp/server$i.err" >&2; exit 1; }
      sleep 0.05
    done
    urls+=("$(grep -o 'http://[0-9.:]*' "$tmp/server$i.out" | head -1)")
  done
}
