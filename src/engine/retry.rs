//! The one retry loop every request goes through, the start-up lookups and
//! every row alike: a pure decision ([`decide`]) from what happened so far
//! and the latest answer to settle, retry after a wait, or pause the whole
//! pool; and one small async loop ([`Engine::send`]) that waits for its turn,
//! sends, and follows the decision.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::portal::classify::Data;
use futures::FutureExt;
use tokio::time::Instant;

use crate::engine::stop::{Stop, StopReason};
use crate::human;
use crate::pacing::{Answer, Backoff, Pacer, PauseGate, THROTTLE_GIVE_UP, Ticket};
use crate::portal::{Attempt, Outcome, Portal, Request};

/// How a request ended, after all its attempts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    /// The portal accepted it; the answer's `data`.
    Success(Option<Data>),
    /// A create refused only because the user exists.
    Exists,
    /// Refused for a reason retrying will not change.
    Rejected(String),
    /// 404: it does not exist.
    NotFound(String),
    /// A lookup's answer was longer than it may be.
    TooLarge(String),
    /// The token was refused: the run stops.
    Unauthorized(String),
    /// Transient failures used up the retries; the last one's reason.
    GaveUp(String),
    /// 429s for longer than a request waits.
    ThrottledTooLong,
    /// One 429 asked to wait longer than a request waits: the run stops.
    AskedToWait(Duration),
    /// The run stopped before this request could be (re)sent; the last
    /// attempt's failure, if there was one.
    Stopped { last: Option<String> },
}

/// A request's end and what its attempts tell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settled {
    pub(crate) end: End,
    pub(crate) attempts: u32,
    /// The status of the last answer, if any came.
    pub(crate) http_status: Option<u16>,
    /// An attempt may have reached the portal and acted (a timeout, a reset
    /// after sending, a 5xx) though no answer said so.
    pub(crate) maybe_sent: bool,
}

impl Settled {
    /// ` (gave up after 3 attempts; it may or may not exist now)` and the
    /// like: the sentence a failed row's message ends with. `unsure` says
    /// what an attempt whose answer was lost may have done, whatever ends
    /// the row afterwards.
    pub(crate) fn failure_message(&self, unsure: &str) -> Option<String> {
        let unsure = if self.maybe_sent {
            format!("; {unsure}")
        } else {
            String::new()
        };
        Some(match &self.end {
            End::Success(_) | End::Exists | End::Stopped { last: None } => return None,
            End::Rejected(m) | End::Unauthorized(m) | End::NotFound(m) | End::TooLarge(m) => {
                format!("{m}{unsure}")
            }
            End::ThrottledTooLong | End::AskedToWait(_) if self.maybe_sent => {
                let mut m = self.failure_message_plain();
                m.push_str(&unsure);
                m
            }
            End::GaveUp(reason) => format!(
                "{reason} (gave up after {} attempt{}{unsure})",
                self.attempts,
                human::plural(u64::from(self.attempts))
            ),
            End::ThrottledTooLong | End::AskedToWait(_) => self.failure_message_plain(),
            End::Stopped { last: Some(why) } => {
                format!("stopped before it could be retried (last attempt: {why}){unsure}")
            }
        })
    }

    /// The throttling endings' own sentence.
    fn failure_message_plain(&self) -> String {
        match &self.end {
            End::AskedToWait(d) => format!(
                "the portal answered 429 Too Many Requests and asked to wait {} (Retry-After)",
                human::wait(*d)
            ),
            _ => "the portal kept answering 429 Too Many Requests: waiting more would pass the \
                  10 minutes a row waits; try a lower --rate, or later"
                .to_owned(),
        }
    }
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Settle(End),
    /// Send again after this wait (the backoff).
    RetryAfter(Duration),
    /// Every worker pauses this long (the portal's `Retry-After`), then this
    /// request is sent again.
    PauseAll(Duration),
}

/// What a request's attempts so far tell.
#[derive(Debug)]
pub(crate) struct History {
    retries: u32,
    attempts: u32,
    retries_used: u32,
    maybe_sent: bool,
    throttled_since: Option<Instant>,
    http_status: Option<u16>,
    /// Why the last attempt failed, for a request stopped before its retry.
    last_failure: Option<String>,
    backoff: Backoff,
}

