//! The concurrent loading logic, written once over `futures` for every adapter.
//!
//! A load takes several [`LoadJob`]s (usually one per collection); each job's time interval may be split
//! into sub-intervals ([`crate::split`]) that page independently. Every sub-interval pages strictly
//! sequentially by cursor ([`QueryPlan`]), and at most `concurrency` sub-intervals are active at once, so at
//! most `concurrency` requests are in flight in total. Sub-intervals are scheduled round-robin over the jobs
//! so all jobs progress together. Results come back per job in input order, with the datapoints of the
//! sub-intervals concatenated in order — identical to loading the job sequentially.
//!
//! Nothing is spawned: the returned future drives every request itself, and dropping it drops (and thereby
//! cancels) every in-flight request.
//!
//! [`PageStream`] is the streaming counterpart for one query: pages in order, with the next page requested
//! while the caller processes the current one.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, Stream, StreamExt};
use prost::Message;

use crate::error::{Error, Result};
use crate::paging::QueryPlan;
use crate::progress::{ProgressListener, ProgressTracker};
use crate::retry::RetryHook;
use crate::rpc::RpcClient;
use crate::time::{TimeInterval, timestamp_to_datetime};
use crate::transport::BoxFuture;
use crate::wire::datasets::v1::{QueryRequest, QueryResultPage, TemporalDatapoint};

/// Fetches one page: the seam between the loading logic and the RPC layer (tests substitute fakes).
pub trait PageFetcher: Send + Sync {
    /// Sends one `Query` request.
    fn fetch(&self, request: QueryRequest) -> BoxFuture<'static, Result<QueryResultPage>>;

    /// Sends one `Query` request, reporting waits between retries to `on_retry` (by default, not at all).
    fn fetch_reporting_retries(
        &self,
        request: QueryRequest,
        on_retry: RetryHook,
    ) -> BoxFuture<'static, Result<QueryResultPage>> {
        let _ = on_retry;
        self.fetch(request)
    }
}

impl PageFetcher for RpcClient {
    fn fetch(&self, request: QueryRequest) -> BoxFuture<'static, Result<QueryResultPage>> {
        let rpc = self.clone();
        Box::pin(async move { rpc.query(request).await })
    }

    fn fetch_reporting_retries(
        &self,
        request: QueryRequest,
        on_retry: RetryHook,
    ) -> BoxFuture<'static, Result<QueryResultPage>> {
        let rpc = self.with_retry_hook(on_retry);
        Box::pin(async move { rpc.query(request).await })
    }
}

impl<F> PageFetcher for F
where
    F: Fn(QueryRequest) -> BoxFuture<'static, Result<QueryResultPage>> + Send + Sync,
{
    fn fetch(&self, request: QueryRequest) -> BoxFuture<'static, Result<QueryResultPage>> {
        self(request)
    }
}

/// One query to load completely: usually one collection, or one dataset-level query over several.
#[derive(Debug, Clone)]
pub struct LoadJob {
    /// Label of the progress events (the collection name).
    pub label: String,
    /// The request without paging (`page` is ignored). Its `filters.time_interval` is replaced per
    /// sub-interval when `segments` holds more than one.
    pub request: QueryRequest,
    /// The sub-intervals to page independently, in time order (see [`crate::split::split_interval`]); empty
    /// means "the request as it is" (e.g. a datapoint-id interval). Also drives time-based progress.
    pub segments: Vec<TimeInterval>,
    /// Page size (`limit`) of every request; `None` for the server default.
    pub page_size: Option<u64>,
}

/// The raw result of one job: the datapoints' serialized bytes in query order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawDatapoints {
    /// The dataset type of the values (empty if no page carried data).
    pub type_url: String,
    /// One serialized datapoint per entry, in order.
    pub values: Vec<Bytes>,
    /// How many `Query` requests were sent for this job.
    pub requests: u64,
}

/// Settings of one load.
#[derive(Clone)]
pub struct LoadSettings {
    /// Maximum number of requests in flight over all jobs (at least 1).
    pub concurrency: usize,
    /// Receives per-job progress events.
    pub progress: Option<Arc<dyn ProgressListener>>,
    /// The latest time data can exist for (progress windows end here); usually `Utc::now()`.
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for LoadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadSettings")
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .field("now", &self.now)
            .finish()
    }
}

impl LoadSettings {
    /// `concurrency` requests in flight, no progress listener, `now` = the current time.
    pub fn new(concurrency: usize) -> Self {
        LoadSettings {
            concurrency: concurrency.max(1),
            progress: None,
            now: Utc::now(),
        }
    }

    /// Sets the progress listener.
    pub fn progress(mut self, listener: Option<Arc<dyn ProgressListener>>) -> Self {
        self.progress = listener;
        self
    }
}

