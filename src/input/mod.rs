//! Reading the users CSV as a stream of records: delimiter sniffing, UTF-8 or
//! Windows-1252, the header row, spreadsheet line numbers. Memory stays flat
//! whatever the file's size.

pub(crate) mod columns;
pub(crate) mod derive;
pub(crate) mod mapping;
pub(crate) mod seen;
mod stream;
pub(crate) mod timezones;
pub(crate) mod validate;
pub(crate) mod workbook;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use csv_async::{AsyncReader, AsyncReaderBuilder, ByteRecord};
use tokio::io::{AsyncRead, AsyncReadExt};

pub use columns::HeaderError;
pub(crate) use columns::{Column, Header, Need};
pub(crate) use mapping::Reading;
use stream::SharedTracker;
pub use stream::Unclosed;

use crate::config::describe_io_error;

/// Where the users come from: a file, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path.
    File(PathBuf),
    /// `-`
    Stdin,
}

impl Source {
    /// `-` is standard input; anything else a path.
    #[must_use]
    pub fn from_arg(arg: &Path) -> Source {
        if arg.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(arg.to_owned())
        }
    }

    /// How messages name it.
    pub(crate) fn display(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => "standard input".to_owned(),
        }
    }
}

/// One data row of the file.
#[derive(Clone)]
pub(crate) struct Record {
    /// The row number a spreadsheet shows: the header is 1, the first user
    /// 2; 0 for a user the file does not name ([`Record::not_in_file`]).
    pub(crate) line: u64,
    /// The cells as read (decoded, not trimmed), in the file's column order.
    pub(crate) fields: Vec<String>,
    /// What the row gets beyond its cells: derived values, a generated
    /// password. Never written back to a file of the row's own columns.
    filled: Option<Box<Filled>>,
}

/// The values a row gets where its cell is empty or absent.
#[derive(Clone, Default)]
struct Filled {
    /// Derived by a template.
    derived: Vec<(Column, String)>,
    /// A template that gave no value, and why.
    underivable: Vec<(Column, derive::Underivable)>,
    password: Generated,
}

/// A password the importer generates for a row.
#[derive(Clone, Default)]
pub(crate) enum Generated {
    /// None (the row has its own, or none is generated).
    #[default]
    No,
    /// Generated, sent when the user is created, written to the passwords file.
    Yes(crate::secret::Secret),
    /// A dry run: one would be generated.
    Would,
}

impl Record {
    /// A row of the file, as read.
    pub(crate) fn new(line: u64, fields: Vec<String>) -> Record {
        Record {
            line,
            fields,
            filled: None,
        }
    }

    /// A user the file does not name, in the file's columns: a sync's
    /// deletion. It is no row of the file: not counted as one, never in the
    /// failed-rows file (an import of it would create the user) or the
    /// journal.
    pub(crate) fn not_in_file(fields: Vec<String>) -> Record {
        Record::new(0, fields)
    }

    /// The row's line, `None` for a user the file does not name.
    pub(crate) fn file_line(&self) -> Option<u64> {
        (self.line > 0).then_some(self.line)
    }

