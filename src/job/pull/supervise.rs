//! A pull's workers answer for their failures. A fetch that panics becomes a failed message
//! naming its recording; a producer task that ends without [`Msg::End`] (a panic while listing)
//! fails the run. A panic used to only close the channel, which the writer took for the end of
//! the window: the run exited 0 and the watermark moved past recordings never fetched.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::task::JoinError;

use super::Msg;
use crate::error::Error;

/// Runs one recording's fetch; a panic in it becomes [`Msg::Failed`].
pub(super) async fn fetch_guarded(session: String, fetch: impl Future<Output = Msg>) -> Msg {
    match AssertUnwindSafe(fetch).catch_unwind().await {
        Ok(m) => m,
        Err(p) => Msg::Failed(Error::Worker {
            task: format!("fetching recording {session}"),
            message: panic_message(&*p),
        }),
    }
}

/// A blocking task's failure (e.g. decoding) as an error naming what it did.
pub(super) fn task_failed(task: String, e: JoinError) -> Error {
    let message = if e.is_panic() {
        panic_message(&*e.into_panic())
    } else {
        e.to_string()
    };
    Error::Worker { task, message }
}

/// The error for a producer that closed the channel without [`Msg::End`].
pub(super) fn stopped_early(joined: Result<(), JoinError>) -> Error {
    let task = "the pull's listing task".to_string();
    match joined {
        Err(e) => task_failed(task, e),
        Ok(()) => Error::Worker {
            task,
            message: "stopped before the end of the listing".into(),
        },
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned());
    match text {
        Some(t) => format!("panicked: {t}"),
        None => "panicked".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_panicking_fetch_is_a_failure_naming_the_recording() {
        let m = rt().block_on(fetch_guarded("s-1".into(), async {
            panic!("from_secs_f64 overflow")
        }));
        let Msg::Failed(e) = m else {
            panic!("not a failure")
        };
        let e = e.to_string();
        assert!(
            e.contains("s-1") && e.contains("from_secs_f64 overflow"),
            "{e}"
        );
    }

    #[test]
    fn a_producer_that_panicked_or_stopped_is_a_failure() {
        let rt = rt();
        let joined = rt.block_on(async { tokio::spawn(async { panic!("in the listing") }).await });
        let e = stopped_early(joined).to_string();
        assert!(
            e.contains("listing task") && e.contains("in the listing"),
            "{e}"
        );
        assert!(stopped_early(Ok(())).to_string().contains("before the end"));
    }
}