/// Times of the first and last datapoint of a page (for progress), read from the common-field prefix.
pub fn page_time_span(values: &[Bytes]) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let time_of = |v: &Bytes| {
        TemporalDatapoint::decode(v.as_ref())
            .ok()
            .and_then(|d| d.time)
            .and_then(|t| timestamp_to_datetime(&t).ok())
    };
    (
        values.first().and_then(time_of),
        values.last().and_then(time_of),
    )
}

struct JobState {
    tracker: ProgressTracker,
    remaining: usize,
    failed: bool,
}

struct Shared {
    jobs: Vec<Mutex<JobState>>,
    cancelled: Vec<AtomicBool>,
    listener: Option<Arc<dyn ProgressListener>>,
}

impl Shared {
    fn report(&self, event: crate::progress::ProgressEvent) {
        if let Some(listener) = &self.listener {
            listener.on_progress(&event);
        }
    }

    fn with_job<R>(&self, job: usize, f: impl FnOnce(&mut JobState) -> R) -> Option<R> {
        let state = self.jobs.get(job)?;
        let mut guard = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(f(&mut guard))
    }
}

struct SegmentResult {
    job: usize,
    segment: usize,
    result: Result<RawDatapoints>,
}

/// Loads every job completely; results are in the order of `jobs`.
///
/// At most `settings.concurrency` requests are in flight at any time. A failing job stops paging (its other
/// sub-intervals stop after their current request) and yields its error; other jobs are unaffected.
pub async fn load_jobs(
    fetcher: Arc<dyn PageFetcher>,
    jobs: Vec<LoadJob>,
    settings: LoadSettings,
) -> Vec<Result<RawDatapoints>> {
    let segment_counts: Vec<usize> = jobs.iter().map(|j| j.segments.len().max(1)).collect();
    let shared = Arc::new(Shared {
        jobs: jobs
            .iter()
            .zip(&segment_counts)
            .map(|(job, &count)| {
                Mutex::new(JobState {
                    tracker: ProgressTracker::with_segments(
                        job.label.clone(),
                        &job.segments,
                        settings.now,
                    ),
                    remaining: count,
                    failed: false,
                })
            })
            .collect(),
        cancelled: jobs.iter().map(|_| AtomicBool::new(false)).collect(),
        listener: settings.progress.clone(),
    });
    for i in 0..jobs.len() {
        if let Some(event) = shared.with_job(i, |s| s.tracker.event()) {
            shared.report(event);
        }
    }

    // Round-robin over jobs: segment 0 of every job, then segment 1 of every job, ...
    let max_segments = segment_counts.iter().copied().max().unwrap_or(0);
    let mut order = Vec::new();
    for s in 0..max_segments {
        for (j, &count) in segment_counts.iter().enumerate() {
            if s < count {
                order.push((j, s));
            }
        }
    }
    let tasks = order.into_iter().map(|(j, s)| {
        let job = &jobs[j];
        let mut request = job.request.clone();
        if job.segments.len() > 1
            && let Some(filters) = request.filters.as_mut()
        {
            filters.time_interval = Some(job.segments[s].to_wire());
        }
        run_segment(
            fetcher.clone(),
            shared.clone(),
            j,
            s,
            QueryPlan::new(request, job.page_size),
        )
    });
    let mut segments: Vec<Vec<Option<Result<RawDatapoints>>>> = segment_counts
        .iter()
        .map(|&n| (0..n).map(|_| None).collect())
        .collect();
    let mut finished = stream::iter(tasks).buffer_unordered(settings.concurrency.max(1));
    while let Some(SegmentResult {
        job,
        segment,
        result,
    }) = finished.next().await
    {
        if let Some(slot) = segments.get_mut(job).and_then(|s| s.get_mut(segment)) {
            *slot = Some(result);
        }
    }
    segments
        .into_iter()
        .map(|parts| {
            let parts: Vec<Result<RawDatapoints>> = parts
                .into_iter()
                .map(|p| p.unwrap_or(Err(Error::Cancelled)))
                .collect();
            // Report the error that stopped the job, not the cancellation of its sibling sub-intervals.
            if parts
                .iter()
                .any(|p| matches!(p, Err(e) if !matches!(e, Error::Cancelled)))
            {
                return Err(parts
                    .into_iter()
                    .find_map(|p| p.err().filter(|e| !matches!(e, Error::Cancelled)))
                    .unwrap_or(Error::Cancelled));
            }
            let mut out = RawDatapoints::default();
            for part in parts {
                let part = part?;
                if out.type_url.is_empty() {
                    out.type_url = part.type_url;
                }
                out.requests += part.requests;
                if out.values.is_empty() {
                    out.values = part.values;
                } else {
                    out.values.extend(part.values);
                }
            }
            Ok(out)
        })
        .collect()
}

