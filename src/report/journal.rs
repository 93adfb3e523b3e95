//! The resume journal: one line per row confirmed done (created or skipped),
//! appended and flushed as it completes, so a killed run (even `kill -9`)
//! resumes without sending a confirmed row again.
//!
//! Format (text, one entry per line):
//! ```text
//! # xmc-user-importer journal v1
//! # for: file=users.csv enterprise=acme endpoint=https://portal.xmedius.com/
//! 2<TAB>tirion<TAB>created
//! ```
//! A row is skipped on resume when both its line and its username (any case)
//! match an entry, so an edited file never skips the wrong row.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::input::seen::SeenTable;

const MAGIC: &str = "# xmc-user-importer journal v1";

/// The rows an earlier run confirmed.
#[derive(Default)]
pub(crate) struct JournalIndex {
    done: SeenTable,
    pub(crate) entries: usize,
}

impl JournalIndex {
    pub(crate) fn contains(&self, line: u64, username: &str) -> bool {
        self.done.get(&key(line, username)).is_some()
    }
}

fn key(line: u64, username: &str) -> String {
    format!("{line}\t{username}")
}

pub(crate) struct JournalWriter {
    file: File,
    pub(crate) path: PathBuf,
}

/// The journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// It cannot be read or written.
    #[error("journal {}: {}", path.display(), crate::config::describe_io_error(path, source))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// It belongs to another file, enterprise or endpoint.
    #[error(
        "journal {} was written for another import ({theirs}); this run is {ours}. \
         Use a new --journal path for this file, or delete the old journal to start over",
        path.display()
    )]
    OtherImport {
        /// The file.
        path: PathBuf,
        /// The import it names.
        theirs: String,
        /// This one.
        ours: String,
    },
    /// It is some other file.
    #[error(
        "journal {} is not a journal of this tool (its first line is not \"{MAGIC}\"); refusing to append to it",
        path.display()
    )]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
}

/// What an existing journal says.
struct Existing {
    index: JournalIndex,
    /// The length of its complete lines, when the last one was cut by a kill.
    cut_at: Option<u64>,
}

/// Reads the journal at `path` for the import `identity`, line by line (a
/// million entries need the index's few MB, not the file's size). `None` when
/// there is no journal there yet (or an empty file).
fn read(path: &Path, identity: &str) -> Result<Option<Existing>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let size = file.metadata().map_err(io)?.len();
    if size == 0 {
        return Ok(None);
    }
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut next_line = |buf: &mut Vec<u8>| -> Result<Option<bool>, JournalError> {
        buf.clear();
        let n = reader.read_until(b'\n', buf).map_err(io)?;
        Ok((n > 0).then(|| buf.last() == Some(&b'\n')))
    };
    let text = |buf: &[u8]| String::from_utf8_lossy(buf).trim_end().to_owned();
    let head = format!("{MAGIC}\n# for: {identity}\n");
    let mut first_two = Vec::new();
    let mut complete = next_line(&mut buf)? == Some(true);
    first_two.extend_from_slice(&buf);
    let magic = text(&buf);
    if complete {
        complete = next_line(&mut buf)? == Some(true);
        first_two.extend_from_slice(&buf);
    }
    if !complete && head.as_bytes().starts_with(&first_two) {
        // A kill while the header was written: start the journal over.
        return Ok(Some(Existing {
            index: JournalIndex::default(),
            cut_at: Some(0),
        }));
    }
    if magic != MAGIC {
        return Err(JournalError::NotAJournal {
            path: path.to_owned(),
        });
    }
    let theirs = text(&buf);
    if theirs != format!("# for: {identity}") {
        return Err(JournalError::OtherImport {
            path: path.to_owned(),
            theirs: theirs.trim_start_matches("# for: ").to_owned(),
            ours: identity.to_owned(),
        });
    }
    read_entries(&mut next_line, size, first_two.len() as u64).map(Some)
}

/// The entries after the journal's two header lines (`read_len` bytes).
/// Reads the next line into the buffer: `None` at the end, else whether the
/// line is complete (ends with a newline).
type NextLine<'a> = dyn FnMut(&mut Vec<u8>) -> Result<Option<bool>, JournalError> + 'a;

