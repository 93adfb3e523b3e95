//! The counts of a run and the closing lines on stderr.

use std::path::PathBuf;
use std::time::Duration;

/// Why a run stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The portal refused the token in the middle of the run.
    Unauthorized,
    /// A 429 asked every request to wait longer than a row waits (10 min).
    PortalAskedToWait(Duration),
}

impl StopReason {
    /// Why a row was not sent.
    pub fn not_sent_message(&self) -> String {
        match self {
            StopReason::Interrupted => "interrupted before it was sent".into(),
            StopReason::Unauthorized => "not sent: the portal refused the access token".into(),
            StopReason::PortalAskedToWait(d) => format!(
                "not sent: the portal asked to wait {} before any new request",
                wait(*d)
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows: u64,
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    pub not_attempted: u64,
    pub valid: u64,
    pub elapsed: Duration,
    pub dry_run: bool,
    pub stop: Option<StopReason>,
    /// The input could not be read to its end.
    pub read_error: Option<String>,
    /// A stop ended the reading of a stream after this line.
    pub unread_after: Option<u64>,
    /// 429 answers, and how long the pool was paused for them in all.
    pub throttled: Option<(u64, Duration)>,
    pub report_path: Option<PathBuf>,
    pub failed_path: Option<PathBuf>,
}

impl Summary {
    /// `9,812 rows: 9,700 created, 100 skipped, 12 failed in 1m32s (106.6 users/s)`
    pub fn line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        // Rows a stop left unsent took no time: they do not count.
        let per_sec = if secs > 0.0 {
            (self.rows - self.not_attempted) as f64 / secs
        } else {
            0.0
        };
        format!(
            "{} row{}: {} in {} ({per_sec:.1} users/s){}",
            thousands(self.rows),
            if self.rows == 1 { "" } else { "s" },
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
    pub fn counts_line(&self) -> String {
        let mut parts = Vec::new();
        if self.dry_run {
            parts.push(format!("{} valid", thousands(self.valid)));
            if self.skipped > 0 {
                parts.push(format!("{} skipped", thousands(self.skipped)));
            }
        } else {
            parts.push(format!("{} created", thousands(self.created)));
            parts.push(format!("{} skipped", thousands(self.skipped)));
        }
        parts.push(format!("{} failed", thousands(self.failed)));
        if self.not_attempted > 0 {
            parts.push(format!("{} not attempted", thousands(self.not_attempted)));
        }
        parts.join(", ")
    }

    /// The lines printed at the end: the counts, why it stopped, the files.
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
                 {} in all and the pace was lowered (a lower --rate avoids this)",
                thousands(n),
                if n == 1 { "" } else { "s" },
                duration(paused)
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
        if let Some(p) = &self.report_path {
            out.push(format!("report: {}", p.display()));
        }
        let unfinished = self.failed + self.not_attempted;
        match &self.failed_path {
            Some(p) if unfinished > 0 => out.push(format!(
                "failed rows: {} ({} row{}, owner-only as it may hold passwords); fix them and run: xmc-user-importer CONFIG {}",
                p.display(),
                thousands(unfinished),
                if unfinished == 1 { "" } else { "s" },
                p.display()
            )),
            Some(p) => out.push(format!("failed rows: none ({} holds only the header)", p.display())),
            None if unfinished > 0 && !self.dry_run => out.push(
                "tip: --failed failed.csv writes the rows that did not succeed, ready to import again".into(),
            ),
            None => {}
        }
        out
    }
}

/// `1,234,567`
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A wait the portal asked for: as [`duration`], or "a day or more" when
/// its `Retry-After` was at the cap.
pub fn wait(d: Duration) -> String {
    if d >= crate::portal::classify::MAX_RETRY_AFTER {
        "a day or more".into()
    } else {
        duration(d)
    }
}

/// `0.4s`, `12.3s`, `1m32s`, `2h05m10s`
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!(
            "{}h{:02}m{:02}s",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }
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
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h02m05s");
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
