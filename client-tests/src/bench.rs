//! Helpers shared by the hand-run benchmark binaries (`client-bench`, `arrow-bench`): command-line flags,
//! medians, each case in a fresh child process reporting one `RESULT` line, and the process's memory from
//! `/proc/self/status`.

use std::process::Command;

/// The value after `--name` in `args`, if any.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The median of `samples` (the upper one of an even count).
///
/// # Panics
/// When `samples` is empty.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Runs this benchmark binary again as `--case ARGS...` and returns the fields of the `RESULT` line it
/// prints (without `RESULT`).
///
/// # Panics
/// When the case fails or prints no `RESULT` line (a benchmark has no way to go on).
pub fn run_case<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<String> {
    let exe = std::env::current_exe().expect("current exe");
    let output = Command::new(exe)
        .arg("--case")
        .args(args)
        .env_remove("TILEBOX_API_KEY")
        .output()
        .expect("run the benchmark case");
    let name: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        output.status.success(),
        "case {} failed: {}",
        name.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .expect("a RESULT line");
    line.split_whitespace().skip(1).map(str::to_owned).collect()
}

/// Peak resident set (`VmHWM`) of this process in KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// A `/proc/self/status` line's value in KiB (0 where /proc is unavailable).
pub fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
