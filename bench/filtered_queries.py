#!/usr/bin/env python3
"""Filtered and spatial queries vs the unfiltered query, on one local server (run by hand, not by CI).

    python3 bench/filtered_queries.py [path/to/tilebox-server]     # default: target/release/tilebox-server

Starts `tilebox-server --demo`, then times complete paged queries of L1TP over 2020 (65,313 datapoints, server
page size 2000) through the official client's raw gRPC stub (protobuf pages, no xarray conversion, so the
figures are the server's work plus transport): unfiltered, a filter matching ~10% (`cloud_cover < 1`), one
matching nothing (a full scan), and spatial queries (cartesian and spherical). Prints a Markdown table of
medians for BENCHMARKS.md.
"""

import os
import re
import statistics
import subprocess
import sys
import time

from shapely.geometry import box
from tilebox.datasets import Client, field
from tilebox.datasets.data.data_access import QueryFilters, SpatialFilter, SpatialCoordinateSystem
from tilebox.datasets.datasets.v1 import data_access_pb2
from tilebox.datasets.query.time_interval import TimeInterval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def start(binary):
    proc = subprocess.Popen([binary, "--demo", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("server did not start")


def run(stub, dataset_id, collection_id, filters, skip_data):
    request = data_access_pb2.QueryRequest(
        dataset_id={"uuid": dataset_id.bytes},
        collection_ids=[{"uuid": collection_id.bytes}],
        filters=filters.to_message(),
        page={},
        skip_data=skip_data,
    )
    count = 0
    while True:
        page = stub.Query(request)
        count += len(page.data.value)
        if not page.HasField("next_page"):
            return count
        request.page.CopyFrom(page.next_page)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "tilebox-server")
    proc, url = start(binary)
    try:
        client = Client(url=url, token="bench", transport="grpc")
        dataset = client.dataset("open_data.copernicus.landsat8_oli_tirs")
        collection = dataset.collection("L1TP")
        stub = dataset._service._data_access_service
        dataset_id, collection_id = dataset._dataset.id, collection._collection.id
        year = TimeInterval.parse(("2020-01-01", "2021-01-01"))
        europe = box(-10, 35, 30, 60)
        cases = [
            ("unfiltered", QueryFilters(year), False),
            ("unfiltered, skip_data", QueryFilters(year), True),
            ("`cloud_cover < 1` (~10%)", QueryFilters(year, filter=field("cloud_cover") < 1), False),
            ("`cloud_cover < 1` (~10%), skip_data", QueryFilters(year, filter=field("cloud_cover") < 1), True),
            ("`cloud_cover < 0` (nothing: full scan)", QueryFilters(year, filter=field("cloud_cover") < 0), False),
            ("spatial: Europe box, cartesian intersects",
             QueryFilters(year, spatial_extent=SpatialFilter(europe)), False),
            ("spatial: Europe box, spherical intersects",
             QueryFilters(year, spatial_extent=SpatialFilter(
                 europe, coordinate_system=SpatialCoordinateSystem.SPHERICAL)), False),
        ]
        rows = []
        base = None
        for name, filters, skip in cases:
            run(stub, dataset_id, collection_id, filters, skip)  # warm-up
            times, count = [], 0
            for _ in range(RUNS):
                t0 = time.perf_counter()
                count = run(stub, dataset_id, collection_id, filters, skip)
                times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            base = base or median
            rows.append((name, count, median, median / base))
        print("| query (L1TP, 2020) | datapoints | median | vs unfiltered |")
        print("|---|---:|---:|---:|")
        for name, count, median, ratio in rows:
            print(f"| {name} | {count} | {median * 1000:.0f} ms | {ratio:.2f}x |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
