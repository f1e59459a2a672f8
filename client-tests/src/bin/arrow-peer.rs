//! The Rust side of the Python oracle test `tests/python/test_arrow_peer.py`.
//!
//! ```text
//! arrow-peer seed   --url URL --code-name NAME --collection NAME --kinds all|xarray   # creates the every-kind dataset, prints its slug
//! arrow-peer export --url URL --dataset SLUG --collection NAME --start T --end T --out FILE.parquet
//! ```
//!
//! `export` loads the query through the tokio client, converts it to Arrow page by page and streams the
//! batches into a GeoParquet file; it prints the number of rows written.

use std::fs::File;
use std::io::BufWriter;

use futures::StreamExt;
use tilebox_core::QueryOptions;
use tilebox_core::arrow::ParquetWriter;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn usage() -> ! {
    eprintln!(
        "usage: arrow-peer seed --url URL --code-name NAME --collection NAME --kinds all|xarray\n       \
         arrow-peer export --url URL --dataset SLUG --collection NAME --start T --end T --out FILE"
    );
    std::process::exit(2)
}

/// `--name value` pairs after the subcommand.
fn flag(args: &[String], name: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == format!("--{name}"))
        .map(|w| w[1].clone())
        .unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else {
        usage()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        let client = tilebox_tokio::Client::builder()
            .url(flag(&args, "url"))
            .build()?;
        let client = client.core();
        match command.as_str() {
            "seed" => seed(client, &args).await,
            "export" => export(client, &args).await,
            _ => usage(),
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn seed(client: &tilebox_core::Client, args: &[String]) -> Result<(), BoxError> {
    use tilebox_client_tests::every_kind::{Kinds, seed};
    let kinds = match flag(args, "kinds").as_str() {
        "all" => Kinds::All,
        "xarray" => Kinds::Xarray,
        _ => usage(),
    };
    let collection = seed(
        client,
        &flag(args, "code-name"),
        &flag(args, "collection"),
        kinds,
    )
    .await?;
    println!("{}", collection.dataset().slug());
    Ok(())
}

async fn export(client: &tilebox_core::Client, args: &[String]) -> Result<(), BoxError> {
    let dataset = client.dataset(&flag(args, "dataset")).await?;
    let collection = dataset.collection(&flag(args, "collection")).await?;
    let options = QueryOptions::new((flag(args, "start"), flag(args, "end")));
    let out = BufWriter::new(File::create(flag(args, "out"))?);
    let schema = tilebox_core::arrow::arrow_schema(&dataset.schema()?.message_descriptor())?;
    let mut writer = ParquetWriter::try_new(out, schema)?;
    let mut pages = collection.pages(&options);
    while let Some(page) = pages.next().await {
        writer.write(&page?.to_record_batch()?)?;
    }
    let summary = writer.finish()?;
    println!("{}", summary.rows);
    Ok(())
}
