//! The counts of a run and the closing lines on stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{RowStatus, Would};
use crate::engine::stop::StopReason;
use crate::human::{duration, plural, thousands, wait};
use crate::input::Source;
use crate::options::{Command, Existing, Options};

/// What a run does to the enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operation {
    /// Create the users of the file; existing ones are skipped (or fail).
    #[default]
    Import,
    /// Create, and update the existing users that differ (`--existing update`).
    Update,
    /// Delete the users the file names.
    Delete,
    /// Make the enterprise match the file.
    Sync,
    /// Write the enterprise's users as a CSV.
    Export,
}

/// The counts of a finished run, and what the closing lines need.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Rows read (every row is counted once, in one of the counts below).
    pub rows: u64,
    /// Users created.
    pub created: u64,
    /// Existing users whose fields were changed.
    pub updated: u64,
    /// Existing users the file already matched.
    pub unchanged: u64,
    /// Users that existed, or rows done in an earlier run (journal).
    pub skipped: u64,
    /// Users deleted.
    pub deleted: u64,
    /// Users asked to be deleted who did not exist.
    pub absent: u64,
    /// Rows that failed, here or at the portal.
    pub failed: u64,
    /// Rows not sent because the run stopped.
    pub not_attempted: u64,
    /// Rows a dry run found valid, without knowing what they would do
    /// (`--offline`: the portal was not asked).
    pub valid: u64,
    /// Rows a dry run would create.
    pub would_create: u64,
    /// Rows a dry run would update.
    pub would_update: u64,
    /// Users a dry run would delete.
    pub would_delete: u64,
    /// Results for users the file does not name (a sync's deletions):
    /// in the counts above, not in `rows`.
    pub not_in_file: u64,
    /// Of the counts above, those of the users the file does not name.
    pub beyond: Tally,
    /// Results that sent a request (the rate is of these).
    pub sent: u64,
    /// The first failed rows, as `line 7: who: why` (shown again at the end).
    pub first_failures: Vec<String>,
    /// Rows of the file that failed or were not attempted: what the
    /// failed-rows file holds.
    pub to_retry: u64,
    /// From the first row to the last result.
    pub elapsed: Duration,
    /// Nothing was sent.
    pub dry_run: bool,
    /// What the run did (which counts the summary shows).
    pub operation: Operation,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopReason>,
    /// The input could not be read to its end.
    pub read_error: Option<String>,
    /// A stop ended the reading of a stream after this line.
    pub unread_after: Option<u64>,
    /// 429 answers, and how long the pool was paused for them in all.
    pub throttled: Option<(u64, Duration)>,
    /// The rate the portal was measured to accept, when it throttled.
    pub accepted_rate: Option<f64>,
    /// Output files a write failed on (a full disk…): each is incomplete.
    pub incomplete: Vec<String>,
    /// The failed rows of a workbook are written as CSV.
    pub failed_as_csv: bool,
    /// Where an export went.
    pub exported_to: Option<String>,
    /// Where the report went.
    pub report_path: Option<PathBuf>,
    /// Where the failed rows went.
    pub failed_path: Option<PathBuf>,
    /// The command line that runs the unfinished rows again (set by [`crate::run`]).
    pub rerun: Option<Rerun>,
    /// With `--generate-passwords`: how many, and where.
    pub passwords: Option<Passwords>,
}

/// Failed rows shown again after the summary.
pub(crate) const FAILURES_SHOWN: usize = 10;

/// A run shorter than this shows no rate: it would mean nothing.
const RATE_MIN_SECS: f64 = 0.1;

/// Counts by what became of a row (or of a user the file does not name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each is its label
pub struct Tally {
    pub valid: u64,
    pub would_create: u64,
    pub would_update: u64,
    pub would_delete: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub deleted: u64,
    pub absent: u64,
    pub failed: u64,
    pub not_attempted: u64,
}

impl Tally {
    /// The count of a row that ended in `status` (a dry run's: in `would`).
    pub(crate) fn slot(&mut self, status: RowStatus, would: Option<&Would>) -> &mut u64 {
        match (status, would) {
            (RowStatus::Valid, None) => &mut self.valid,
            (RowStatus::Valid, Some(Would::Create)) => &mut self.would_create,
            (RowStatus::Valid, Some(Would::Update(_))) => &mut self.would_update,
            (RowStatus::Valid, Some(Would::Delete)) => &mut self.would_delete,
            (RowStatus::Created, _) => &mut self.created,
            (RowStatus::Updated, _) => &mut self.updated,
            (RowStatus::Unchanged, _) => &mut self.unchanged,
            (RowStatus::Skipped, _) => &mut self.skipped,
            (RowStatus::Deleted, _) => &mut self.deleted,
            (RowStatus::Absent, _) => &mut self.absent,
            (RowStatus::Failed, _) => &mut self.failed,
            (RowStatus::NotAttempted, _) => &mut self.not_attempted,
        }
    }

