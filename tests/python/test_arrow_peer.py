"""Our Arrow export, written as GeoParquet by the Rust SDK, against the official client (xarray) as oracle.

For the same query the official client's xarray Dataset and our Parquet file (read with pyarrow) must hold the
same values in every column of every datapoint: times to the nanosecond, enum names, ids, WKB geometries equal
as shapes, nested messages, repeated fields. Kinds the official client leaves out of its xarray result
(uint32, sint*, fixed*, sfixed*, repeated fields that are empty everywhere) are checked against the datapoints
decoded by the official client's protobuf runtime instead.

Our side is the `arrow-peer` binary (client-tests), from `TILEBOX_ARROW_PEER_BIN`, else
`$CARGO_TARGET_DIR/debug/arrow-peer`, else `target/debug/arrow-peer`; the tests skip when it is missing.
"""

import json
import os
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from google.protobuf.descriptor import FieldDescriptor
from tilebox.datasets.message_pool import get_message_type
from tilebox.datasets.protobuf_conversion.field_types import _camel_to_uppercase

REPO = Path(__file__).resolve().parents[2]
LANDSAT = "open_data.copernicus.landsat8_oli_tirs"
NAT = np.iinfo(np.int64).min


def _peer_binary() -> Path:
    configured = os.environ.get("TILEBOX_ARROW_PEER_BIN")
    if configured:
        return Path(configured)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "arrow-peer"


@pytest.fixture(scope="module")
def peer():
    binary = _peer_binary()
    if not binary.exists():
        pytest.skip(f"arrow-peer binary not found at {binary}; build it with "
                    "`cargo build -p tilebox-client-tests --bin arrow-peer` and/or set TILEBOX_ARROW_PEER_BIN")

    def run(*args: str) -> str:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"arrow-peer {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout.strip()

    return run


@pytest.fixture(scope="module")
def official(server_url):
    from tilebox.datasets import Client

    return Client(url=server_url, token="local-dummy-token")


def export(peer, server_url, tmp_path, slug, collection, start, end) -> pa.Table:
    out = tmp_path / f"{collection}.parquet"
    rows = peer("export", "--url", server_url, "--dataset", slug, "--collection", collection,
                "--start", start, "--end", end, "--out", str(out))
    table = pq.read_table(out)
    assert table.num_rows == int(rows)
    return table, pq.read_metadata(out)


def raw_messages(collection, start, end) -> list:
    """The datapoints of the query decoded by the official client's protobuf runtime (no xarray)."""
    messages = []
    for page in collection._iter_pages(temporal_extent=(start, end)):
        message_type = get_message_type(page.data.type_url)
        messages.extend(message_type.FromString(v) for v in page.data.value)
    return messages


