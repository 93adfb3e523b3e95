//! xmc-user-importer: create XMedius Cloud user accounts from a CSV file,
//! concurrently, under a token-bucket rate limit, without losing a row or
//! creating a user twice.
//!
//! The binary is a thin shell over [`run`]; the demo and the benchmark call
//! it the same way.

pub mod cli;
pub mod config;
pub mod input;
pub mod pacing;
pub mod pipeline;
pub mod portal;
pub mod report;
pub mod secret;
pub mod suggest;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use config::{Config, ConfigError};
use input::{CsvInput, InputError, Source};
use pacing::{Backoff, Pacer, PauseGate};
use pipeline::{Plan, Shared, Stop};
use portal::{Attempt, Directory, Lookup, Outcome, Portal};
use report::files::{FailedFile, FileError, ReportFile};
use report::journal::{self, JournalError, JournalIndex};
use report::{Event, OutputFormat, ReporterSetup, StopReason, Summary};

/// Everything a run needs, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub source: Source,
    pub concurrency: usize,
    /// Requests per second; `0` = no limit.
    pub rate: f64,
    pub burst: u32,
    pub retries: u32,
    pub timeout: Duration,
    pub dry_run: bool,
    pub offline: bool,
    pub strict: bool,
    pub report: Option<PathBuf>,
    pub failed: Option<PathBuf>,
    pub journal: Option<PathBuf>,
    pub output: OutputFormat,
    pub quiet: bool,
    /// Show the progress bar (the caller checks that stderr is a terminal).
    pub progress: bool,
    /// `XMC_ACCESS_TOKEN`, which wins over the config's token.
    pub env_token: Option<secret::Secret>,
}

impl Options {
    // The defaults, shared with the command line's.
    pub const CONCURRENCY: u16 = 8;
    pub const RATE: f64 = 10.0;
    pub const BURST: u32 = 1;
    pub const RETRIES: u32 = 5;
    pub const TIMEOUT_SECS: f64 = 30.0;

    /// The defaults of the command line, for `config` and `csv`.
    pub fn new(config: impl Into<PathBuf>, csv: impl AsRef<Path>) -> Options {
        Options {
            config: config.into(),
            source: Source::from_arg(csv.as_ref()),
            concurrency: usize::from(Options::CONCURRENCY),
            rate: Options::RATE,
            burst: Options::BURST,
            retries: Options::RETRIES,
            timeout: Duration::from_secs_f64(Options::TIMEOUT_SECS),
            dry_run: false,
            offline: false,
            strict: false,
            report: None,
            failed: None,
            journal: None,
            output: OutputFormat::Text,
            quiet: false,
            progress: false,
            env_token: None,
        }
    }
}

/// Why a run could not start (exit code 2: nothing was sent), or was
/// interrupted before it did (130).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}. Nothing was sent: fix the file and run again")]
    Structure(InputError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Client(#[from] portal::ClientError),
    #[error(
        "{message}. Nothing was sent. Put a current token in the config's \"access_token\" or in \
         XMC_ACCESS_TOKEN"
    )]
    Unauthorized { message: String },
    #[error(
        "cannot reach the portal at {url}: {reason}. Nothing was sent. Check \"endpoint\" in the config and the network"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "the portal at {url} answers 429 Too Many Requests and asks to wait {wait} (Retry-After), \
         longer than the 10 minutes the importer waits. Nothing was sent; run again later"
    )]
    Throttled { url: String, wait: String },
    #[error(
        "the portal at {url} did not answer the {what} lookup as expected: {reason}. Nothing was sent. Check \"endpoint\" and \"enterprise_account\" in the config"
    )]
    Lookup {
        url: String,
        what: &'static str,
        reason: String,
    },
    #[error("interrupted before any row was sent")]
    Interrupted,
    #[error(
        "internal error: the reporter stopped ({0}); the output and the files may miss rows that \
         were sent (please report it). Running the same file again is safe: users that exist are skipped"
    )]
    Reporter(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted => 130,
            // Rows may have been sent: not the "nothing was sent" of 2.
            Error::Reporter(_) => 1,
            _ => 2,
        }
    }
}

