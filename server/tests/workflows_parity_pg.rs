//! The `workflows_parity` suite on PostgreSQL: `workflows_parity.rs` compiled once more, every server on a fresh
//! database of the test PostgreSQL server (see `workflows_pg.rs`).

#[path = "workflows_parity.rs"]
mod suite;
