//! Arrow ingest and Parquet output against the in-process server: RecordBatch → ingest → query → RecordBatch
//! is identical, Parquet written and read back is identical (and ingests again), mismatching columns are a
//! typed error that ingests nothing.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema as ArrowSchema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tilebox_client_tests::every_kind;
use tilebox_client_tests::suite::servers;
use tilebox_core::arrow::{ParquetOptions, ParquetWriter};
use tilebox_core::{Collection, Error, IngestOptions, QueryOptions};

/// Columns the server assigns per collection and ingest; everything else must survive a round trip.
const SERVER_COLUMNS: [&str; 2] = ["id", "ingestion_time"];

fn client() -> tilebox_core::Client {
    tilebox_tokio::Client::builder()
        .url(servers::demo())
        .build()
        .expect("client")
        .core()
        .clone()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

async fn query_all(collection: &Collection) -> RecordBatch {
    collection
        .query_arrow(&QueryOptions::new(every_kind::INTERVAL))
        .await
        .expect("query")
        .concat()
        .expect("one batch")
}

/// The batch without the server-assigned columns.
fn user_columns(batch: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !SERVER_COLUMNS.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    batch.project(&keep).expect("projection")
}

fn to_parquet(batch: &RecordBatch, options: &ParquetOptions) -> Bytes {
    let mut out = Vec::new();
    let mut writer =
        ParquetWriter::with_options(&mut out, batch.schema(), options).expect("writer");
    // Two writes: the writer takes batches one at a time.
    let half = batch.num_rows() / 2;
    writer.write(&batch.slice(0, half)).expect("write");
    writer
        .write(&batch.slice(half, batch.num_rows() - half))
        .expect("write");
    let summary = writer.finish().expect("finish");
    assert_eq!(summary.rows, batch.num_rows() as u64);
    Bytes::from(out)
}

fn read_parquet(bytes: Bytes) -> (Vec<RecordBatch>, Option<String>, usize) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("a parquet file");
    let row_groups = builder.metadata().num_row_groups();
    let geo = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == "geo"))
        .and_then(|e| e.value.clone());
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches");
    (batches, geo, row_groups)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_round_trips_through_ingest_and_parquet() {
    let client = client();
    let source = every_kind::seed(
        &client,
        &unique("every_kind"),
        "source",
        every_kind::Kinds::All,
    )
    .await
    .expect("seed");
    let original = query_all(&source).await;
    assert_eq!(original.num_rows(), 4);
    let dataset = source.dataset().clone();

    // RecordBatch → ingest → query → RecordBatch.
    let copy = dataset.create_collection("copy").await.expect("collection");
    let summary = copy
        .ingest_record_batch(&original, &IngestOptions::new())
        .await
        .expect("ingest from arrow");
    assert_eq!(summary.num_created, 4);
    let copied = query_all(&copy).await;
    assert_eq!(copied.schema(), original.schema());
    assert_eq!(user_columns(&copied), user_columns(&original));

    // Parquet written and read back is the same batch, GeoParquet metadata names both geometry columns.
    let bytes = to_parquet(&original, &ParquetOptions::new().max_row_group_rows(3));
    let (batches, geo, row_groups) = read_parquet(bytes);
    assert_eq!(row_groups, 2, "row groups of at most 3 rows");
    let read = arrow_select_concat(&batches);
    assert_eq!(read, original);
    let geo: serde_json::Value = serde_json::from_str(&geo.expect("geo metadata")).expect("json");
    assert_eq!(geo["version"], "1.1.0");
    assert_eq!(geo["primary_column"], "geometry");
    assert_eq!(geo["columns"]["geometry"]["encoding"], "WKB");
    assert_eq!(
        geo["columns"]["geometry"]["geometry_types"],
        serde_json::json!(["MultiPolygon", "Polygon"])
    );
    assert_eq!(
        geo["columns"]["geometry"]["bbox"],
        serde_json::json!([-10.0, -10.0, 20.5, 51.5])
    );
    assert_eq!(
        geo["columns"]["f_footprint"]["geometry_types"],
        serde_json::json!(["MultiPolygon", "Point", "Polygon"])
    );

    // Parquet → dataset.
    let from_parquet = dataset
        .create_collection("from_parquet")
        .await
        .expect("collection");
    from_parquet
        .ingest_record_batches(&batches, &IngestOptions::new())
        .await
        .expect("ingest the parquet batches");
    assert_eq!(
        user_columns(&query_all(&from_parquet).await),
        user_columns(&original)
    );
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    tilebox_core::arrow::RecordBatches::new(batches[0].schema(), batches.to_vec())
        .concat()
        .expect("concat")
}

