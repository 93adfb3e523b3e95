//! The command line: clap arguments and their conversion into [`Options`].
//!
//! `xmc-user-importer CONFIG CSV` (the original call) is an import; the
//! subcommands `import`, `export`, `delete`, `sync`, `completions` and `man`
//! name the others. The shared options are global: before or after the
//! subcommand's arguments alike.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args as ClapArgs, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::input::Source;
use crate::options::{Command, Existing, Options};
use crate::report::{OutputFormat, Summary};

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

  Keep the enterprise in step with HR: export, edit, import the changes:
    xmc-user-importer export config.json users.csv
    xmc-user-importer import config.json users.csv --existing update

  Offboarding, and a nightly sync that may delete at most 20 users:
    xmc-user-importer delete config.json leavers.csv
    xmc-user-importer sync config.json hr.csv --delete-missing --max-deletes 20 --yes

Exit codes: 0 every row done (created, updated, unchanged, skipped, deleted,
absent or valid); 1 some row failed or was not attempted; 2 bad usage, config,
CSV header, token, or portal unreachable (nothing sent); 130 interrupted.";

/// Create XMedius Cloud user accounts from a CSV file: concurrently, under a
/// rate limit, retrying what can be retried, never creating a user twice.
#[derive(Debug, Parser)]
// The doc comments are the help text, not Markdown.
#[allow(clippy::doc_markdown)]
#[command(
    name = "xmc-user-importer",
    version,
    after_help = EXAMPLES,
    max_term_width = 100,
    subcommand_negates_reqs = true,
    override_usage = "xmc-user-importer [OPTIONS] <CONFIG> <CSV>\n       \
                      xmc-user-importer <COMMAND> [ARGS] [OPTIONS]"
)]
pub struct Args {
    /// The JSON config: endpoint, enterprise_account, access_token, password_setup_mode
    #[arg(value_name = "CONFIG", required = true)]
    config: Option<PathBuf>,

    /// The users CSV file, or - for standard input
    #[arg(value_name = "CSV", required = true)]
    csv: Option<PathBuf>,

    #[command(flatten)]
    import: ImportFlags,

    #[command(flatten)]
    common: Common,

    #[command(subcommand)]
    command: Option<Cmd>,
}

/// The options every operation shares.
#[derive(Debug, ClapArgs)]
// Each bool is an independent flag; the doc comments are the help text.
#[allow(clippy::struct_excessive_bools, clippy::doc_markdown)]
struct Common {
    /// Requests in flight at most
    #[arg(short, long, global = true, value_name = "N", default_value_t = Options::CONCURRENCY, env = "XMC_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,

    /// Requests per second at most (token bucket); fractions allowed (0.5 = one every 2 s); 0 = no limit. Under it the pace follows what the portal accepts
    #[arg(short, long, global = true, value_name = "PER_SEC", default_value_t = Options::RATE, env = "XMC_RATE", value_parser = parse_rate)]
    rate: f64,

    /// Token bucket size: how many requests may go at once after a quiet spell
    #[arg(long, global = true, value_name = "N", default_value_t = Options::BURST, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    burst: u32,

    /// Retries of one row after a transient failure (connection error, timeout, 5xx); 0 = none
    #[arg(long, global = true, value_name = "N", default_value_t = Options::RETRIES, value_parser = clap::value_parser!(u32).range(0..=100))]
    retries: u32,

    /// Seconds allowed per request, connection included
    #[arg(long, global = true, value_name = "SECS", default_value_t = Options::TIMEOUT_SECS, value_parser = parse_timeout)]
    timeout: f64,

    /// Check everything and say what would happen; only lookups are sent (GET)
    #[arg(long, global = true)]
    dry_run: bool,

    /// With --dry-run: do not contact the portal at all (groups and fax numbers are not checked)
    #[arg(long, global = true, requires = "dry_run")]
    offline: bool,

    /// A row whose group or fax number the enterprise does not have fails, instead of using the default
    #[arg(long, global = true)]
    strict: bool,

    /// Write one result row per input row to this CSV file
    #[arg(long, global = true, value_name = "PATH")]
    report: Option<PathBuf>,

