"""The official Python client running the documented "fetching data concurrently" workload.

Usage: python_example.py sync|async URL
Loads the four Landsat-8 collections for 2020, first one after another, then concurrently (async mode only:
the sync client has no concurrent variant, so "sync" runs the sequential loop twice), and prints the same lines
as the Rust example so the benchmark script can compare them.
"""

import asyncio
import sys
import time

DATASET = "open_data.copernicus.landsat8_oli_tirs"
EXTENT = ("2020-01-01", "2021-01-01")


def run_sync(url: str) -> None:
    from tilebox.datasets import Client

    client = Client(url=url, token="local", transport="http1")
    client.datasets()
    collections = client.dataset(DATASET).collections()
    start = time.monotonic()
    for name, collection in collections.items():
        data = collection.query(temporal_extent=EXTENT, show_progress=False)
        print(f"There are {data.sizes.get('time', 0)} datapoints in {name} for 2020.")
    print(f"Fetching data took {time.monotonic() - start:.2f} seconds")


async def run_async(url: str) -> None:
    from tilebox.datasets.aio import Client

    client = Client(url=url, token="local", transport="http1")
    await client.datasets()
    collections = await (await client.dataset(DATASET)).collections()

    async def stats_for_2020(name, collection) -> None:
        data = await collection.query(temporal_extent=EXTENT, show_progress=False)
        print(f"There are {data.sizes.get('time', 0)} datapoints in {name} for 2020.")

    start = time.monotonic()
    for name, collection in collections.items():
        await stats_for_2020(name, collection)
    print(f"Fetching data took {time.monotonic() - start:.2f} seconds")

    start = time.monotonic()
    await asyncio.gather(*(stats_for_2020(n, c) for n, c in collections.items()))
    print(f"Fetching data took {time.monotonic() - start:.2f} seconds")


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "sync":
        run_sync(url)
    else:
        asyncio.run(run_async(url))
