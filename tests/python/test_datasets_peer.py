"""The official tilebox-datasets client (0.66.0) against tilebox-server, over gRPC and Connect (http1)."""

import uuid
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from _tilebox.grpc.error import NotFoundError
from shapely.geometry import box
from tilebox.datasets.data.datasets import DatasetKind

LANDSAT = "open_data.copernicus.landsat8_oli_tirs"
COUNTS_2020 = {"L1GT": 19624, "L1T": 1281, "L1TP": 65313, "L2SP": 25375}


def test_datasets_tree(client):
    tree = client.datasets()
    copernicus = tree.open_data.copernicus
    assert copernicus.landsat8_oli_tirs.name == "Landsat 8 OLI/TIRS"
    assert copernicus.sentinel1_sar.name == "Sentinel-1 SAR"


def test_dataset_by_slug_and_collections(client):
    dataset = client.dataset(LANDSAT)
    collections = dataset.collections()
    assert sorted(collections) == sorted(COUNTS_2020)
    for name, expected_2020 in COUNTS_2020.items():
        info = collections[name].info()
        assert info.count > expected_2020  # plus some in 2019 and 2021
        start, end = info.availability.start, info.availability.end
        assert start.year == 2019 and end.year == 2021


def test_missing_dataset_raises_not_found(client):
    with pytest.raises(NotFoundError, match="no such dataset"):
        client.dataset("open_data.copernicus.does_not_exist")


def test_query_counts_with_and_without_data(client):
    collection = client.dataset(LANDSAT).collection("L1T")
    full = collection.query(temporal_extent=("2020-01-01", "2021-01-01"), show_progress=False)
    assert full.sizes["time"] == 1281
    for var in ("id", "ingestion_time", "geometry", "granule_name", "processing_level", "cloud_cover", "path", "row"):
        assert var in full.data_vars, var
    assert set(np.unique(full.processing_level.values)) == {"L1"}
    times = full.time.values
    assert (times[1:] >= times[:-1]).all()
    assert times.min() >= np.datetime64("2020-01-01") and times.max() < np.datetime64("2021-01-01")

    skipped = collection.query(temporal_extent=("2020-01-01", "2021-01-01"), skip_data=True)
    assert skipped.sizes["time"] == 1281
    assert "granule_name" not in skipped.data_vars
    assert list(skipped.id.values) == list(full.id.values)


def test_query_over_many_pages(client):
    collection = client.dataset(LANDSAT).collection("L2SP")
    data = collection.query(temporal_extent=("2020-01-01", "2021-01-01"), skip_data=True)
    assert data.sizes["time"] == COUNTS_2020["L2SP"]
    assert len(set(data.id.values)) == COUNTS_2020["L2SP"]


def test_query_whole_dataset_and_spatial_filter(client):
    dataset = client.dataset(LANDSAT)
    january = dataset.query(temporal_extent=("2020-01-01", "2020-02-01"), skip_data=True)
    europe = dataset.query(temporal_extent=("2020-01-01", "2020-02-01"), spatial_extent=box(0, 40, 20, 55))
    assert 0 < europe.sizes["time"] < january.sizes["time"]
    assert set(europe.id.values) <= set(january.id.values)


def test_find(client):
    collection = client.dataset(LANDSAT).collection("L1T")
    data = collection.query(temporal_extent=("2020-03-01", "2020-04-01"))
    wanted = str(data.id.values[2])
    found = collection.find(wanted)
    assert str(found.id.values) == wanted
    assert found.granule_name.values == data.granule_name.values[2]
    with pytest.raises(NotFoundError):
        collection.find(str(uuid.UUID(int=12345)))


def test_create_ingest_query_delete(client):
    code_name = f"peer_{uuid.uuid4().hex[:8]}"
    dataset = client.create_or_update_dataset(
        DatasetKind.SPATIOTEMPORAL,
        code_name,
        [
            {"name": "sensor", "type": str, "description": "Sensor name"},
            {"name": "value", "type": float},
            {"name": "counts", "type": list[int]},
        ],
    )
    collection = dataset.get_or_create_collection("measurements")
    frame = pd.DataFrame(
        {
            "time": [datetime(2023, 1, d, tzinfo=timezone.utc) for d in (1, 2, 3)],
            "sensor": ["a", "b", "c"],
            "value": [1.5, 2.5, 3.5],
            "counts": [[1, 2], [3], [4, 5]],
            "geometry": [box(0, 0, 1, 1), box(10, 10, 11, 11), box(20, 20, 21, 21)],
        }
    )
    ids = collection.ingest(frame)
    assert len(ids) == 3
    assert collection.ingest(frame) == ids  # idempotent with allow_existing=True
    assert collection.info().count == 3

    data = collection.query(temporal_extent=("2023-01-01", "2023-02-01"))
    assert list(data.sensor.values) == ["a", "b", "c"]
    assert list(data.value.values) == [1.5, 2.5, 3.5]
    assert [str(i) for i in data.id.values] == [str(i) for i in ids]

    hit = collection.query(temporal_extent=("2023-01-01", "2023-02-01"), spatial_extent=box(9.5, 9.5, 12, 12))
    assert list(hit.sensor.values) == ["b"]

    assert collection.delete(ids[:2]) == 2
    assert collection.info().count == 1
    dataset.delete_collection("measurements")
    assert "measurements" not in dataset.collections()
