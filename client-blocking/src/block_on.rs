//! Running a core future to completion on the calling thread: the core's parking [`block_on`], the SDK's one
//! rule for blocking entry points (they work inside any runtime).

pub(crate) use tilebox_core::block_on;
