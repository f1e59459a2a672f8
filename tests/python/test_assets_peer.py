"""STAC assets across SDKs: assets authored by one client and ingested into tilebox-server resolve to the same
keys, hrefs, registries, roles, media types and band metadata in the official Python client
(`AssetCollection.from_datapoint`) and in the Rust SDK (`examples/src/bin/assets_peer.rs`)."""

import json
import os
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from tilebox.datasets import iter_datapoints
from tilebox.datasets.assets import Asset, AssetCollection, AssetLocation, Band, MediaType
from tilebox.datasets.data.datasets import DatasetKind
from tilebox.datasets.datasets.stac.v1.asset_metadata_pb import EOCommonName, EOProperties, File, RasterProperties
from tilebox.datasets.datasets.stac.v1.asset_pb import DataType, KnownAssetRole
from tilebox.datasets.datasets.stac.v1.authentication_pb import AuthenticationScheme, KnownAuthenticationType
from tilebox.datasets.datasets.stac.v1.sar_pb import SARFrequencyBand, SARPolarization, SARProperties
from tilebox.datasets.datasets.stac.v1.storage_pb import KnownStorageType, StorageScheme
from tilebox.datasets.schema import Assets, Authentication, Storage

REPO = Path(__file__).resolve().parents[2]
ASSET_FIELDS = [
    {"name": "assets", "type": Assets},
    {"name": "storage", "type": Storage},
    {"name": "authentication", "type": Authentication},
]


def _peer_binary() -> Path:
    configured = os.environ.get("TILEBOX_ASSETS_PEER_BIN")
    if configured:
        return Path(configured)
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "assets_peer"