impl History {
    /// A request allowed `retries` retries after transient failures.
    pub(crate) fn new(retries: u32) -> History {
        History {
            retries,
            attempts: 0,
            retries_used: 0,
            maybe_sent: false,
            throttled_since: None,
            http_status: None,
            last_failure: None,
            backoff: Backoff::default(),
        }
    }

    /// The request ends with `end`.
    fn settle(&self, end: End) -> Settled {
        Settled {
            end,
            attempts: self.attempts,
            http_status: self.http_status,
            maybe_sent: self.maybe_sent,
        }
    }

    /// The run stopped before the next attempt.
    fn stopped(&self) -> Settled {
        self.settle(End::Stopped {
            last: self.last_failure.clone(),
        })
    }
}

/// The decision after one attempt's answer. `now` is when it came;
/// `stopping` whether the run is stopping (then nothing is retried).
pub(crate) fn decide(h: &mut History, attempt: Attempt, now: Instant, stopping: bool) -> Decision {
    h.attempts += 1;
    h.http_status = attempt.status;
    let retry = match attempt.outcome {
        Outcome::Success { data } => return Decision::Settle(End::Success(data)),
        Outcome::Exists => return Decision::Settle(End::Exists),
        Outcome::Rejected { message } => return Decision::Settle(End::Rejected(message)),
        Outcome::NotFound { message } => return Decision::Settle(End::NotFound(message)),
        Outcome::TooLarge { message } => return Decision::Settle(End::TooLarge(message)),
        Outcome::Unauthorized { message } => return Decision::Settle(End::Unauthorized(message)),
        Outcome::Throttled { retry_after } if retry_after >= THROTTLE_GIVE_UP => {
            return Decision::Settle(End::AskedToWait(retry_after));
        }
        Outcome::Throttled { retry_after } => {
            let since = *h.throttled_since.get_or_insert(now);
            if now.saturating_duration_since(since) + retry_after > THROTTLE_GIVE_UP {
                return Decision::Settle(End::ThrottledTooLong);
            }
            h.last_failure = Some("HTTP 429 Too Many Requests".into());
            Decision::PauseAll(retry_after)
        }
        Outcome::Transient { reason, maybe_sent } => {
            h.maybe_sent |= maybe_sent;
            if h.retries_used >= h.retries {
                return Decision::Settle(End::GaveUp(reason));
            }
            h.retries_used += 1;
            h.last_failure = Some(reason);
            Decision::RetryAfter(h.backoff.next_delay())
        }
    };
    if stopping {
        return Decision::Settle(End::Stopped {
            last: h.last_failure.clone(),
        });
    }
    retry
}

/// What every request shares: the client, the pace, the 429 pause gate, the
/// stop, and the retry allowance.
pub(crate) struct Engine {
    pub(crate) portal: Portal,
    pub(crate) pacer: Pacer,
    pub(crate) pause: PauseGate,
    pub(crate) stop: Arc<Stop>,
    pub(crate) retries: u32,
}