def storage(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks()
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    return array


def enum_names(array: pa.Array) -> list:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.to_pylist()


def same_enum_name(ours, theirs, prefix: str) -> bool:
    """Ours may carry the proto value name (PROCESSING_LEVEL_L2A) or the short one the official client shows."""
    if ours is None or missing(theirs):
        return ours is None and missing(theirs)
    return ours in (theirs, prefix + theirs)


def times_ns(array: pa.Array) -> list:
    return array.cast(pa.int64()).to_pylist()


def expected_fill(dtype: np.dtype):
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return 0
    if dtype.kind == "b":
        return False
    if dtype.kind in "mM":
        return NAT
    if dtype.kind == "U":
        return ""
    return None


def assert_values_equal(name, ours: list, theirs: np.ndarray, compare_one):
    assert len(ours) == len(theirs), name
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert compare_one(a, b), f"column {name}, datapoint {i}: ours {a!r} != official {b!r}"


def missing(value) -> bool:
    """The official client's fill for unset object values: None (or NaN, as xarray may store it)."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def scalar_equal(kind: str):
    def eq(a, b):
        if kind == "O" and (a is None or missing(b)):
            return a is None and missing(b)
        if kind == "f":
            return (np.isnan(b) and (a is None or np.isnan(a))) or a == b
        if kind == "mM":
            return (a is None and b == NAT) or a == b
        return a == b
    return eq


def geometry_equal(a, b):
    if a is None or missing(b):
        return a is None and missing(b)
    return shapely.from_wkb(a).equals(b)


def compare_field(name: str, field: pa.Field, column: pa.ChunkedArray, theirs_var, descriptor) -> None:
    """One column of our table against the official client's variable for the same field."""
    array = storage(column)
    theirs = theirs_var.values
    metadata = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    extension = metadata.get("ARROW:extension:name") or getattr(field.type, "extension_name", None)
    repeated = descriptor is not None and descriptor.is_repeated

    def element_converter(value_type, elem_descriptor):
        """How to turn one of our Python values (from to_pylist) into the official representation."""
        if elem_descriptor is not None and elem_descriptor.type == FieldDescriptor.TYPE_ENUM:
            prefix = _camel_to_uppercase(elem_descriptor.enum_type.name) + "_"
            return lambda v: None if v is None else (v[len(prefix):] if v.startswith(prefix) else v)
        if pa.types.is_timestamp(value_type) or pa.types.is_duration(value_type):
            return lambda v: NAT if v is None else v
        if pa.types.is_fixed_size_binary(value_type):
            return lambda v: "" if v is None else str(uuid.UUID(bytes=v))
        if pa.types.is_struct(value_type):
            width = value_type.num_fields
            return lambda v: [np.nan] * width if v is None else [v[value_type.field(k).name] for k in range(width)]
        return lambda v: v

    if repeated:
        # The official client pads every row to the longest list with the dtype's fill value.
        values_type = array.type.value_type
        if pa.types.is_timestamp(values_type) or pa.types.is_duration(values_type):
            lists = [None if v is None else [None if x is None else x for x in v]
                     for v in array.cast(pa.list_(pa.int64())).to_pylist()]
        elif pa.types.is_dictionary(values_type):
            lists = pa.array([None if v is None else v for v in array.to_pylist()]).to_pylist()
        else:
            lists = array.to_pylist()
        convert = element_converter(values_type, descriptor)
        width = theirs.shape[1]
        assert max(len(v or []) for v in lists) == width, f"column {name}: list width"
        fill = expected_fill(theirs.dtype)
        for i, row in enumerate(lists):
            row = [convert(x) for x in (row or [])]
            for j in range(width):
                b = theirs[i][j]
                if j < len(row):
                    a = row[j]
                else:
                    a = [fill] * len(b) if np.ndim(b) else fill
                if np.ndim(b):
                    assert np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True), \
                        f"column {name}[{i}][{j}]: ours {a!r} != official {b!r}"
                elif theirs.dtype.kind == "f":
                    assert (np.isnan(b) and (a is None or np.isnan(a))) or a == b, f"{name}[{i}][{j}]"
                else:
                    if theirs.dtype.kind in "mM":
                        b = b.astype("int64")
                    assert scalar_equal(theirs.dtype.kind)(a, b), f"column {name}[{i}][{j}]: ours {a!r} != official {b!r}"
        return

    if extension == "geoarrow.wkb":
        assert_values_equal(name, array.to_pylist(), theirs, geometry_equal)
    elif pa.types.is_dictionary(array.type) or (descriptor is not None and descriptor.type == FieldDescriptor.TYPE_ENUM):
        prefix = _camel_to_uppercase(descriptor.enum_type.name) + "_"
        assert_values_equal(name, enum_names(array), theirs, lambda a, b: same_enum_name(a, b, prefix))
    elif pa.types.is_timestamp(array.type) or pa.types.is_duration(array.type):
        assert_values_equal(name, times_ns(array), theirs.astype("int64"), scalar_equal("mM"))
    elif pa.types.is_fixed_size_binary(array.type):
        assert_values_equal(name, ["" if v is None else str(uuid.UUID(bytes=v)) for v in array.to_pylist()],
                            theirs, lambda a, b: a == b)
    elif pa.types.is_struct(array.type):
        convert = element_converter(array.type, None)
        for i, (a, b) in enumerate(zip(array.to_pylist(), theirs)):
            a = np.asarray(convert(a), dtype=float)
            assert np.array_equal(a, np.asarray(b, dtype=float), equal_nan=True), \
                f"column {name}, datapoint {i}: ours {a!r} != official {b!r}"
    else:
        kind = theirs.dtype.kind
        fill = expected_fill(theirs.dtype)
        ours = [fill if v is None else v for v in array.to_pylist()]
        assert_values_equal(name, ours, theirs, scalar_equal(kind))


def compare_with_raw(name: str, column: pa.ChunkedArray, messages: list, descriptor) -> None:
    """A column the official xarray result leaves out, against the official protobuf runtime's values."""
    array = storage(column)
    ours = array.to_pylist()
    for i, (a, message) in enumerate(zip(ours, messages)):
        if descriptor.is_repeated:
            b = list(getattr(message, name))
            assert (a or []) == b, f"column {name}, datapoint {i}: ours {a!r} != official {b!r}"
        else:
            b = getattr(message, name) if message.HasField(name) else None
            assert a == b, f"column {name}, datapoint {i}: ours {a!r} != official {b!r}"


