//! Field descriptors for the dataset types the integration tests build by hand (shared by the test crates
//! that `mod descriptors;` it; not every crate uses every helper).
#![allow(dead_code)]

use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};

/// A field with the given label.
pub fn field(
    name: &str,
    number: i32,
    ty: Type,
    type_name: Option<&str>,
    label: Label,
) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(ty as i32),
        type_name: type_name.map(str::to_owned),
        label: Some(label as i32),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

/// A singular (`optional`) field.
pub fn opt(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    field(name, number, ty, type_name, Label::Optional)
}

/// A `repeated` field.
pub fn rep(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    field(name, number, ty, type_name, Label::Repeated)
}
