//! The wiring: reader → bounded channel → worker pool → reporter, and how
//! it winds down. Every row read becomes exactly one `RowResult` sent to the
//! reporter; the stages end by closing their channels.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::engine::job::Job;
use crate::engine::retry::Engine;
use crate::engine::stop::Stop;
use crate::input::{InputError, Record, Rows};
use crate::report::{self, Event, ReporterSetup, RowResult, RowStatus, Summary};

/// Everything a pass over the rows needs, decided before the first row.
pub(crate) struct Pass {
    pub(crate) work: Work,
    /// The pool's engine; `None` when nothing is sent (a dry run): each
    /// request is then reported as what would be sent.
    pub(crate) engine: Option<Arc<Engine>>,
    pub(crate) concurrency: usize,
    pub(crate) reporter: ReporterSetup,
    pub(crate) stop: Arc<Stop>,
}

/// The rows of a pass and what each becomes.
pub(crate) enum Work {
    /// Rows decided one by one as they are read (an import): a file or a
    /// stream, never all in memory.
    Read {
        input: Rows,
        planner: Box<dyn Planner>,
        /// The rows counted before (a file), for the bar; `None` for a stream.
        expected_rows: Option<u64>,
    },
    /// Every row decided before anything is sent (a delete, a sync: the
    /// plan the operator confirmed is made of these very decisions), then
    /// what must wait until every row is done (a sync's deletions).
    Decided {
        rows: Vec<Prepared>,
        last: Vec<Prepared>,
    },
}

/// Runs the reader, the pool and the reporter until every row is reported.
/// The error: the reporter task ended without its summary (a bug).
pub(crate) async fn run(pass: Pass) -> Result<Summary, tokio::task::JoinError> {
    let Pass {
        work,
        engine,
        concurrency,
        reporter,
        stop,
    } = pass;
    let (events_tx, events_rx) = mpsc::channel::<Event>(1024);
    let reporter = report::spawn(reporter, events_rx);
    let total = match &work {
        Work::Read { expected_rows, .. } => *expected_rows,
        Work::Decided { rows, last } => Some((rows.len() + last.len()) as u64),
    };
    if let Some(n) = total {
        let _ = events_tx.send(Event::Total(n)).await;
    }
    let notices = tokio::spawn(notice_stop(stop.clone(), events_tx.downgrade()));
    let to = Dispatch {
        dry_run: engine.is_none(),
        stop: &stop,
        events: &events_tx,
    };
    let read_end = match work {
        Work::Read {
            input,
            mut planner,
            expected_rows,
        } => {
            let (jobs, workers) = start_pool(engine.as_ref(), concurrency, &events_tx);
            let end = read_rows(input, planner.as_mut(), expected_rows, &to, jobs).await;
            join(workers).await;
            end
        }
        Work::Decided { rows, last } => {
            // The deletions of a sync go last, after every create and update.
            for phase in [rows, last] {
                let (jobs, workers) = start_pool(engine.as_ref(), concurrency, &events_tx);
                for prepared in phase {
                    if !to.send(prepared, &jobs).await {
                        break;
                    }
                }
                drop(jobs);
                join(workers).await;
            }
            ReadEnd::default()
        }
    };
    drop(events_tx);
    notices.abort();
    let mut summary = reporter.await?;
    summary.stop = stop.reason();
    summary.read_error = read_end.error.map(|e| e.to_string());
    summary.unread_after = read_end.unread_after;
    if let Some(e) = engine {
        summary.throttled = Some(e.pause.totals()).filter(|(n, _)| *n > 0);
        summary.accepted_rate = summary.throttled.and(e.pacer.learned());
    }
    Ok(summary)
}

async fn join(workers: Vec<tokio::task::JoinHandle<()>>) {
    for w in workers {
        let _ = w.await;
    }
}

/// What becomes of a row: a result known without the portal, or a request
/// to send.
pub(crate) enum Prepared {
    Done(RowResult),
    Send(Job),
}

/// Decides, row by row and in file order, what each row becomes. Each
/// operation has its own.
pub(crate) trait Planner: Send {
    fn prepare(&mut self, record: Record) -> Prepared;
}

/// Where each decided row goes: its result to the reporter, its request to
/// the workers.
struct Dispatch<'a> {
    dry_run: bool,
    stop: &'a Stop,
    events: &'a mpsc::Sender<Event>,
}