fn read_entries(
    next_line: &mut NextLine<'_>,
    size: u64,
    mut read_len: u64,
) -> Result<Existing, JournalError> {
    // Entries are ~16 bytes: enough room for all of them in one segment.
    let mut index = JournalIndex {
        done: SeenTable::with_capacity(usize::try_from(size / 16).unwrap_or(0)),
        entries: 0,
    };
    let mut buf = Vec::new();
    let mut cut_at = None;
    while let Some(complete) = next_line(&mut buf)? {
        if !complete {
            // A final line without its newline was cut by a kill: dropped.
            cut_at = Some(read_len);
            break;
        }
        read_len += buf.len() as u64;
        let entry = String::from_utf8_lossy(&buf);
        let mut parts = entry.trim_end().split('\t');
        if let (Some(line), Some(user)) = (
            parts.next().and_then(|l| l.parse::<u64>().ok()),
            parts.next(),
        ) {
            let k = key(line, user);
            if index.done.get(&k).is_none() {
                index.done.insert(&k, line);
                index.entries += 1;
            }
        }
    }
    Ok(Existing { index, cut_at })
}

/// The rows an existing journal confirmed, without opening it for writing (a
/// dry run).
pub(crate) fn load(path: &Path, identity: &str) -> Result<JournalIndex, JournalError> {
    Ok(read(path, identity)?.map(|e| e.index).unwrap_or_default())
}

/// Opens (or creates) the journal. `identity` names the import: the CSV's file
/// name, the enterprise and the endpoint.
pub(crate) fn open(
    path: &Path,
    identity: &str,
) -> Result<(JournalWriter, JournalIndex), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let existing = read(path, identity)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let index = match existing {
        Some(Existing { index, cut_at }) if cut_at != Some(0) => {
            if let Some(len) = cut_at {
                file.set_len(len).map_err(io)?;
            }
            index
        }
        _ => {
            file.set_len(0).map_err(io)?;
            // One write: a kill cannot leave half of it.
            file.write_all(format!("{MAGIC}\n# for: {identity}\n").as_bytes())
                .map_err(io)?;
            JournalIndex::default()
        }
    };
    Ok((
        JournalWriter {
            file,
            path: path.to_owned(),
        },
        index,
    ))
}

impl JournalWriter {
    /// Appends one confirmed row, straight to the file (no buffer to lose).
    pub(crate) fn record(
        &mut self,
        line: u64,
        username: &str,
        status: &str,
    ) -> std::io::Result<()> {
        let entry = format!("{line}\t{}\t{status}\n", username.to_lowercase());
        self.file.write_all(entry.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_and_survives_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        let (mut w, idx) = open(&p, "file=a.csv enterprise=acme").unwrap();
        assert_eq!(idx.entries, 0);
        w.record(2, "Tirion", "created").unwrap();
        w.record(3, "arya", "skipped").unwrap();
        drop(w);
        // A kill in the middle of a write.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"4\tsan")
            .unwrap();
        let (mut w, idx) = open(&p, "file=a.csv enterprise=acme").unwrap();
        assert_eq!(idx.entries, 2);
        assert!(idx.contains(2, "tirion"));
        assert!(idx.contains(3, "arya"));
        assert!(!idx.contains(4, "sansa"));
        assert!(
            !idx.contains(2, "arya"),
            "same line, another user: not skipped"
        );
        w.record(4, "sansa", "created").unwrap();
        drop(w);
        let (_, idx) = open(&p, "file=a.csv enterprise=acme").unwrap();
        assert!(idx.contains(4, "sansa"));
        assert_eq!(idx.entries, 3);
    }

    #[test]
    fn a_header_cut_by_a_kill_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        for cut in [
            MAGIC.to_string(),
            format!("{MAGIC}\n"),
            format!("{MAGIC}\n# for: file=a.csv"),
        ] {
            std::fs::write(&p, &cut).unwrap();
            let (mut w, idx) = open(&p, "file=a.csv").unwrap();
            assert_eq!(idx.entries, 0);
            w.record(2, "tirion", "created").unwrap();
            drop(w);
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                format!("{MAGIC}\n# for: file=a.csv\n2\ttirion\tcreated\n")
            );
        }
    }

    #[test]
    fn refuses_another_import_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        open(&p, "file=a.csv enterprise=acme").unwrap();
        let e = open(&p, "file=b.csv enterprise=acme")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("file=a.csv") && e.contains("file=b.csv") && e.contains("new --journal"),
            "{e}"
        );
        let q = dir.path().join("notes.txt");
        std::fs::write(&q, "hello\n").unwrap();
        assert!(matches!(
            open(&q, "x").err(),
            Some(JournalError::NotAJournal { .. })
        ));
    }
}