    /// Each count with its label, in the order the summary shows them.
    fn labelled(&self) -> [(&'static str, u64); 12] {
        [
            ("valid", self.valid),
            ("to create", self.would_create),
            ("to update", self.would_update),
            ("to delete", self.would_delete),
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("deleted", self.deleted),
            ("absent", self.absent),
            ("failed", self.failed),
            ("not attempted", self.not_attempted),
        ]
    }

    fn minus(&self, o: &Tally) -> Tally {
        Tally {
            valid: self.valid.saturating_sub(o.valid),
            would_create: self.would_create.saturating_sub(o.would_create),
            would_update: self.would_update.saturating_sub(o.would_update),
            would_delete: self.would_delete.saturating_sub(o.would_delete),
            created: self.created.saturating_sub(o.created),
            updated: self.updated.saturating_sub(o.updated),
            unchanged: self.unchanged.saturating_sub(o.unchanged),
            skipped: self.skipped.saturating_sub(o.skipped),
            deleted: self.deleted.saturating_sub(o.deleted),
            absent: self.absent.saturating_sub(o.absent),
            failed: self.failed.saturating_sub(o.failed),
            not_attempted: self.not_attempted.saturating_sub(o.not_attempted),
        }
    }

    /// `3 created, 0 failed`: the counts not zero, and those in `always`.
    fn line(&self, always: &[&str]) -> String {
        self.labelled()
            .iter()
            .filter(|(name, n)| *n > 0 || always.contains(name))
            .map(|(name, n)| format!("{} {name}", thousands(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The passwords a run generated (`--generate-passwords`).
#[derive(Debug, Clone, Default)]
pub struct Passwords {
    /// Written to the file, one per user created.
    pub generated: u64,
    /// A dry run's: the rows that would get one.
    pub would: u64,
    /// The file (none in a dry run).
    pub path: Option<PathBuf>,
}

impl Summary {
    /// `9,812 rows: 9,700 created, 100 skipped, 12 failed in 1m32s (106.6 users/s)`
    #[must_use]
    pub fn line(&self) -> String {
        if let Some(to) = &self.exported_to {
            return format!(
                "{} user{} exported to {to} in {}",
                thousands(self.rows),
                plural(self.rows),
                duration(self.elapsed)
            );
        }
        let secs = self.elapsed.as_secs_f64();
        // A rate of nothing sent, or of a blink, means nothing.
        let rate = if self.sent == 0 || secs < RATE_MIN_SECS {
            String::new()
        } else {
            format!(" ({:.1} users/s)", self.sent as f64 / secs)
        };
        format!(
            "{} row{}: {} in {}{rate}{}",
            thousands(self.rows),
            plural(self.rows),
            self.counts_line(),
            duration(self.elapsed),
            if self.dry_run {
                " — dry run, nothing was sent"
            } else {
                ""
            }
        )
    }

    /// Adds `t` to the counts.
    pub(crate) fn add(&mut self, t: &Tally) {
        self.valid += t.valid;
        self.would_create += t.would_create;
        self.would_update += t.would_update;
        self.would_delete += t.would_delete;
        self.created += t.created;
        self.updated += t.updated;
        self.unchanged += t.unchanged;
        self.skipped += t.skipped;
        self.deleted += t.deleted;
        self.absent += t.absent;
        self.failed += t.failed;
        self.not_attempted += t.not_attempted;
    }

    /// Every count, the rows' and those of the users the file does not name.
    fn totals(&self) -> Tally {
        Tally {
            valid: self.valid,
            would_create: self.would_create,
            would_update: self.would_update,
            would_delete: self.would_delete,
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            skipped: self.skipped,
            deleted: self.deleted,
            absent: self.absent,
            failed: self.failed,
            not_attempted: self.not_attempted,
        }
    }

    /// `9,700 created, 100 skipped, 12 failed`: the rows' counts, which add
    /// up to the rows; then those of the users the file does not name
    /// (`; 3 users the file does not name: 3 deleted`).
    #[must_use]
    pub fn counts_line(&self) -> String {
        // The operation's own counts are always shown, the others when not zero.
        let always: &[&str] = match (self.dry_run, self.operation) {
            (true, _) => &["failed"],
            (false, Operation::Import) => &["created", "skipped", "failed"],
            (false, Operation::Update | Operation::Sync) => {
                &["created", "updated", "unchanged", "failed"]
            }
            (false, Operation::Delete) => &["deleted", "absent", "failed"],
            (false, Operation::Export) => &[],
        };
        let rows = self.totals().minus(&self.beyond).line(always);
        if self.not_in_file == 0 {
            return rows;
        }
        format!(
            "{rows}; {} user{} the file does not name: {}",
            thousands(self.not_in_file),
            plural(self.not_in_file),
            self.beyond.line(&[])
        )
    }

    /// The lines printed at the end: the counts, why it stopped, the files.
    #[must_use]
    pub fn closing_lines(&self) -> Vec<String> {
        let mut out = vec![self.line()];
        match self.stop {
            Some(StopReason::Interrupted) => out.push(
                "interrupted: the requests in flight were finished; rows not sent are \"not attempted\"".into(),
            ),
            Some(StopReason::Unauthorized) => out.push(
                "stopped: the portal refused the access token in the middle of the run (revoked or expired?); \
                 rows not sent are \"not attempted\""
                    .into(),
            ),
            Some(StopReason::PortalAskedToWait(d)) => out.push(format!(
                "stopped: the portal answered 429 Too Many Requests asking to wait {} (Retry-After), \
                 longer than the 10 minutes a row waits; rows not sent are \"not attempted\": \
                 run them again later",
                wait(d)
            )),
            None => {}
        }
        if let Some((n, paused)) = self.throttled {
            out.push(format!(
                "throttled: the portal answered 429 Too Many Requests {} time{}; every worker paused \
                 {} in all{}",
                thousands(n),
                plural(n),
                duration(paused),
                self.accepted_rate.map(advice).unwrap_or_default()
            ));
        }
        if let Some(line) = self.unread_after {
            out.push(format!(
                "the input (a stream) was not read past line {line}: any rows after it are in no \
                 count, report or failed-rows file"
            ));
        }
        if let Some(e) = &self.read_error {
            out.push(format!("error: {e}"));
        }
        for e in &self.incomplete {
            out.push(format!("error: {e}; the file is incomplete"));
        }
        out.extend(self.failures_again());
        if let Some(p) = &self.report_path {
            out.push(format!("report: {}", p.display()));
        }
        if let Some(p) = &self.passwords {
            out.push(p.line());
        }
        out.extend(self.unfinished_lines());
        out
    }

    /// The first failed rows again, where the summary cannot scroll them
    /// away, and how many more there are.
    fn failures_again(&self) -> Vec<String> {
        if self.first_failures.is_empty() {
            return Vec::new();
        }
        let mut out = vec!["failures:".to_owned()];
        out.extend(self.first_failures.iter().map(|f| format!("  {f}")));
        let more = self.failed.saturating_sub(self.first_failures.len() as u64);
        if more > 0 {
            let where_ = match (&self.report_path, &self.failed_path) {
                (Some(p), _) => format!("in {}", p.display()),
                (None, Some(p)) if self.beyond.failed == 0 => format!("in {}", p.display()),
                _ => "(--report FILE lists every row)".to_owned(),
            };
            out.push(format!("  … and {} more {where_}", thousands(more)));
        }
        out
    }

    /// The tip without a failed-rows file: the whole file run again, or
    /// `--failed` when that cannot finish the work.
    fn run_whole_again(&self, failed: bool) -> String {
        let what = if failed {
            "fix the failed rows in the file, then run it again (what is done is skipped)"
        } else {
            "run the file again (what is done is skipped)"
        };
        match self
            .rerun
            .as_ref()
            .and_then(|r| r.whole(self.operation, false))
        {
            Some(cmd) => format!("tip: {what}: {cmd}"),
            None => "tip: --failed failed.csv writes the rows that did not succeed, ready to run \
                     again"
                .into(),
        }
    }

    /// A dry run's tip: the whole file checked again, once fixed.
    fn check_again(&self) -> Option<String> {
        let cmd = self.rerun.as_ref()?.whole(self.operation, true)?;
        Some(format!(
            "tip: fix the failed rows in the file, then check it again: {cmd}"
        ))
    }

    /// The rows left to do, and the command that does them.
    fn unfinished_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let unfinished = self.to_retry;
        let rows = self.totals().minus(&self.beyond);
        match &self.failed_path {
            Some(p) if unfinished > 0 => {
                out.push(format!(
                    "failed rows: {} ({} row{}{}, owner-only as it may hold passwords)",
                    p.display(),
                    thousands(unfinished),
                    plural(unfinished),
                    if self.failed_as_csv {
                        ", written as CSV"
                    } else {
                        ""
                    },
                ));
                if self.dry_run {
                    // Its other rows were not sent either: the whole file is checked again.
                    out.extend(self.check_again());
                    return out;
                }
                let what = match (rows.failed, rows.not_attempted) {
                    (0, _) => "run the rows not attempted",
                    (_, 0) => "fix the failed rows, then run",
                    _ => "fix the failed rows, then run them with those not attempted",
                };
                out.push(match &self.rerun {
                    Some(r) => format!("tip: {what}: {}", r.again(self.operation, p)),
                    None => format!(
                        "tip: {what} {} with this run's config and options",
                        p.display()
                    ),
                });
            }
            Some(p) => out.push(format!(
                "failed rows: none{} ({} holds only the header)",
                if self.not_in_file > 0 {
                    " of the file's"
                } else {
                    ""
                },
                p.display()
            )),
            None if unfinished > 0 && self.dry_run => out.extend(self.check_again()),
            None if unfinished > 0 => out.push(self.run_whole_again(rows.failed > 0)),
            None => {}
        }
        out.extend(self.deletions_left());
        out
    }

    /// A sync's deletions that did not succeed: no row of the file, so not
    /// in the failed-rows file; a new sync retries them.
    fn deletions_left(&self) -> Option<String> {
        let deletions = self.beyond.failed + self.beyond.not_attempted;
        (deletions > 0 && !self.dry_run).then(|| {
            format!(
                "{} deletion{} of users the file does not name did not succeed{}: {}",
                thousands(deletions),
                plural(deletions),
                if self.report_path.is_some() {
                    " (the report lists them, without a line)"
                } else {
                    ""
                },
                match self.rerun.as_ref().and_then(Rerun::sync_again) {
                    Some(cmd) => format!("a new sync retries them: {cmd}"),
                    None => "the same sync run again retries them".to_owned(),
                }
            )
        })
    }
}

/// How the run was called: what a command that runs its unfinished rows
/// again needs. Only the options that shape the work are repeated (`-c`,
/// `-r`, `--strict`…), not its outputs (`--report`, `--journal`…).
#[derive(Debug, Clone, Default)]
pub struct Rerun {
    config: PathBuf,
    /// The input, when a file (standard input cannot be read again).
    input: Option<PathBuf>,
    /// The input's sheet and the journal: for the same file only.
    sheet: Option<String>,
    journal: Option<PathBuf>,
    /// A sync's `--delete-missing`, with its `--max-deletes N`.
    delete_missing: Option<u64>,
    existing: Option<Existing>,
    include_admins: bool,
    no_welcome_email: bool,
    /// `--generate-passwords FILE`: the run again needs a file of its own.
    generate_passwords: Option<PathBuf>,
    /// A dry run's `--offline`.
    offline: bool,
    /// `-c 32 -r 200 …`, each word apart.
    shaping: Vec<String>,
}

impl Rerun {
    /// What `opts` says of the work.
    #[must_use]
    pub fn of(opts: &Options) -> Rerun {
        let mut rerun = Rerun {
            config: opts.config.clone(),
            input: match opts.source() {
                Some(Source::File(p)) => Some(p.clone()),
                _ => None,
            },
            sheet: opts.sheet.clone(),
            journal: opts.journal.clone(),
            generate_passwords: opts.generate_passwords.clone(),
            offline: opts.offline,
            shaping: shaping(opts),
            ..Rerun::default()
        };
        match &opts.command {
            Command::Import {
                existing,
                no_welcome_email,
                ..
            } => {
                rerun.existing = Some(*existing);
                rerun.no_welcome_email = *no_welcome_email;
            }
            Command::Sync {
                delete_missing,
                max_deletes,
                no_welcome_email,
                ..
            } => {
                rerun.existing = Some(Existing::Update);
                rerun.no_welcome_email = *no_welcome_email;
                rerun.delete_missing = delete_missing.then_some(*max_deletes);
            }
            Command::Delete { include_admins, .. } => rerun.include_admins = *include_admins,
            Command::Export { .. } => {}
        }
        rerun
    }

    /// The command that runs the rows of `file` again, the way `operation`
    /// finishes them. A sync's rows are finished by an update: a sync of a
    /// partial file would delete everyone else.
    fn again(&self, operation: Operation, file: &Path) -> String {
        let mut words: Vec<String> = vec!["xmc-user-importer".into()];
        match operation {
            Operation::Delete => words.push("delete".into()),
            Operation::Update | Operation::Sync => words.push("import".into()),
            Operation::Import | Operation::Export => {}
        }
        words.push(self.config.display().to_string());
        words.push(file.display().to_string());
        match (operation, self.existing) {
            (Operation::Update | Operation::Sync, _) => {
                words.extend(["--existing".into(), "update".into()]);
            }
            (_, Some(Existing::Fail)) => words.extend(["--existing".into(), "fail".into()]),
            _ => {}
        }
        self.finish(words)
    }

    /// A sync with `--delete-missing` run again, for its deletions.
    fn sync_again(&self) -> Option<String> {
        self.delete_missing?;
        self.whole(Operation::Sync, false)
    }

    /// The command that runs the whole input again, when that finishes
    /// the work: what is done is skipped (an import, with the journal if
    /// it had one), unchanged (an update, a sync) or absent (a delete).
    /// Not for `--existing fail`: the users it created would then fail.
    /// `check`: a dry run's, checked again (`--dry-run`, and `--offline`
    /// if it was).
    fn whole(&self, operation: Operation, check: bool) -> Option<String> {
        let input = self.input.as_ref()?;
        let mut words: Vec<String> = vec!["xmc-user-importer".into()];
        let mut tail: Vec<String> = match (operation, self.existing) {
            (Operation::Import, Some(Existing::Fail)) if !check => return None,
            (Operation::Import, Some(Existing::Fail)) => vec!["--existing".into(), "fail".into()],
            (Operation::Export, _) => return None,
            (Operation::Import, _) => self
                .journal
                .iter()
                .flat_map(|j| ["--journal".to_owned(), j.display().to_string()])
                .collect(),
            (Operation::Update, _) => {
                words.push("import".into());
                vec!["--existing".into(), "update".into()]
            }
            (Operation::Sync, _) => {
                words.push("sync".into());
                match self.delete_missing {
                    Some(max) if max != Options::MAX_DELETES => vec![
                        "--delete-missing".into(),
                        "--max-deletes".into(),
                        max.to_string(),
                    ],
                    Some(_) => vec!["--delete-missing".into()],
                    None => Vec::new(),
                }
            }
            (Operation::Delete, _) => {
                words.push("delete".into());
                Vec::new()
            }
        };
        if check {
            tail.push("--dry-run".into());
            if self.offline {
                tail.push("--offline".into());
            }
        }
        words.push(self.config.display().to_string());
        words.push(input.display().to_string());
        words.extend(tail);
        if let Some(sheet) = &self.sheet {
            words.extend(["--sheet".into(), sheet.clone()]);
        }
        Some(self.finish(words))
    }

    /// `words`, then the flags that shape the work, quoted for a POSIX shell.
    fn finish(&self, mut words: Vec<String>) -> String {
        if self.no_welcome_email {
            words.push("--no-welcome-email".into());
        }
        if self.include_admins {
            words.push("--include-admins".into());
        }
        if let Some(p) = &self.generate_passwords {
            words.extend([
                "--generate-passwords".into(),
                fresh(p).display().to_string(),
            ]);
        }
        words.extend(self.shaping.iter().cloned());
        words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
    }
}

/// The options that shape the work (`-c 32 -r 200 --strict …`), each word
/// apart: those given, or set from the environment (which a run again may
/// not have).
fn shaping(opts: &Options) -> Vec<String> {
    let set = |var: &str| std::env::var_os(var).is_some();
    let mut shaping = Vec::new();
    let mut flag = |on: bool, name: &str, value: String| {
        if on {
            shaping.push(name.to_owned());
            if !value.is_empty() {
                shaping.push(value);
            }
        }
    };
    let c = opts.concurrency;
    flag(
        c != usize::from(Options::CONCURRENCY) || set("XMC_CONCURRENCY"),
        "-c",
        c.to_string(),
    );
    #[allow(clippy::float_cmp)] // a default given or not, not a computed value
    let r = opts.rate != Options::RATE;
    flag(r || set("XMC_RATE"), "-r", opts.rate.to_string());
    flag(
        opts.burst != Options::BURST,
        "--burst",
        opts.burst.to_string(),
    );
    flag(
        opts.retries != Options::RETRIES,
        "--retries",
        opts.retries.to_string(),
    );
    let t = opts.timeout.as_secs_f64();
    flag(
        (t - Options::TIMEOUT_SECS).abs() > f64::EPSILON,
        "--timeout",
        t.to_string(),
    );
    flag(opts.strict, "--strict", String::new());
    // The mapping reads the failed rows as it read the input (they keep its columns).
    for c in &opts.columns {
        shaping.extend(["--column".to_owned(), c.clone()]);
    }
    for d in &opts.derive {
        shaping.extend(["--derive".to_owned(), d.clone()]);
    }
    shaping
}

/// `path` when it is still free (missing or empty), else the first free
/// `stem-2.ext`, `stem-3.ext`… (`passwords-2.csv` is followed by
/// `passwords-3.csv`): a passwords file is never written over.
fn fresh(path: &Path) -> PathBuf {
    let free = |p: &Path| std::fs::metadata(p).map_or(true, |m| m.is_file() && m.len() == 0);
    if free(path) {
        return path.to_owned();
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let (base, first) = match stem.rsplit_once('-') {
        Some((base, n)) if !base.is_empty() && n.parse::<u32>().is_ok_and(|n| n < 1000) => {
            (base, n.parse::<u32>().unwrap_or(1) + 1)
        }
        _ => (stem.as_ref(), 2),
    };
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (first..first + 1000)
        .map(|n| path.with_file_name(format!("{base}-{n}{ext}")))
        .find(|p| free(p))
        .unwrap_or_else(|| path.to_owned())
}

/// A word as a POSIX shell reads it back: bare when it can be, else quoted.
fn quote(word: &str) -> String {
    // A NUL cannot be in a path or an argument: nothing to quote then.
    shlex::try_quote(word).map_or_else(|_| word.to_owned(), std::borrow::Cow::into_owned)
}

impl Passwords {
    /// `passwords: 200 generated, in passwords.csv (owner-only): …`
    fn line(&self) -> String {
        let n = self.generated;
        match &self.path {
            None => format!(
                "passwords: {} would be generated (a dry run generates none)",
                thousands(self.would)
            ),
            Some(p) if n == 0 => format!(
                "passwords: none generated ({} holds only its header)",
                p.display()
            ),
            Some(p) => format!(
                "passwords: {} generated, one per user created, in {} (owner-only): hand each \
                 over securely, then delete the file",
                thousands(n),
                p.display()
            ),
        }
    }
}

/// `; the portal accepted about 40 users/s: -r 38 avoids throttling next time`
fn advice(rate: f64) -> String {
    let (about, hint) = if rate >= 10.0 {
        (
            format!("{rate:.0}"),
            format!("{:.0}", (rate * 0.95).floor()),
        )
    } else {
        (
            format!("{rate:.1}"),
            format!("{:.1}", (rate * 9.5).floor() / 10.0),
        )
    };
    format!("; the portal accepted about {about} users/s: -r {hint} avoids throttling next time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_example() {
        let s = Summary {
            rows: 9812,
            created: 9700,
            skipped: 100,
            failed: 12,
            sent: 9812,
            elapsed: Duration::from_secs(92),
            ..Default::default()
        };
        assert_eq!(
            s.line(),
            "9,812 rows: 9,700 created, 100 skipped, 12 failed in 1m32s (106.7 users/s)"
        );
    }

    #[test]
    fn what_the_pace_learnt_is_said() {
        let s = Summary {
            throttled: Some((12, Duration::from_secs(3))),
            accepted_rate: Some(40.2),
            ..Default::default()
        };
        assert!(s.closing_lines()[1].ends_with(
            "every worker paused 3.0s in all; the portal accepted about 40 users/s: -r 38 avoids \
             throttling next time"
        ));
        assert_eq!(
            advice(4.97),
            "; the portal accepted about 5.0 users/s: -r 4.7 avoids throttling next time"
        );
    }

    fn tip(s: &Summary) -> String {
        let lines = s.closing_lines();
        lines
            .iter()
            .find_map(|l| l.strip_prefix("tip: "))
            .unwrap_or_else(|| panic!("no tip in {lines:#?}"))
            .to_owned()
    }

    fn unfinished(operation: Operation, opts: &Options) -> Summary {
        Summary {
            rows: 4,
            failed: 2,
            to_retry: 2,
            operation,
            failed_path: Some("f.csv".into()),
            rerun: Some(Rerun::of(opts)),
            ..Default::default()
        }
    }

    #[test]
    fn the_failed_rows_are_run_again_by_the_operation_that_finishes_them() {
        let mut opts = Options::new("my config.json", "u.csv");
        let tail = |operation, opts: &Options| {
            tip(&unfinished(operation, opts))
                .split_once("fix the failed rows, then run: ")
                .unwrap()
                .1
                .to_owned()
        };
        assert_eq!(
            tail(Operation::Import, &opts),
            "xmc-user-importer 'my config.json' f.csv"
        );
        opts.concurrency = 32;
        opts.rate = 200.0;
        opts.burst = 5;
        opts.retries = 2;
        opts.timeout = Duration::from_millis(2500);
        opts.strict = true;
        opts.report = Some("r.csv".into());
        opts.journal = Some("j".into());
        assert_eq!(
            tail(Operation::Import, &opts),
            "xmc-user-importer 'my config.json' f.csv -c 32 -r 200 --burst 5 --retries 2 \
             --timeout 2.5 --strict",
            "the options that shape the work, not the outputs"
        );
        opts = Options::new("c.json", "u.csv");
        opts.rate = 0.5;
        opts.command = Command::Import {
            source: Source::File("u.csv".into()),
            existing: Existing::Update,
            no_welcome_email: true,
        };
        assert_eq!(
            tail(Operation::Update, &opts),
            "xmc-user-importer import c.json f.csv --existing update --no-welcome-email -r 0.5"
        );
        opts.command = Command::Sync {
            source: Source::File("hr.csv".into()),
            delete_missing: true,
            max_deletes: 10,
            yes: true,
            no_welcome_email: false,
        };
        assert_eq!(
            tail(Operation::Sync, &opts),
            "xmc-user-importer import c.json f.csv --existing update -r 0.5",
            "a sync's rows are finished by an update: a sync of them would delete the rest"
        );
        opts.command = Command::Delete {
            source: Source::File("leavers.csv".into()),
            yes: true,
            include_admins: true,
        };
        assert_eq!(
            tail(Operation::Delete, &opts),
            "xmc-user-importer delete c.json f.csv --include-admins -r 0.5"
        );
        opts.command = Command::Import {
            source: Source::File("u.csv".into()),
            existing: Existing::Fail,
            no_welcome_email: false,
        };
        assert_eq!(
            tail(Operation::Import, &opts),
            "xmc-user-importer c.json f.csv --existing fail -r 0.5"
        );
    }

    #[test]
    fn the_tip_keeps_the_mapping_and_never_names_a_used_passwords_file() {
        let dir = tempfile::tempdir().unwrap();
        let used = dir.path().join("pw.csv");
        std::fs::write(&used, "username,email,password\n").unwrap();
        std::fs::write(dir.path().join("pw-2.csv"), "x").unwrap();
        assert_eq!(
            fresh(&dir.path().join("pw-2.csv")),
            dir.path().join("pw-3.csv")
        );
        assert_eq!(
            fresh(&dir.path().join("pw-9.csv")),
            dir.path().join("pw-9.csv")
        );
        let mut opts = Options::new("c.json", "hr.csv");
        opts.columns = vec!["email=Work Email".into()];
        opts.derive = vec!["username={first_name}.{last_name}|slug".into()];
        opts.generate_passwords = Some(used.clone());
        let t = tip(&unfinished(Operation::Import, &opts));
        let want = format!(
            "xmc-user-importer c.json f.csv --generate-passwords {} --column 'email=Work Email' \
             --derive 'username={{first_name}}.{{last_name}}|slug'",
            dir.path().join("pw-3.csv").display()
        );
        assert!(t.ends_with(&want), "{t}");
    }

    #[test]
    fn the_tip_fits_the_rows() {
        let opts = Options::new("c.json", "u.csv");
        let mut s = unfinished(Operation::Import, &opts);
        assert!(tip(&s).starts_with("fix the failed rows, then run: "));
        s.failed = 0;
        s.not_attempted = 2;
        assert!(
            tip(&s).starts_with("run the rows not attempted: "),
            "{}",
            tip(&s)
        );
        s.failed = 1;
        s.not_attempted = 1;
        assert!(
            tip(&s).starts_with("fix the failed rows, then run them with those not attempted: ")
        );
        assert!(!tip(&s).contains("CONFIG"));
    }

    #[test]
    fn without_a_failed_rows_file_the_tip_runs_the_whole_file_again() {
        let mut opts = Options::new("c.json", "users.xlsx");
        opts.journal = Some("run.journal".into());
        opts.sheet = Some("Staff 2026".into());
        opts.concurrency = 4;
        let mut s = Summary {
            rows: 4,
            failed: 1,
            not_attempted: 1,
            to_retry: 2,
            rerun: Some(Rerun::of(&opts)),
            ..Default::default()
        };
        assert_eq!(
            tip(&s),
            "fix the failed rows in the file, then run it again (what is done is skipped): \
             xmc-user-importer c.json users.xlsx --journal run.journal --sheet 'Staff 2026' -c 4"
        );
        s.failed = 0;
        assert!(tip(&s).starts_with("run the file again (what is done is skipped): "));
        opts.journal = None;
        opts.sheet = None;
        opts.command = Command::Sync {
            source: Source::File("hr.csv".into()),
            delete_missing: false,
            max_deletes: 10,
            yes: false,
            no_welcome_email: false,
        };
        s.operation = Operation::Sync;
        s.rerun = Some(Rerun::of(&opts));
        assert!(
            tip(&s).ends_with(": xmc-user-importer sync c.json hr.csv -c 4"),
            "{}",
            tip(&s)
        );
        // Standard input cannot be read again; --existing fail would fail
        // the users the run created: then only the hint.
        for command in [
            Command::Import {
                source: Source::Stdin,
                existing: Existing::Skip,
                no_welcome_email: false,
            },
            Command::Import {
                source: Source::File("u.csv".into()),
                existing: Existing::Fail,
                no_welcome_email: false,
            },
        ] {
            opts.command = command;
            s.operation = Operation::Import;
            s.rerun = Some(Rerun::of(&opts));
            assert!(
                tip(&s).starts_with("--failed failed.csv writes"),
                "{}",
                tip(&s)
            );
        }
    }

    #[test]
    fn a_dry_runs_tip_checks_the_whole_file_again() {
        let mut opts = Options::new("c.json", "u.csv");
        opts.dry_run = true;
        opts.offline = true;
        let mut s = unfinished(Operation::Import, &opts);
        s.dry_run = true;
        assert_eq!(
            tip(&s),
            "fix the failed rows in the file, then check it again: xmc-user-importer c.json \
             u.csv --dry-run --offline"
        );
        s.failed_path = None;
        assert!(
            tip(&s).ends_with("u.csv --dry-run --offline"),
            "{}",
            tip(&s)
        );
    }

    #[test]
    fn no_rate_for_nothing_sent_or_a_blink() {
        let mut s = Summary {
            rows: 3,
            created: 3,
            sent: 3,
            elapsed: Duration::from_secs(2),
            ..Default::default()
        };
        assert!(s.line().ends_with("in 2.0s (1.5 users/s)"), "{}", s.line());
        s.elapsed = Duration::from_millis(60);
        assert!(s.line().ends_with("in 0.1s"), "{}", s.line());
        s.elapsed = Duration::from_secs(2);
        s.sent = 0;
        assert!(s.line().ends_with("in 2.0s"), "{}", s.line());
    }

    #[test]
    fn the_first_failures_are_shown_again_and_the_rest_counted() {
        let mut s = Summary {
            rows: 40,
            created: 28,
            failed: 12,
            first_failures: (1..=10)
                .map(|i| format!("line {i}: a{i}@b.co: email: is invalid"))
                .collect(),
            report_path: Some("report.csv".into()),
            ..Default::default()
        };
        let lines = s.closing_lines();
        let at = lines.iter().position(|l| l == "failures:").unwrap();
        assert_eq!(lines[at + 1], "  line 1: a1@b.co: email: is invalid");
        assert_eq!(lines[at + 10], "  line 10: a10@b.co: email: is invalid");
        assert_eq!(lines[at + 11], "  … and 2 more in report.csv");
        s.report_path = None;
        assert!(
            s.closing_lines()
                .contains(&"  … and 2 more (--report FILE lists every row)".to_owned())
        );
    }

    #[test]
    fn a_sync_counts_the_users_the_file_does_not_name_apart() {
        let mut s = Summary {
            rows: 5,
            unchanged: 5,
            would_delete: 3,
            not_in_file: 3,
            beyond: Tally {
                would_delete: 3,
                ..Tally::default()
            },
            dry_run: true,
            operation: Operation::Sync,
            ..Default::default()
        };
        assert_eq!(
            s.counts_line(),
            "5 unchanged, 0 failed; 3 users the file does not name: 3 to delete"
        );
        s.dry_run = false;
        s.would_delete = 0;
        s.deleted = 1;
        s.failed = 2;
        s.beyond = Tally {
            deleted: 1,
            failed: 2,
            ..Tally::default()
        };
        s.failed_path = Some("f.csv".into());
        s.rerun = Some(Rerun::of(&Options {
            command: Command::Sync {
                source: Source::File("hr.csv".into()),
                delete_missing: true,
                max_deletes: 20,
                yes: true,
                no_welcome_email: false,
            },
            ..Options::new("c.json", "hr.csv")
        }));
        assert_eq!(
            s.counts_line(),
            "0 created, 0 updated, 5 unchanged, 0 failed; 3 users the file does not name: 1 \
             deleted, 2 failed"
        );
        let lines = s.closing_lines();
        assert!(
            lines.contains(&"failed rows: none of the file's (f.csv holds only the header)".into()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(
                &"2 deletions of users the file does not name did not succeed: a new sync \
                  retries them: xmc-user-importer sync c.json hr.csv --delete-missing \
                  --max-deletes 20"
                    .into()
            ),
            "{lines:#?}"
        );
    }

    #[test]
    fn dry_run_and_not_attempted() {
        let s = Summary {
            rows: 3,
            valid: 2,
            failed: 1,
            dry_run: true,
            ..Default::default()
        };
        assert!(
            s.line().starts_with("3 rows: 2 valid, 1 failed in"),
            "{}",
            s.line()
        );
        let s = Summary {
            rows: 4,
            would_create: 1,
            would_update: 2,
            unchanged: 1,
            dry_run: true,
            operation: Operation::Update,
            ..Default::default()
        };
        assert!(
            s.line()
                .starts_with("4 rows: 1 to create, 2 to update, 1 unchanged, 0 failed in"),
            "{}",
            s.line()
        );
        let s = Summary {
            rows: 3,
            created: 1,
            not_attempted: 2,
            stop: Some(StopReason::Interrupted),
            ..Default::default()
        };
        assert!(
            s.line()
                .contains("1 created, 0 skipped, 0 failed, 2 not attempted")
        );
        assert!(s.closing_lines()[1].starts_with("interrupted"));
    }
}
