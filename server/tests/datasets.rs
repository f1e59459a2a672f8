//! DatasetService and CollectionService over Connect proto: demo tree, schemas, create/update/delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::*;
use prost::Message;
use tilebox_core::wire::datasets::v1 as ds;
use tilebox_server::datasets::wire::DatasetOut;

const LANDSAT: &str = "open_data.copernicus.landsat8_oli_tirs";

#[tokio::test]
async fn demo_tree_groups_are_resolvable() {
    if common::skip() {
        return;
    }
    let url = demo();
    let r: ds::ListDatasetsResponse = call(
        url,
        "datasets.v1.DatasetService/ListDatasets",
        &ds::ListDatasetsRequest::default(),
    )
    .await
    .unwrap();
    let groups: HashMap<Vec<u8>, &ds::DatasetGroup> = r
        .groups
        .iter()
        .map(|g| (g.id.as_ref().unwrap().uuid.to_vec(), g))
        .collect();
    let mut slugs = Vec::new();
    for d in &r.datasets {
        // Walk up the group chain and rebuild the slug.
        let mut parts = vec![d.code_name.clone()];
        let mut gid = d.group_id.as_ref().map(|g| g.uuid.to_vec());
        while let Some(g) = gid {
            let group = groups.get(&g).expect("referenced group is listed");
            parts.insert(0, group.code_name.clone());
            gid = group.parent_id.as_ref().map(|p| p.uuid.to_vec());
        }
        assert_eq!(parts.join("."), d.slug);
        slugs.push(d.slug.clone());
    }
    // Other tests share this server and may have created datasets of their own (group `local`).
    slugs.retain(|slug| !slug.starts_with("local."));
    slugs.sort();
    assert_eq!(
        slugs,
        vec![
            LANDSAT.to_owned(),
            "open_data.copernicus.sentinel1_sar".to_owned(),
            "open_data.demo.scene_assets".to_owned(),
        ]
    );
}

#[tokio::test]
async fn descriptor_set_has_the_hosted_shape() {
    if common::skip() {
        return;
    }
    let url = demo();
    let req = ds::GetDatasetRequest {
        slug: LANDSAT.into(),
        id: None,
    };
    let (status, _, body) = connect_raw(
        url,
        "datasets.v1.DatasetService/GetDataset",
        req.encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let raw = DatasetOut::decode(body.clone()).unwrap();
    let t = raw.r#type.unwrap();
    let files = t.descriptor_set.unwrap().file;
    assert_eq!(files.len(), 1);
    // Edition 2023 is present as field 14 (0x70, varint 1000).
    assert!(files[0].windows(3).any(|w| w == [0x70, 0xE8, 0x07]));
    let file = prost_types::FileDescriptorProto::decode(files[0].clone()).unwrap();
    let group_hex: String = raw
        .group_id
        .unwrap()
        .uuid
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        file.name(),
        format!("datasets/v1/group_{group_hex}/Landsat8OliTirs.proto")
    );
    assert_eq!(file.package(), format!("datasets.v1.group_{group_hex}"));
    assert_eq!(file.syntax(), "editions");
    assert_eq!(
        t.type_url,
        format!("datasets.v1.group_{group_hex}.Landsat8OliTirs")
    );
    for dep in &file.dependency {
        assert!(
            [
                "google/protobuf/timestamp.proto",
                "google/protobuf/duration.proto",
                "datasets/v1/well_known_types.proto"
            ]
            .contains(&dep.as_str()),
            "{dep}"
        );
    }
    let message = &file.message_type[0];
    let names: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
    assert_eq!(&names[..4], &["time", "id", "ingestion_time", "geometry"]);
    for (i, f) in message.field.iter().enumerate() {
        assert_eq!(f.number(), i as i32 + 1);
        assert!(f.json_name.is_some());
    }
    assert_eq!(message.field[2].json_name(), "ingestionTime");
    assert_eq!(message.field[1].type_name(), ".datasets.v1.UUID");
    assert_eq!(t.field_annotations.len(), message.field.len());
    assert_eq!(t.kind, ds::DatasetKind::Spatiotemporal as i32);
    // The same bytes decode with the core's generated types.
    let typed = ds::Dataset::decode(body).unwrap();
    assert_eq!(typed.slug, LANDSAT);
    assert_eq!(typed.permissions.len(), 3);
}