async fn run_segment(
    fetcher: Arc<dyn PageFetcher>,
    shared: Arc<Shared>,
    job: usize,
    segment: usize,
    mut plan: QueryPlan,
) -> SegmentResult {
    let mut out = RawDatapoints::default();
    let result = loop {
        if shared
            .cancelled
            .get(job)
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            break Err(Error::Cancelled);
        }
        let Some(request) = plan.next_request() else {
            break Ok(());
        };
        let fetched = match &shared.listener {
            Some(_) => {
                let reporter = Arc::clone(&shared);
                let on_retry: RetryHook = Arc::new(move |wait| {
                    let event = reporter.with_job(job, |s| {
                        let mut event = s.tracker.event();
                        event.retrying = Some(wait.clone());
                        event
                    });
                    if let Some(event) = event {
                        reporter.report(event);
                    }
                });
                fetcher.fetch_reporting_retries(request, on_retry).await
            }
            None => fetcher.fetch(request).await,
        };
        match fetched {
            Ok(page) => {
                plan.advance(&page);
                let (type_url, values) = match page.data {
                    Some(data) => (data.type_url, data.value),
                    None => (String::new(), Vec::new()),
                };
                let (first, last) = page_time_span(&values);
                let bytes: u64 = values.iter().map(|v| v.len() as u64).sum();
                let count = values.len() as u64;
                if out.type_url.is_empty() {
                    out.type_url = type_url;
                }
                out.values.extend(values);
                let event = shared.with_job(job, |s| {
                    s.tracker.on_page(segment, first, last, count, bytes)
                });
                if let Some(event) = event {
                    shared.report(event);
                }
            }
            Err(error) => {
                plan.finish();
                break Err(error);
            }
        }
    };
    out.requests = plan.requests_sent();
    let event = shared.with_job(job, |s| match &result {
        Ok(()) => {
            s.remaining = s.remaining.saturating_sub(1);
            if s.remaining == 0 && !s.failed {
                Some(s.tracker.finish())
            } else if !s.failed {
                Some(s.tracker.segment_done(segment))
            } else {
                None
            }
        }
        Err(Error::Cancelled) => None,
        Err(_) => {
            let first_failure = !s.failed;
            s.failed = true;
            first_failure.then(|| s.tracker.abort())
        }
    });
    if result.is_err()
        && let Some(flag) = shared.cancelled.get(job)
    {
        flag.store(true, Ordering::Relaxed);
    }
    if let Some(Some(event)) = event {
        shared.report(event);
    }
    SegmentResult {
        job,
        segment,
        result: result.map(|()| out),
    }
}

/// Pages of one query as a stream, in order, prefetching the next page while the caller handles the
/// current one. At most one request is in flight and at most one page is buffered. Ends after the last page
/// or after the first error (which it yields). Dropping the stream cancels the in-flight request.
pub struct PageStream {
    fetcher: Arc<dyn PageFetcher>,
    plan: QueryPlan,
    in_flight: Option<BoxFuture<'static, Result<QueryResultPage>>>,
    ready: VecDeque<Result<QueryResultPage>>,
}

impl std::fmt::Debug for PageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStream")
            .field("plan", &self.plan)
            .field("in_flight", &self.in_flight.is_some())
            .field("ready", &self.ready.len())
            .finish()
    }
}

impl PageStream {
    /// A stream over the pages of `plan`.
    pub fn new(fetcher: Arc<dyn PageFetcher>, plan: QueryPlan) -> Self {
        PageStream {
            fetcher,
            plan,
            in_flight: None,
            ready: VecDeque::new(),
        }
    }

    fn start_next(&mut self) {
        if self.in_flight.is_none()
            && let Some(request) = self.plan.next_request()
        {
            self.in_flight = Some(self.fetcher.fetch(request));
        }
    }

    /// Polls the in-flight request; moves a finished response into `ready`.
    fn poll_in_flight(&mut self, cx: &mut Context<'_>) {
        if let Some(fut) = self.in_flight.as_mut()
            && let Poll::Ready(result) = fut.as_mut().poll(cx)
        {
            self.in_flight = None;
            match &result {
                Ok(page) => self.plan.advance(page),
                Err(_) => self.plan.finish(),
            }
            self.ready.push_back(result);
        }
    }
}

impl Stream for PageStream {
    type Item = Result<QueryResultPage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.ready.pop_front() {
                // Prefetch: start the next request and give it one poll so it is under way (registered with
                // the waker) while the caller handles this page.
                if this.ready.is_empty() {
                    this.start_next();
                    this.poll_in_flight(cx);
                }
                return Poll::Ready(Some(item));
            }
            this.start_next();
            if this.in_flight.is_none() {
                return Poll::Ready(None);
            }
            this.poll_in_flight(cx);
            if this.ready.is_empty() {
                return Poll::Pending;
            }
        }
    }
}
