//! The runtime context a runner's tasks run in: with the `tokio` feature, the tokio runtime the runner was
//! started in (or, for blocking entry points outside any runtime, one of its own), entered on every thread
//! the runner uses so tokio-based futures work there; without it, nothing: transports and timers of the
//! other adapters need no runtime on the polling thread.

/// A handle to the runtime tasks run in (empty without the `tokio` feature or outside tokio).
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskRuntime {
    #[cfg(feature = "tokio")]
    handle: Option<tokio::runtime::Handle>,
}

/// Keeps the runtime entered on this thread until dropped.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tokio")]
    _guard: Option<tokio::runtime::EnterGuard<'a>>,
    #[cfg(not(feature = "tokio"))]
    _marker: std::marker::PhantomData<&'a ()>,
}

impl TaskRuntime {
    /// The tokio runtime of the calling context, if any.
    pub(crate) fn current() -> Self {
        Self {
            #[cfg(feature = "tokio")]
            handle: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Whether a runtime is present (never without the `tokio` feature).
    pub(crate) fn is_present(&self) -> bool {
        #[cfg(feature = "tokio")]
        {
            self.handle.is_some()
        }
        #[cfg(not(feature = "tokio"))]
        {
            false
        }
    }

    /// A runtime from this tokio handle.
    #[cfg(feature = "tokio")]
    pub(crate) fn from_handle(handle: tokio::runtime::Handle) -> Self {
        Self {
            handle: Some(handle),
        }
    }

    /// The tokio handle, if any.
    #[cfg(feature = "tokio")]
    pub(crate) fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.handle.as_ref()
    }

    /// Enter the runtime for a whole sync task on one of the runner's threads: only a multi-thread runtime,
    /// whose I/O and timers run on its own workers (a current-thread one is entered by `block_on` only).
    pub(crate) fn enter_for_task(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tokio")]
            _guard: self
                .handle
                .as_ref()
                .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
                .map(tokio::runtime::Handle::enter),
            #[cfg(not(feature = "tokio"))]
            _marker: std::marker::PhantomData,
        }
    }

    /// Enter the runtime on this thread (a no-op without one).
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tokio")]
            _guard: self.handle.as_ref().map(tokio::runtime::Handle::enter),
            #[cfg(not(feature = "tokio"))]
            _marker: std::marker::PhantomData,
        }
    }
}

/// Whether blocking on this thread would stall a current-thread tokio runtime (its `block_on` or one of its
/// tasks runs here).
pub(crate) fn blocking_would_stall() -> bool {
    #[cfg(feature = "tokio")]
    {
        matches!(
            tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread)
        )
    }
    #[cfg(not(feature = "tokio"))]
    {
        false
    }
}
