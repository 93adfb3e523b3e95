//! Property tests of the input side: whatever the bytes of the CSV or of the
//! config, reading never panics and every error says something; and a
//! well-formed CSV of any shape (columns in any order, any delimiter, line
//! end and encoding, quoted cells holding quotes, delimiters, newlines and
//! non-ASCII) reads back exactly, each row on its spreadsheet line.
//!
//! `PROPTEST_CASES=20000 cargo test --release --lib fuzz` for a longer run.

use std::path::Path;

use crate::config::{Config, PasswordMode};
use crate::input::validate::{Duplicates, validate};
use crate::input::{Column, CsvInput, Header, InputError, Source};
use proptest::prelude::*;

const MODES: [PasswordMode; 3] = [
    PasswordMode::Manual,
    PasswordMode::UserChoice,
    PasswordMode::Random,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// What reading a whole CSV gave.
#[derive(Debug)]
struct ReadBack {
    header: Header,
    warnings: Vec<String>,
    /// `(line, fields)` of each record.
    records: Vec<(u64, Vec<String>)>,
    /// The row rules' verdict on each record.
    verdicts: Vec<Result<(), String>>,
    /// Records that were the first not in UTF-8.
    first_windows_1252: usize,
    /// A read error that ended the file early.
    error: Option<String>,
}

/// Reads every record and runs the row rules and the duplicate check on each,
/// checking the invariants that hold whatever the input.
fn read_all(bytes: Vec<u8>, mode: PasswordMode) -> Result<ReadBack, InputError> {
    runtime().block_on(async move {
        let reader = Box::pin(std::io::Cursor::new(bytes));
        let (mut input, warnings) = CsvInput::from_reader(reader, "fuzz.csv".into(), mode).await?;
        for w in &warnings {
            assert!(!w.trim().is_empty(), "an empty warning");
        }
        let header = input.header.clone();
        let mut duplicates = Duplicates::default();
        let mut records = Vec::new();
        let mut verdicts = Vec::new();
        let mut first_windows_1252 = 0;
        let mut error = None;
        let mut last = 1;
        while let Some(read) = input.next().await {
            let read = match read {
                Ok(r) => r,
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains("fuzz.csv, line "), "{msg}");
                    error = Some(msg);
                    break;
                }
            };
            first_windows_1252 += usize::from(read.warning.is_some());
            let rec = read.record;
            assert!(rec.line > last, "line {} after line {last}", rec.line);
            last = rec.line;
            let verdict = validate(&header, &rec, mode)
                .map(|_| ())
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    let user = rec.get(&header, Column::Username);
                    let email = rec.get(&header, Column::Email);
                    duplicates.check(user, email, rec.line).map_err(|e| {
                        let e = e.to_string();
                        assert!(e.starts_with("duplicate of line "), "{e}");
                        e
                    })
                });
            if let Err(e) = &verdict {
                assert!(!e.trim().is_empty(), "an empty validation message");
            }
            verdicts.push(verdict);
            records.push((rec.line, rec.fields));
        }
        assert!(input.next().await.is_none(), "a record after the end");
        assert!(
            first_windows_1252 <= 1,
            "{first_windows_1252} first non-UTF-8 rows"
        );
        Ok(ReadBack {
            header,
            warnings,
            records,
            verdicts,
            first_windows_1252,
            error,
        })
    })
}

fn check_message(msg: &str) {
    assert!(!msg.trim().is_empty(), "an empty error message");
    assert!(!msg.contains("panicked"), "{msg}");
}