def compare(table: pa.Table, dataset, messages: list) -> int:
    """Every column of our table against the official result; returns how many columns the xarray result held."""
    assert table.num_rows == dataset.sizes["time"] == len(messages)
    fields = messages[0].DESCRIPTOR.fields_by_name if messages else {}
    assert table.column_names == [f.name for f in messages[0].DESCRIPTOR.fields], "one column per field, in order"
    theirs_time = dataset.time.values.astype("datetime64[ns]").astype("int64")
    assert times_ns(storage(table.column("time"))) == list(theirs_time)
    judged_by_xarray = 1
    for name in table.column_names:
        if name == "time":
            continue
        if name in dataset.variables:
            compare_field(name, table.schema.field(name), table.column(name), dataset[name], fields[name])
            judged_by_xarray += 1
        else:
            compare_with_raw(name, table.column(name), messages, fields[name])
    for var in dataset.data_vars:
        assert var in table.column_names, f"the official result has {var}, ours does not"
    return judged_by_xarray


def test_landsat_collections_equal_the_official_xarray_result(official, peer, server_url, tmp_path):
    dataset = official.dataset(LANDSAT)
    start, end = "2020-03-01", "2020-03-15"
    for name in ("L1GT", "L1T", "L1TP", "L2SP"):
        collection = dataset.collection(name)
        table, metadata = export(peer, server_url, tmp_path, LANDSAT, name, start, end)
        theirs = collection.query(temporal_extent=(start, end))
        messages = raw_messages(collection, start, end)
        assert table.num_rows > 0
        judged = compare(table, theirs, messages)
        assert judged == table.num_columns, "every Landsat column is judged by the xarray result"

        geo = json.loads(metadata.metadata[b"geo"])
        assert geo["primary_column"] == "geometry"
        assert geo["columns"]["geometry"]["encoding"] == "WKB"
        assert geo["columns"]["geometry"]["geometry_types"] == ["Polygon"]
        minx, miny, maxx, maxy = geo["columns"]["geometry"]["bbox"]
        bounds = shapely.bounds(shapely.from_wkb(storage(table.column("geometry")).to_pylist()))
        assert (minx, miny, maxx, maxy) == (bounds[:, 0].min(), bounds[:, 1].min(),
                                            bounds[:, 2].max(), bounds[:, 3].max())


NON_XARRAY_FIELDS = ["f_uint32", "f_sint32", "f_sint64", "f_fixed32", "f_fixed64", "f_sfixed32", "f_sfixed64"]


def seed_and_export(peer, server_url, tmp_path, kinds):
    code_name = f"arrow_every_kind_{kinds}_{uuid.uuid4().hex[:8]}"
    slug = peer("seed", "--url", server_url, "--code-name", code_name, "--collection", "all", "--kinds", kinds)
    start, end = "2021-01-01", "2021-01-02"
    table, metadata = export(peer, server_url, tmp_path, slug, "all", start, end)
    return slug, start, end, table, metadata


def test_every_field_kind_equals_the_official_xarray_result(official, peer, server_url, tmp_path):
    slug, start, end, table, metadata = seed_and_export(peer, server_url, tmp_path, "xarray")
    collection = official.dataset(slug).collection("all")
    theirs = collection.query(temporal_extent=(start, end))
    messages = raw_messages(collection, start, end)
    assert table.num_rows == 4
    judged = compare(table, theirs, messages)
    assert judged == table.num_columns, "every column is judged by the xarray result"

    # The datapoint with every optional field unset: null everywhere but time, id and ingestion_time.
    unset = table.slice(2, 1).to_pylist()[0]
    for name, value in unset.items():
        if name in ("time", "id", "ingestion_time"):
            assert value is not None
        elif name.startswith("r_"):
            assert value in (None, []), name
        else:
            assert value is None, name

    geo = json.loads(metadata.metadata[b"geo"])
    assert geo["primary_column"] == "geometry"
    assert sorted(geo["columns"]) == ["f_footprint", "geometry"]
    assert geo["columns"]["geometry"]["geometry_types"] == ["MultiPolygon", "Polygon"]
    assert geo["columns"]["f_footprint"]["geometry_types"] == ["MultiPolygon", "Point", "Polygon"]


def test_kinds_outside_xarray_equal_the_official_protobuf_runtime(official, peer, server_url, tmp_path):
    """uint32, sint*, fixed*, sfixed*: the official client cannot put datapoints with these into xarray, so its
    protobuf runtime judges them (and the other columns were judged above)."""
    slug, start, end, table, _ = seed_and_export(peer, server_url, tmp_path, "all")
    collection = official.dataset(slug).collection("all")
    messages = raw_messages(collection, start, end)
    assert table.num_rows == len(messages) == 4
    fields = messages[0].DESCRIPTOR.fields_by_name
    assert table.column_names == [f.name for f in messages[0].DESCRIPTOR.fields]
    for name in NON_XARRAY_FIELDS:
        compare_with_raw(name, table.column(name), messages, fields[name])
    assert times_ns(storage(table.column("time"))) == [m.time.seconds * 10**9 + m.time.nanos for m in messages]
