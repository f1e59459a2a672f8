//! Fixtures for the workspace's tests (a dev-dependency only; not published).
//!
//! - [`postgres_url`] / [`fresh_database`] (feature `postgres`, on by default): the PostgreSQL server of the
//!   PostgreSQL test suites. `TILEBOX_TEST_POSTGRES_URL` when set; otherwise a throw-away cluster this crate
//!   starts itself from the installed PostgreSQL binaries, one per `cargo test` run, shared by all its test
//!   binaries and gone when that run ends. Only when neither is available do the tests skip.
//! - [`Skip`] / [`report_skip`]: a test that cannot run says so in one line, `SKIPPED: <test>: <reason>`,
//!   which shows in `cargo test` output (it bypasses the harness's output capture) and which `.ci/run`
//!   counts as skipped rather than passed.

use std::fmt;
use std::io::Write;

#[cfg(feature = "postgres")]
mod postgres;

#[cfg(feature = "postgres")]
pub use postgres::{URL_VARIABLE, fresh_database, postgres_url, with_database};

/// Why a test cannot run here (a missing service or fixture, never a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    reason: String,
}

impl Skip {
    /// A skip for `reason` (what is missing and how to provide it).
    pub fn new(reason: impl Into<String>) -> Self {
        Skip {
            reason: reason.into(),
        }
    }

    /// What is missing.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Prints the `SKIPPED:` line for the calling test (see [`report_skip`]).
    pub fn report(&self) {
        report_skip(&self.reason);
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Skip {}

/// The name of the running test: libtest runs each test on a thread named after it (`module::test`).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map_or_else(|| "<unnamed test>".to_owned(), str::to_owned)
}

/// Prints `SKIPPED: <test name>: <reason>` as one line on standard error, written to the stream itself: the
/// test harness captures `print!`/`eprint!` output of passing tests, not direct writes, so the line shows in
/// every `cargo test` run. `.ci/run` counts these lines and reports those tests as skipped.
pub fn report_skip(reason: &str) {
    let line = format!("SKIPPED: {}: {}\n", test_name(), reason.replace('\n', " "));
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(line.as_bytes());
    let _ = stderr.flush();
}
