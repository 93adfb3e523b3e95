//! Everything before the first row: the options checked, the config and the
//! input opened (and a file read through once), the journal, the engine,
//! the lookups at start, and the output files. Any failure here exits 2
//! with nothing sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{Config, PasswordMode};
use crate::console::Console;
use crate::engine::retry::{End, Engine};
use crate::engine::stop::Stop;
use crate::error::Error;
use crate::human;
use crate::input::mapping::Asked;
use crate::input::{Column, CsvInput, Header, Input, Need, Reading, Source, workbook};
use crate::options::{Command, Existing, Options};
use crate::pacing::{Pacer, PauseGate};
use crate::portal::classify::Data;
use crate::portal::{Directory, Lookup, Portal, users};
use crate::report::files::{FailedFile, PasswordFile, ReportFile};
use crate::report::journal::{self, JournalIndex, JournalWriter};
use crate::report::{Operation, ReporterSetup};
use crate::roster::Roster;

/// What is known once the config, the input and the journal are open.
pub(crate) struct Start {
    pub(crate) config: Config,
    pub(crate) input: Input,
    /// The data rows of an import's file, counted before anything is sent;
    /// `None` for a stream (standard input, a pipe), which cannot be read
    /// twice, and for a delete or a sync (they read the whole file anyway).
    pub(crate) expected_rows: Option<u64>,
    pub(crate) journal_writer: Option<JournalWriter>,
    pub(crate) journal_index: JournalIndex,
}

/// Checks the options, opens the config, the input and the journal.
/// The console receives the warnings found on the way.
pub(crate) async fn start(opts: &Options, console: &mut dyn Console) -> Result<Start, Error> {
    check_options(opts)?;
    let (config, warnings) = Config::load(&opts.config, opts.env_token.clone())?;
    for w in warnings {
        console.warn(w);
    }
    crate::password::check(opts, config.password_mode)?;
    let source = opts.source().unwrap_or(&Source::Stdin);
    let need = reading(opts, &config)?;
    let (input, warnings, expected_rows) = match source {
        Source::File(p) if workbook::is_workbook(p) => {
            let (header, rows, warnings) = workbook::read(p, opts.sheet.as_deref(), need)?;
            let n = rows.records.len() as u64;
            (Input::Workbook(Box::new((header, rows))), warnings, Some(n))
        }
        _ => {
            let (csv, warnings) = CsvInput::open(source, need.clone()).await?;
            let expected_rows = count_rows(opts, need).await?;
            (Input::Csv(Box::new(csv)), warnings, expected_rows)
        }
    };
    for w in warnings {
        console.warn(w);
    }
    if let Some(w) = password_warning(opts, &config, input.header()) {
        console.warn(w);
    }
    let (journal_writer, journal_index) = match &opts.journal {
        Some(path) => open_journal(path, opts, &config, console)?,
        None => (None, JournalIndex::default()),
    };
    Ok(Start {
        config,
        input,
        expected_rows,
        journal_writer,
        journal_index,
    })
}

/// The columns the run's file must have, and how its header is read
/// (`--column`, `--derive`, the config's `"columns"` and `"derive"`). An
/// update or a sync reads the user list, and a password is needed only to
/// create: in manual mode its column is then needed only by the rows that
/// create (they fail alone without one), so an export imports back as it is.
fn reading(opts: &Options, config: &Config) -> Result<Reading, Error> {
    let need = match opts.command {
        Command::Delete { .. } => Need::Names,
        Command::Import {
            existing: Existing::Update,
            ..
        }
        | Command::Sync { .. } => Need::Users(PasswordMode::Random),
        _ => Need::Users(config.password_mode),
    };
    Reading::build(&Asked {
        need,
        config_columns: &config.columns,
        config_derive: &config.derive,
        cli_columns: &opts.columns,
        cli_derive: &opts.derive,
        generate_passwords: opts.generate_passwords.is_some(),
    })
    .map_err(Error::Usage)
}