    /// Write the rows that failed or were not attempted, in the input's columns, ready to import again (owner-only: it may hold passwords)
    #[arg(long, global = true, value_name = "PATH")]
    failed: Option<PathBuf>,

    /// Resume file: rows recorded there as done are not sent again; done rows are appended as they finish
    #[arg(long, global = true, value_name = "PATH")]
    journal: Option<PathBuf>,

    /// The sheet of a workbook input (.xlsx, .xlsm, .xls, .ods) to read; the first by default
    #[arg(long, global = true, value_name = "NAME")]
    sheet: Option<String>,

    /// Format of the per-row lines on stdout
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value = "text"
    )]
    output: OutputFormat,

    /// No progress bar (it is also off when stderr is not a terminal)
    #[arg(long, global = true)]
    no_progress: bool,

    /// No per-row success lines; failures and the summary still print
    #[arg(short, long, global = true)]
    quiet: bool,

    /// More diagnostics on stderr (-vv: debug; the bar is then off); RUST_LOG works too
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,

    /// Read an import column from the file's header of another name, e.g. 'email=Work Email' (repeatable; wins over the config's "columns")
    #[arg(long = "column", global = true, value_name = "COLUMN=HEADER")]
    columns: Vec<String>,

    /// Fill a column from the row's others where its cell is empty, e.g. 'username={first_name}.{last_name}|slug' (repeatable; wins over the config's "derive")
    #[arg(long, global = true, value_name = "COLUMN=TEMPLATE")]
    derive: Vec<String>,

    /// Manual mode: give each row without a password a random one, and write username,email,password to FILE (owner-only) for each user created
    #[arg(long, global = true, value_name = "FILE")]
    generate_passwords: Option<PathBuf>,
}

/// The options of an import (and of a sync's creates).
#[derive(Debug, Clone, Copy, ClapArgs)]
struct ImportFlags {
    /// What happens to a row whose user exists: skip it, update the fields that differ, or fail it
    #[arg(long, value_enum, value_name = "WHAT")]
    existing: Option<Existing>,

    /// Do not send the welcome e-mail to the users created
    #[arg(long)]
    no_welcome_email: bool,
}

/// The safety rails of the operations that delete.
#[derive(Debug, Clone, Copy, ClapArgs)]
struct DeleteFlags {
    /// Confirm the deletions without a terminal to ask on (CI, scripts)
    #[arg(long)]
    yes: bool,

    /// Also delete users whose role is not "user" (administrators)
    #[arg(long)]
    include_admins: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create the users of a file (what the tool does without a subcommand)
    Import {
        /// The JSON config
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// The users CSV file, or - for standard input
        #[arg(value_name = "CSV")]
        csv: PathBuf,
        #[command(flatten)]
        import: ImportFlags,
    },
    /// Write every user of the enterprise as a CSV in the import's columns (no passwords)
    Export {
        /// The JSON config
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Where to write the CSV (replaced atomically), or - for standard output
        #[arg(value_name = "OUT", default_value = "-")]
        out: PathBuf,
    },
    /// Delete the users a file names (a username or an email column suffices)
    Delete {
        /// The JSON config
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// The CSV of the users to delete, or - for standard input
        #[arg(value_name = "CSV")]
        csv: PathBuf,
        #[command(flatten)]
        rails: DeleteFlags,
    },
    /// Make the enterprise match a file: create the missing, update the changed, delete (with --delete-missing) the others
    Sync {
        /// The JSON config
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// The users CSV file: the whole roster
        #[arg(value_name = "CSV")]
        csv: PathBuf,
        /// Delete the "user"-role accounts the file does not name
        #[arg(long)]
        delete_missing: bool,
        /// Refuse a plan that deletes more users than this
        #[arg(long, value_name = "N", default_value_t = Options::MAX_DELETES)]
        max_deletes: u64,
        /// Confirm the deletions without a terminal to ask on (CI, scripts)
        #[arg(long)]
        yes: bool,
        /// Do not send the welcome e-mail to the users created
        #[arg(long)]
        no_welcome_email: bool,
    },
    /// Print a shell completion script to standard output
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output
    Man,
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

/// What the command line asks for: a run, or a text to print.
#[derive(Debug)]
pub enum Invocation {
    /// A run with these options.
    Run(Box<Options>),
    /// Print this and exit 0 (completions, man page).
    Print(Vec<u8>),
}

impl Args {
    /// How much diagnostics `-v` asked for.
    #[must_use]
    pub fn verbosity(&self) -> u8 {
        self.common.verbose
    }