#[tokio::test]
async fn get_dataset_by_slug_and_id_and_errors() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let by_id: ds::Dataset = call(
        url,
        "datasets.v1.DatasetService/GetDataset",
        &ds::GetDatasetRequest {
            slug: String::new(),
            id: d.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(by_id, d);
    let get = |req: ds::GetDatasetRequest| async move {
        call::<_, ds::Dataset>(url, "datasets.v1.DatasetService/GetDataset", &req)
            .await
            .unwrap_err()
    };
    let e = get(ds::GetDatasetRequest {
        slug: "open_data.copernicus.nope".into(),
        id: None,
    })
    .await;
    assert_eq!(
        (e.http, e.code.as_str(), e.message.as_str()),
        (404, "not_found", "no such dataset")
    );
    let e = get(ds::GetDatasetRequest {
        slug: String::new(),
        id: Some(id(&[7; 16])),
    })
    .await;
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("not_found", "no such dataset")
    );
    let e = get(ds::GetDatasetRequest::default()).await;
    assert_eq!(e.code, "invalid_argument");
    let e = get(ds::GetDatasetRequest {
        slug: LANDSAT.into(),
        id: d.id.clone(),
    })
    .await;
    assert_eq!(e.code, "invalid_argument");
    let e = get(ds::GetDatasetRequest {
        slug: "bad slug!".into(),
        id: None,
    })
    .await;
    assert_eq!(e.code, "invalid_argument");
    for bad in [vec![1u8; 15], vec![0u8; 16], vec![]] {
        let e = get(ds::GetDatasetRequest {
            slug: String::new(),
            id: Some(id(&bad)),
        })
        .await;
        assert_eq!(e.code, "invalid_argument", "{bad:?}");
    }
}