/// Bytes that look a little like CSV often enough to get past the header.
fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => any::<u8>().prop_map(|b| vec![b]),
        2 => prop::sample::select(vec![
            &b","[..], b";", b"\t", b"\"", b"\"\"", b"\n", b"\r\n", b"\r", b" ",
            b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9", b"\xc3\xa9", b"\x80", b"\0",
            b"a@b.co", b"+15145550101", b"Paris", b"fr",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    let body = prop::collection::vec(piece, 0..200).prop_map(|v| v.concat());
    let header = prop::sample::select(vec![
        &b""[..],
        b"username,email,password\n",
        b"username;email;password;fax_number;language;time_zone\r\n",
        b"\xef\xbb\xbfUsername\tEmail\tPassword\n",
        b"email,username,password,group,first_name\n",
    ]);
    (header, body).prop_map(|(h, b)| [h.to_vec(), b].concat())
}

proptest! {
    #[test]
    fn any_bytes_as_csv(bytes in csv_bytes(), mode in prop::sample::select(MODES.to_vec())) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        // The check before sending: the row count, or the reader's own error.
        let counted = runtime().block_on(async {
            let (input, _) = CsvInput::open(&Source::File(file.path().into()), mode).await?;
            input.count_rest().await
        });
        match read_all(bytes, mode) {
            Ok(r) => match (&r.error, counted) {
                (Some(e), Err(c)) => {
                    check_message(e);
                    prop_assert_eq!(e.replace("fuzz.csv", ""), c.to_string().replace(&file.path().display().to_string(), ""));
                }
                // The progress bar's total is the number of rows read.
                (None, Ok(n)) => prop_assert_eq!(n, r.records.len() as u64),
                (e, c) => prop_assert!(false, "the read says {e:?}, the count {c:?}"),
            },
            Err(e) => {
                check_message(&e.to_string());
                prop_assert!(counted.is_err());
            }
        }
    }

    #[test]
    fn random_bytes_as_csv(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Err(e) = read_all(bytes, PasswordMode::Random) {
            check_message(&e.to_string());
        }
    }
}

// ---- Config -----------------------------------------------------------

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("7".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        prop::sample::select(vec![
            "manual",
            "user_choice",
            "random",
            "Manual",
            "",
            " ",
            "westeros",
            "https://portal.xmedius.com",
            "https://x.example.com/api/",
            "http://127.0.0.1:9",
            "http://localhost",
            "http://[::1]:3000/",
            "http://portal.example.com",
            "ftp://x.com",
            "portal.xmedius.com",
            "https://",
            "https://h/?q=1",
            "https://h/#f",
            "http://127.0.0.1.evil.com",
            "https://[::1",
            "tok\nen",
            "é€😀",
            "\\u0000",
        ])
        .prop_map(|s| serde_json::to_string(s).unwrap()),
        "[ -~]{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]
}

fn config_json() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "endpoint",
        "enterprise_account",
        "access_token",
        "password_setup_mode",
        "acess_token",
        "password_mode",
        "Endpoint",
        "",
        "x",
    ]);
    prop::collection::vec((key, json_value()), 0..6).prop_map(|kv| {
        let body: Vec<String> = kv
            .into_iter()
            .map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).unwrap()))
            .collect();
        format!("{{{}}}", body.join(", "))
    })
}

fn check_config(bytes: &[u8], env_token: Option<String>) {
    match Config::parse(Path::new("fuzz.json"), bytes, env_token.map(Into::into)) {
        Ok((config, warnings)) => {
            for w in &warnings {
                assert!(w.contains("unknown key"), "{w}");
            }
            let url = &config.endpoint;
            let host = url.host_str().unwrap_or_default();
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            assert!(
                url.scheme() == "https" || (url.scheme() == "http" && loopback),
                "{url}"
            );
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
            assert!(!config.enterprise_account.trim().is_empty());
            assert!(!config.access_token.expose().is_empty());
        }
        Err(e) => {
            let msg = e.to_string();
            check_message(&msg);
            assert!(msg.starts_with("config file fuzz.json"), "{msg}");
        }
    }
}

proptest! {
    #[test]
    fn any_bytes_as_config(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_config(&bytes, None);
    }

    #[test]
    fn any_json_object_as_config(json in config_json(), env in proptest::option::of("[ -~]{0,8}")) {
        check_config(json.as_bytes(), env);
    }
}

// ---- Well-formed CSV of any shape ---------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf8Bom,
    Windows1252,
    Utf16Le,
    Utf16Be,
    /// Without a byte-order mark.
    Utf16LeBare,
}

#[derive(Debug, Clone)]
struct Shape {
    /// The header's cells, as written.
    header: Vec<String>,
    /// Data rows (`None`: a blank line), cells as written (before quoting).
    rows: Vec<Option<Vec<String>>>,
    /// Blank lines before the header.
    leading_blank: usize,
    delimiter: u8,
    line_end: &'static str,
    final_line_end: bool,
    encoding: Encoding,
    mode: PasswordMode,
    /// Quote cells that need no quotes too.
    quote_all: bool,
    /// Leave a quote inside a cell bare when nothing else needs quoting
    /// (`5'11"`): it is then an ordinary character.
    bare_quotes: bool,
}