    /// The trimmed value of `col`: the file's cell, else a derived value or
    /// a generated password; "" when there is none.
    pub(crate) fn get<'a>(&'a self, header: &Header, col: Column) -> &'a str {
        let cell = header
            .position(col)
            .and_then(|i| self.fields.get(i))
            .map_or("", |s| s.trim());
        match &self.filled {
            Some(filled) if cell.is_empty() => filled.get(col),
            _ => cell,
        }
    }

    /// The file's own cell of `col` (trimmed), nothing filled in.
    pub(crate) fn cell<'a>(&'a self, header: &Header, col: Column) -> &'a str {
        header
            .position(col)
            .and_then(|i| self.fields.get(i))
            .map_or("", |s| s.trim())
    }

    /// Whether the value of `col` is derived by a template (not the file's cell).
    pub(crate) fn is_derived(&self, col: Column) -> bool {
        self.filled
            .as_ref()
            .is_some_and(|f| f.derived.iter().any(|(c, _)| *c == col))
    }

    /// Why the template for `col` gave this row no value.
    pub(crate) fn underivable(&self, col: Column) -> Option<&derive::Underivable> {
        self.filled
            .as_ref()?
            .underivable
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, why)| why)
    }

    /// The password generated for the row, if any.
    pub(crate) fn generated(&self) -> &Generated {
        static NONE: Generated = Generated::No;
        self.filled.as_ref().map_or(&NONE, |f| &f.password)
    }

    /// Gives the row a generated password (or, in a dry run, says it would get one).
    pub(crate) fn set_generated(&mut self, password: Generated) {
        self.filled.get_or_insert_with(Box::default).password = password;
    }

    /// Gives the row a value for `col` where its cell is empty or absent
    /// (a sync's deletion of a user: its username, though the file's
    /// usernames are derived).
    pub(crate) fn fill(&mut self, col: Column, value: &str) {
        self.filled
            .get_or_insert_with(Box::default)
            .derived
            .push((col, value.to_owned()));
    }

    /// Fills the derived columns whose cell is empty or absent.
    pub(super) fn derive(&mut self, header: &Header) {
        if header.derive.is_empty() {
            return;
        }
        let mut filled = Filled::default();
        for rule in header.derive.rules() {
            if !self.cell(header, rule.column).is_empty() {
                continue;
            }
            match rule.template.render(|c| self.cell(header, c)) {
                Ok(value) => filled.derived.push((rule.column, value)),
                Err(why) => filled.underivable.push((rule.column, why)),
            }
        }
        if !filled.derived.is_empty() || !filled.underivable.is_empty() {
            self.filled = Some(Box::new(filled));
        }
    }
}

// A record holds passwords: its Debug shows only the line.
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record(line {})", self.line)
    }
}

impl Filled {
    fn get(&self, col: Column) -> &str {
        if col == Column::Password
            && let Generated::Yes(p) = &self.password
        {
            return p.expose();
        }
        self.derived
            .iter()
            .find(|(c, _)| *c == col)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The input cannot be read, or not to its end.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be opened.
    #[error("CSV file {path} {}", describe_io_error(std::path::Path::new(.path), .source))]
    Open {
        /// As messages name it.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// Not even a header row.
    #[error(
        "{} {path} is empty: it needs a header row (username,email,…) and one row per user",
        kind(.path)
    )]
    Empty {
        /// As messages name it.
        path: String,
    },
    /// A workbook that cannot be read.
    #[error("workbook {path} {reason}")]
    Workbook {
        /// As messages name it.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A workbook cell that is not text.
    #[error("workbook {path}, cell {cell} {what}")]
    Cell {
        /// As messages name it.
        path: String,
        /// `C7`
        cell: String,
        /// What it holds instead.
        what: String,
    },
    /// The file is not text at all.
    #[error("CSV file {path} is not a CSV file: it is {kind}. Nothing was read")]
    NotText {
        /// As messages name it.
        path: String,
        /// What it looks like.
        kind: &'static str,
    },
    /// The file has not as many rows as when it was counted.
    #[error(
        "CSV file {path} changed while it was read: {counted} rows were counted at start, {read} \
         were read; run again on a file that is not being written to"
    )]
    Changed {
        /// As messages name it.
        path: String,
        /// Rows at start.
        counted: u64,
        /// Rows read.
        read: u64,
    },
    /// The header row is not usable.
    #[error("{} {path}, line {line}: {source}", kind(.path))]
    Header {
        /// As messages name it.
        path: String,
        /// The header's row.
        line: u64,
        /// What is wrong with it.
        #[source]
        source: HeaderError,
    },
    /// A row further down cannot be read.
    #[error("CSV file {path}, line {line}: cannot read further: {source}")]
    Read {
        /// As messages name it.
        path: String,
        /// The row.
        line: u64,
        /// Why.
        #[source]
        source: ReadError,
    },
}

