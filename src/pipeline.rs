//! The wiring: reader task → bounded channel → worker pool → reporter, with
//! the shared token bucket, the 429 pause gate, the retry loop and shutdown.
//! Every row read becomes exactly one `RowResult` sent to the reporter.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::PasswordMode;
use crate::input::validate::{Duplicates, validate};
use crate::input::{Column, CsvInput, Record, windows_1252_warning};
use crate::pacing::{Backoff, Pacer, PauseGate};
use crate::portal::payload;
use crate::portal::{Directory, Outcome, Portal};
use crate::report::journal::JournalIndex;
use crate::report::{Event, RowResult, RowStatus, StopReason};

/// A row that gives up after this long of 429 answers.
pub const THROTTLE_GIVE_UP: Duration = Duration::from_secs(600);

/// Carries Ctrl-C and a revoked token to every stage.
#[derive(Default)]
pub struct Stop {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl Stop {
    pub fn stop(&self, reason: StopReason) {
        let mut r = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason);
        }
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn stopped(&self) {
        self.token.cancelled().await
    }

    fn not_sent_message(&self) -> String {
        self.reason()
            .unwrap_or(StopReason::Interrupted)
            .not_sent_message()
    }
}

/// What the reader decides per row, fixed for the run.
pub struct Plan {
    pub mode: PasswordMode,
    pub strict: bool,
    pub dry_run: bool,
    /// `None` with `--offline`: groups and fax numbers are not checked.
    pub directory: Option<Directory>,
    pub journal: JournalIndex,
    pub expected_rows: Option<u64>,
}

/// A row ready to send.
pub struct Job {
    pub record: Record,
    pub body: bytes::Bytes,
    pub warning: Option<String>,
}

/// How the reading ended, when not at the end of the input.
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// The input could not be read further.
    pub error: Option<String>,
    /// A stop came while reading a stream: the rows after this line were not read.
    pub unread_after: Option<u64>,
}

/// Reads every row, fails the invalid ones locally, and queues the rest for
/// the workers (or, in a dry run, reports them valid). After a stop the rows
/// of a file are still read, to be reported not attempted (a local read, fast,
/// and the failed-rows file then holds them); a stream (standard input, a
/// pipe) may never end, so its reading stops there.
pub async fn read_rows(
    mut input: CsvInput,
    plan: Plan,
    stop: Arc<Stop>,
    jobs: async_channel::Sender<Job>,
    events: mpsc::Sender<Event>,
) -> ReadEnd {
    let stream = plan.expected_rows.is_none();
    let capacity = plan
        .expected_rows
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut duplicates = Duplicates::with_capacity(capacity);
    let header = input.header.clone();
    let mut last_line = input.header_line();
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.stopped(), if stream => {
                return ReadEnd { error: None, unread_after: Some(last_line) };
            }
            next = input.next() => next,
        };
        let Some(read) = next else {
            return ReadEnd::default();
        };
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                return ReadEnd {
                    error: Some(e.to_string()),
                    unread_after: None,
                };
            }
        };
        last_line = read.record.line;
        if read.first_windows_1252 {
            let w = windows_1252_warning(input.path(), read.record.line);
            if events.send(Event::Warning(w)).await.is_err() {
                return ReadEnd::default();
            }
        }
        let done = if stop.is_stopped() {
            RowResult::new(read.record, RowStatus::NotAttempted)
                .with_message(stop.not_sent_message())
        } else {
            match prepare(read.record, &header, &plan, &mut duplicates) {
                Prepared::Done(r) => r,
                Prepared::Send(job) if plan.dry_run => {
                    let mut r = RowResult::new(job.record, RowStatus::Valid);
                    r.warning = job.warning;
                    r
                }
                Prepared::Send(job) => match jobs.send(job).await {
                    Ok(()) => continue,
                    // No worker left to take it (they only stop when this sender closes).
                    Err(async_channel::SendError(job)) => {
                        RowResult::new(job.record, RowStatus::NotAttempted)
                            .with_message(stop.not_sent_message())
                    }
                },
            }
        };
        if events.send(Event::Row(done)).await.is_err() {
            return ReadEnd::default();
        }
    }
}

