//! Descriptor pools: the bundled files, and the normalisation that makes the server's descriptors loadable.

use std::collections::HashSet;
use std::sync::OnceLock;

use prost_reflect::DescriptorPool;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

use crate::error::{Error, Result};

/// A pool of every bundled proto file: the Google well-known types, `tilebox.v1`, `datasets.v1` (including
/// `well_known_types.proto`) and the STAC files. Built once; clones are cheap.
pub fn bundled_pool() -> Result<DescriptorPool> {
    static POOL: OnceLock<std::result::Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::wire::FILE_DESCRIPTOR_SET)
            .map_err(|e| format!("bundled descriptors: {e}"))
    })
    .clone()
    .map_err(Error::decode)
}

/// Builds a pool holding the bundled files plus the files of `set` (those not bundled already), normalised:
/// editions files become proto2 with the same presence, names are qualified where the legacy files left them
/// relative, and every file may use every bundled file.
pub(crate) fn pool_with(set: &FileDescriptorSet) -> Result<DescriptorPool> {
    let mut pool = bundled_pool()?;
    let bundled: Vec<String> = pool.files().map(|f| f.name().to_owned()).collect();
    let mut known: HashSet<String> = pool
        .all_messages()
        .map(|m| m.full_name().to_owned())
        .chain(pool.all_enums().map(|e| e.full_name().to_owned()))
        .collect();
    let new_files: Vec<FileDescriptorProto> = set
        .file
        .iter()
        .filter(|f| !bundled.iter().any(|b| b == f.name()))
        .cloned()
        .collect();
    for file in &new_files {
        collect_names(file.package(), file, &mut known);
    }
    let new_names: Vec<String> = new_files.iter().map(|f| f.name().to_owned()).collect();
    let files: Vec<FileDescriptorProto> = new_files
        .into_iter()
        .map(|mut file| {
            normalize(&mut file, &known);
            let own = file.name().to_owned();
            // Let the file see every bundled file and the other files of the set, whatever it declared.
            file.dependency = bundled
                .iter()
                .chain(new_names.iter().filter(|n| **n != own))
                .cloned()
                .collect();
            file.public_dependency.clear();
            file.weak_dependency.clear();
            file
        })
        .collect();
    let missing = missing_types(&files, &known);
    pool.add_file_descriptor_protos(files).map_err(|e| {
        if missing.is_empty() {
            Error::decode(format!("invalid dataset schema: {e}"))
        } else {
            Error::decode(format!(
                "dataset schema references unknown type(s) {}: {e}",
                missing.join(", ")
            ))
        }
    })?;
    Ok(pool)
}

fn collect_names(package: &str, file: &FileDescriptorProto, out: &mut HashSet<String>) {
    fn message(prefix: &str, msg: &DescriptorProto, out: &mut HashSet<String>) {
        let name = join(prefix, msg.name());
        for nested in &msg.nested_type {
            message(&name, nested, out);
        }
        for e in &msg.enum_type {
            out.insert(join(&name, e.name()));
        }
        out.insert(name);
    }
    for msg in &file.message_type {
        message(package, msg, out);
    }
    for e in &file.enum_type {
        out.insert(join(package, e.name()));
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Rewrites a file in place so prost-reflect can load it with the same wire semantics.
fn normalize(file: &mut FileDescriptorProto, known: &HashSet<String>) {
    let editions = file.syntax() == "editions";
    if editions {
        // Edition 2023 without feature overrides = explicit presence for singular fields, packed repeated
        // scalars, open enums. Proto2 with LABEL_OPTIONAL fields and packed=true gives the same wire format
        // and presence (prost-reflect keeps unknown enum numbers either way).
        // (prost-types has no `edition`/`features` fields: they were already dropped as unknown fields when
        // the AnnotatedType was decoded, so only the syntax needs changing.)
        file.syntax = Some("proto2".to_owned());
    }
    let package = file.package().to_owned();
    for msg in &mut file.message_type {
        normalize_message(msg, &package, editions, known);
    }
}

fn normalize_message(
    msg: &mut DescriptorProto,
    package: &str,
    editions: bool,
    known: &HashSet<String>,
) {
    for field in &mut msg.field {
        normalize_field(field, package, editions, known);
    }
    for nested in &mut msg.nested_type {
        normalize_message(nested, package, editions, known);
    }
}

fn normalize_field(
    field: &mut FieldDescriptorProto,
    package: &str,
    editions: bool,
    known: &HashSet<String>,
) {
    if editions && field.label() == Label::Repeated && is_packable(field) {
        field.options.get_or_insert_with(Default::default).packed = Some(true);
    }
    if let Some(name) = field.type_name.as_mut()
        && !name.starts_with('.')
    {
        // Legacy proto3 files use names relative to their package, or qualified without the leading dot.
        let candidates = [
            format!("{package}.{name}"),
            name.clone(),
            format!("datasets.v1.{name}"),
        ];
        if let Some(found) = candidates.iter().find(|c| known.contains(c.as_str())) {
            *name = format!(".{found}");
        }
    }
}

fn is_packable(field: &FieldDescriptorProto) -> bool {
    // A field with a type name but no type is a message or enum to be resolved; only enums are packable, and
    // an enum-typed field always carries its type in the server's files.
    let unresolved = field.r#type.is_none() && field.type_name.is_some();
    let length_delimited = matches!(
        field.r#type(),
        Type::String | Type::Bytes | Type::Message | Type::Group
    );
    !unresolved && !length_delimited
}

/// The fully-qualified type names referenced by `files` that neither the bundled files nor `files` define.
fn missing_types(files: &[FileDescriptorProto], known: &HashSet<String>) -> Vec<String> {
    fn visit(msg: &DescriptorProto, known: &HashSet<String>, out: &mut Vec<String>) {
        for field in &msg.field {
            if let Some(name) = field.type_name.as_deref() {
                let name = name.trim_start_matches('.');
                if !known.contains(name) && !out.iter().any(|o| o == name) {
                    out.push(name.to_owned());
                }
            }
        }
        for nested in &msg.nested_type {
            visit(nested, known, out);
        }
    }
    let mut out = Vec::new();
    for file in files {
        for msg in &file.message_type {
            visit(msg, known, &mut out);
        }
    }
    out
}