impl Engine {
    /// Sends `request` until it is settled: answered, out of retries, or
    /// stopped. A 401/403, or a portal asking to wait too long, stops the run.
    /// A panic while sending settles the request as failed, never lost.
    pub(crate) async fn send(&self, request: &Request) -> Settled {
        AssertUnwindSafe(self.send_until_settled(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Settled {
                end: End::Rejected(
                    "internal error while sending this row (please report it)".into(),
                ),
                attempts: 0,
                http_status: None,
                maybe_sent: true,
            })
    }

    async fn send_until_settled(&self, request: &Request) -> Settled {
        let mut history = History::new(self.retries);
        loop {
            let ticket = tokio::select! {
                biased;
                () = self.stop.stopped() => return history.stopped(),
                t = self.take_turn(request.paced) => t,
            };
            let attempt = self.portal.send(request).await;
            tracing::debug!(
                method = %request.method,
                path = request.url.path(),
                attempt = history.attempts + 1,
                status = ?attempt.status,
                outcome = ?attempt.outcome,
                "answer"
            );
            if let Some(ticket) = ticket {
                let answer = match &attempt.outcome {
                    Outcome::Throttled { retry_after } => Answer::Throttled(*retry_after),
                    // 5xx, resets, timeouts: no reading of the rate limit.
                    Outcome::Transient { .. } => Answer::Failed,
                    _ => Answer::Accepted,
                };
                self.pacer
                    .on_answer(ticket, answer, attempt.advert.as_ref());
            }
            let wait = match decide(
                &mut history,
                attempt,
                Instant::now(),
                self.stop.is_stopped(),
            ) {
                Decision::Settle(end) => {
                    match end {
                        End::Unauthorized(_) if request.refusal_stops => {
                            self.stop.stop(StopReason::Unauthorized);
                        }
                        End::AskedToWait(d) => self.stop.stop(StopReason::PortalAskedToWait(d)),
                        _ => {}
                    }
                    return history.settle(end);
                }
                Decision::PauseAll(d) => {
                    self.pause.pause_for(d);
                    tracing::info!(retry_after = ?d, "429: every worker pauses");
                    continue;
                }
                Decision::RetryAfter(d) => d,
            };
            tracing::info!(
                attempt = history.attempts,
                reason = history.last_failure.as_deref().unwrap_or(""),
                wait = ?wait,
                "transient failure: retrying"
            );
            tokio::select! {
                biased;
                () = self.stop.stopped() => return history.stopped(),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Waits until a request may go: no 429 pause on, and (for a paced
    /// request) a token from the bucket, whose ticket the answer goes back
    /// with. A token that came while a pause began is not used: otherwise the
    /// workers would hoard tokens through the pause and all send at its end.
    async fn take_turn(&self, paced: bool) -> Option<Ticket> {
        loop {
            self.pause.wait().await;
            if !paced {
                return None;
            }
            let ticket = self.pacer.acquire().await;
            if !self.pause.is_paused() {
                return Some(ticket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Option<u16>, outcome: Outcome) -> Attempt {
        Attempt {
            status,
            outcome,
            advert: None,
        }
    }

    fn transient(maybe_sent: bool) -> Attempt {
        attempt(
            Some(502),
            Outcome::Transient {
                reason: "HTTP 502 Bad Gateway".into(),
                maybe_sent,
            },
        )
    }

    fn throttled(secs: u64) -> Attempt {
        attempt(
            Some(429),
            Outcome::Throttled {
                retry_after: Duration::from_secs(secs),
            },
        )
    }

    /// Every final answer settles at once, whatever the attempt and the stop.
    #[tokio::test(start_paused = true)]
    async fn final_answers_settle_at_any_attempt_and_stop_state() {
        let finals: [(Outcome, End); 4] = [
            (Outcome::Success { data: None }, End::Success(None)),
            (Outcome::Exists, End::Exists),
            (
                Outcome::Rejected {
                    message: "email: bad".into(),
                },
                End::Rejected("email: bad".into()),
            ),
            (
                Outcome::Unauthorized {
                    message: "refused".into(),
                },
                End::Unauthorized("refused".into()),
            ),
        ];
        for earlier_failures in 0..3 {
            for stopping in [false, true] {
                for (outcome, end) in &finals {
                    let mut h = History::new(5);
                    for _ in 0..earlier_failures {
                        decide(&mut h, transient(true), Instant::now(), false);
                    }
                    let d = decide(
                        &mut h,
                        attempt(Some(200), outcome.clone()),
                        Instant::now(),
                        stopping,
                    );
                    assert_eq!(d, Decision::Settle(end.clone()));
                    let s = h.settle(end.clone());
                    assert_eq!(s.attempts, earlier_failures + 1);
                    assert_eq!(s.maybe_sent, earlier_failures > 0);
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_then_give_up() {
        let mut h = History::new(3);
        let mut ceilings = [500, 1000, 2000].into_iter();
        for _ in 0..3 {
            let Decision::RetryAfter(d) = decide(&mut h, transient(false), Instant::now(), false)
            else {
                panic!("not a retry")
            };
            assert!(
                d <= Duration::from_millis(ceilings.next().unwrap()),
                "{d:?}"
            );
        }
        assert_eq!(
            decide(&mut h, transient(true), Instant::now(), false),
            Decision::Settle(End::GaveUp("HTTP 502 Bad Gateway".into()))
        );
        let s = h.settle(End::GaveUp("HTTP 502 Bad Gateway".into()));
        assert_eq!(s.attempts, 4);
        assert!(s.maybe_sent);
        assert_eq!(
            s.failure_message(UNSURE).unwrap(),
            "HTTP 502 Bad Gateway (gave up after 4 attempts; it may or may not exist now)"
        );
        let mut none = History::new(0);
        assert!(matches!(
            decide(&mut none, transient(false), Instant::now(), false),
            Decision::Settle(End::GaveUp(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_settles_what_would_be_retried() {
        let mut h = History::new(5);
        assert_eq!(
            decide(&mut h, transient(true), Instant::now(), true),
            Decision::Settle(End::Stopped {
                last: Some("HTTP 502 Bad Gateway".into())
            })
        );
        let mut h = History::new(5);
        assert_eq!(
            decide(&mut h, throttled(1), Instant::now(), true),
            Decision::Settle(End::Stopped {
                last: Some("HTTP 429 Too Many Requests".into())
            })
        );
        // Stopped before the first attempt: never sent.
        let h = History::new(5);
        let s = h.stopped();
        assert_eq!(s.end, End::Stopped { last: None });
        assert_eq!(s.attempts, 0);
        assert_eq!(s.failure_message(UNSURE), None);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_pauses_everyone_without_using_retries() {
        let mut h = History::new(0);
        for _ in 0..20 {
            assert_eq!(
                decide(&mut h, throttled(1), Instant::now(), false),
                Decision::PauseAll(Duration::from_secs(1))
            );
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // Retries are untouched: a transient failure still gets none (0 allowed).
        assert!(matches!(
            decide(&mut h, transient(false), Instant::now(), false),
            Decision::Settle(End::GaveUp(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn ten_minutes_of_429s_give_up_and_one_long_wait_stops_the_run() {
        let mut h = History::new(5);
        assert_eq!(
            decide(&mut h, throttled(300), Instant::now(), false),
            Decision::PauseAll(Duration::from_secs(300))
        );
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(
            decide(&mut h, throttled(1), Instant::now(), false),
            Decision::PauseAll(Duration::from_secs(1))
        );
        tokio::time::advance(Duration::from_secs(200)).await;
        // 499 s so far, and 200 more would pass the 600 s a request waits.
        assert_eq!(
            decide(&mut h, throttled(200), Instant::now(), false),
            Decision::Settle(End::ThrottledTooLong)
        );
        let mut h = History::new(5);
        assert_eq!(
            decide(&mut h, throttled(600), Instant::now(), false),
            Decision::Settle(End::AskedToWait(Duration::from_secs(600)))
        );
    }

    const UNSURE: &str = "it may or may not exist now";

    #[test]
    fn failure_messages() {
        let settled = |end, attempts, maybe_sent| Settled {
            end,
            attempts,
            http_status: None,
            maybe_sent,
        };
        assert_eq!(
            settled(End::GaveUp("no answer".into()), 1, false).failure_message(UNSURE),
            Some("no answer (gave up after 1 attempt)".into())
        );
        assert_eq!(
            settled(
                End::Stopped {
                    last: Some("HTTP 503 Service Unavailable".into())
                },
                2,
                true
            )
            .failure_message(UNSURE),
            Some(
                "stopped before it could be retried (last attempt: HTTP 503 Service \
                 Unavailable); it may or may not exist now"
                    .into()
            )
        );
        assert!(
            settled(End::AskedToWait(Duration::from_secs(86_400)), 1, false)
                .failure_message(UNSURE)
                .unwrap()
                .contains("asked to wait a day or more")
        );
        assert_eq!(settled(End::Exists, 1, false).failure_message(UNSURE), None);
    }
}
