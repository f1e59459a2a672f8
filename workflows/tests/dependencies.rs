//! What a program that uses workflows pulls in, read from `cargo tree`: with the async-std/smol or the blocking
//! adapter and without the `tokio` feature, neither tokio's runtime (`rt`, `rt-multi-thread`) nor the tokio adapter
//! (`tilebox-tokio`, `reqwest`) is built; with the feature, the runtime is (the check can see it).

use std::collections::BTreeSet;
use std::process::Command;

/// Runs `cargo tree` on the workspace with `args` and returns its distinct lines, without tree prefixes.
fn cargo_tree(args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--manifest-path", manifest, "--prefix", "none"])
        .args(args)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_owned())
        .collect()
}

/// The tokio features `cargo tree -i tokio` lists as enabled.
fn tokio_features(args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["-e", "normal,features", "-i", "tokio"];
    all.extend_from_slice(args);
    cargo_tree(&all)
        .into_iter()
        .filter_map(|l| {
            l.strip_prefix("tokio feature \"")
                .and_then(|f| f.strip_suffix('"'))
                .map(str::to_owned)
        })
        .collect()
}

/// Fails when the workflows crate built with `adapter` enables tokio's runtime or depends on the tokio adapter.
fn assert_no_tokio_runtime(adapter: &str) {
    let features = tokio_features(&["-p", "tilebox-workflows", "-p", adapter]);
    // tokio's synchronisation types come in through tokio-util (and hyper); its runtime must not.
    assert!(features.contains("sync"), "{adapter}: {features:?}");
    for rt in ["rt", "rt-multi-thread"] {
        assert!(
            !features.contains(rt),
            "{adapter}: tokio feature {rt:?} is enabled: {features:?}"
        );
    }
    let packages = cargo_tree(&["-e", "normal", "-p", "tilebox-workflows", "-p", adapter]);
    for name in ["tilebox-tokio ", "reqwest "] {
        let found: Vec<_> = packages.iter().filter(|l| l.starts_with(name)).collect();
        assert!(found.is_empty(), "{adapter}: {found:?} is a dependency");
    }
}

#[test]
fn workflows_on_the_async_std_adapter_build_no_tokio_runtime() {
    assert_no_tokio_runtime("tilebox-async-std");
}

#[test]
fn workflows_on_the_blocking_adapter_build_no_tokio_runtime() {
    assert_no_tokio_runtime("tilebox-blocking");
}

#[test]
fn the_tokio_feature_brings_tokios_runtime() {
    let features = tokio_features(&["-p", "tilebox-workflows", "--features", "tokio"]);
    assert!(features.contains("rt-multi-thread"), "{features:?}");
}
