//! Loading straight into Arrow: a [`PageSink`] that decodes every page as it arrives (on the adapter's
//! [`Offload`] when it has one) while the load keeps other pages in flight, and [`RecordBatches`], the
//! per-query result.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;

use super::decode::decode_batch;
use super::schema::MessagePlan;
use crate::error::{Error, Result};
use crate::load::PageSink;
use crate::transport::{BoxFuture, Offload};

/// The Arrow result of one query: record batches in query order (one per page), all with one schema.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl RecordBatches {
    /// Batches of `schema` (every batch must have it).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        RecordBatches { schema, batches }
    }

    /// The schema of every batch.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches, in query order.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Takes the batches.
    pub fn into_batches(self) -> Vec<RecordBatch> {
        self.batches
    }

    /// Total number of rows (datapoints).
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.num_rows() == 0
    }

    /// All batches as one (copies the columns once; an empty result gives an empty batch of the schema).
    pub fn concat(&self) -> Result<RecordBatch> {
        arrow_select::concat::concat_batches(&self.schema, &self.batches)
            .map_err(|e| Error::decode(format!("cannot concatenate the record batches: {e}")))
    }
}

/// Decoded pages by job, sub-interval and page number.
type Slots = Vec<Vec<Vec<Option<RecordBatch>>>>;

/// Decodes each page of each job with the job's plan and keeps the batches in order.
pub(crate) struct ArrowSink {
    plans: Vec<Arc<MessagePlan>>,
    offload: Option<Arc<dyn Offload>>,
    slots: Arc<Mutex<Slots>>,
}

impl ArrowSink {
    /// A sink for jobs decoded with `plans` (one per job), decoding on `offload` if given.
    pub(crate) fn new(plans: Vec<Arc<MessagePlan>>, offload: Option<Arc<dyn Offload>>) -> Self {
        let slots = plans.iter().map(|_| Vec::new()).collect();
        ArrowSink {
            plans,
            offload,
            slots: Arc::new(Mutex::new(slots)),
        }
    }

    /// The batches of job `job` in query order (sub-intervals in order, pages in order).
    pub(crate) fn take(&self, job: usize) -> Result<RecordBatches> {
        let plan = self
            .plans
            .get(job)
            .ok_or_else(|| Error::decode("no such load job"))?;
        let segments = std::mem::take(
            lock(&self.slots)
                .get_mut(job)
                .ok_or_else(|| Error::decode("no such load job"))?,
        );
        let mut batches = Vec::new();
        for page in segments.into_iter().flatten() {
            // A missing page can only follow an error, which the load reports instead.
            batches.push(page.ok_or(Error::Cancelled)?);
        }
        Ok(RecordBatches::new(plan.schema.clone(), batches))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn store(slots: &Mutex<Slots>, job: usize, segment: usize, page: usize, batch: RecordBatch) {
    let mut slots = lock(slots);
    let Some(segments) = slots.get_mut(job) else {
        return;
    };
    if segments.len() <= segment {
        segments.resize_with(segment + 1, Vec::new);
    }
    let pages = &mut segments[segment];
    if pages.len() <= page {
        pages.resize_with(page + 1, || None);
    }
    pages[page] = Some(batch);
}

impl PageSink for ArrowSink {
    fn page(
        &self,
        job: usize,
        segment: usize,
        page: usize,
        values: Vec<Bytes>,
    ) -> BoxFuture<'static, Result<()>> {
        let Some(plan) = self.plans.get(job).cloned() else {
            return Box::pin(async { Err(Error::decode("no such load job")) });
        };
        let slots = self.slots.clone();
        let work = move || {
            let batch = decode_batch(&plan, &values)?;
            store(&slots, job, segment, page, batch);
            Ok(())
        };
        run(self.offload.as_ref(), work)
    }
}

/// Runs `work` on `offload` (resolving when it is done) or, without one, when the future is polled.
pub(crate) fn run<T: Send + 'static>(
    offload: Option<&Arc<dyn Offload>>,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> BoxFuture<'static, Result<T>> {
    match offload {
        None => Box::pin(async move { work() }),
        Some(offload) => {
            let (tx, rx) = futures::channel::oneshot::channel();
            offload.spawn(Box::new(move || {
                // The receiver may be gone (the load was dropped): nothing to report then.
                let _ = tx.send(work());
            }));
            // A dropped sender means the job never ran to completion (its thread died).
            Box::pin(async move { rx.await.unwrap_or(Err(Error::Cancelled)) })
        }
    }
}
