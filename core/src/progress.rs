//! Progress reporting (spec §6.7) as a state machine, plus the listener trait users implement.
//!
//! Progress of a query is estimated from time, not counts: the effective window of a (sub-)interval is
//! `[max(start, time of its first datapoint), min(end, now)]`, and after each page the fraction is
//! `(time of the page's last datapoint - window start) / window length`. When a query is split into
//! sub-intervals that page concurrently, the fraction is the length-weighted mean over the sub-intervals
//! (with one sub-interval this is exactly the rule above). Events also carry the datapoints and serialized
//! bytes received so far, and the last event of every operation has `fraction == 1.0` and `done == true`.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::time::TimeInterval;

/// One progress update of one labelled operation (usually a collection being loaded).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressEvent {
    /// What progresses (the collection name, or a caller-chosen label).
    pub label: String,
    /// Estimated fraction done, in `0.0..=1.0`.
    pub fraction: f64,
    /// Datapoints received (or sent) so far.
    pub datapoints: u64,
    /// Serialized bytes of those datapoints.
    pub bytes: u64,
    /// Whether the operation finished (successfully or not); the final event has `fraction == 1.0` on success.
    pub done: bool,
    /// Set while a request of this operation waits to be retried (the server is unavailable or restarting);
    /// the other fields then repeat the last state.
    pub retrying: Option<crate::retry::RetryWait>,
}

/// Receives progress events. Called from whatever task drives the operation, possibly concurrently for
/// different labels, so implementations must be cheap and thread safe.
pub trait ProgressListener: Send + Sync {
    /// Handle one event.
    fn on_progress(&self, event: &ProgressEvent);
}

impl<F: Fn(&ProgressEvent) + Send + Sync> ProgressListener for F {
    fn on_progress(&self, event: &ProgressEvent) {
        self(event)
    }
}

#[derive(Debug, Clone)]
struct Segment {
    start: DateTime<Utc>,
    /// `min(end, now)`.
    end: DateTime<Utc>,
    /// `[max(start, first datapoint time), end]`, fixed by the first non-empty page.
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    fraction: f64,
    done: bool,
}

impl Segment {
    fn weight(&self) -> f64 {
        seconds(self.end - self.start).max(0.0)
    }
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_nanoseconds()
        .map_or_else(|| d.num_milliseconds() as f64 / 1e3, |n| n as f64 / 1e9)
}

#[derive(Debug, Clone)]
enum Mode {
    /// Time-based over one or more sub-intervals.
    Time(Vec<Segment>),
    /// Count-based with a known total (ingest, delete, id intervals).
    Count { total: u64 },
}

/// Turns pages (or chunks) into [`ProgressEvent`]s for one labelled operation.
#[derive(Debug, Clone)]
pub struct ProgressTracker {
    label: String,
    mode: Mode,
    datapoints: u64,
    bytes: u64,
    done: bool,
}

impl ProgressTracker {
    /// Time-based progress over `interval`, with `now` as the latest time data can exist for.
    pub fn new(label: impl Into<String>, interval: &TimeInterval, now: DateTime<Utc>) -> Self {
        Self::with_segments(label, std::slice::from_ref(interval), now)
    }

    /// Time-based progress over sub-intervals paged independently (index them as in `segments`).
    pub fn with_segments(
        label: impl Into<String>,
        segments: &[TimeInterval],
        now: DateTime<Utc>,
    ) -> Self {
        let segments = segments
            .iter()
            .map(|s| Segment {
                start: s.start(),
                end: s.end().min(now),
                window: None,
                fraction: 0.0,
                done: false,
            })
            .collect();
        ProgressTracker {
            label: label.into(),
            mode: Mode::Time(segments),
            datapoints: 0,
            bytes: 0,
            done: false,
        }
    }

    /// Count-based progress towards `total` datapoints.
    pub fn counting(label: impl Into<String>, total: u64) -> Self {
        ProgressTracker {
            label: label.into(),
            mode: Mode::Count { total },
            datapoints: 0,
            bytes: 0,
            done: false,
        }
    }

    /// The label of the events.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Datapoints counted so far.
    pub fn datapoints(&self) -> u64 {
        self.datapoints
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records one page of sub-interval `segment` (ignored for count-based trackers): the times of its first
    /// and last datapoint (`None` for an empty page), its datapoint count and serialized size. Returns the
    /// event to report.
    pub fn on_page(
        &mut self,
        segment: usize,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        datapoints: u64,
        bytes: u64,
    ) -> ProgressEvent {
        self.datapoints += datapoints;
        self.bytes += bytes;
        if let Mode::Time(segments) = &mut self.mode
            && let Some(seg) = segments.get_mut(segment)
            && !seg.done
        {
            if seg.window.is_none()
                && let Some(first) = first
            {
                seg.window = Some((seg.start.max(first), seg.end));
            }
            if let (Some((ws, we)), Some(last)) = (seg.window, last) {
                let length = seconds(we - ws);
                if length > 0.0 {
                    seg.fraction = (seconds(last - ws) / length).clamp(0.0, 1.0);
                }
            }
        }
        self.event()
    }

    /// Marks sub-interval `segment` as completely loaded (its fraction becomes 1). Returns the event.
    pub fn segment_done(&mut self, segment: usize) -> ProgressEvent {
        if let Mode::Time(segments) = &mut self.mode
            && let Some(seg) = segments.get_mut(segment)
        {
            seg.done = true;
            seg.fraction = 1.0;
        }
        self.event()
    }

    /// Marks the whole operation finished: the returned event has `done == true` and `fraction == 1.0`.
    pub fn finish(&mut self) -> ProgressEvent {
        self.done = true;
        if let Mode::Time(segments) = &mut self.mode {
            for seg in segments {
                seg.done = true;
                seg.fraction = 1.0;
            }
        }
        self.event()
    }

    /// Marks the operation as aborted (an error): the returned event has `done == true` and keeps the
    /// fraction reached.
    pub fn abort(&mut self) -> ProgressEvent {
        self.done = true;
        self.event()
    }

    /// The fraction done now.
    pub fn fraction(&self) -> f64 {
        match &self.mode {
            Mode::Count { total } => {
                if *total == 0 {
                    if self.done { 1.0 } else { 0.0 }
                } else {
                    (self.datapoints as f64 / *total as f64).clamp(0.0, 1.0)
                }
            }
            Mode::Time(segments) => {
                if segments.is_empty() {
                    return if self.done { 1.0 } else { 0.0 };
                }
                let total: f64 = segments.iter().map(Segment::weight).sum();
                if total > 0.0 {
                    segments
                        .iter()
                        .map(|s| s.weight() * s.fraction)
                        .sum::<f64>()
                        / total
                } else {
                    segments.iter().map(|s| s.fraction).sum::<f64>() / segments.len() as f64
                }
            }
        }
    }

    /// The event describing the current state.
    pub fn event(&self) -> ProgressEvent {
        ProgressEvent {
            label: self.label.clone(),
            fraction: self.fraction(),
            datapoints: self.datapoints,
            bytes: self.bytes,
            done: self.done,
            retrying: None,
        }
    }
}

impl fmt::Display for ProgressEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.1}% ({} datapoints, {:.2} MB){}",
            self.label,
            self.fraction * 100.0,
            self.datapoints,
            self.bytes as f64 / 1e6,
            if self.done { " done" } else { "" }
        )
    }
}