/// The exit code of a finished run: 0 all rows created/skipped/valid, 1 some
/// failed or not attempted, 2 the token was revoked mid-run or the input
/// could not be read to its end, 130 interrupted.
pub fn exit_code(summary: &Summary) -> u8 {
    match summary.stop {
        Some(StopReason::Interrupted) => 130,
        Some(StopReason::Unauthorized) => 2,
        Some(StopReason::PortalAskedToWait(_)) => 1,
        None if summary.read_error.is_some() => 2,
        None if summary.failed + summary.not_attempted > 0 => 1,
        None => 0,
    }
}

/// Runs one import. `warn` receives the warnings found before the first row
/// (unknown config keys and columns…); later ones go through the reporter.
pub async fn run(opts: Options, warn: &mut dyn FnMut(String)) -> Result<Summary, Error> {
    check_options(&opts)?;
    let (config, warnings) = Config::load(&opts.config, opts.env_token.clone())?;
    warnings.into_iter().for_each(&mut *warn);

    let (input, warnings) = CsvInput::open(&opts.source, config.password_mode).await?;
    warnings.into_iter().for_each(&mut *warn);
    // A file is read through once before anything is sent: the progress
    // bar's total, and a broken structure (an unclosed quote, a giant row)
    // stops the run before the first row rather than in its middle. Not a
    // pipe or a FIFO: a second read would steal its rows.
    let expected_rows = match &opts.source {
        // /dev/stdin, /dev/fd/N: on some systems a second open shares the offset.
        Source::File(p)
            if !p.starts_with("/dev/") && std::fs::metadata(p).is_ok_and(|m| m.is_file()) =>
        {
            let (again, _) = CsvInput::open(&opts.source, config.password_mode).await?;
            Some(again.count_rest().await.map_err(Error::Structure)?)
        }
        _ => None,
    };

    let journal = match &opts.journal {
        Some(path) => {
            let identity = format!(
                "file={} enterprise={} endpoint={}",
                match &opts.source {
                    Source::File(p) => p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    ),
                    Source::Stdin => "-".into(),
                },
                config.enterprise_account,
                config.endpoint
            );
            // A dry run reads the journal (its rows show as skipped) but never writes it.
            let (writer, index) = if opts.dry_run {
                (None, journal::load(path, &identity)?)
            } else {
                let (w, index) = journal::open(path, &identity)?;
                (Some(w), index)
            };
            if index.entries > 0 {
                warn(format!(
                    "journal {}: {} row{} done in an earlier run will not be sent again",
                    path.display(),
                    index.entries,
                    if index.entries == 1 { "" } else { "s" }
                ));
            }
            (writer, index)
        }
        None => (None, JournalIndex::default()),
    };

    let stop = Arc::new(Stop::default());
    let signals = tokio::spawn(watch_signals(stop.clone()));
    let result = import(opts, config, input, expected_rows, journal, stop, warn).await;
    signals.abort();
    result
}