/// What messages call the input: a workbook, or a CSV file (standard input too).
fn kind(path: &str) -> &'static str {
    if workbook::is_workbook(std::path::Path::new(path)) {
        "workbook"
    } else {
        "CSV file"
    }
}

/// Why the reading stopped at a row.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The CSV parser, or the bytes under it (a row too long, an I/O error).
    #[error("{0}")]
    Csv(#[from] csv_async::Error),
    /// The bytes before the parser (UTF-16 transcoding, the first read).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A quoted cell still open at the end of the file.
    #[error("{0}")]
    Unclosed(stream::Unclosed),
}

type BoxRead = Pin<Box<dyn AsyncRead + Send>>;

/// A streaming reader over the users CSV.
pub(crate) struct CsvInput {
    reader: AsyncReader<BoxRead>,
    pub(crate) header: Header,
    pub(crate) delimiter: u8,
    /// True once any record needed Windows-1252 decoding.
    saw_windows_1252: bool,
    path: String,
    /// Follows the bytes the parser reads: the spreadsheet row of each record
    /// (blank lines count, a newline inside a quoted cell does not), and a
    /// quote never closed.
    tracker: SharedTracker,
    header_line: u64,
    /// The row of the last record read.
    last_line: u64,
    buf: ByteRecord,
}

/// A record, and the notice to show with it (the first record that is not
/// UTF-8 says how the file is read).
pub(crate) struct Read {
    pub(crate) record: Record,
    pub(crate) warning: Option<String>,
}

const SNIFF_LIMIT: usize = 64 * 1024;

impl CsvInput {
    /// Opens the source and reads its header row. Returns the warnings to show.
    pub(crate) async fn open(
        source: &Source,
        need: impl Into<Reading>,
    ) -> Result<(CsvInput, Vec<String>), InputError> {
        let need: Reading = need.into();
        let path = source.display();
        let raw: BoxRead = match source {
            Source::Stdin => Box::pin(tokio::io::stdin()),
            Source::File(p) => {
                if p.is_dir() {
                    return Err(InputError::Open {
                        path,
                        source: std::io::ErrorKind::IsADirectory.into(),
                    });
                }
                let f = tokio::fs::File::open(p)
                    .await
                    .map_err(|source| InputError::Open {
                        path: path.clone(),
                        source,
                    })?;
                Box::pin(f)
            }
        };
        Self::from_reader(raw, path, need).await
    }

    pub(crate) async fn from_reader(
        raw: BoxRead,
        path: String,
        need: impl Into<Reading>,
    ) -> Result<(CsvInput, Vec<String>), InputError> {
        let need: Reading = need.into();
        let (mut reader, delimiter, tracker) = open_stream(raw).await.map_err(|e| {
            match e.get_ref().and_then(|x| x.downcast_ref::<NotText>()) {
                Some(NotText(kind)) => InputError::NotText {
                    path: path.clone(),
                    kind,
                },
                None => InputError::Read {
                    path: path.clone(),
                    line: 1,
                    source: e.into(),
                },
            }
        })?;

        // The header is the first row holding anything but spaces.
        let mut buf = ByteRecord::new();
        let header_line = loop {
            let got = reader
                .read_byte_record(&mut buf)
                .await
                .map_err(|e| InputError::Read {
                    path: path.clone(),
                    line: stream::lock(&tracker).oversized().unwrap_or(1),
                    source: e.into(),
                })?;
            let line = stream::lock(&tracker).take_row().unwrap_or(1);
            if !got {
                return Err(InputError::Empty { path });
            }
            if let Some(u) = stream::lock(&tracker).unclosed() {
                return Err(InputError::Header {
                    path,
                    line,
                    source: HeaderError::Unclosed(u),
                });
            }
            if !is_blank(&buf) {
                break line;
            }
        };
        let mut warnings = Vec::new();
        let (cells, saw_windows_1252) = decode_record(&buf);
        let (header, header_warnings) =
            Header::parse(cells, need).map_err(|source| InputError::Header {
                path: path.clone(),
                line: header_line,
                source,
            })?;
        if saw_windows_1252 {
            warnings.push(windows_1252_warning(&path, header_line));
        }
        warnings.extend(
            header_warnings
                .into_iter()
                .map(|w| format!("CSV file {path}, line {header_line}: {w}")),
        );
        Ok((
            CsvInput {
                reader,
                header,
                delimiter,
                saw_windows_1252,
                path,
                tracker,
                header_line,
                last_line: header_line,
                buf,
            },
            warnings,
        ))
    }