/// In manual mode, an update or a sync of a file without a password column
/// creates nobody: said once at start.
fn password_warning(opts: &Options, config: &Config, header: &Header) -> Option<String> {
    let roster_run = matches!(
        opts.command,
        Command::Import {
            existing: Existing::Update,
            ..
        } | Command::Sync { .. }
    );
    (roster_run
        && config.password_mode == PasswordMode::Manual
        && header.position(Column::Password).is_none()
        && !header.generates_password)
        .then(|| {
            "the file has no \"password\" column: existing users are updated as usual, but a row \
         that would create a user fails (password_setup_mode is \"manual\": creating needs a \
         password)"
                .to_owned()
        })
}

/// An import's file is read through once before anything is sent: the
/// progress bar's total, and a broken structure (an unclosed quote, a giant
/// row) stops the run before the first row rather than in its middle. Not a
/// pipe or a FIFO: a second read would steal its rows. A delete or a sync
/// reads its whole file before it plans: it needs no count.
async fn count_rows(opts: &Options, need: Reading) -> Result<Option<u64>, Error> {
    let Command::Import { source, .. } = &opts.command else {
        return Ok(None);
    };
    match source {
        // /dev/stdin, /dev/fd/N: on some systems a second open shares the offset.
        Source::File(p)
            if !p.starts_with("/dev/") && std::fs::metadata(p).is_ok_and(|m| m.is_file()) =>
        {
            let (again, _) = CsvInput::open(source, need).await?;
            Ok(Some(again.count_rest().await.map_err(Error::Structure)?))
        }
        _ => Ok(None),
    }
}

/// The journal of this import: its writer (none in a dry run, which never
/// writes it) and the rows it says are done.
fn open_journal(
    path: &Path,
    opts: &Options,
    config: &Config,
    console: &mut dyn Console,
) -> Result<(Option<JournalWriter>, JournalIndex), Error> {
    let file = match opts.source().unwrap_or(&Source::Stdin) {
        Source::File(p) => p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        Source::Stdin => "-".into(),
    };
    let identity = format!(
        "file={file} enterprise={} endpoint={}",
        config.enterprise_account, config.endpoint
    );
    let (writer, index) = if opts.dry_run {
        (None, journal::load(path, &identity)?)
    } else {
        let (w, index) = journal::open(path, &identity)?;
        (Some(w), index)
    };
    if index.entries > 0 {
        let n = index.entries as u64;
        console.warn(format!(
            "journal {}: {n} row{} done in an earlier run will not be sent again",
            path.display(),
            human::plural(n)
        ));
    }
    Ok((writer, index))
}

pub(crate) fn check_options(opts: &Options) -> Result<(), Error> {
    if let Some(why) = not_applicable(opts) {
        return Err(Error::Usage(why));
    }
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
    // An output file that is the input (or another output) would destroy
    // it: by path, or by the file itself (a hard link, a bind mount).
    let mut seen: Vec<(&str, PathBuf, Option<FileId>)> = Vec::new();
    if let Some(Source::File(p)) = opts.source() {
        seen.push(("the CSV file", canonical(p), file_id(p)));
    }
    seen.push((
        "the config file",
        canonical(&opts.config),
        file_id(&opts.config),
    ));
    let export_to = match &opts.command {
        Command::Export { out } => out.clone(),
        _ => None,
    };
    for (flag, path) in [
        ("--report", &opts.report),
        ("--failed", &opts.failed),
        ("--journal", &opts.journal),
        ("--generate-passwords", &opts.generate_passwords),
        ("the export's file", &export_to),
    ] {
        if let Some(p) = path {
            let (c, id) = (canonical(p), file_id(p));
            let same = |(_, q, qid): &&(&str, PathBuf, Option<FileId>)| {
                *q == c || (id.is_some() && *qid == id)
            };
            if let Some((what, _, _)) = seen.iter().find(same) {
                return Err(Error::Usage(format!(
                    "{flag} {} is also {what}; give it a path of its own",
                    p.display()
                )));
            }
            seen.push((flag, c, id));
        }
    }
    Ok(())
}