/// The known column names, as the importer spells them.
fn names() -> Vec<&'static str> {
    crate::input::Column::ALL.iter().map(|c| c.name()).collect()
}

/// A cell's text. Windows-1252 files only get characters of that code page
/// whose bytes cannot be read as UTF-8 (so the file is unambiguous).
fn cell(encoding: Encoding) -> BoxedStrategy<String> {
    let common = vec![
        'a', 'Z', '0', '9', '.', '-', '_', '@', '+', ' ', ' ', '"', ',', ';', '\t', '\n', '\r',
        '\'',
    ];
    let extra: Vec<char> = if encoding == Encoding::Windows1252 {
        vec!['é', 'ë', 'ü', 'ç', 'ñ', 'Ø', 'Ü', 'ß']
    } else {
        vec![
            'é', 'ß', '€', 'Ω', '😀', '\u{a0}', '\u{feff}', '中', '\u{301}', '\0',
        ]
    };
    let chars: Vec<char> = common.into_iter().chain(extra).collect();
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(chars), 0..10)
            .prop_map(|v| v.into_iter().collect::<String>()),
        1 => prop::sample::select(vec![
            "", "jon", "jon@westeros.com", "+15145550101", "FR", "Paris", "Winterfell",
            "  padded  ", "Pass-w0rd",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

fn header_name(name: &'static str, style: u8) -> String {
    match style % 4 {
        0 => name.to_owned(),
        1 => name.to_uppercase(),
        2 => format!(" {name} "),
        _ => {
            let mut c = name.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// A header row: known columns in any spelling (the required ones or not),
/// a few unknown or unnamed ones, shuffled.
fn header_names() -> impl Strategy<Value = Vec<String>> {
    (
        prop::sample::subsequence(names(), 0..=names().len()),
        prop::collection::vec(
            prop::sample::select(vec!["frist_name", "Department", "", "e-mail", "Notes"]),
            0..3,
        ),
        prop::collection::vec(any::<u8>(), names().len() + 3),
        any::<bool>(),
    )
        .prop_flat_map(|(known, unknown, styles, required)| {
            let mut known = known;
            if required {
                for must in ["username", "email", "password"] {
                    if !known.contains(&must) {
                        known.push(must);
                    }
                }
            }
            let mut unknown = unknown;
            unknown.dedup();
            let mut names: Vec<String> = known
                .iter()
                .zip(&styles)
                .map(|(n, s)| header_name(n, *s))
                .collect();
            names.extend(unknown.iter().map(std::string::ToString::to_string));
            for fill in ["username", "email"] {
                if names.len() < 2 && !names.iter().any(|n| n.trim().eq_ignore_ascii_case(fill)) {
                    names.push(fill.to_owned());
                }
            }
            Just(names).prop_shuffle()
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    let encoding = prop::sample::select(vec![
        Encoding::Utf8,
        Encoding::Utf8Bom,
        Encoding::Windows1252,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
        Encoding::Utf16LeBare,
    ]);
    let columns = header_names();
    (
        encoding,
        columns,
        prop::sample::select(vec![b',', b';', b'\t']),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        any::<bool>(),
        prop::sample::select(MODES.to_vec()),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |(
                encoding,
                header,
                delimiter,
                line_end,
                final_line_end,
                mode,
                leading_blank,
                quote_all,
                bare_quotes,
            )| {
                let width = header.len();
                let row = prop_oneof![
                    1 => Just(None),
                    6 => prop_oneof![
                        8 => Just(width),
                        1 => Just(width + 1),
                        1 => Just(width.saturating_sub(1).max(1)),
                    ]
                    .prop_flat_map(move |n| prop::collection::vec(cell(encoding), n))
                    .prop_map(Some),
                ];
                (Just(header), prop::collection::vec(row, 0..8)).prop_map(move |(header, rows)| {
                    Shape {
                        header,
                        rows,
                        leading_blank,
                        delimiter,
                        line_end,
                        final_line_end,
                        encoding,
                        mode,
                        quote_all,
                        bare_quotes,
                    }
                })
            },
        )
}

impl Shape {
    fn quote(&self, cell: &str) -> String {
        let d = self.delimiter as char;
        let bare_ok = self.bare_quotes && !cell.starts_with('"');
        let needs = cell.contains(['\r', '\n', d]) || (cell.contains('"') && !bare_ok);
        if needs || (self.quote_all && !cell.is_empty()) {
            format!("\"{}\"", cell.replace('"', "\"\""))
        } else {
            cell.to_owned()
        }
    }

    fn line(&self, cells: &[String]) -> String {
        let d = (self.delimiter as char).to_string();
        cells
            .iter()
            .map(|c| self.quote(c))
            .collect::<Vec<_>>()
            .join(&d)
    }

    fn text(&self) -> String {
        let mut lines = vec![String::new(); self.leading_blank];
        lines.push(self.line(&self.header));
        for r in &self.rows {
            lines.push(r.as_ref().map(|c| self.line(c)).unwrap_or_default());
        }
        let mut text = lines.join(self.line_end);
        if self.final_line_end {
            text.push_str(self.line_end);
        }
        text
    }

    fn bytes(&self) -> Vec<u8> {
        let text = self.text();
        match self.encoding {
            Encoding::Utf8 => text.into_bytes(),
            Encoding::Utf8Bom => [&b"\xef\xbb\xbf"[..], text.as_bytes()].concat(),
            Encoding::Windows1252 => {
                let (b, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
                assert!(!unmappable);
                b.into_owned()
            }
            Encoding::Utf16Le => [0xff, 0xfe]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                .collect(),
            Encoding::Utf16Be => [0xfe, 0xff]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
                .collect(),
            Encoding::Utf16LeBare => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        }
    }

    fn header_ok(&self) -> bool {
        let has = |n: &str| self.header.iter().any(|h| h.trim().eq_ignore_ascii_case(n));
        has("username") && has("email") && (self.mode != PasswordMode::Manual || has("password"))
    }

    /// `(line, cells)` of the rows a reader must give: blank rows and rows of
    /// only spaces are not users, but every row counts. A row holding a NUL
    /// is not blank: it is given, to be reported.
    fn expected(&self) -> Vec<(u64, Vec<String>)> {
        let header_line = self.leading_blank as u64 + 1;
        self.rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let cells = r.as_ref()?;
                let blank = cells
                    .iter()
                    .all(|c| c.bytes().all(|b| b.is_ascii_whitespace()));
                (!blank).then(|| (header_line + 1 + i as u64, cells.clone()))
            })
            .collect()
    }
}

proptest! {
    #[test]
    fn well_formed_csv_reads_back_exactly(shape in shape()) {
        let bytes = shape.bytes();
        let got = read_all(bytes, shape.mode);
        if !shape.header_ok() {
            let e = got.expect_err("a header without the required columns was accepted");
            prop_assert!(e.to_string().contains("column"), "{}", e);
            return Ok(());
        }
        let got = got.map_err(|e| TestCaseError::fail(format!("{e}\n{:?}", shape.text())))?;
        prop_assert_eq!(got.error, None);
        prop_assert_eq!(got.header.len(), shape.header.len());
        let names: Vec<String> = shape.header.clone();
        prop_assert_eq!(&got.header.names, &names);
        let windows = got.warnings.iter().filter(|w| w.contains("Windows-1252")).count();
        prop_assert_eq!(windows, 0, "the header is ASCII: {:?}", got.warnings);
        let want = shape.expected();
        prop_assert_eq!(&got.records, &want, "{:?}", shape.text());
        // A row of the wrong width fails for that, and only for that.
        for ((line, fields), verdict) in got.records.iter().zip(&got.verdicts) {
            if fields.len() != shape.header.len() {
                let e = verdict.as_ref().expect_err("a ragged row passed");
                prop_assert!(
                    e.starts_with(&format!("has {} cells but the header has {} columns", fields.len(), shape.header.len())),
                    "line {}: {}", line, e
                );
            }
        }
        // Exactly one warning for a Windows-1252 file with accents in its rows.
        let accents = shape.encoding == Encoding::Windows1252
            && want.iter().any(|(_, cells)| cells.iter().any(|c| !c.is_ascii()));
        prop_assert_eq!(got.first_windows_1252, usize::from(accents));
    }
}