async fn import(
    opts: Options,
    config: Config,
    input: CsvInput,
    expected_rows: Option<u64>,
    (journal_writer, journal_index): (Option<journal::JournalWriter>, JournalIndex),
    stop: Arc<Stop>,
    warn: &mut dyn FnMut(String),
) -> Result<Summary, Error> {
    let portal_and_dir = if opts.offline {
        None
    } else {
        let portal = Portal::new(&config, opts.timeout, opts.concurrency)?;
        let dir = fetch_directory(&portal, &opts, &stop).await?;
        tracing::info!(
            groups = dir.group_count(),
            fax_numbers = dir.fax_count(),
            "enterprise looked up"
        );
        if dir.group_count() == 0 {
            warn("the enterprise has no groups: every user goes to the default group".into());
        }
        Some((portal, dir))
    };
    // Created only now: a run that could not start leaves the files of the
    // previous one (maybe the only copy of its failed rows) as they were.
    let report = opts.report.as_deref().map(ReportFile::create).transpose()?;
    let failed = opts
        .failed
        .as_deref()
        .map(|p| FailedFile::create(p, &input.header, input.delimiter))
        .transpose()?;

    let (events_tx, events_rx) = mpsc::channel::<Event>(1024);
    let reporter = report::spawn(
        ReporterSetup {
            header: input.header.clone(),
            delimiter: input.delimiter,
            output: opts.output,
            quiet: opts.quiet,
            progress: opts.progress,
            dry_run: opts.dry_run,
            report,
            failed,
            journal: journal_writer,
        },
        events_rx,
    );
    if let Some(n) = expected_rows {
        let _ = events_tx.send(Event::Total(n)).await;
    }
    let notices = tokio::spawn(notice_interrupt(stop.clone(), events_tx.downgrade()));

    let (portal, directory) = match portal_and_dir {
        Some((p, d)) => (Some(p), Some(d)),
        None => (None, None),
    };
    let plan = Plan {
        mode: config.password_mode,
        strict: opts.strict,
        dry_run: opts.dry_run,
        directory,
        journal: journal_index,
        expected_rows,
    };
    let (jobs_tx, jobs_rx) = async_channel::bounded(opts.concurrency * 2);
    let mut workers = Vec::new();
    let mut pool = None;
    if let (Some(portal), false) = (portal, opts.dry_run) {
        let shared = Arc::new(Shared {
            portal,
            pacer: Pacer::new(opts.rate, opts.burst),
            pause: PauseGate::default(),
            stop: stop.clone(),
            retries: opts.retries,
        });
        for _ in 0..opts.concurrency {
            workers.push(tokio::spawn(pipeline::worker(
                shared.clone(),
                jobs_rx.clone(),
                events_tx.clone(),
            )));
        }
        pool = Some(shared);
    }
    drop(jobs_rx);
    let read_end = pipeline::read_rows(input, plan, stop.clone(), jobs_tx, events_tx).await;
    for w in workers {
        let _ = w.await;
    }
    notices.abort();
    let mut summary = reporter.await.map_err(|e| Error::Reporter(e.to_string()))?;
    summary.stop = stop.reason();
    summary.read_error = read_end.error;
    summary.unread_after = read_end.unread_after;
    summary.throttled = pool.map(|p| p.pause.totals()).filter(|(n, _)| *n > 0);
    Ok(summary)
}

fn check_options(opts: &Options) -> Result<(), Error> {
    if opts.concurrency == 0 {
        return Err(Error::Usage("--concurrency must be at least 1".into()));
    }
    if !opts.rate.is_finite() || opts.rate < 0.0 {
        return Err(Error::Usage(
            "--rate must be a number of requests per second, 0 or more (0 = no limit)".into(),
        ));
    }
    if opts.offline && !opts.dry_run {
        return Err(Error::Usage(
            "--offline only goes with --dry-run (a real import must talk to the portal)".into(),
        ));
    }
    // An output file that is the input (or another output) would destroy it.
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    if let Source::File(p) = &opts.source {
        seen.push(("the CSV file", canonical(p)));
    }
    seen.push(("the config file", canonical(&opts.config)));
    for (flag, path) in [
        ("--report", &opts.report),
        ("--failed", &opts.failed),
        ("--journal", &opts.journal),
    ] {
        if let Some(p) = path {
            let c = canonical(p);
            if let Some((what, _)) = seen.iter().find(|(_, q)| *q == c) {
                return Err(Error::Usage(format!(
                    "{flag} {} is also {what}; give it a path of its own",
                    p.display()
                )));
            }
            seen.push((flag, c));
        }
    }
    Ok(())
}

/// The absolute form of a path that may not exist yet.
fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| p.to_owned())
        }
        _ => p.to_owned(),
    }
}