enum Prepared {
    Done(RowResult),
    Send(Job),
}

/// The local decision for one row: invalid, duplicate, already done per the
/// journal, or a payload to send.
fn prepare(
    record: Record,
    header: &crate::input::Header,
    plan: &Plan,
    duplicates: &mut Duplicates,
) -> Prepared {
    let checked = match validate(header, &record, plan.mode) {
        Ok(c) => c,
        Err(why) => return Prepared::Done(RowResult::local_failure(record, why)),
    };
    let username = record.get(header, Column::Username);
    let email = record.get(header, Column::Email);
    if let Err(why) = duplicates.check(username, email, record.line) {
        return Prepared::Done(RowResult::local_failure(record, why));
    }
    if plan.journal.contains(record.line, username) {
        let mut r = RowResult::new(record, RowStatus::Skipped)
            .with_message("done in an earlier run (journal)");
        r.from_journal = true;
        return Prepared::Done(r);
    }
    let Some(dir) = &plan.directory else {
        // --offline: nothing to resolve against; the row is valid as far as we can tell.
        return Prepared::Send(Job {
            record,
            body: bytes::Bytes::new(),
            warning: None,
        });
    };
    match payload::build(header, &record, &checked, dir, plan.mode, plan.strict) {
        Ok(built) => Prepared::Send(Job {
            record,
            body: built.body,
            warning: built.warning,
        }),
        Err(why) => Prepared::Done(RowResult::local_failure(record, why)),
    }
}

/// What the workers share.
pub struct Shared {
    pub portal: Portal,
    pub pacer: Pacer,
    pub pause: PauseGate,
    pub stop: Arc<Stop>,
    pub retries: u32,
}

/// One worker: takes rows until the queue is closed and empty. Once the run
/// is stopping, the rows it still takes are reported not attempted.
pub async fn worker(
    shared: Arc<Shared>,
    jobs: async_channel::Receiver<Job>,
    events: mpsc::Sender<Event>,
) {
    while let Ok(job) = jobs.recv().await {
        let sent = if shared.stop.is_stopped() {
            Sent::not_attempted(shared.stop.not_sent_message())
        } else {
            // A bug must not lose the row: a panic becomes a failure of this row.
            AssertUnwindSafe(send_row(&shared, &job.body, job.record.line))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Sent {
                    status: RowStatus::Failed,
                    attempts: 0,
                    http_status: None,
                    message: "internal error while sending this row (please report it)".into(),
                })
        };
        let result = RowResult {
            attempts: sent.attempts,
            http_status: sent.http_status,
            message: (!sent.message.is_empty()).then_some(sent.message),
            warning: job.warning,
            ..RowResult::new(job.record, sent.status)
        };
        if events.send(Event::Row(result)).await.is_err() {
            return;
        }
    }
}

/// The end of one row's attempts.
#[derive(Debug)]
pub struct Sent {
    pub status: RowStatus,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub message: String,
}

impl Sent {
    fn not_attempted(why: String) -> Sent {
        Sent {
            status: RowStatus::NotAttempted,
            attempts: 0,
            http_status: None,
            message: why,
        }
    }
}

/// Waits until this worker may POST: no 429 pause on, and a token from the
/// bucket. A token that came while a pause began is not used: otherwise the
/// workers would hoard tokens through the pause and all send at its end.
async fn take_turn(shared: &Shared) {
    loop {
        shared.pause.wait().await;
        shared.pacer.acquire().await;
        if !shared.pause.is_paused() {
            return;
        }
    }
}