    /// The next data row, `None` at the end of the file.
    pub(crate) async fn next(&mut self) -> Option<Result<Read, InputError>> {
        let line = match self.next_raw().await? {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let (fields, legacy) = decode_record(&self.buf);
        let warning =
            (legacy && !self.saw_windows_1252).then(|| windows_1252_warning(&self.path, line));
        self.saw_windows_1252 |= legacy;
        let mut record = Record::new(line, fields);
        record.derive(&self.header);
        Some(Ok(Read { record, warning }))
    }

    /// Reads the next data row into `self.buf` and returns its line.
    async fn next_raw(&mut self) -> Option<Result<u64, InputError>> {
        loop {
            match self.reader.read_byte_record(&mut self.buf).await {
                Ok(false) => return None,
                Err(e) => {
                    let oversized = stream::lock(&self.tracker).oversized();
                    return Some(Err(InputError::Read {
                        path: self.path.clone(),
                        line: oversized.unwrap_or(self.last_line + 1),
                        source: e.into(),
                    }));
                }
                Ok(true) => {}
            }
            let (line, unclosed) = {
                let mut t = stream::lock(&self.tracker);
                (t.take_row().unwrap_or(self.last_line + 1), t.unclosed())
            };
            self.last_line = line;
            // Only the last record can hold a quote still open at the end of
            // the file: it swallowed every line after it into one cell.
            if let Some(u) = unclosed {
                return Some(Err(InputError::Read {
                    path: self.path.clone(),
                    line,
                    source: ReadError::Unclosed(u),
                }));
            }
            // A row holding only delimiters and spaces (a spreadsheet's empty
            // row) is not a user; it still counts as a spreadsheet row.
            if !is_blank(&self.buf) {
                return Some(Ok(line));
            }
        }
    }

    /// Reads the rest of the file without decoding it: how many data rows it
    /// holds, or the structural error the reader would stop at.
    pub(crate) async fn count_rest(mut self) -> Result<u64, InputError> {
        let mut n = 0;
        while let Some(row) = self.next_raw().await {
            row?;
            n += 1;
        }
        Ok(n)
    }

    /// The line of the header row.
    pub(crate) fn header_line(&self) -> u64 {
        self.header_line
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// The data rows a run goes through: straight from the file, or all read
/// beforehand (a deletion or a sync plans on the whole file first).
pub(crate) enum Rows {
    Stream(Box<CsvInput>),
    Read {
        rows: std::vec::IntoIter<Record>,
        header_line: u64,
        path: String,
    },
}

impl Rows {
    /// The next data row, `None` at the end.
    pub(crate) async fn next(&mut self) -> Option<Result<Read, InputError>> {
        match self {
            Rows::Stream(input) => input.next().await,
            Rows::Read { rows, .. } => rows.next().map(|record| {
                Ok(Read {
                    record,
                    warning: None,
                })
            }),
        }
    }

    pub(crate) fn header_line(&self) -> u64 {
        match self {
            Rows::Stream(input) => input.header_line(),
            Rows::Read { header_line, .. } => *header_line,
        }
    }

    pub(crate) fn path(&self) -> &str {
        match self {
            Rows::Stream(input) => input.path(),
            Rows::Read { path, .. } => path,
        }
    }
}

impl CsvInput {
    /// Reads every row now. `warn` gets the Windows-1252 notice.
    pub(crate) async fn read_all(
        mut self,
        warn: &mut dyn FnMut(String),
    ) -> Result<ReadAll, InputError> {
        let mut records = Vec::new();
        while let Some(read) = self.next().await {
            let read = read?;
            if let Some(w) = read.warning {
                warn(w);
            }
            records.push(read.record);
        }
        Ok(ReadAll {
            records,
            header_line: self.header_line,
            path: self.path,
        })
    }
}

/// The input of a run: a CSV read as a stream, or a workbook's sheet read
/// whole.
pub(crate) enum Input {
    Csv(Box<CsvInput>),
    /// The header and every row of the sheet.
    Workbook(Box<(Header, ReadAll)>),
}

impl Input {
    pub(crate) fn header(&self) -> &Header {
        match self {
            Input::Csv(c) => &c.header,
            Input::Workbook(w) => &w.0,
        }
    }

    /// The delimiter the failed-rows file is written with (a workbook's is
    /// a CSV).
    pub(crate) fn delimiter(&self) -> u8 {
        match self {
            Input::Csv(c) => c.delimiter,
            Input::Workbook(_) => b',',
        }
    }

    pub(crate) fn is_workbook(&self) -> bool {
        matches!(self, Input::Workbook(_))
    }

    /// The rows, for the pipeline.
    pub(crate) fn into_rows(self) -> Rows {
        match self {
            Input::Csv(c) => Rows::Stream(c),
            Input::Workbook(w) => w.1.into_rows(),
        }
    }

    /// Every row now (a plan over the whole file).
    pub(crate) async fn read_all(
        self,
        warn: &mut dyn FnMut(String),
    ) -> Result<ReadAll, InputError> {
        match self {
            Input::Csv(c) => c.read_all(warn).await,
            Input::Workbook(w) => Ok(w.1),
        }
    }
}

/// Every row of a file, read before the run plans on them.
pub(crate) struct ReadAll {
    pub(crate) records: Vec<Record>,
    header_line: u64,
    path: String,
}

impl ReadAll {
    /// The rows, for the pipeline.
    pub(crate) fn into_rows(self) -> Rows {
        Rows::Read {
            rows: self.records.into_iter(),
            header_line: self.header_line,
            path: self.path,
        }
    }
}

fn windows_1252_warning(path: &str, line: u64) -> String {
    format!(
        "CSV file {path}, line {line}: the file is not UTF-8; reading it as Windows-1252 \
         (what spreadsheet programs write on Western-European Windows). If accents look wrong, \
         save the file as \"CSV UTF-8\""
    )
}

/// The cells of a record: UTF-8 when the whole record is; Windows-1252
/// otherwise (the bool says so), every cell alike.
fn decode_record(rec: &ByteRecord) -> (Vec<String>, bool) {
    let legacy = rec.iter().any(|f| std::str::from_utf8(f).is_err());
    let cells = rec
        .iter()
        .map(|f| {
            if legacy {
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(f)
                    .0
                    .into_owned()
            } else {
                // Every cell is valid UTF-8 here: nothing is replaced.
                String::from_utf8_lossy(f).into_owned()
            }
        })
        .collect();
    (cells, legacy)
}

/// `,` unless the header line splits on `;` or a tab but not on `,`.
pub(crate) fn sniff_delimiter(prefix: &[u8]) -> u8 {
    sniff(prefix).0
}

/// The delimiter, and whether `prefix` holds the whole header line: the first
/// line with more than spaces and delimiters (the reader skips those).
fn sniff(prefix: &[u8]) -> (u8, bool) {
    let mut in_quotes = false;
    let mut content = false;
    let mut complete = false;
    let (mut commas, mut semis, mut tabs) = (0, 0, 0);
    for &b in prefix {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                content = true;
            }
            _ if in_quotes => {}
            b'\n' | b'\r' if content => {
                complete = true;
                break;
            }
            b'\n' | b'\r' => (commas, semis, tabs) = (0, 0, 0),
            b',' => commas += 1,
            b';' => semis += 1,
            b'\t' => tabs += 1,
            b if b.is_ascii_whitespace() || b == 0 => {}
            _ => content = true,
        }
    }
    let delimiter = if commas > 0 {
        b','
    } else if semis >= tabs && semis > 0 {
        b';'
    } else if tabs > 0 {
        b'\t'
    } else {
        b','
    };
    (delimiter, complete)
}

/// `sep=X` and its line end: the delimiter and the bytes to drop.
fn excel_sep_line(prefix: &[u8]) -> Option<(u8, usize)> {
    let rest = prefix.strip_prefix(b"sep=")?;
    let (&delimiter, after) = rest.split_first()?;
    let end = match after {
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        _ => return None,
    };
    (delimiter != b'"' && !delimiter.is_ascii_alphanumeric()).then_some((delimiter, 5 + end))
}

/// A record of nothing but spaces: a spreadsheet's empty row. (A row of NUL
/// bytes is something else, and is reported.)
fn is_blank(rec: &ByteRecord) -> bool {
    rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

/// What a file that is no CSV at all is, by its first bytes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotText(&'static str);

/// Names a file that is not text: by its signature, or by the control
/// characters of its first line (a CSV has none but tabs and line ends).
fn not_text(prefix: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 6] = [
        (b"\x1f\x8b", "a gzip archive: uncompress it first"),
        (
            b"PK\x03\x04",
            "a zip archive (an .xlsx or .ods workbook is one: name it .xlsx or .ods)",
        ),
        (
            b"\xd0\xcf\x11\xe0",
            "an old Office document (an .xls workbook: name it .xls)",
        ),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\x7fELF", "a program"),
    ];
    if let Some((_, what)) = SIGNATURES.iter().find(|(sig, _)| prefix.starts_with(sig)) {
        return Some(what);
    }
    let first_line = prefix
        .split(|b| matches!(b, b'\n' | b'\r'))
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let controls = first_line
        .iter()
        .filter(|b| (**b < 0x20 && !matches!(b, b'\t' | b'\r')) || **b == 0x7f)
        .count();
    (controls > 0 && (first_line.contains(&0) || controls * 10 > first_line.len()))
        .then_some("binary data, not text")
}

/// The parser over `raw`: UTF-16 transcoded, a UTF-8 byte-order mark
/// dropped, the delimiter sniffed from the first line, every byte watched.
async fn open_stream(
    mut raw: BoxRead,
) -> std::io::Result<(AsyncReader<BoxRead>, u8, SharedTracker)> {
    // Read the first line (or the first 64 KiB) to choose the delimiter.
    let mut prefix = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut transcoded = false;
    loop {
        let n = raw.read(&mut chunk).await?;
        prefix.extend_from_slice(&chunk[..n]);
        if !transcoded && (prefix.len() >= 4 || n == 0) {
            transcoded = true;
            if let Some(enc) = stream::utf16(&prefix) {
                let rest = std::io::Cursor::new(std::mem::take(&mut prefix)).chain(raw);
                raw = Box::pin(stream::Utf16ToUtf8::new(rest, enc));
                continue;
            }
        }
        if n == 0 || prefix.len() >= SNIFF_LIMIT || sniff(&prefix).1 {
            break;
        }
    }
    if let Some(kind) = not_text(&prefix) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            NotText(kind),
        ));
    }
    if prefix.starts_with(b"\xef\xbb\xbf") {
        prefix.drain(..3);
    }
    // Excel's `sep=;` first line names the delimiter; Excel does not show it.
    let delimiter = match excel_sep_line(&prefix) {
        Some((delimiter, len)) => {
            prefix.drain(..len);
            delimiter
        }
        None => sniff_delimiter(&prefix),
    };
    let tracker: SharedTracker = Arc::new(Mutex::new(stream::Tracker::new(delimiter)));
    let stream: BoxRead = Box::pin(stream::Watch::new(
        std::io::Cursor::new(prefix).chain(raw),
        tracker.clone(),
    ));
    let reader = AsyncReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .create_reader(stream);
    Ok((reader, delimiter, tracker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PasswordMode;

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter(b"username,email\n"), b',');
        assert_eq!(sniff_delimiter(b"username;email;first_name\r\na;b;c"), b';');
        assert_eq!(sniff_delimiter(b"username\temail\n"), b'\t');
        assert_eq!(sniff_delimiter(b"\"user;name\",email\n"), b',');
        assert_eq!(sniff_delimiter(b"username\n"), b',');
        assert_eq!(sniff_delimiter(b""), b',');
        // Blank lines, or lines of only delimiters, above the header are skipped.
        assert_eq!(sniff_delimiter(b"\r\n  \n;;\nusername;email\na,b"), b';');
        assert_eq!(sniff_delimiter(b"\n\t\nusername\temail\r"), b'\t');
        // A line may end with a lone CR (old Mac files).
        assert_eq!(sniff_delimiter(b"username;email\ra,b@c.d"), b';');
        assert_eq!(sniff(b"\n\nusername;em"), (b';', false));
    }

    #[test]
    fn decodes_windows_1252_a_whole_record_at_once() {
        let rec = |cells: &[&[u8]]| ByteRecord::from(cells.to_vec());
        assert_eq!(
            decode_record(&rec(&["Zoë".as_bytes(), b"x"])),
            (vec!["Zoë".to_owned(), "x".to_owned()], false)
        );
        // "\xc3\xa9" alone would be valid UTF-8 ("é"); in a Windows-1252
        // record it is "Ã©", as the spreadsheet meant.
        let (cells, legacy) = decode_record(&rec(&[b"Zo\xeb M\xfcller \x80", b"\xc3\xa9"]));
        assert_eq!(cells, ["Zoë Müller €", "Ã©"]);
        assert!(legacy);
    }

    async fn read_all(
        data: &'static [u8],
        mode: PasswordMode,
    ) -> Result<(Header, Vec<Record>, Vec<String>), InputError> {
        let (mut input, warnings) =
            CsvInput::from_reader(Box::pin(data), "t.csv".into(), mode).await?;
        let mut out = Vec::new();
        while let Some(r) = input.next().await {
            out.push(r?.record);
        }
        Ok((input.header, out, warnings))
    }

    #[tokio::test]
    async fn line_numbers_follow_the_spreadsheet() {
        let data = b"username,email,address\r\na,a@x.io,\"1 Main St\r\nApt 2\"\r\nb,b@x.io,x\r\n\r\nc,c@x.io,\"q\"\"uote, comma\"\r\n";
        let (h, rows, w) = read_all(data, PasswordMode::Random).await.unwrap();
        assert!(w.is_empty());
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        // A blank line is no user, but it is a row in a spreadsheet: it counts.
        assert_eq!(lines, vec![2, 3, 5]);
        assert_eq!(rows[0].get(&h, Column::Address), "1 Main St\r\nApt 2");
        assert_eq!(rows[2].get(&h, Column::Address), "q\"uote, comma");
    }

    #[tokio::test]
    async fn empty_and_header_only() {
        assert!(matches!(
            read_all(b"", PasswordMode::Random).await,
            Err(InputError::Empty { .. })
        ));
        assert!(matches!(
            read_all(b"\n\n", PasswordMode::Random).await,
            Err(InputError::Empty { .. })
        ));
        let (_, rows, _) = read_all(b"username,email\n", PasswordMode::Random)
            .await
            .unwrap();
        assert!(rows.is_empty());
    }

    #[tokio::test]
    async fn semicolons_bom_and_latin1() {
        let data = b"\xef\xbb\xbfUserName;E-Mail;Email;first_name\na;x;a@x.io;Zo\xeb\n";
        let (h, rows, w) = read_all(data, PasswordMode::Random).await.unwrap();
        assert_eq!(rows[0].get(&h, Column::FirstName), "Zoë");
        assert_eq!(rows[0].get(&h, Column::Username), "a");
        assert!(w.iter().any(|w| w.contains("\"E-Mail\"")), "{w:?}");
    }

    #[tokio::test]
    async fn bom_before_a_quoted_header_and_blank_lines_before_it() {
        let data = b"\xef\xbb\xbf\"Username\";\"Email\"\r\n\"a\";\"a@x.io\"\r\n";
        let (h, rows, w) = read_all(data, PasswordMode::Random).await.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(rows[0].get(&h, Column::Email), "a@x.io");
        // Spaces and blank lines above the header are rows of the spreadsheet too.
        let (_, rows, _) = read_all(b"  \n\nusername,email\nb,b@x.io\n", PasswordMode::Random)
            .await
            .unwrap();
        assert_eq!(rows[0].line, 4);
        let e = read_all(b" ,\nusername,mail\n", PasswordMode::Random)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("t.csv, line 2: "), "{e}");
    }

    #[tokio::test]
    async fn a_quote_never_closed_stops_the_reading_at_its_row() {
        let data = b"username,email,city\na,a@x.io,x\nb,b@x.io,\"Paris\nc,c@x.io,y\n";
        let (mut input, _) =
            CsvInput::from_reader(Box::pin(&data[..]), "t.csv".into(), PasswordMode::Random)
                .await
                .unwrap();
        assert_eq!(input.next().await.unwrap().unwrap().record.line, 2);
        let e = input.next().await.unwrap().err().unwrap().to_string();
        assert!(
            e.contains("t.csv, line 3: cannot read further: a quote (\") opens column 3"),
            "{e}"
        );
        assert!(input.next().await.is_none());
        let e = read_all(b"username,\"email\n", PasswordMode::Random)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 1: a quote"), "{e}");
    }

    #[tokio::test]
    async fn excel_sep_line_names_the_delimiter() {
        let (h, rows, w) = read_all(
            b"sep=|\r\nusername|email\r\na|a@x.io\r\n",
            PasswordMode::Random,
        )
        .await
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(rows[0].get(&h, Column::Email), "a@x.io");
        // Excel does not show that line: the header is row 1.
        assert_eq!(rows[0].line, 2);
        assert_eq!(excel_sep_line(b"sep=;\nusername;email"), Some((b';', 6)));
        assert_eq!(excel_sep_line(b"sep=;;\n"), None);
        assert_eq!(excel_sep_line(b"sep=a\n"), None);
    }

    #[tokio::test]
    async fn a_row_too_long_stops_the_reading() {
        let mut data = b"username,email\na,a@x.io\nb,\"".to_vec();
        data.resize(data.len() + (3 << 20), b'x');
        let data: &'static [u8] = data.leak();
        let (mut input, _) =
            CsvInput::from_reader(Box::pin(data), "t.csv".into(), PasswordMode::Random)
                .await
                .unwrap();
        assert_eq!(input.next().await.unwrap().unwrap().record.line, 2);
        let e = input.next().await.unwrap().err().unwrap().to_string();
        assert!(
            e.contains("t.csv, line 3: cannot read further: this row is longer than 1 MiB"),
            "{e}"
        );
        assert!(input.next().await.is_none());
        let e = read_all(&data[25..], PasswordMode::Random)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("line 1: cannot read further: this row is longer"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn utf16_is_transcoded() {
        let mut data = vec![0xff, 0xfe];
        for u in "username\temail\tfirst_name\r\nzoe\tz@x.io\tZoë\r\n".encode_utf16() {
            data.extend(u.to_le_bytes());
        }
        let data: &'static [u8] = data.leak();
        let (h, rows, w) = read_all(data, PasswordMode::Random).await.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(rows[0].get(&h, Column::FirstName), "Zoë");
        assert_eq!(rows[0].line, 2);
    }
}
