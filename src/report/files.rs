//! The two files a run can leave: the report (one result row per input row)
//! and the failed rows (the input's own columns, ready to import again).

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::RowResult;
use crate::input::{Header, Record};
use crate::sanitize::spreadsheet_cell;

pub(crate) const REPORT_COLUMNS: [&str; 8] = [
    "line",
    "username",
    "email",
    "status",
    "attempts",
    "http_status",
    "message",
    "warning",
];

/// An output file cannot be created.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: cannot be created: {}", path.display(), creation_failure(source))]
pub struct FileError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn creation_failure(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "its folder does not exist".into()
    } else {
        e.to_string()
    }
}

fn create(path: &Path, what: &'static str, private: bool) -> Result<File, FileError> {
    let err = |source| FileError {
        what,
        path: path.to_owned(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path).map_err(err)?;
    // An existing file keeps its mode on open: make it owner-only too.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(file)
}

pub(crate) struct ReportFile {
    pub(crate) path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl ReportFile {
    pub(crate) fn create(path: &Path) -> Result<ReportFile, FileError> {
        let file = create(path, "report file", false)?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        writer.write_record(REPORT_COLUMNS).map_err(|e| FileError {
            what: "report file",
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(ReportFile {
            path: path.to_owned(),
            writer,
        })
    }

    pub(crate) fn write(&mut self, r: &RowResult, username: &str, email: &str) -> csv::Result<()> {
        // A sync's deletion of a user the file does not name: no line.
        let line = r
            .record
            .file_line()
            .map(|l| l.to_string())
            .unwrap_or_default();
        let attempts = r.attempts.to_string();
        let http = r.http_status.map(|s| s.to_string()).unwrap_or_default();
        // Cells a spreadsheet would run as formulas are defused.
        let cell = |s: &str| spreadsheet_cell(s).into_owned();
        self.writer.write_record([
            line,
            cell(username),
            cell(email),
            r.status.as_str().to_owned(),
            attempts,
            http,
            cell(r.message.as_deref().unwrap_or("")),
            cell(r.warning.as_deref().unwrap_or("")),
        ])
    }

    pub(crate) fn finish(mut self) -> Result<(), String> {
        self.writer
            .flush()
            .map_err(|e| format!("cannot finish the report {}: {e}", self.path.display()))
    }
}

/// Owner-only (it may hold passwords); the input's header, delimiter and cells.
pub(crate) struct FailedFile {
    pub(crate) path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
}

impl FailedFile {
    pub(crate) fn create(
        path: &Path,
        header: &Header,
        delimiter: u8,
    ) -> Result<FailedFile, FileError> {
        let file = create(path, "failed-rows file", true)?;
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_writer(BufWriter::new(file));
        let names = header
            .names
            .iter()
            .map(|n| n.trim_start_matches('\u{feff}'));
        writer.write_record(names).map_err(|e| FileError {
            what: "failed-rows file",
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(FailedFile {
            path: path.to_owned(),
            writer,
        })
    }

    pub(crate) fn write(&mut self, record: &Record) -> csv::Result<()> {
        self.writer.write_record(&record.fields)
    }

    pub(crate) fn finish(mut self) -> Result<(), String> {
        self.writer.flush().map_err(|e| {
            format!(
                "cannot finish the failed-rows file {}: {e}",
                self.path.display()
            )
        })
    }
}

/// `--generate-passwords FILE`: `username,email,password` of each user
/// created with a generated password, flushed line by line so that a killed
/// run loses none. Owner-only; never one that holds anything already.
pub(crate) struct PasswordFile {
    pub(crate) path: PathBuf,
    writer: csv::Writer<File>,
}

impl PasswordFile {
    pub(crate) fn create(path: &Path) -> Result<PasswordFile, FileError> {
        const WHAT: &str = "passwords file";
        let err = |source| FileError {
            what: WHAT,
            path: path.to_owned(),
            source,
        };
        // Not truncated: a file that holds something is refused, not emptied.
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path).map_err(err)?;
        if file.metadata().map_err(err)?.len() > 0 {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it is not empty (the passwords of an earlier run?); give a new path",
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(err)?;
        }
        let mut file = PasswordFile {
            path: path.to_owned(),
            writer: csv::Writer::from_writer(file),
        };
        file.line(["username", "email", "password"])
            .map_err(|e| err(e.into()))?;
        Ok(file)
    }

    /// One created user's line, flushed.
    pub(crate) fn write(&mut self, username: &str, email: &str, password: &str) -> csv::Result<()> {
        self.line([username, email, password])
    }

    fn line(&mut self, cells: [&str; 3]) -> csv::Result<()> {
        self.writer.write_record(cells)?;
        self.writer.flush()?;
        Ok(())
    }
}
