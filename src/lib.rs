//! xmc-user-importer: create XMedius Cloud user accounts from a CSV file,
//! concurrently, under a token-bucket rate limit, without losing a row or
//! creating a user twice.
//!
//! The binary is a thin shell over [`run`]; the demo calls it the same way.
//! How a run flows: `setup` (options, config, input, journal, lookups) →
//! `pipeline` (reader → bounded channel → workers, each request through the
//! one `retry` engine and its `pacing` → the `report`er) → a [`Summary`].

pub mod cli;
mod config;
mod error;
#[cfg(test)]
mod fuzz;
mod human;
mod import;
mod input;
mod job;
mod pacing;
mod pipeline;
mod portal;
mod report;
mod retry;
mod secret;
mod setup;
mod stop;
mod suggest;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use config::ConfigError;
pub use error::{Error, exit_code};
pub use input::{HeaderError, InputError, ReadError, Source, Unclosed};
pub use portal::ClientError;
pub use report::files::FileError;
pub use report::journal::JournalError;
pub use report::{OutputFormat, Summary};
pub use secret::Secret;
pub use stop::StopReason;

/// Everything a run needs, as the command line gives it.
#[allow(clippy::struct_excessive_bools)] // each is an independent command-line flag
#[derive(Debug, Clone)]
pub struct Options {
    /// The JSON config file.
    pub config: PathBuf,
    /// The users CSV, or standard input.
    pub source: Source,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests per second; `0` = no limit.
    pub rate: f64,
    /// The token bucket's size.
    pub burst: u32,
    /// Retries of a request after a transient failure.
    pub retries: u32,
    /// Per request, connection included.
    pub timeout: Duration,
    /// Check everything, send nothing but the lookups.
    pub dry_run: bool,
    /// With `dry_run`: contact nothing.
    pub offline: bool,
    /// An unknown group or fax number fails the row.
    pub strict: bool,
    /// One result row per input row.
    pub report: Option<PathBuf>,
    /// The rows that did not succeed, ready to import again.
    pub failed: Option<PathBuf>,
    /// The resume file.
    pub journal: Option<PathBuf>,
    /// Text or JSON lines on stdout.
    pub output: OutputFormat,
    /// No success lines.
    pub quiet: bool,
    /// Show the progress bar (the caller checks that stderr is a terminal).
    pub progress: bool,
    /// `XMC_ACCESS_TOKEN`, which wins over the config's token.
    pub env_token: Option<Secret>,
}

impl Options {
    /// `--concurrency` by default.
    pub const CONCURRENCY: u16 = 8;
    /// `--rate` by default.
    pub const RATE: f64 = 10.0;
    /// `--burst` by default.
    pub const BURST: u32 = 1;
    /// `--retries` by default.
    pub const RETRIES: u32 = 5;
    /// `--timeout` by default.
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

/// Runs one import. `warn` receives the warnings found before the first row
/// (unknown config keys and columns…); later ones go through the reporter.
///
/// # Errors
/// When the run cannot start (nothing was sent): see [`Error`].
pub async fn run(opts: Options, warn: &mut dyn FnMut(String)) -> Result<Summary, Error> {
    let start = setup::start(&opts, warn).await?;
    let stop = Arc::new(stop::Stop::default());
    let signals = tokio::spawn(stop::watch_signals(stop.clone()));
    let result = import::run(&opts, start, stop, warn).await;
    signals.abort();
    result
}