    /// The run's options: the flags, `XMC_ACCESS_TOKEN`, and whether a bar
    /// can be drawn; or the text a `completions`/`man` subcommand prints.
    #[must_use]
    pub fn into_invocation(self) -> Invocation {
        let top = self.import;
        let sub = match &self.command {
            Some(Cmd::Export { .. }) => Some("export"),
            Some(Cmd::Delete { .. }) => Some("delete"),
            Some(Cmd::Sync { .. }) => Some("sync"),
            _ => None,
        };
        if let Some(sub) = sub {
            // Given before the subcommand, an import's flags would be ignored.
            let flag = if top.existing.is_some() {
                Some("--existing")
            } else if top.no_welcome_email && sub != "sync" {
                Some("--no-welcome-email")
            } else {
                None
            };
            if let Some(flag) = flag {
                let why = match sub {
                    "sync" => "sync always updates the users that exist",
                    _ => "it only goes with import and sync",
                };
                Args::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!("{flag} does not apply to {sub} ({why}): remove it"),
                    )
                    .exit();
            }
        }
        let (config, command) = match self.command {
            None => {
                let source = Source::from_arg(&self.csv.unwrap_or_default());
                (self.config.unwrap_or_default(), import(source, top, top))
            }
            Some(Cmd::Import {
                config,
                csv,
                import: flags,
            }) => (config, import(Source::from_arg(&csv), flags, top)),
            Some(Cmd::Export { config, out }) => {
                let out = (out.as_os_str() != "-").then_some(out);
                (config, Command::Export { out })
            }
            Some(Cmd::Delete { config, csv, rails }) => (
                config,
                Command::Delete {
                    source: Source::from_arg(&csv),
                    yes: rails.yes,
                    include_admins: rails.include_admins,
                },
            ),
            Some(Cmd::Sync {
                config,
                csv,
                delete_missing,
                max_deletes,
                yes,
                no_welcome_email,
            }) => (
                config,
                Command::Sync {
                    source: Source::from_arg(&csv),
                    delete_missing,
                    max_deletes,
                    yes,
                    no_welcome_email: no_welcome_email || top.no_welcome_email,
                },
            ),
            Some(Cmd::Completions { shell }) => {
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut Args::command(), "xmc-user-importer", &mut out);
                return Invocation::Print(out);
            }
            Some(Cmd::Man) => return Invocation::Print(man_page()),
        };
        Invocation::Run(Box::new(self.common.into_options(config, command)))
    }
}

/// The man page: the command, then each subcommand's own options.
fn man_page() -> Vec<u8> {
    let cmd = Args::command();
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut out);
    for sub in cmd
        .get_subcommands()
        .filter(|s| s.get_arguments().next().is_some())
    {
        let name = sub.get_name().to_uppercase();
        out.extend_from_slice(format!(".SH \"{name}\"\n").as_bytes());
        if let Some(about) = sub.get_about() {
            out.extend_from_slice(format!("{about}\n").as_bytes());
        }
        let _ = clap_mangen::Man::new(sub.clone()).render_options_section(&mut out);
    }
    out
}

/// An import's command: the subcommand's flags, else those given before it.
fn import(source: Source, flags: ImportFlags, top: ImportFlags) -> Command {
    Command::Import {
        source,
        existing: flags.existing.or(top.existing).unwrap_or_default(),
        no_welcome_email: flags.no_welcome_email || top.no_welcome_email,
    }
}

