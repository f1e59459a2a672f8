//! SIGTERM / SIGINT handling of a runner (`RunnerBuilder::handle_signals`), without an async runtime: a
//! listener thread parks on the signal stream (driven by async-io's reactor) until the run ends.
//!
//! The first signal cancels the runner's shutdown token (graceful shutdown), a second one exits the process
//! with status 130. Dropping the returned [`Listener`] stops listening and restores the default handlers.

use futures::StreamExt;
use futures::channel::oneshot;
use futures::future::{Either, select};
use tokio_util::sync::CancellationToken;

/// Listens while alive.
pub(crate) struct Listener {
    _stop: Option<oneshot::Sender<()>>,
}

/// Start listening for SIGTERM and SIGINT on behalf of `shutdown`.
pub(crate) fn listen(shutdown: CancellationToken) -> Listener {
    #[cfg(unix)]
    {
        use async_signal::{Signal, Signals};
        let mut signals = match Signals::new([Signal::Term, Signal::Int]) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for signals");
                return Listener { _stop: None };
            }
        };
        let (tx, mut rx) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("tilebox-runner-signals".into())
            .spawn(move || {
                tilebox_core::block_on(async move {
                    let mut received = 0;
                    loop {
                        match select(signals.next(), &mut rx).await {
                            Either::Left((Some(Ok(_)), _)) => {
                                received += 1;
                                if received == 1 {
                                    tracing::info!(
                                        "signal received: finishing the running tasks, then stopping"
                                    );
                                    shutdown.cancel();
                                } else {
                                    std::process::exit(130);
                                }
                            }
                            Either::Left((Some(Err(_)), _)) => {}
                            // The stream ended or the run is over.
                            Either::Left((None, _)) | Either::Right(_) => return,
                        }
                    }
                });
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the signal listener");
            return Listener { _stop: None };
        }
        Listener { _stop: Some(tx) }
    }
    #[cfg(not(unix))]
    {
        let _ = shutdown;
        tracing::warn!("signal handling is only available on Unix");
        Listener { _stop: None }
    }
}
