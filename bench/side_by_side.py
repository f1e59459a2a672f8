#!/usr/bin/env python3
"""Side-by-side benchmark: the official Python client vs this SDK's example, on one local server.

Run by hand (not by CI) from the repository root:

    python3 bench/side_by_side.py            # writes the table into BENCHMARKS.md

It builds the release binaries, then for each emulated latency (0 and 50 ms) starts one `tilebox-server --demo`
and runs, against that same server: the Python client's documented example (sync, then async; PyPI
tilebox-datasets==0.66.0 in .venv) and `concurrent_loading` on each Rust adapter. Every program loads the four
Landsat-8 collections for 2020 and prints "Fetching data took X seconds" per approach; each run is a fresh
process, measured for wall time and peak RSS.
"""

import os
import platform
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
# BENCH_PYTHON: an interpreter that already has the official client (then nothing is installed).
BENCH_PYTHON = os.environ.get("BENCH_PYTHON")
VENV_PY = BENCH_PYTHON or os.path.join(ROOT, ".venv", "bin", "python")
LATENCIES = [int(x) for x in os.environ.get("BENCH_LATENCIES", "0,50").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
EXPECTED = {"L1GT": 19624, "L1T": 1281, "L1TP": 65313, "L2SP": 25375}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_python_client():
    if not os.path.exists(VENV_PY):
        sh([sys.executable, "-m", "venv", os.path.join(ROOT, ".venv")])
    sh([VENV_PY, "-m", "pip", "install", "-q", "-r", os.path.join(ROOT, "tests", "python", "requirements.txt")])


def start_server(latency_ms):
    binary = os.path.join(TARGET, "release", "tilebox-server")
    proc = subprocess.Popen(
        [binary, "--demo", "--listen", "127.0.0.1:0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError("tilebox-server did not print its URL")


def measure(cmd, env):
    """Runs cmd in a child wrapper so ru_maxrss is this command's alone; returns (stdout, wall s, peak MiB)."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.monotonic() - t\n"
        "sys.stdout.write(p.stdout)\n"
        "sys.stderr.write(p.stderr[-2000:])\n"
        "print(f'@@ {p.returncode} {wall:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env)
    match = re.search(r"@@ (-?\d+) ([\d.]+) (\d+)", out.stdout)
    if not match or match.group(1) != "0":
        raise RuntimeError(f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    counts = dict((n, int(c)) for c, n in re.findall(r"There are (\d+) datapoints in (\S+) for 2020", out.stdout))
    if counts != EXPECTED:
        raise RuntimeError(f"{cmd} printed unexpected counts {counts}")
    times = [float(x) for x in re.findall(r"Fetching data took ([\d.]+) seconds", out.stdout)]
    return times, float(match.group(2)), int(match.group(3)) / 1024.0


def best(samples):
    """The run with the fastest concurrent (else only) load, as the most stable summary on a shared machine."""
    return min(samples, key=lambda s: (s[0][-1], s[1]))


def main():
    if not BENCH_PYTHON:
        ensure_python_client()
    sh(["cargo", "build", "--release", "-q", "-p", "tilebox-server", "-p", "tilebox-examples"], cwd=ROOT)
    example = os.path.join(TARGET, "release", "concurrent_loading")
    rows = []
    for latency in LATENCIES:
        server, url = start_server(latency)
        try:
            env = dict(os.environ, TILEBOX_API_URL=url)
            env.pop("TILEBOX_API_KEY", None)
            cases = [
                ("Python sync (tilebox-datasets 0.66.0)", [VENV_PY, os.path.join(ROOT, "bench", "python_example.py"), "sync", url]),
                ("Python async (tilebox-datasets 0.66.0)", [VENV_PY, os.path.join(ROOT, "bench", "python_example.py"), "async", url]),
            ] + [
                (f"Rust {adapter}", [example, "--adapter", adapter, "--no-progress"])
                for adapter in ["tokio", "async-std", "smol", "blocking"]
            ]
            for name, cmd in cases:
                samples = [measure(cmd, env) for _ in range(RUNS)]
                times, wall, rss = best(samples)
                rows.append((latency, name, times[0], times[-1] if len(times) > 1 else None, wall, rss))
                print(f"{latency:>3} ms  {name:<40} seq {times[0]:6.2f}s  conc {times[-1]:6.2f}s  wall {wall:6.2f}s  rss {rss:7.1f} MiB", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    write_markdown(rows)


def write_markdown(rows):
    lines = [
        "## Side-by-side: official Python client vs Rust (issue 5)",
        "",
        f"Produced by `python3 bench/side_by_side.py` on {time.strftime('%Y-%m-%d')}: {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}. "
        "One `tilebox-server --demo` (release build) per latency; every program is a fresh process loading the "
        f"four Landsat-8 collections for 2020 (111,593 datapoints); best of {RUNS} runs. \"Sequential\" and "
        "\"concurrent\" are the times the programs print for each approach; \"process\" is the whole process "
        "(start-up, listing, both loads, decoding); memory is the process's peak RSS.",
        "",
        "| latency | client | sequential (s) | concurrent (s) | process (s) | peak RSS (MiB) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for latency, name, seq, conc, wall, rss in rows:
        lines.append(f"| {latency} ms | {name} | {seq:.2f} | {'' if conc is None else f'{conc:.2f}'} | {wall:.2f} | {rss:.0f} |")
    lines.append("")
    for latency in LATENCIES:
        py = [r for r in rows if r[0] == latency and r[1].startswith("Python async")]
        rust = [r for r in rows if r[0] == latency and r[1].startswith("Rust")]
        if py and rust:
            base = py[0][3]
            worst = max(r[3] for r in rust)
            lines.append(
                f"At {latency} ms: the slowest Rust concurrent load is {base / worst:.1f}x faster than the Python async "
                f"client's concurrent load ({worst:.2f} s vs {base:.2f} s); peak memory {max(r[5] for r in rust):.0f} MiB "
                f"vs {py[0][5]:.0f} MiB."
            )
    table = "\n".join(lines) + "\n"
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    marker = "## Side-by-side: official Python client vs Rust (issue 5)"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + table + (text[end + 1:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + table
    open(path, "w").write(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