/// An option the operation has no use for: given, it would do nothing, and
/// the operator would believe it did.
fn not_applicable(opts: &Options) -> Option<String> {
    let roster_run = match &opts.command {
        Command::Export { .. } => {
            let given = [
                ("--dry-run", opts.dry_run),
                ("--offline", opts.offline),
                ("--strict", opts.strict),
                ("--report", opts.report.is_some()),
                ("--failed", opts.failed.is_some()),
                ("--journal", opts.journal.is_some()),
                ("--sheet", opts.sheet.is_some()),
                (
                    "--output json",
                    opts.output == crate::report::OutputFormat::Json,
                ),
                ("--column", !opts.columns.is_empty()),
                ("--derive", !opts.derive.is_empty()),
                ("--generate-passwords", opts.generate_passwords.is_some()),
            ];
            return given.iter().find(|(_, on)| *on).map(|(flag, _)| {
                format!(
                    "{flag} does not apply to export (it only reads, and writes one CSV): remove it"
                )
            });
        }
        Command::Delete { .. } | Command::Sync { .. } if opts.offline => {
            return Some(
                "--offline cannot plan a deletion or a sync: the plan needs the enterprise's users"
                    .into(),
            );
        }
        Command::Delete { .. } if opts.strict => {
            return Some(
                "--strict does not apply to delete (no group or fax number is looked up): remove it"
                    .into(),
            );
        }
        Command::Import { existing, .. } => *existing == Existing::Update,
        Command::Delete { .. } | Command::Sync { .. } => true,
    };
    (roster_run && opts.journal.is_some()).then(|| {
        "--journal resumes a create-only import; an update, a sync or a delete compares every row \
         with the enterprise's users first, so running it again resumes where it stopped: remove \
         --journal"
            .into()
    })
}

/// Which file a path is (device and inode), when it exists.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(p: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Path) -> Option<FileId> {
    None
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
                .map_or_else(|_| p.to_owned(), |d| d.join(name))
        }
        _ => p.to_owned(),
    }
}

/// The engine every request of the run goes through.
pub(crate) fn engine(opts: &Options, config: &Config, stop: Arc<Stop>) -> Result<Engine, Error> {
    Ok(Engine {
        portal: Portal::new(config, opts.timeout, opts.concurrency)?,
        pacer: Pacer::new(opts.rate, opts.burst),
        pause: PauseGate::default(),
        stop,
        retries: opts.retries,
    })
}

/// The two lookups at start, through the engine like every request.
pub(crate) async fn look_up_directory(engine: &Engine) -> Result<Directory, Error> {
    let groups = look_up(engine, Lookup::Groups).await?;
    let fax = look_up(engine, Lookup::FaxNumbers).await?;
    // Only the groups answer can be incomplete (it must name a default group).
    let dir = Directory::from_answers(&groups, &fax).map_err(|e| Error::Lookup {
        url: engine.portal.lookup(Lookup::Groups).url.to_string(),
        what: Lookup::Groups.name(),
        reason: e.to_string(),
    })?;
    tracing::info!(
        groups = dir.group_count(),
        fax_numbers = dir.fax_count(),
        "enterprise looked up"
    );
    Ok(dir)
}

async fn look_up(engine: &Engine, lookup: Lookup) -> Result<Value, Error> {
    let Some(data) = look_up_raw(engine, lookup).await? else {
        return Ok(Value::Null);
    };
    serde_json::from_str(data.json()).map_err(|e| Error::Lookup {
        url: engine.portal.lookup(lookup).url.to_string(),
        what: lookup.name(),
        reason: e.to_string(),
    })
}

