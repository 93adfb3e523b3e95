//! The command line: clap arguments and their conversion into [`Options`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::{Error, Options, OutputFormat, Source, Summary};

const EXAMPLES: &str = "\
Examples:
  Import users.csv with the defaults (8 in flight, 10 users/s):
    xmc-user-importer config.json users.csv

  Check a file without creating anyone (groups and fax numbers are looked up):
    xmc-user-importer --dry-run config.json users.csv

  A large import, resumable, with a report and a file of the rows to retry:
    xmc-user-importer -c 16 -r 25 --journal users.journal \\
        --report report.csv --failed failed.csv config.json users.csv

  In CI, token from a secret, one JSON object per row on stdout:
    XMC_ACCESS_TOKEN=$TOKEN xmc-user-importer --output json -q config.json users.csv

Exit codes: 0 every row created, skipped or valid; 1 some row failed or was not
attempted; 2 bad usage, config, CSV header, token, or portal unreachable (nothing
sent); 130 interrupted.";

/// Create XMedius Cloud user accounts from a CSV file: concurrently, under a
/// rate limit, retrying what can be retried, never creating a user twice.
#[derive(Debug, Parser)]
// Each bool is an independent flag; the doc comments are the help text, not Markdown.
#[allow(clippy::struct_excessive_bools, clippy::doc_markdown)]
#[command(name = "xmc-user-importer", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Args {
    /// The JSON config: endpoint, enterprise_account, access_token, password_setup_mode
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// The users CSV file, or - for standard input
    #[arg(value_name = "CSV")]
    pub csv: PathBuf,

    /// Requests in flight at most
    #[arg(short, long, value_name = "N", default_value_t = Options::CONCURRENCY, env = "XMC_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Steady POST rate per second (token bucket); fractions allowed (0.5 = one every 2 s); 0 = no limit
    #[arg(short, long, value_name = "PER_SEC", default_value_t = Options::RATE, env = "XMC_RATE", value_parser = parse_rate)]
    pub rate: f64,

    /// Token bucket size: how many POSTs may go at once after a quiet spell
    #[arg(long, value_name = "N", default_value_t = Options::BURST, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub burst: u32,

    /// Retries of one row after a transient failure (connection error, timeout, 5xx); 0 = none
    #[arg(long, value_name = "N", default_value_t = Options::RETRIES, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: u32,

    /// Seconds allowed per request, connection included
    #[arg(long, value_name = "SECS", default_value_t = Options::TIMEOUT_SECS, value_parser = parse_timeout)]
    pub timeout: f64,

    /// Validate the config and every row, look up groups and fax numbers (GET only); never create anyone
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: do not contact the portal at all (groups and fax numbers are not checked)
    #[arg(long, requires = "dry_run")]
    pub offline: bool,

    /// A row whose group or fax number the enterprise does not have fails, instead of using the default
    #[arg(long)]
    pub strict: bool,

    /// Write one result row per input row to this CSV file
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Write the rows that failed or were not attempted, in the input's columns, ready to import again (owner-only: it may hold passwords)
    #[arg(long, value_name = "PATH")]
    pub failed: Option<PathBuf>,

    /// Resume file: rows recorded there as done are not sent again; done rows are appended as they finish
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,

    /// Format of the per-row lines on stdout
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,

    /// No progress bar (it is also off when stderr is not a terminal)
    #[arg(long)]
    pub no_progress: bool,

    /// No per-row success lines; failures and the summary still print
    #[arg(short, long)]
    pub quiet: bool,

    /// More diagnostics on stderr (-vv: debug; the bar is then off); RUST_LOG works too
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number (e.g. 10, 2.5, 0)"))?;
    if !r.is_finite() || r < 0.0 {
        return Err("the rate must be 0 (no limit) or more".into());
    }
    Ok(r)
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number of seconds"))?;
    if !t.is_finite() || t <= 0.0 || t > 86_400.0 {
        return Err("the timeout must be more than 0 and at most 86400 seconds".into());
    }
    Ok(t)
}

impl Args {
    /// The run's options: the flags, `XMC_ACCESS_TOKEN`, and whether a bar can be drawn.
    pub fn into_options(self) -> Options {
        let token = std::env::var("XMC_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(crate::Secret::from);
        Options {
            config: self.config,
            source: Source::from_arg(&self.csv),
            concurrency: usize::from(self.concurrency),
            rate: self.rate,
            burst: self.burst,
            retries: self.retries,
            timeout: Duration::from_secs_f64(self.timeout),
            dry_run: self.dry_run,
            offline: self.offline,
            strict: self.strict,
            report: self.report,
            failed: self.failed,
            journal: self.journal,
            output: self.output,
            quiet: self.quiet,
            // Diagnostics (-v, RUST_LOG) write to stderr line by line: a bar would tear them.
            progress: !self.no_progress
                && self.verbose == 0
                && std::env::var_os("RUST_LOG").is_none()
                && std::io::stderr().is_terminal(),
            env_token: token,
        }
    }
}

/// Prints the closing lines of a run (or its error) on stderr and returns the exit code.
#[must_use]
pub fn conclude(result: &Result<Summary, Error>) -> u8 {
    match result {
        Ok(summary) => {
            for line in summary.closing_lines() {
                eprintln!("{line}");
            }
            crate::exit_code(summary)
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn two_positionals_are_a_whole_call() {
        let a = Args::try_parse_from(["x", "config.json", "sample.csv"]).unwrap();
        assert_eq!(a.concurrency, 8);
        assert!((a.rate - 10.0).abs() < f64::EPSILON);
        let o = a.into_options();
        assert_eq!(o.source, Source::File("sample.csv".into()));
        assert_eq!(o.timeout, Duration::from_secs(30));
        let a = Args::try_parse_from(["x", "-r", "0.5", "c", "-"]).unwrap();
        assert!((a.rate - 0.5).abs() < f64::EPSILON);
        assert_eq!(a.into_options().source, Source::Stdin);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Args::try_parse_from(["x", "-c", "0", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "-r", "-1", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "--offline", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "--timeout", "0", "c", "f"]).is_err());
    }
}
