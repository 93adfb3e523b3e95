//! The reporter: the one owner of all output. It receives every row's result
//! exactly once and writes the stdout line, the progress bar, the report and
//! failed-rows files and the journal, then the summary.

pub(crate) mod files;
pub(crate) mod journal;
mod lines;
mod summary;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::input::{Column, Generated, Header, Record};
use crate::sanitize;
pub use summary::{Operation, Passwords, Summary};

use crate::human::{plural, thousands};

/// What finally happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RowStatus {
    Created,
    /// An existing user whose differing fields were changed.
    Updated,
    /// An existing user the row already matches: nothing sent.
    Unchanged,
    Skipped,
    Deleted,
    /// Asked to delete a user who does not exist.
    Absent,
    Failed,
    NotAttempted,
    Valid,
}

impl RowStatus {
    /// Done for good: the journal keeps it, a resumed run does not send it again.
    pub(crate) fn is_done(self) -> bool {
        matches!(
            self,
            RowStatus::Created
                | RowStatus::Updated
                | RowStatus::Unchanged
                | RowStatus::Skipped
                | RowStatus::Deleted
                | RowStatus::Absent
        )
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RowStatus::Created => "created",
            RowStatus::Updated => "updated",
            RowStatus::Unchanged => "unchanged",
            RowStatus::Skipped => "skipped",
            RowStatus::Deleted => "deleted",
            RowStatus::Absent => "absent",
            RowStatus::Failed => "failed",
            RowStatus::NotAttempted => "not_attempted",
            RowStatus::Valid => "valid",
        }
    }
}

/// One row's result, sent to the reporter exactly once.
#[derive(Debug)]
pub(crate) struct RowResult {
    pub(crate) record: Record,
    pub(crate) status: RowStatus,
    pub(crate) attempts: u32,
    pub(crate) http_status: Option<u16>,
    pub(crate) message: Option<String>,
    pub(crate) warning: Option<String>,
    /// Failed before anything was sent (the text line names the line).
    pub(crate) local: bool,
    /// Done by an earlier run, per the journal: not written to it again.
    pub(crate) from_journal: bool,
}

impl RowResult {
    pub(crate) fn new(record: Record, status: RowStatus) -> RowResult {
        RowResult {
            record,
            status,
            attempts: 0,
            http_status: None,
            message: None,
            warning: None,
            local: false,
            from_journal: false,
        }
    }

    pub(crate) fn local_failure(record: Record, message: String) -> RowResult {
        RowResult {
            message: Some(message),
            local: true,
            ..RowResult::new(record, RowStatus::Failed)
        }
    }

    pub(crate) fn with_message(mut self, m: impl Into<String>) -> RowResult {
        self.message = Some(m.into());
        self
    }
}