impl Common {
    fn into_options(self, config: PathBuf, command: Command) -> Options {
        let token = std::env::var("XMC_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(crate::secret::Secret::from);
        Options {
            config,
            command,
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
            sheet: self.sheet,
            output: self.output,
            quiet: self.quiet,
            // Diagnostics (-v, RUST_LOG) write to stderr line by line: a bar would tear them.
            progress: !self.no_progress
                && self.verbose == 0
                && std::env::var_os("RUST_LOG").is_none()
                && std::io::stderr().is_terminal(),
            env_token: token,
            columns: self.columns,
            derive: self.derive,
            generate_passwords: self.generate_passwords,
        }
    }
}

impl ValueEnum for Existing {
    fn value_variants<'a>() -> &'a [Self] {
        &[Existing::Skip, Existing::Update, Existing::Fail]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(match self {
            Existing::Skip => "skip",
            Existing::Update => "update",
            Existing::Fail => "fail",
        }))
    }
}

/// The binary's console: warnings and plans on stderr; a question is asked
/// on the terminal when both standard input and standard error are one.
#[derive(Debug, Default)]
pub struct TerminalConsole;

impl crate::console::Console for TerminalConsole {
    fn warn(&mut self, message: String) {
        eprintln!("warning: {}", crate::sanitize::visible(&message));
    }

    fn say(&mut self, line: String) {
        eprintln!("{}", crate::sanitize::visible(&line));
    }

    fn ask(&mut self, prompt: &str) -> Option<String> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        eprint!("{prompt}");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(answer)
    }
}

/// Prints the closing lines of a run (or its error) on stderr and returns the exit code.
#[must_use]
pub fn conclude(result: &Result<Summary, Error>) -> u8 {
    match result {
        Ok(summary) => {
            for line in summary.closing_lines() {
                eprintln!("{}", crate::sanitize::visible(&line));
            }
            crate::error::exit_code(summary)
        }
        Err(e) => {
            eprintln!("error: {}", crate::sanitize::visible(&e.to_string()));
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Args::command().debug_assert();
    }

    fn options(args: &[&str]) -> Options {
        match Args::try_parse_from(args).unwrap().into_invocation() {
            Invocation::Run(o) => *o,
            Invocation::Print(_) => panic!("a text, not a run"),
        }
    }

    #[test]
    fn two_positionals_are_a_whole_call() {
        let o = options(&["x", "config.json", "sample.csv"]);
        assert_eq!(o.concurrency, 8);
        assert!((o.rate - 10.0).abs() < f64::EPSILON);
        assert_eq!(o.source(), Some(&Source::File("sample.csv".into())));
        assert_eq!(o.timeout, Duration::from_secs(30));
        let o = options(&["x", "-r", "0.5", "c", "-"]);
        assert!((o.rate - 0.5).abs() < f64::EPSILON);
        assert_eq!(o.source(), Some(&Source::Stdin));
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        for args in [
            &[
                "x",
                "-c",
                "4",
                "import",
                "--existing",
                "update",
                "c",
                "u.csv",
            ][..],
            &[
                "x",
                "import",
                "c",
                "u.csv",
                "-c",
                "4",
                "--existing",
                "update",
            ],
            &["x", "c", "u.csv", "-c", "4", "--existing", "update"],
        ] {
            let o = options(args);
            assert_eq!(o.concurrency, 4, "{args:?}");
            assert!(
                matches!(
                    o.command,
                    Command::Import {
                        existing: Existing::Update,
                        ..
                    }
                ),
                "{args:?}"
            );
        }
        let o = options(&["x", "sync", "c", "u.csv", "--delete-missing", "--dry-run"]);
        assert!(o.dry_run);
        assert!(matches!(
            o.command,
            Command::Sync {
                delete_missing: true,
                max_deletes: 10,
                ..
            }
        ));
        let o = options(&["x", "export", "c"]);
        assert_eq!(o.command, Command::Export { out: None });
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Args::try_parse_from(["x", "-c", "0", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "-r", "-1", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "--offline", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "--timeout", "0", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "--existing", "merge", "c", "f"]).is_err());
        assert!(Args::try_parse_from(["x", "c"]).is_err());
    }
}