impl Dispatch<'_> {
    /// Sends a row on its way: a result now (known, not attempted after a
    /// stop, or what a dry run would send), or its job to the workers.
    /// `false` once the reporter is gone.
    async fn send(&self, prepared: Prepared, jobs: &async_channel::Sender<Job>) -> bool {
        let done = match prepared {
            Prepared::Done(r) => r,
            Prepared::Send(job) if self.dry_run => job.would(),
            Prepared::Send(job) if self.stop.is_stopped() => job.not_attempted(self.stop),
            Prepared::Send(job) => match jobs.send(job).await {
                Ok(()) => return true,
                // No worker left to take it (they only stop when this sender closes).
                Err(async_channel::SendError(job)) => job.not_attempted(self.stop),
            },
        };
        self.events.send(Event::Row(done)).await.is_ok()
    }
}

/// A job queue and the workers that drain it (none in a dry run).
fn start_pool(
    engine: Option<&Arc<Engine>>,
    concurrency: usize,
    events: &mpsc::Sender<Event>,
) -> (async_channel::Sender<Job>, Vec<tokio::task::JoinHandle<()>>) {
    let (jobs_tx, jobs_rx) = async_channel::bounded(concurrency * 2);
    let workers = match engine {
        Some(engine) => spawn_workers(engine, concurrency, &jobs_rx, events),
        None => Vec::new(),
    };
    (jobs_tx, workers)
}

/// How the reading ended, when not at the end of the input.
#[derive(Debug, Default)]
struct ReadEnd {
    /// The input could not be read further.
    error: Option<crate::input::InputError>,
    /// A stop came while reading a stream: the rows after this line were not read.
    unread_after: Option<u64>,
}

/// Reads every row, has the planner decide each, and queues the requests
/// for the workers. After a stop the rows of a file are still read, to be
/// reported not attempted (a local read, fast, and the failed-rows file then
/// holds them); a stream (standard input, a pipe) may never end, so its
/// reading stops there.
async fn read_rows(
    mut input: Rows,
    planner: &mut dyn Planner,
    expected_rows: Option<u64>,
    to: &Dispatch<'_>,
    jobs: async_channel::Sender<Job>,
) -> ReadEnd {
    let stream = expected_rows.is_none();
    let mut last_line = input.header_line();
    let mut read_rows = 0u64;
    loop {
        let next = tokio::select! {
            biased;
            () = to.stop.stopped(), if stream => {
                return ReadEnd { error: None, unread_after: Some(last_line) };
            }
            next = input.next() => next,
        };
        let read = match next {
            // A file that shrank or grew since it was counted: say so
            // rather than end green with rows missing.
            None => {
                let error =
                    expected_rows
                        .filter(|n| *n != read_rows)
                        .map(|counted| InputError::Changed {
                            path: input.path().to_owned(),
                            counted,
                            read: read_rows,
                        });
                return ReadEnd {
                    error,
                    unread_after: None,
                };
            }
            Some(Err(e)) => {
                return ReadEnd {
                    error: Some(e),
                    unread_after: None,
                };
            }
            Some(Ok(read)) => read,
        };
        last_line = read.record.line;
        read_rows += 1;
        if let Some(w) = read.warning
            && to.events.send(Event::Warning(w)).await.is_err()
        {
            return ReadEnd::default();
        }
        let prepared = if to.stop.is_stopped() {
            Prepared::Done(
                RowResult::new(read.record, RowStatus::NotAttempted)
                    .with_message(to.stop.not_sent_message()),
            )
        } else {
            planner.prepare(read.record)
        };
        if !to.send(prepared, &jobs).await {
            return ReadEnd::default();
        }
    }
}

/// Starts `concurrency` workers that take jobs until the queue is closed
/// and empty.
fn spawn_workers(
    engine: &Arc<Engine>,
    concurrency: usize,
    jobs: &async_channel::Receiver<Job>,
    events: &mpsc::Sender<Event>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..concurrency)
        .map(|_| tokio::spawn(worker(engine.clone(), jobs.clone(), events.clone())))
        .collect()
}

/// One worker. Once the run is stopping, the jobs it still takes are
/// reported not attempted.
async fn worker(
    engine: Arc<Engine>,
    jobs: async_channel::Receiver<Job>,
    events: mpsc::Sender<Event>,
) {
    use tracing::Instrument;
    while let Ok(job) = jobs.recv().await {
        let result = if engine.stop.is_stopped() {
            job.not_attempted(&engine.stop)
        } else {
            let span = tracing::info_span!("row", line = job.record.line);
            job.run(&engine).instrument(span).await
        };
        if events.send(Event::Row(result)).await.is_err() {
            return;
        }
    }
}

/// Tells the user, through the reporter, that the run is winding down.
async fn notice_stop(stop: Arc<Stop>, events: mpsc::WeakSender<Event>) {
    stop.stopped().await;
    let notice = stop
        .reason()
        .unwrap_or(crate::engine::stop::StopReason::Interrupted)
        .notice();
    if let Some(tx) = events.upgrade() {
        let _ = tx.send(Event::Warning(notice)).await;
    }
}