def _rust(server_url: str, dataset: str, collection: str, *command: str) -> str:
    binary = _peer_binary()
    if not binary.exists():
        pytest.skip(f"assets_peer binary not found at {binary}; build it with "
                    "`cargo build -p tilebox-examples --bin assets_peer` or set TILEBOX_ASSETS_PEER_BIN")
    result = subprocess.run(
        [str(binary), "--url", server_url, "--dataset", dataset, "--collection", collection, *command],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _opt(message, field):
    return getattr(message, field) if message.has_field(field) else None


def _eo(e):
    if e is None:
        return None
    return {
        "common_name": int(e.common_name),
        "center_wavelength": _opt(e, "center_wavelength"),
        "full_width_half_max": _opt(e, "full_width_half_max"),
        "solar_illumination": _opt(e, "solar_illumination"),
    }


def _raster(r):
    if r is None:
        return None
    return {
        "sampling": int(r.sampling),
        "scale": _opt(r, "scale"),
        "offset": _opt(r, "offset"),
        "spatial_resolution": _opt(r, "spatial_resolution"),
    }


def _sar(s):
    if s is None:
        return None
    return {
        "polarizations": [int(p) for p in s.polarizations],
        "instrument_mode": _opt(s, "instrument_mode"),
        "frequency_band": int(s.frequency_band),
        "center_frequency": _opt(s, "center_frequency"),
    }


def _location(loc):
    return {
        "href": loc.href,
        "alternate_name": loc.alternate_name,
        "storage": {
            k: {"platform": s.platform, "region": _opt(s, "region"), "requester_pays": _opt(s, "requester_pays")}
            for k, s in loc.storage_schemes.items()
        },
        "authentication": {
            k: {"known_type": None if not a.has_field("known_type") else int(a.known_type), "name": _opt(a, "name")}
            for k, a in loc.authentication_schemes.items()
        },
    }


def _role(role):
    return role.name.lower().replace("_", "-") if isinstance(role, KnownAssetRole) else role


def _asset(a):
    checksum = a.file.checksum if a.file is not None and a.file.has_field("checksum") else b""
    return {
        "key": a.key,
        "primary": _location(a.primary),
        "alternates": {k: _location(v) for k, v in a.alternates.items()},
        "media_type": None if a.media_type is None else str(a.media_type),
        "title": a.title,
        "description": a.description,
        "roles": sorted(_role(r) for r in a.roles),
        "gsd": a.gsd,
        "data_type": int(a.data_type),
        "nodata": a.nodata,
        "unit": a.unit,
        "file_size": _opt(a.file, "size") if a.file is not None else None,
        "file_checksum": checksum.hex() if checksum else None,
        "bands": [
            {
                "name": b.name,
                "description": b.description,
                "data_type": int(b.data_type),
                "nodata": b.nodata,
                "unit": b.unit,
                "eo": _eo(b.eo),
                "raster": _raster(b.raster),
                "sar": _sar(b.sar),
                "classes": len(b.classes),
            }
            for b in a.bands
        ],
    }


def _python_resolution(collection) -> list:
    data = collection.query(temporal_extent=("1970-01-01", "2100-01-01"), show_progress=False)
    out = [[_asset(a) for a in AssetCollection.from_datapoint(dp).values()] for dp in iter_datapoints(data)]
    return json.loads(json.dumps(out))  # the same number/None normalisation the Rust JSON went through


def _python_authored() -> list[Asset]:
    aws = StorageScheme(
        known_type=KnownStorageType.AWS_S3,
        platform="https://{bucket}.s3.{region}.amazonaws.com",
        region="us-west-2",
        requester_pays=False,
    )
    auth = AuthenticationScheme(known_type=KnownAuthenticationType.S3, name="aws")
    raster = RasterProperties(scale=0.5, spatial_resolution=30.0)

    def band(name, common, center):
        return Band(
            name=name,
            eo=EOProperties(common_name=common, center_wavelength=center),
            data_type=DataType.UINT16,
            nodata=0.0,
            raster=raster,
        )

    return [
        Asset(
            key="red",
            primary=AssetLocation(
                href="s3://py-bucket/scenes/LC09/red.tif",
                storage_schemes={"aws": aws},
                authentication_schemes={"aws-auth": auth},
            ),
            alternates={"https": AssetLocation(href="https://py.example.com/scenes/LC09/red.tif", alternate_name="Web")},
            media_type=MediaType.CLOUD_OPTIMIZED_GEOTIFF,
            title="Red",
            roles=frozenset({"data", KnownAssetRole.REFLECTANCE, "py-custom"}),
            gsd=30.0,
            bands=(band("B4", EOCommonName.RED, 0.655), Band(name="B4b", unit="K", eo=EOProperties(center_wavelength=0.66),
                                                          data_type=DataType.UINT16, nodata=0.0, raster=raster)),
        ),
        Asset(
            key="hh",
            primary=AssetLocation(href="s3://py-bucket/scenes/S1/hh.tif", storage_schemes={"aws": aws}),
            media_type="application/x-py-custom",
            roles=frozenset({"data", "amplitude"}),
            sar=SARProperties(instrument_mode="EW", frequency_band=SARFrequencyBand.C),
            bands=(Band(name="HH", sar=SARProperties(polarizations=[SARPolarization.HH])),),
        ),
        Asset(
            key="mtl",
            primary=AssetLocation(href="https://py.example.com/scenes/LC09/MTL.json"),
            media_type=MediaType.JSON,
            description="Metadata",
            roles=frozenset({"metadata"}),
            file=File(size=99, checksum=bytes([0x12, 0x20]) + bytes(range(32))),
        ),
    ]


def _dataset(client, prefix):
    code_name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dataset = client.create_or_update_dataset(DatasetKind.TEMPORAL, code_name, ASSET_FIELDS)
    return code_name, dataset.get_or_create_collection("scenes")


def test_python_authored_assets_resolve_identically_in_rust(client, server_url):
    code_name, collection = _dataset(client, "py_assets")
    authored = AssetCollection.from_assets(_python_authored())
    fields = authored.to_fields()
    collection.ingest({
        "time": [datetime(2024, 5, 1, tzinfo=timezone.utc)],
        "assets": [fields["assets"]],
        "storage": [fields["storage"]],
        "authentication": [fields["authentication"]],
    })
    python = _python_resolution(collection)
    assert len(python) == 1
    assert sorted(a["key"] for a in python[0]) == ["hh", "mtl", "red"]
    red = next(a for a in python[0] if a["key"] == "red")
    assert red["alternates"]["https"]["href"] == "https://py.example.com/scenes/LC09/red.tif"
    assert red["bands"][1]["raster"]["scale"] == 0.5  # inherited from the asset after lifting
    rust = json.loads(_rust(server_url, code_name, "scenes", "resolve"))
    assert rust == python


def test_rust_authored_assets_resolve_identically_in_python(client, server_url):
    code_name, collection = _dataset(client, "rs_assets")
    _rust(server_url, code_name, "scenes", "ingest", "--time", "2024-06-01T00:00:00Z")
    python = _python_resolution(collection)
    assert len(python) == 1
    by_key = {a["key"]: a for a in python[0]}
    assert sorted(by_key) == ["metadata", "visual", "vv"]
    visual = by_key["visual"]
    assert visual["primary"]["href"] == "s3://rust-bucket/tiles/T32/visual.tif"
    assert visual["primary"]["storage"]["aws"]["region"] == "eu-central-1"
    assert visual["alternates"]["https"]["alternate_name"] == "HTTPS"
    assert visual["roles"] == ["data", "rust-custom", "visual"]
    assert [b["unit"] for b in visual["bands"]] == [None, None, "dn"]
    assert all(b["nodata"] == 0.0 and b["raster"]["scale"] == 0.0001 for b in visual["bands"])
    assert by_key["vv"]["bands"][0]["sar"]["instrument_mode"] == "IW"  # inherited by the band
    assert by_key["vv"]["media_type"] == "application/x-rust-custom"
    rust = json.loads(_rust(server_url, code_name, "scenes", "resolve"))
    assert rust == python


def test_demo_assets_resolve_identically(client, server_url):
    collection = client.dataset("open_data.demo.scene_assets").collection("S2_DEMO")
    python = _python_resolution(collection)
    assert len(python) == 12
    image = next(a for a in python[0] if a["key"] == "image")
    assert image["primary"]["href"].startswith(server_url + "/assets/scene_assets/")
    assert image["alternates"]["file"]["href"].startswith("file:///")
    assert image["file_checksum"].startswith("1220")
    rust = json.loads(_rust(server_url, "open_data.demo.scene_assets", "S2_DEMO", "resolve"))
    assert rust == python
