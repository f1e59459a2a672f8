//! Developer tasks for the workspace.
//!
//! `cargo run -p xtask -- codegen` compiles `core/proto/**.proto` with protox (pure Rust, no `protoc`) and
//! writes the prost code to `core/src/wire/gen/` and the descriptor set to `core/src/wire/descriptors.bin`.
//! Both are checked in, so building the workspace never needs a protobuf compiler.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prost::Message;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("codegen") => match codegen() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("codegen failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo run -p xtask -- codegen");
            ExitCode::FAILURE
        }
    }
}

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn codegen() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("core");
    let proto_dir = root.join("proto");
    let mut files = Vec::new();
    proto_files(&proto_dir, &mut files)?;
    files.sort();
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&proto_dir).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    let mut compiler = protox::Compiler::new([&proto_dir])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(&relative)?;
    let fds = compiler.file_descriptor_set();

    let wire = root.join("src").join("wire");
    let gen_dir = wire.join("gen");
    std::fs::create_dir_all(&gen_dir)?;
    std::fs::write(wire.join("descriptors.bin"), fds.encode_to_vec())?;

    let mut config = prost_build::Config::new();
    config
        .out_dir(&gen_dir)
        .bytes(["."])
        .disable_comments(["."])
        .compile_fds(fds)?;
    println!(
        "wrote {} and {}",
        gen_dir.display(),
        wire.join("descriptors.bin").display()
    );
    Ok(())
}
