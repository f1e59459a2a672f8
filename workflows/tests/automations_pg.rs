//! The `automations` suite on PostgreSQL: `automations.rs` compiled once more, every server on a fresh database of
//! the test PostgreSQL server (skipped, printing `SKIPPED:` lines, only when PostgreSQL is not installed).

#[path = "automations.rs"]
mod suite;
