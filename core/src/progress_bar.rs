//! Progress bars on stderr (feature `progress-bar`): one [`indicatif`] bar per label (collection) in a
//! `MultiProgress`, updated from [`ProgressEvent`]s as they arrive, possibly from concurrent loads.
//!
//! Each bar shows the time-based fraction, the datapoints so far and the throughput in MB/s of serialized
//! datapoints. When stderr is not a terminal nothing is drawn.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{ProgressEvent, ProgressListener};

const LENGTH: u64 = 1000;
const TEMPLATE: &str = "{prefix:>16.bold} [{bar:32.cyan/blue}] {percent:>3}% {msg}";

/// A [`ProgressListener`] drawing one bar per label. Create one per operation (a query or a
/// `load_collections` call).
pub struct ProgressBars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    style: ProgressStyle,
}

impl std::fmt::Debug for ProgressBars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressBars")
            .field("hidden", &self.multi.is_hidden())
            .finish()
    }
}

impl Default for ProgressBars {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressBars {
    /// Bars on stderr, hidden when stderr is not a terminal.
    pub fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self::with_draw_target(target)
    }

    /// Bars drawn to `target` (e.g. `ProgressDrawTarget::hidden()` in tests).
    pub fn with_draw_target(target: ProgressDrawTarget) -> Self {
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        ProgressBars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            style,
        }
    }

    /// Whether nothing is drawn.
    pub fn is_hidden(&self) -> bool {
        self.multi.is_hidden()
    }
}

fn message(event: &ProgressEvent, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let mb = event.bytes as f64 / 1e6;
    let rate = if secs > 0.0 { mb / secs } else { 0.0 };
    format!("{} datapoints, {rate:.2} MB/s", event.datapoints)
}

impl ProgressListener for ProgressBars {
    fn on_progress(&self, event: &ProgressEvent) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let (bar, started) = bars.entry(event.label.clone()).or_insert_with(|| {
            let bar = self
                .multi
                .add(ProgressBar::new(LENGTH).with_style(self.style.clone()));
            bar.set_prefix(event.label.clone());
            (bar, Instant::now())
        });
        if let Some(retry) = &event.retrying {
            bar.set_message(format!(
                "waiting for the server: attempt {} failed, retrying in {:.1} s",
                retry.attempt,
                retry.wait.as_secs_f64()
            ));
            return;
        }
        let position = (event.fraction.clamp(0.0, 1.0) * LENGTH as f64).round() as u64;
        bar.set_position(position);
        bar.set_message(message(event, *started));
        if event.done {
            bar.finish();
        }
    }
}
