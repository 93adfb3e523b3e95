//! Stopping a run: Ctrl-C, a revoked token, or a portal asking to wait too
//! long. One [`Stop`] is shared by every stage; the reason it holds decides
//! what the rows not sent are told, and the run's exit code.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::human;

/// Why a run stopped before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The portal refused the token in the middle of the run.
    Unauthorized,
    /// A 429 asked every request to wait longer than a row waits.
    PortalAskedToWait(Duration),
}

impl StopReason {
    /// Why a row was not sent.
    pub(crate) fn not_sent_message(self) -> String {
        match self {
            StopReason::Interrupted => "interrupted before it was sent".into(),
            StopReason::Unauthorized => "not sent: the portal refused the access token".into(),
            StopReason::PortalAskedToWait(d) => format!(
                "not sent: the portal asked to wait {} before any new request",
                human::wait(d)
            ),
        }
    }

    /// The warning shown the moment the run starts winding down.
    pub(crate) fn notice(self) -> String {
        match self {
            StopReason::Unauthorized => "the portal refused the access token: sending stops now; \
                 the requests in flight finish"
                .to_owned(),
            StopReason::PortalAskedToWait(d) => format!(
                "the portal asks to wait {} before any new request: sending stops now; the \
                 requests in flight finish",
                human::duration(d)
            ),
            StopReason::Interrupted => "interrupted: no new rows are sent; waiting for the \
                 requests in flight (press Ctrl-C again to quit at once)"
                .to_owned(),
        }
    }
}

/// Carries a stop to every stage: the first reason given is kept.
#[derive(Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl Stop {
    pub(crate) fn stop(&self, reason: StopReason) {
        let mut r = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason);
        }
        self.token.cancel();
    }

    pub(crate) fn reason(&self) -> Option<StopReason> {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(crate) async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// What a row that was not sent is told.
    pub(crate) fn not_sent_message(&self) -> String {
        self.reason()
            .unwrap_or(StopReason::Interrupted)
            .not_sent_message()
    }
}

/// Watches Ctrl-C and SIGTERM while it lives.
pub(crate) struct Watch(tokio::task::JoinHandle<()>);

impl Watch {
    pub(crate) fn start(stop: &std::sync::Arc<Stop>) -> Watch {
        Watch(tokio::spawn(watch_signals(stop.clone())))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// First Ctrl-C or SIGTERM: stop sending and finish cleanly. Second: quit now.
async fn watch_signals(stop: std::sync::Arc<Stop>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut count = 0;
    loop {
        #[cfg(unix)]
        let got = tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            } => r.is_some(),
        };
        #[cfg(not(unix))]
        let got = tokio::signal::ctrl_c().await.is_ok();
        if !got {
            return;
        }
        count += 1;
        if count == 1 {
            stop.stop(StopReason::Interrupted);
        } else {
            // The reporter may be busy: this one line goes straight out.
            eprintln!(
                "\ninterrupted again: quitting at once; rows in flight are unknown (their results are lost)"
            );
            std::process::exit(130);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept() {
        let s = Stop::default();
        assert!(!s.is_stopped());
        s.stop(StopReason::Unauthorized);
        s.stop(StopReason::Interrupted);
        assert!(s.is_stopped());
        assert_eq!(s.reason(), Some(StopReason::Unauthorized));
        assert_eq!(
            s.not_sent_message(),
            "not sent: the portal refused the access token"
        );
    }
}