#[tokio::test]
async fn demo_collections_with_counts_and_availability() {
    if common::skip() {
        return;
    }
    let url = demo();
    let d = dataset(url, LANDSAT).await;
    let r: ds::ListCollectionsResponse = call(
        url,
        "datasets.v1.CollectionService/ListCollections",
        &ds::ListCollectionsRequest {
            dataset_id: d.id.clone(),
            with_availability: true,
            with_count: true,
        },
    )
    .await
    .unwrap();
    let names: Vec<&str> = r
        .data
        .iter()
        .map(|c| c.collection.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, vec!["L1GT", "L1T", "L1TP", "L2SP"]);
    for c in &r.data {
        let a = c.availability.as_ref().unwrap();
        assert!(a.end_inclusive);
        assert!(a.start_time.unwrap().seconds < T2020, "data in 2019");
        assert!(a.end_time.unwrap().seconds >= T2021, "data in 2021");
        assert!(c.count.unwrap() > 1000);
    }
    // Without flags neither count nor availability.
    let r: ds::ListCollectionsResponse = call(
        url,
        "datasets.v1.CollectionService/ListCollections",
        &ds::ListCollectionsRequest {
            dataset_id: d.id.clone(),
            with_availability: false,
            with_count: false,
        },
    )
    .await
    .unwrap();
    assert!(
        r.data
            .iter()
            .all(|c| c.count.is_none() && c.availability.is_none())
    );
    let e = call::<_, ds::CollectionInfo>(
        url,
        "datasets.v1.CollectionService/GetCollectionByName",
        &ds::GetCollectionByNameRequest {
            collection_name: "nope".into(),
            dataset_id: d.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "not_found");
    let e = call::<_, ds::ListCollectionsResponse>(
        url,
        "datasets.v1.CollectionService/ListCollections",
        &ds::ListCollectionsRequest {
            dataset_id: Some(id(&[9; 16])),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("not_found", "no such dataset")
    );
}

#[tokio::test]
async fn create_update_delete_dataset_and_collections() {
    if common::skip() {
        return;
    }
    let url = demo();
    let (d, collection_id) = create_test_dataset(url, "crud_dataset").await;
    assert_eq!(d.slug, "local.crud_dataset");
    // Bare code name resolves to the caller's own dataset.
    assert_eq!(dataset(url, "crud_dataset").await.id, d.id);
    // Duplicate code name → already_exists.
    let dup = call::<_, ds::Dataset>(
        url,
        "datasets.v1.DatasetService/CreateDataset",
        &ds::CreateDatasetRequest {
            name: "x".into(),
            code_name: "crud_dataset".into(),
            r#type: Some(ds::DatasetType {
                kind: 1,
                fields: vec![],
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(dup.code, "already_exists");
    // Invalid requests.
    for req in [
        ds::CreateDatasetRequest {
            code_name: "Bad-Name".into(),
            r#type: Some(ds::DatasetType {
                kind: 1,
                fields: vec![],
            }),
            ..Default::default()
        },
        ds::CreateDatasetRequest {
            code_name: "no_type".into(),
            ..Default::default()
        },
        ds::CreateDatasetRequest {
            code_name: "no_kind".into(),
            r#type: Some(ds::DatasetType {
                kind: 0,
                fields: vec![],
            }),
            ..Default::default()
        },
    ] {
        let e = call::<_, ds::Dataset>(url, "datasets.v1.DatasetService/CreateDataset", &req)
            .await
            .unwrap_err();
        assert_eq!(e.code, "invalid_argument", "{req:?}");
    }
    // Empty collection: count 0 present, availability the empty interval.
    let info = collection(url, d.id.as_ref().unwrap(), "main").await;
    assert_eq!(info.count, Some(0));
    assert_eq!(info.availability, Some(Default::default()));
    let e = call::<_, ds::CollectionInfo>(
        url,
        "datasets.v1.CollectionService/CreateCollection",
        &ds::CreateCollectionRequest {
            dataset_id: d.id.clone(),
            name: "main".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "already_exists");
    // Update name and description; type unchanged.
    let updated: ds::Dataset = call(
        url,
        "datasets.v1.DatasetService/UpdateDataset",
        &ds::UpdateDatasetRequest {
            id: d.id.clone(),
            name: Some("Renamed".into()),
            description: Some("desc".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.description.as_str()),
        ("Renamed", "desc")
    );
    assert_eq!(updated.r#type, d.r#type);
    // Delete the collection, then the dataset.
    let _: ds::DeleteCollectionResponse = call(
        url,
        "datasets.v1.CollectionService/DeleteCollection",
        &ds::DeleteCollectionRequest {
            collection_id: Some(collection_id.clone()),
            dataset_id: d.id.clone(),
        },
    )
    .await
    .unwrap();
    let e = call::<_, ds::DeleteCollectionResponse>(
        url,
        "datasets.v1.CollectionService/DeleteCollection",
        &ds::DeleteCollectionRequest {
            collection_id: Some(collection_id),
            dataset_id: d.id.clone(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "not_found");
    let r: ds::DeleteDatasetResponse = call(
        url,
        "datasets.v1.DatasetService/DeleteDataset",
        &ds::DeleteDatasetRequest { id: d.id.clone() },
    )
    .await
    .unwrap();
    assert!(r.trashed);
    let e = call::<_, ds::Dataset>(
        url,
        "datasets.v1.DatasetService/GetDataset",
        &ds::GetDatasetRequest {
            slug: "local.crud_dataset".into(),
            id: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.message, "no such dataset");
    let e = call::<_, ds::DeleteDatasetResponse>(
        url,
        "datasets.v1.DatasetService/DeleteDataset",
        &ds::DeleteDatasetRequest { id: d.id },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "not_found");
}

#[tokio::test]
async fn type_of_a_non_empty_dataset_may_only_grow() {
    if common::skip() {
        return;
    }
    use prost_types::field_descriptor_proto::Type;
    let url = demo();
    let (d, collection_id) = create_test_dataset(url, "growing_dataset").await;
    ingest(url, &collection_id, vec![point(T2020, 1.0, "a")], true)
        .await
        .unwrap();
    let mut t = ds::DatasetType {
        kind: 1,
        fields: vec![],
    };
    let field = |name: &str, ty: Type| ds::Field {
        descriptor: Some(prost_types::FieldDescriptorProto {
            name: Some(name.into()),
            r#type: Some(ty as i32),
            ..Default::default()
        }),
        annotation: None,
    };
    // Dropping the custom fields of a non-empty dataset is refused.
    let e = call::<_, ds::Dataset>(
        url,
        "datasets.v1.DatasetService/UpdateDataset",
        &ds::UpdateDatasetRequest {
            id: d.id.clone(),
            r#type: Some(t.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "failed_precondition");
    // Appending a field works; numbering stays positional.
    t.fields = vec![
        field("value", Type::Double),
        field("label", Type::String),
        field("extra", Type::Int64),
    ];
    let updated: ds::Dataset = call(
        url,
        "datasets.v1.DatasetService/UpdateDataset",
        &ds::UpdateDatasetRequest {
            id: d.id.clone(),
            r#type: Some(t),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let file = &updated.r#type.unwrap().descriptor_set.unwrap().file[0];
    let fields = &file.message_type[0].field;
    assert_eq!(fields.len(), 6);
    assert_eq!((fields[5].name(), fields[5].number()), ("extra", 6));
}
