#!/usr/bin/env python3
"""Side-by-side "query to a table": the official Python async client vs this SDK's Arrow load, one server.

Run by hand (not by CI) from the repository root:

    python3 bench/query_to_table.py          # writes the "Query to a table" section of BENCHMARKS.md

Builds the release binaries, then for each emulated latency (0 and 50 ms) starts one `tilebox-server --demo`
and runs against it, each as a fresh process measured for wall time and peak RSS:

* the official Python client's documented example (`bench/python_example.py async`: the four Landsat-8
  collections for 2020 queried concurrently with `asyncio.gather`, each into an xarray Dataset);
* `table-bench`: the same four collections loaded concurrently straight into Arrow record batches, all fields;
* `table-bench --parquet DIR`: the same, then written to one GeoParquet file per collection.
"""

import os
import platform
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side as sbs  # noqa: E402

ROOT = sbs.ROOT
TARGET = sbs.TARGET
RUNS = sbs.RUNS
LATENCIES = sbs.LATENCIES
MARKER = "## Query to a table (issue 9)"


def run_case(cmd, env):
    """Best of RUNS by the time the program reports for the concurrent load; returns (seconds, wall, rss, out)."""
    samples = []
    for _ in range(RUNS):
        times, wall, rss = sbs.measure(cmd, env)
        samples.append((times[-1], wall, rss))
    return min(samples)


def rust_details(cmd, env):
    """One extra run of table-bench for the lines measure() does not keep (bytes, Parquet time)."""
    import subprocess

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    wire = int(re.search(r"datapoint bytes received: (\d+)", out).group(1))
    columns = int(re.search(r"columns: (\d+)", out).group(1))
    parquet = re.search(r"Parquet: wrote (\d+) bytes in ([\d.]+) s; query to Parquet took ([\d.]+)", out)
    return wire, columns, parquet


def main():
    # BENCH_PYTHON: an interpreter that has tilebox-datasets already (else .venv is made as side_by_side does).
    sbs.VENV_PY = os.environ.get("BENCH_PYTHON", sbs.VENV_PY)
    if not os.path.exists(sbs.VENV_PY):
        sbs.ensure_python_client()
    sbs.sh(["cargo", "build", "--release", "-q", "-p", "tilebox-server", "-p", "tilebox-client-tests",
            "--bin", "tilebox-server", "--bin", "table-bench"], cwd=ROOT)
    bench = os.path.join(TARGET, "release", "table-bench")
    python = [sbs.VENV_PY, os.path.join(ROOT, "bench", "python_example.py"), "async"]
    rows = []
    with tempfile.TemporaryDirectory() as out_dir:
        for latency in LATENCIES:
            server, url = sbs.start_server(latency)
            try:
                env = dict(os.environ, TILEBOX_API_URL=url)
                env.pop("TILEBOX_API_KEY", None)
                py = run_case(python + [url], env)
                arrow = run_case([bench], env)
                parquet_cmd = [bench, "--parquet", out_dir]
                parquet = run_case(parquet_cmd, env)
                wire, columns, parquet_line = rust_details(parquet_cmd, env)
                row = {
                    "latency": latency, "py": py, "arrow": arrow, "parquet": parquet, "wire": wire,
                    "columns": columns, "parquet_bytes": int(parquet_line.group(1)),
                    "parquet_write": float(parquet_line.group(2)), "to_parquet": float(parquet_line.group(3)),
                }
                rows.append(row)
                print(f"{latency:>3} ms  python {py[0]:.2f}s ({py[2]:.0f} MiB)  arrow {arrow[0]:.3f}s "
                      f"({arrow[2]:.0f} MiB)  to parquet {row['to_parquet']:.3f}s  wire {wire / 2**20:.1f} MiB",
                      flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)
    write_markdown(rows)


def write_markdown(rows):
    lines = [
        MARKER,
        "",
        f"Produced by `python3 bench/query_to_table.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work), {platform.system()} {platform.release()}. One "
        "`tilebox-server --demo` (release) per latency; each program is a fresh process loading the four "
        "Landsat-8 collections for 2020 (111,593 datapoints) concurrently into a table with every field; best "
        f"of {RUNS} runs. \"Load\" is the time the program reports for the concurrent query into the table "
        "(Python: `asyncio.gather` of `collection.query` into xarray Datasets, the documented example; Rust: "
        "`load_collections_arrow`, pages decoded into Arrow record batches while others are in flight); "
        "\"process\" is the whole process; memory is the process's peak RSS.",
        "",
        "| latency | client | load (s) | process (s) | peak RSS (MiB) |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lat = r["latency"]
        for name, key in [("Python async client 0.66.0 (xarray)", "py"), ("Rust tokio, Arrow", "arrow"),
                          ("Rust tokio, Arrow then GeoParquet", "parquet")]:
            secs, wall, rss = r[key]
            lines.append(f"| {lat} ms | {name} | {secs:.3f} | {wall:.2f} | {rss:.0f} |")
    lines.append("")
    for r in rows:
        py, arrow = r["py"], r["arrow"]
        lines.append(
            f"At {r['latency']} ms: query to a table is {py[0] / arrow[0]:.1f}x faster than the official async "
            f"client ({arrow[0]:.3f} s vs {py[0]:.2f} s). Datapoint bytes received: {r['wire'] / 2**20:.1f} MiB; "
            f"peak RSS of the whole Rust process {arrow[2]:.0f} MiB = {arrow[2] * 2**20 / r['wire']:.2f}x those "
            f"bytes (Python: {py[2]:.0f} MiB). Query to GeoParquet ({r['columns']} columns, "
            f"{r['parquet_bytes'] / 2**20:.1f} MiB of Snappy-compressed files): {r['to_parquet']:.3f} s, of which "
            f"{r['parquet_write']:.3f} s writing."
        )
    section = "\n".join(lines) + "\n"
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    if MARKER in text:
        start = text.index(MARKER)
        end = text.find("\n## ", start + len(MARKER))
        text = text[:start] + section + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(path, "w").write(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