/// What the pipeline tells the reporter.
#[derive(Debug)]
pub(crate) enum Event {
    Row(RowResult),
    /// A warning about the run (shown on stderr, above the bar).
    Warning(String),
    /// The number of rows, once counted (for the bar's total).
    Total(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
/// The form of the per-row lines on stdout.
// Doc comments on the variants would become clap's help for each value and
// turn `--help` into its long form: plain comments instead.
#[allow(missing_docs)]
pub enum OutputFormat {
    // `email... Success`, the original tool's lines.
    Text,
    // One JSON object per row.
    Json,
}

/// Everything the reporter needs, decided before the first row.
#[allow(clippy::struct_excessive_bools)] // independent settings of the output
pub(crate) struct ReporterSetup {
    pub(crate) header: Header,
    pub(crate) output: OutputFormat,
    pub(crate) quiet: bool,
    pub(crate) progress: bool,
    pub(crate) dry_run: bool,
    pub(crate) operation: Operation,
    pub(crate) report: Option<files::ReportFile>,
    pub(crate) failed: Option<files::FailedFile>,
    pub(crate) journal: Option<journal::JournalWriter>,
    /// The input is a workbook: the failed rows are written as CSV.
    pub(crate) failed_as_csv: bool,
    /// `--generate-passwords FILE` (none in a dry run).
    pub(crate) passwords: Option<files::PasswordFile>,
    /// `--generate-passwords` was given (a dry run counts what it would generate).
    pub(crate) generates_passwords: bool,
}

/// Runs the reporter on its own thread (its writes are blocking I/O) until
/// every sender is gone; returns the counts.
pub(crate) fn spawn(
    setup: ReporterSetup,
    rx: mpsc::Receiver<Event>,
) -> tokio::task::JoinHandle<Summary> {
    tokio::task::spawn_blocking(move || Reporter::new(setup).run(rx))
}

struct Reporter {
    setup: ReporterSetup,
    bar: Option<ProgressBar>,
    stdout_is_terminal: bool,
    out: Vec<u8>,
    summary: Summary,
    started: Instant,
    last_message: Instant,
    io_errors: Vec<String>,
    /// Per-row warning text → how many rows had it (only the first few are shown).
    row_warnings: std::collections::HashMap<String, u64>,
}

/// Rows shown with the same warning (or not attempted) before the rest are
/// only counted.
const SAME_WARNING_SHOWN: u64 = 3;
/// Distinct warning texts counted; past them, each is just shown (memory
/// stays bounded whatever the file holds).
const WARNING_TEXTS_COUNTED: usize = 10_000;

impl Reporter {
    fn new(setup: ReporterSetup) -> Reporter {
        let bar = setup.progress.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(spinner_style());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let summary = Summary {
            dry_run: setup.dry_run,
            operation: setup.operation,
            failed_as_csv: setup.failed_as_csv,
            report_path: setup.report.as_ref().map(|r| r.path.clone()),
            failed_path: setup.failed.as_ref().map(|f| f.path.clone()),
            passwords: setup.generates_passwords.then(|| summary::Passwords {
                path: setup.passwords.as_ref().map(|f| f.path.clone()),
                ..summary::Passwords::default()
            }),
            ..Summary::default()
        };
        Reporter {
            setup,
            bar,
            stdout_is_terminal: std::io::stdout().is_terminal(),
            out: Vec::with_capacity(64 * 1024),
            summary,
            started: Instant::now(),
            last_message: Instant::now(),
            io_errors: Vec::new(),
            row_warnings: std::collections::HashMap::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Event>) -> Summary {
        loop {
            let event = match rx.try_recv() {
                Ok(ev) => ev,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Nothing waiting: a good moment to show what we have.
                    self.flush_stdout();
                    match rx.blocking_recv() {
                        Some(ev) => ev,
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            match event {
                Event::Row(r) => self.row(r),
                Event::Warning(w) => self.warn(&w),
                Event::Total(n) => {
                    if let Some(bar) = &self.bar {
                        bar.set_length(n);
                        bar.set_style(bar_style());
                    }
                }
            }
            if self.out.len() > 32 * 1024 {
                self.flush_stdout();
            }
        }
        self.finish()
    }

    #[allow(clippy::needless_pass_by_value)] // the row ends here: it is the reporter's to drop
    fn row(&mut self, mut r: RowResult) {
        self.count(r.status, r.record.file_line().is_some());
        let header = &self.setup.header;
        // A row whose cells do not line up with the header is named by its
        // line only: its "email" could be its password.
        let aligned = r.record.fields.len() == header.len() || r.record.file_line().is_none();
        let cell = |c| {
            if aligned {
                sanitize::visible(r.record.get(header, c)).into_owned()
            } else {
                String::new()
            }
        };
        let (username, email) = (cell(Column::Username), cell(Column::Email));
        // Text that reaches the output: the row's password blanked (the
        // portal may echo it), controls escaped.
        let password = r.record.get(header, Column::Password).to_owned();
        let shown = |t: &str| sanitize::visible(&sanitize::scrub(t, &[&password])).into_owned();
        r.message = r.message.as_deref().map(shown);
        r.warning = r.warning.as_deref().map(shown);
        self.password(&mut r, &username, &email);
        self.print_line(&r, &username, &email);
        if let Some(w) = r.warning.clone()
            && self.setup.output == OutputFormat::Text
        {
            self.row_warning(&r, &w, &username, &email);
        }
        self.write_files(&r, &username, &email);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if self.last_message.elapsed() > Duration::from_millis(100) {
                bar.set_message(self.summary.counts_line());
                self.last_message = Instant::now();
            }
        }
    }

    fn count(&mut self, status: RowStatus, of_the_file: bool) {
        let s = &mut self.summary;
        // A sync's deletion of a user the file does not name is no row of it.
        s.rows += u64::from(of_the_file);
        s.not_in_file += u64::from(!of_the_file);
        let unfinished = matches!(status, RowStatus::Failed | RowStatus::NotAttempted);
        s.to_retry += u64::from(of_the_file && unfinished);
        match status {
            RowStatus::Created => s.created += 1,
            RowStatus::Updated => s.updated += 1,
            RowStatus::Unchanged => s.unchanged += 1,
            RowStatus::Skipped => s.skipped += 1,
            RowStatus::Deleted => s.deleted += 1,
            RowStatus::Absent => s.absent += 1,
            RowStatus::Failed => s.failed += 1,
            RowStatus::NotAttempted => s.not_attempted += 1,
            RowStatus::Valid => s.valid += 1,
        }
    }

    /// The row's line on stdout (buffered).
    fn print_line(&mut self, r: &RowResult, username: &str, email: &str) {
        let show =
            !self.setup.quiet || matches!(r.status, RowStatus::Failed | RowStatus::NotAttempted);
        match self.setup.output {
            // After a stop thousands may follow: three lines, then a count (in `finish`).
            OutputFormat::Text
                if r.status == RowStatus::NotAttempted
                    && self.summary.not_attempted > SAME_WARNING_SHOWN => {}
            OutputFormat::Text if show => lines::text(&mut self.out, r, username, email),
            OutputFormat::Json if show => lines::json(&mut self.out, r, username, email),
            _ => {}
        }
    }

    /// A row's warning on stderr: the first few rows with the same text,
    /// then only counted.
    fn row_warning(&mut self, r: &RowResult, w: &str, username: &str, email: &str) {
        let counted = self.row_warnings.len();
        let seen = match self.row_warnings.get_mut(w) {
            Some(n) => {
                *n += 1;
                *n
            }
            None if counted < WARNING_TEXTS_COUNTED => {
                self.row_warnings.insert(w.to_owned(), 1);
                1
            }
            None => 1,
        };
        if seen <= SAME_WARNING_SHOWN {
            let who = lines::who(r, username, email);
            self.warn(&format!("line {}: {who}: {w}", r.record.line));
        }
    }

    /// A generated password: written to the passwords file once its user
    /// is created (the row then says `password generated`, never the
    /// password); a dry run's row says one would be.
    fn password(&mut self, r: &mut RowResult, username: &str, email: &str) {
        let note = match (r.record.generated(), r.status) {
            (Generated::Yes(password), RowStatus::Created) => {
                if let Some(file) = &mut self.setup.passwords
                    && let Err(e) = file.write(username, email, password.expose())
                {
                    let e = format!(
                        "cannot write the passwords file {}: {e}",
                        file.path.display()
                    );
                    if !self.io_errors.contains(&e) {
                        self.warn(&e);
                        self.io_errors.push(e);
                    }
                }
                if let Some(p) = &mut self.summary.passwords {
                    p.generated += 1;
                }
                "password generated"
            }
            // Sent more than once, then "already exists": an attempt whose
            // answer was lost may have created it with the generated
            // password, or the user was there before. Not claimed either way.
            (Generated::Yes(_), RowStatus::Skipped) if r.attempts > 1 => {
                "its generated password is not in the passwords file: if this run created the \
                 user, set a password for it in the portal"
            }
            (Generated::Would, RowStatus::Valid) => {
                if let Some(p) = &mut self.summary.passwords {
                    p.would += 1;
                }
                "a password would be generated"
            }
            _ => return,
        };
        r.message = Some(match r.message.take() {
            Some(m) => format!("{m}; {note}"),
            None => note.to_owned(),
        });
    }

    /// The report, failed-rows and journal entries of a row. A write that
    /// fails is said once per file, not once per row.
    fn write_files(&mut self, r: &RowResult, username: &str, email: &str) {
        let mut errors = Vec::new();
        if let Some(report) = &mut self.setup.report
            && let Err(e) = report.write(r, username, email)
        {
            errors.push(format!(
                "cannot write the report {}: {e}",
                report.path.display()
            ));
        }
        if matches!(r.status, RowStatus::Failed | RowStatus::NotAttempted)
            && r.record.file_line().is_some()
            && let Some(failed) = &mut self.setup.failed
            && let Err(e) = failed.write(&r.record)
        {
            errors.push(format!(
                "cannot write the failed-rows file {}: {e}",
                failed.path.display()
            ));
        }
        if r.status.is_done()
            && r.record.file_line().is_some()
            && !r.from_journal
            && !self.setup.dry_run
            && let Some(j) = &mut self.setup.journal
            && let Err(e) = j.record(r.record.line, username, r.status.as_str())
        {
            errors.push(format!(
                "cannot write the journal {}: {e}",
                j.path.display()
            ));
        }
        for e in errors {
            if !self.io_errors.contains(&e) {
                self.warn(&e);
                self.io_errors.push(e);
            }
        }
    }

    fn warn(&mut self, w: &str) {
        self.flush_stdout();
        let line = format!("warning: {}", sanitize::visible(w));
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn flush_stdout(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let out = &self.out;
        let write = || {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth more than silence.
            let _ = stdout.write_all(out).and_then(|()| stdout.flush());
        };
        match &self.bar {
            Some(bar) if self.stdout_is_terminal => bar.suspend(write),
            _ => write(),
        }
        self.out.clear();
    }

    fn finish(mut self) -> Summary {
        if self.setup.output == OutputFormat::Text
            && self.summary.not_attempted > SAME_WARNING_SHOWN
        {
            let more = self.summary.not_attempted - SAME_WARNING_SHOWN;
            // The failed-rows file holds the file's rows only, not a
            // sync's deletions: with those, the report says more.
            let failed = self
                .setup
                .failed
                .as_ref()
                .filter(|_| self.summary.not_in_file == 0);
            let where_ = match (failed, &self.setup.report) {
                (Some(f), _) => format!("{} lists them", f.path.display()),
                (None, Some(r)) => format!("{} lists them", r.path.display()),
                (None, None) if self.summary.not_in_file == 0 => {
                    "--failed FILE would list them".to_owned()
                }
                (None, None) => "--report FILE would list them".to_owned(),
            };
            // On stderr: stdout keeps one line per row.
            self.warn(&format!(
                "{} more row{} not attempted, not listed above ({where_})",
                thousands(more),
                plural(more)
            ));
        }
        self.flush_stdout();
        let mut repeated: Vec<(String, u64)> = std::mem::take(&mut self.row_warnings)
            .into_iter()
            .filter(|(_, n)| *n > SAME_WARNING_SHOWN)
            .collect();
        repeated.sort();
        for (w, n) in repeated {
            let more = n - SAME_WARNING_SHOWN;
            let where_ = if self.setup.report.is_some() {
                "the report lists each row"
            } else {
                "--report lists each row"
            };
            self.warn(&format!(
                "{} more row{} with: {w} ({where_})",
                thousands(more),
                plural(more)
            ));
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let mut errors = Vec::new();
        if let Some(report) = self.setup.report.take()
            && let Err(e) = report.finish()
        {
            errors.push(e);
        }
        if let Some(failed) = self.setup.failed.take()
            && let Err(e) = failed.finish()
        {
            errors.push(e);
        }
        for e in errors {
            if !self.io_errors.contains(&e) {
                self.io_errors.push(e);
            }
        }
        self.summary.incomplete = std::mem::take(&mut self.io_errors);
        self.summary.elapsed = self.started.elapsed();
        self.summary
    }
}

fn users_per_sec(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.1} users/s", state.per_sec());
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {pos} rows  {rate}  {msg}").map_or_else(
        |_| ProgressStyle::default_spinner(),
        |s| s.with_key("rate", users_per_sec),
    )
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{wide_bar} {pos}/{len}  {rate}  ETA {eta}  {msg}").map_or_else(
        |_| ProgressStyle::default_bar(),
        |s| s.with_key("rate", users_per_sec),
    )
}