#[tokio::test(flavor = "multi_thread")]
async fn mismatching_columns_are_a_typed_error_and_ingest_nothing() {
    let client = client();
    let dataset = every_kind::create_dataset(&client, &unique("mismatch"), every_kind::Kinds::All)
        .await
        .expect("dataset");
    let collection = dataset
        .create_collection("target")
        .await
        .expect("collection");
    let schema = dataset.schema().expect("schema");
    let times = tilebox_core::arrow::arrow_schema(&schema.message_descriptor())
        .expect("arrow schema")
        .field_with_name("time")
        .expect("time")
        .clone();
    let time: ArrayRef = Arc::new(
        arrow_array::TimestampNanosecondArray::from(vec![1_609_459_200_000_000_000i64])
            .with_timezone("UTC"),
    );

    let cases: Vec<(&str, Field, ArrayRef)> = vec![
        (
            "no_such_field",
            Field::new("no_such_field", arrow_schema::DataType::Int64, true),
            Arc::new(Int64Array::from(vec![1])),
        ),
        (
            "f_int64",
            Field::new("f_int64", arrow_schema::DataType::Utf8, true),
            Arc::new(StringArray::from(vec!["1"])),
        ),
        (
            "f_level",
            Field::new("f_level", arrow_schema::DataType::Utf8, true),
            Arc::new(StringArray::from(vec!["NOT_A_LEVEL"])),
        ),
    ];
    for (column, field, array) in cases {
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![times.clone(), field])),
            vec![time.clone(), array],
        )
        .expect("batch");
        let err = collection
            .ingest_record_batch(&batch, &IngestOptions::new())
            .await
            .expect_err("a mismatching column");
        match &err {
            Error::ColumnMismatch { column: c, .. } => assert_eq!(c, column, "{err}"),
            other => panic!("expected ColumnMismatch for {column}, got {other:?}"),
        }
    }
    let info = collection.refresh_info().await.expect("info");
    assert_eq!(info.count, Some(0), "nothing was ingested");

    // The same column as names the enum accepts: the value name, the short name, or a number as text.
    let batch = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            times.clone(),
            Field::new("f_level", arrow_schema::DataType::Utf8, true),
        ])),
        vec![
            Arc::new(
                arrow_array::TimestampNanosecondArray::from(vec![
                    1_609_459_200_000_000_000i64,
                    1_609_459_201_000_000_000,
                    1_609_459_202_000_000_000,
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec!["PROCESSING_LEVEL_L2A", "L1C", "4"])),
        ],
    )
    .expect("batch");
    collection
        .ingest_record_batch(&batch, &IngestOptions::new())
        .await
        .expect("enum names");
    let levels = query_all(&collection).await;
    let levels = levels
        .column_by_name("f_level")
        .expect("f_level")
        .as_any()
        .downcast_ref::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>()
        .expect("dictionary");
    let names: Vec<String> = (0..levels.len())
        .map(|i| {
            let values = levels
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("names");
            values.value(levels.keys().value(i) as usize).to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "PROCESSING_LEVEL_L2A",
            "PROCESSING_LEVEL_L1C",
            "PROCESSING_LEVEL_L2"
        ]
    );
}

#[test]
fn blocking_adapter_ingests_record_batches() {
    let client = tilebox_blocking::Client::builder()
        .url(servers::demo())
        .build()
        .expect("client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let code_name = unique("blocking_arrow");
    let source = runtime
        .block_on(every_kind::seed(
            client.as_async(),
            &code_name,
            "source",
            every_kind::Kinds::All,
        ))
        .expect("seed");
    let original = runtime.block_on(query_all(&source));
    let dataset = client.dataset(source.dataset().slug()).expect("dataset");
    let copy = dataset.create_collection("copy").expect("collection");
    let summary = copy
        .ingest_record_batch(&original, &IngestOptions::new())
        .expect("blocking ingest");
    assert_eq!(summary.num_created, 4);
    let copied = runtime.block_on(query_all(copy.as_async()));
    assert_eq!(user_columns(&copied), user_columns(&original));
}