/// The two lookups at start, with the same retry rules as the rows.
async fn fetch_directory(portal: &Portal, opts: &Options, stop: &Stop) -> Result<Directory, Error> {
    let groups = fetch(portal, opts, stop, Lookup::Groups).await?;
    let fax = fetch(portal, opts, stop, Lookup::FaxNumbers).await?;
    // Only the groups answer can be incomplete (it must name a default group).
    Directory::from_answers(&groups, &fax).map_err(|reason| Error::Lookup {
        url: portal.url(Lookup::Groups).to_string(),
        what: "groups",
        reason,
    })
}

async fn fetch(
    portal: &Portal,
    opts: &Options,
    stop: &Stop,
    lookup: Lookup,
) -> Result<serde_json::Value, Error> {
    let what = lookup.name();
    let url = portal.url(lookup).to_string();
    let mut backoff = Backoff::default();
    let pause = PauseGate::default();
    let mut retries = 0;
    let started = tokio::time::Instant::now();
    loop {
        let attempt: Attempt = tokio::select! {
            biased;
            _ = stop.stopped() => return Err(Error::Interrupted),
            a = async {
                pause.wait().await;
                portal.get(lookup).await
            } => a,
        };
        let wait = match attempt.outcome {
            Outcome::Created => return Ok(attempt.data.unwrap_or_default()),
            Outcome::Unauthorized { message } => return Err(Error::Unauthorized { message }),
            Outcome::Exists => {
                return Err(Error::Lookup {
                    url,
                    what,
                    reason: "an unexpected answer".into(),
                });
            }
            Outcome::Rejected { message } => {
                return Err(Error::Lookup {
                    url,
                    what,
                    reason: message,
                });
            }
            Outcome::Throttled { retry_after }
                if started.elapsed() + retry_after <= pipeline::THROTTLE_GIVE_UP =>
            {
                pause.pause_for(retry_after);
                Duration::ZERO
            }
            Outcome::Throttled { retry_after } => {
                return Err(Error::Throttled {
                    url,
                    wait: report::summary::wait(retry_after),
                });
            }
            Outcome::Transient { reason, .. } if retries >= opts.retries => {
                let status = attempt
                    .status
                    .map(|s| format!(" (HTTP {s})"))
                    .unwrap_or_default();
                return Err(Error::Unreachable {
                    url,
                    reason: format!(
                        "{reason}{status}, {} attempt{}",
                        retries + 1,
                        if retries == 0 { "" } else { "s" }
                    ),
                });
            }
            Outcome::Transient { reason, .. } => {
                retries += 1;
                let d = backoff.next_delay();
                tracing::info!(what, %reason, wait = ?d, "lookup failed: retrying");
                d
            }
        };
        tokio::select! {
            biased;
            _ = stop.stopped() => return Err(Error::Interrupted),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// First Ctrl-C or SIGTERM: stop sending and finish cleanly. Second: quit now.
async fn watch_signals(stop: Arc<Stop>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut count = 0;
    loop {
        #[cfg(unix)]
        let got = tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => r.is_some(),
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
            eprintln!(
                "\ninterrupted again: quitting at once; rows in flight are unknown (their results are lost)"
            );
            std::process::exit(130);
        }
    }
}

/// Tells the user, through the reporter, that the run is winding down.
async fn notice_interrupt(stop: Arc<Stop>, events: mpsc::WeakSender<Event>) {
    stop.stopped().await;
    let msg = match stop.reason() {
        Some(StopReason::Unauthorized) => {
            "the portal refused the access token: sending stops now; the requests in flight finish".to_owned()
        }
        Some(StopReason::PortalAskedToWait(d)) => format!(
            "the portal asks to wait {} before any new request: sending stops now; the requests in flight finish",
            report::summary::duration(d)
        ),
        Some(StopReason::Interrupted) | None => "interrupted: no new rows are sent; waiting for the requests in flight (press Ctrl-C again to quit at once)".to_owned(),
    };
    if let Some(tx) = events.upgrade() {
        let _ = tx.send(Event::Warning(msg)).await;
    }
}
