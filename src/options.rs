//! What a run is asked to do: the operation and its options, as the
//! command line (or a program calling [`crate::run`]) gives them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::input::Source;
use crate::report::OutputFormat;
use crate::secret::Secret;

/// What a run does.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Create the users of a file.
    Import {
        /// The users CSV, or standard input.
        source: Source,
        /// What happens to a row whose user exists.
        existing: Existing,
        /// `"disable_welcome_email": true` on each create.
        no_welcome_email: bool,
    },
    /// Write every user of the enterprise as a CSV.
    Export {
        /// The file to write; `None`: standard output.
        out: Option<PathBuf>,
    },
    /// Delete the users a file names.
    Delete {
        /// The CSV naming them.
        source: Source,
        /// Confirmed beforehand (no terminal to ask on).
        yes: bool,
        /// Administrators may be deleted too.
        include_admins: bool,
    },
    /// Make the enterprise match a file.
    Sync {
        /// The whole roster.
        source: Source,
        /// Delete the `user`-role accounts the file does not name.
        delete_missing: bool,
        /// Refuse a plan that deletes more than this.
        max_deletes: u64,
        /// Confirmed beforehand (no terminal to ask on).
        yes: bool,
        /// `"disable_welcome_email": true` on each create.
        no_welcome_email: bool,
    },
}

/// What an import does with a row whose user already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// `Skipped: already exists` (the original behaviour).
    #[default]
    Skip,
    /// One PUT with the fields that differ, or `unchanged`.
    Update,
    /// A failed row.
    Fail,
}

/// Everything a run needs, as the command line gives it.
#[allow(clippy::struct_excessive_bools)] // each is an independent command-line flag
#[derive(Debug, Clone)]
pub struct Options {
    /// The JSON config file.
    pub config: PathBuf,
    /// What the run does, and on which file.
    pub command: Command,
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
    /// The sheet of a workbook input (the first when `None`).
    pub sheet: Option<String>,
    /// Text or JSON lines on stdout.
    pub output: OutputFormat,
    /// No success lines.
    pub quiet: bool,
    /// Show the progress bar (the caller checks that stderr is a terminal).
    pub progress: bool,
    /// `XMC_ACCESS_TOKEN`, which wins over the config's token.
    pub env_token: Option<Secret>,
    /// `--column COLUMN=HEADER`: the file's header that holds an import
    /// column (wins over the config's `"columns"`).
    pub columns: Vec<String>,
    /// `--derive COLUMN=TEMPLATE`: a column filled from the row's others
    /// where its cell is empty (wins over the config's `"derive"`).
    pub derive: Vec<String>,
    /// `--generate-passwords FILE`: rows without a password get a random
    /// one, written to FILE for each user created.
    pub generate_passwords: Option<PathBuf>,
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
    /// `--max-deletes` by default.
    pub const MAX_DELETES: u64 = 10;

    /// The defaults of the command line, for `config` and `csv`.
    pub fn new(config: impl Into<PathBuf>, csv: impl AsRef<Path>) -> Options {
        Options {
            config: config.into(),
            command: Command::Import {
                source: Source::from_arg(csv.as_ref()),
                existing: Existing::Skip,
                no_welcome_email: false,
            },
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
            sheet: None,
            output: OutputFormat::Text,
            quiet: false,
            progress: false,
            env_token: None,
            columns: Vec::new(),
            derive: Vec::new(),
            generate_passwords: None,
        }
    }

    /// The input file of the run, if it reads one.
    #[must_use]
    pub fn source(&self) -> Option<&Source> {
        match &self.command {
            Command::Import { source, .. }
            | Command::Delete { source, .. }
            | Command::Sync { source, .. } => Some(source),
            Command::Export { .. } => None,
        }
    }
}