/// Sends one row until it is settled: created, existing, rejected, out of
/// retries, or stopped.
async fn send_row(shared: &Shared, body: &bytes::Bytes, line: u64) -> Sent {
    let mut attempts = 0u32;
    let mut retries_used = 0u32;
    let mut backoff = Backoff::default();
    let mut maybe_created = false;
    let mut throttled_since: Option<Instant> = None;
    let mut last: Option<(Option<u16>, String)> = None;
    let stopped =
        |attempts: u32, last: &Option<(Option<u16>, String)>, maybe_created: bool| match last {
            None => Sent::not_attempted(shared.stop.not_sent_message()),
            Some((http, why)) => Sent {
                status: RowStatus::Failed,
                attempts,
                http_status: *http,
                message: format!(
                    "stopped before it could be retried (last attempt: {why}){}",
                    if maybe_created {
                        "; it may or may not exist now"
                    } else {
                        ""
                    }
                ),
            },
        };
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.stopped() => return stopped(attempts, &last, maybe_created),
            _ = take_turn(shared) => {}
        }
        attempts += 1;
        let attempt = shared.portal.create_user(body.clone()).await;
        tracing::debug!(line, attempt = attempts, status = ?attempt.status, outcome = ?attempt.outcome, "POST users");
        let http_status = attempt.status;
        if http_status.is_some_and(|s| s != 429) {
            shared.pacer.on_not_throttled();
        }
        let delay = match attempt.outcome {
            Outcome::Created => {
                return Sent {
                    status: RowStatus::Created,
                    attempts,
                    http_status,
                    message: String::new(),
                };
            }
            Outcome::Exists if maybe_created => {
                return Sent {
                    status: RowStatus::Created,
                    attempts,
                    http_status,
                    message: "created by an earlier attempt whose answer was lost".into(),
                };
            }
            Outcome::Exists => {
                return Sent {
                    status: RowStatus::Skipped,
                    attempts,
                    http_status,
                    message: "already exists".into(),
                };
            }
            Outcome::Rejected { message } => {
                return Sent {
                    status: RowStatus::Failed,
                    attempts,
                    http_status,
                    message,
                };
            }
            Outcome::Unauthorized { message } => {
                shared.stop.stop(StopReason::Unauthorized);
                return Sent {
                    status: RowStatus::Failed,
                    attempts,
                    http_status,
                    message,
                };
            }
            Outcome::Throttled { retry_after } if retry_after >= THROTTLE_GIVE_UP => {
                // Waiting that long is no retry: stop the run, as the portal asks.
                shared.stop.stop(StopReason::PortalAskedToWait(retry_after));
                return Sent {
                    status: RowStatus::Failed,
                    attempts,
                    http_status,
                    message: format!(
                        "the portal answered 429 Too Many Requests and asked to wait {} (Retry-After)",
                        crate::report::summary::wait(retry_after)
                    ),
                };
            }
            Outcome::Throttled { retry_after } => {
                let since = *throttled_since.get_or_insert_with(Instant::now);
                if since.elapsed() + retry_after > THROTTLE_GIVE_UP {
                    return Sent {
                        status: RowStatus::Failed,
                        attempts,
                        http_status,
                        message: "the portal kept answering 429 Too Many Requests: waiting more would pass the 10 minutes a row waits; try a lower --rate, or later".into(),
                    };
                }
                shared.pause.pause_for(retry_after);
                shared.pacer.on_throttle(retry_after);
                last = Some((http_status, "HTTP 429 Too Many Requests".into()));
                tracing::info!(line, ?retry_after, "429: every worker pauses");
                Duration::ZERO
            }
            Outcome::Transient { reason, maybe_sent } => {
                maybe_created |= maybe_sent;
                if retries_used >= shared.retries {
                    let tries = if attempts == 1 {
                        "1 attempt".to_owned()
                    } else {
                        format!("{attempts} attempts")
                    };
                    let unsure = if maybe_created {
                        "; it may or may not exist now"
                    } else {
                        ""
                    };
                    return Sent {
                        status: RowStatus::Failed,
                        attempts,
                        http_status,
                        message: format!("{reason} (gave up after {tries}{unsure})"),
                    };
                }
                retries_used += 1;
                let d = backoff.next_delay();
                tracing::info!(line, attempt = attempts, %reason, wait = ?d, "transient failure: retrying");
                last = Some((http_status, reason));
                d
            }
        };
        if !delay.is_zero() {
            tokio::select! {
                biased;
                _ = shared.stop.stopped() => return stopped(attempts, &last, maybe_created),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}
