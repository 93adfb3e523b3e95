//! The counts of a run and the closing lines on stderr.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::stop::StopReason;
use crate::human::{duration, plural, thousands, wait};

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
    /// Rows a dry run found valid.
    pub valid: u64,
    /// Results for users the file does not name (a sync's deletions):
    /// in the counts above, not in `rows`.
    pub not_in_file: u64,
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
    /// With `--generate-passwords`: how many, and where.
    pub passwords: Option<Passwords>,
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
        // Rows a stop left unsent took no time: they do not count.
        let per_sec = if secs > 0.0 {
            (self.rows + self.not_in_file).saturating_sub(self.not_attempted) as f64 / secs
        } else {
            0.0
        };
        format!(
            "{} row{}: {} in {} ({per_sec:.1} users/s){}",
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

    /// `9,700 created, 100 skipped, 12 failed`
    #[must_use]
    pub fn counts_line(&self) -> String {
        // Each count in this order; the operation's own are always shown,
        // the others when not zero.
        let counts = [
            ("valid", self.valid),
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("deleted", self.deleted),
            ("absent", self.absent),
            ("failed", self.failed),
            ("not attempted", self.not_attempted),
        ];
        let always: &[&str] = match (self.dry_run, self.operation) {
            (true, _) => &["valid", "failed"],
            (false, Operation::Import) => &["created", "skipped", "failed"],
            (false, Operation::Update) => &["created", "updated", "unchanged", "failed"],
            (false, Operation::Delete) => &["deleted", "absent", "failed"],
            (false, Operation::Sync) => &["created", "updated", "unchanged", "deleted", "failed"],
            (false, Operation::Export) => &[],
        };
        counts
            .iter()
            .filter(|(name, n)| *n > 0 || always.contains(name))
            .map(|(name, n)| format!("{} {name}", thousands(*n)))
            .collect::<Vec<_>>()
            .join(", ")
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
        if let Some(p) = &self.report_path {
            out.push(format!("report: {}", p.display()));
        }
        if let Some(p) = &self.passwords {
            out.push(p.line());
        }
        let unfinished = self.to_retry;
        match &self.failed_path {
            Some(p) if unfinished > 0 => out.push(format!(
                "failed rows: {} ({} row{}{}, owner-only as it may hold passwords); fix them and run: {}",
                p.display(),
                thousands(unfinished),
                plural(unfinished),
                if self.failed_as_csv {
                    ", written as CSV"
                } else {
                    ""
                },
                self.run_again(p)
            )),
            Some(p) => out.push(format!("failed rows: none ({} holds only the header)", p.display())),
            None if unfinished > 0 && !self.dry_run => out.push(
                "tip: --failed failed.csv writes the rows that did not succeed, ready to run again".into(),
            ),
            None => {}
        }
        out
    }
}

impl Summary {
    /// The command that finishes the work with the failed-rows file `p`.
    /// A sync's rows are finished by an update: a sync of a partial file
    /// would delete everyone else.
    fn run_again(&self, p: &std::path::Path) -> String {
        let p = p.display();
        match self.operation {
            Operation::Import | Operation::Export => format!("xmc-user-importer CONFIG {p}"),
            Operation::Update | Operation::Sync => {
                format!("xmc-user-importer import CONFIG {p} --existing update")
            }
            Operation::Delete => format!("xmc-user-importer delete CONFIG {p}"),
        }
    }
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

    #[test]
    fn the_failed_rows_are_run_again_by_the_operation_that_finishes_them() {
        let tail = |operation| {
            let s = Summary {
                rows: 4,
                failed: 2,
                to_retry: 2,
                operation,
                failed_path: Some("f.csv".into()),
                ..Default::default()
            };
            let lines = s.closing_lines();
            let line = lines
                .iter()
                .find(|l| l.starts_with("failed rows:"))
                .unwrap();
            line.split_once("fix them and run: ").unwrap().1.to_owned()
        };
        assert_eq!(tail(Operation::Import), "xmc-user-importer CONFIG f.csv");
        assert_eq!(
            tail(Operation::Update),
            "xmc-user-importer import CONFIG f.csv --existing update"
        );
        assert_eq!(
            tail(Operation::Sync),
            "xmc-user-importer import CONFIG f.csv --existing update"
        );
        assert_eq!(
            tail(Operation::Delete),
            "xmc-user-importer delete CONFIG f.csv"
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