/// A lookup's `data`, as its JSON text.
async fn look_up_raw(engine: &Engine, lookup: Lookup) -> Result<Option<Data>, Error> {
    let request = engine.portal.lookup(lookup);
    let settled = engine.send(&request).await;
    let url = request.url.to_string();
    let what = lookup.name();
    match settled.end {
        End::Success(data) => Ok(data),
        End::Unauthorized(message) => Err(Error::Unauthorized { message }),
        End::Exists => Err(Error::Lookup {
            url,
            what,
            reason: "an unexpected answer".into(),
        }),
        End::TooLarge(reason) if lookup == Lookup::Users => Err(Error::ListTooLarge { reason }),
        End::NotFound(reason) if lookup == Lookup::Users => Err(Error::NoUserList { url, reason }),
        End::Rejected(reason) | End::NotFound(reason) | End::TooLarge(reason) => {
            Err(Error::Lookup { url, what, reason })
        }
        End::AskedToWait(d) => Err(Error::Throttled {
            url,
            wait: human::wait(d),
        }),
        End::ThrottledTooLong => Err(Error::Throttled {
            url,
            wait: "more than 10 minutes in all".into(),
        }),
        End::GaveUp(reason) => {
            let status = settled
                .http_status
                .map(|s| format!(" (HTTP {s})"))
                .unwrap_or_default();
            let n = u64::from(settled.attempts);
            Err(Error::Unreachable {
                url,
                reason: format!("{reason}{status}, {n} attempt{}", human::plural(n)),
            })
        }
        End::Stopped { .. } => Err(Error::Interrupted),
    }
}

/// The enterprise's users, through the engine like every request. A token
/// without the directory permission is said so.
pub(crate) async fn look_up_users(engine: &Engine) -> Result<Roster, Error> {
    let data = look_up_raw(engine, Lookup::Users)
        .await
        .map_err(|e| match e {
            // The groups lookup passed with the same token: the permission is missing.
            Error::Unauthorized { message } => Error::NoDirectoryPermission { message },
            other => other,
        })?;
    let users = data
        .as_ref()
        .ok_or(users::NotAList::Missing)
        .and_then(|d| users::parse_list(d.json()))
        .map_err(|e| Error::Lookup {
            url: engine.portal.lookup(Lookup::Users).url.to_string(),
            what: Lookup::Users.name(),
            reason: e.to_string(),
        })?;
    tracing::info!(users = users.len(), "user list read");
    Ok(Roster::new(users))
}

/// The input's columns, as the output files need them.
pub(crate) struct FileShape {
    pub(crate) header: Header,
    pub(crate) delimiter: u8,
    /// A workbook: its failed rows are written as CSV.
    pub(crate) workbook: bool,
}

impl FileShape {
    pub(crate) fn of(input: &Input) -> FileShape {
        FileShape {
            header: input.header().clone(),
            delimiter: input.delimiter(),
            workbook: input.is_workbook(),
        }
    }
}

/// The reporter's setup. The files are created only now: a run that could
/// not start leaves the files of the previous one (maybe the only copy of
/// its failed rows) as they were.
pub(crate) fn reporter(
    opts: &Options,
    file: &FileShape,
    journal: Option<JournalWriter>,
    operation: Operation,
) -> Result<ReporterSetup, Error> {
    let (header, delimiter) = (&file.header, file.delimiter);
    let report = opts.report.as_deref().map(ReportFile::create).transpose()?;
    let failed = opts
        .failed
        .as_deref()
        .map(|p| FailedFile::create(p, header, delimiter))
        .transpose()?;
    // A dry run generates nothing: no file.
    let passwords = opts
        .generate_passwords
        .as_deref()
        .filter(|_| !opts.dry_run)
        .map(PasswordFile::create)
        .transpose()?;
    Ok(ReporterSetup {
        header: header.clone(),
        output: opts.output,
        quiet: opts.quiet,
        progress: opts.progress,
        dry_run: opts.dry_run,
        operation,
        report,
        failed,
        journal,
        failed_as_csv: file.workbook,
        passwords,
        generates_passwords: opts.generate_passwords.is_some(),
    })
}
