//! Real-world CSV files and config files and their mistakes: a corpus of
//! fixtures (`tests/fixtures/corpus/`), each run through the real binary
//! against the sandbox portal, with what must be printed, the exit code and
//! what the portal must (not) have received.
//!
//! Each case is its own test, `corpus::<case>`: `cargo test --test corpus
//! corpus::empty_file` runs one; a failing case is reported by its name and
//! the others still run. `every_fixture_is_used_and_none_is_missing` checks
//! that the cases and the fixture folder agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");

/// Where the CSV comes from.
#[derive(Clone, Copy)]
enum Csv {
    /// A file of the corpus.
    File(&'static str),
    /// Bytes made by the test (binary content), written under this name.
    Bytes(&'static str, fn() -> Vec<u8>),
    /// Bytes made by the test, on standard input (`-`).
    Stdin(fn() -> Vec<u8>),
    /// A path where nothing exists.
    Missing,
    /// A path that is a directory.
    Directory,
}

/// Which config the run gets.
#[derive(Clone, Copy)]
enum Cfg {
    /// A good config pointing at the sandbox, with this `password_setup_mode`.
    Mode(&'static str),
    /// A file of the corpus; `@ENDPOINT@` and `@TOKEN@` are replaced by the sandbox's.
    File(&'static str),
    /// A path where nothing exists.
    Missing,
    /// A path that is a directory.
    Directory,
}

struct Case {
    csv: Csv,
    config: Cfg,
    args: &'static [&'static str],
    code: i32,
    stdout: &'static [&'static str],
    stderr: &'static [&'static str],
    /// Must not appear on stdout nor stderr.
    absent: &'static [&'static str],
    /// Exact number of stdout lines (one per data row).
    lines: Option<usize>,
    /// Exact number of POSTs the sandbox received.
    posts: Option<usize>,
    /// Exact number of requests of any kind the sandbox received.
    requests: Option<usize>,
    /// The usernames created, in any order.
    created: Option<&'static [&'static str]>,
    /// Anything else.
    check: fn(&Sandbox, &Output),
}

fn no_check(_: &Sandbox, _: &Output) {}

const BASE: Case = Case {
    csv: Csv::File("header_only.csv"),
    config: Cfg::Mode("manual"),
    args: &[],
    code: 0,
    stdout: &[],
    stderr: &[],
    absent: &[],
    lines: None,
    posts: None,
    requests: None,
    created: None,
    check: no_check,
};

/// Nothing reached the portal, not even the lookups.
const NOTHING: Option<usize> = Some(0);

/// Makes, for each `name: Case { .. }`, the test `corpus::name` (so that
/// `cargo test --test corpus corpus::name` runs that case alone, and a failing
/// case is reported by its name while the others still run), the function
/// `cases::name` that builds the case, and `all_cases()` listing every case.
macro_rules! corpus {
    ($($(#[doc = $doc:literal])* $name:ident: $case:expr,)*) => {
        /// One test per case of the corpus.
        mod corpus {
            use super::*;
            $(
                $(#[doc = $doc])*
                #[test]
                fn $name() {
                    let bad = run_case(stringify!($name), &cases::$name());
                    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
                }
            )*
        }

        /// Each case, built by a function of its name.
        mod cases {
            use super::*;
            $(
                pub(super) fn $name() -> Case {
                    $case
                }
            )*
        }

        /// Every case, with its name.
        fn all_cases() -> Vec<(&'static str, Case)> {
            vec![$((stringify!($name), cases::$name())),*]
        }
    };
}

corpus! {
    // ---- Structure of the file --------------------------------------
    /// empty file
    empty_file: Case {
        csv: Csv::File("empty.csv"),
        code: 2,
        stderr: &["empty.csv is empty", "header row"],
        lines: Some(0),
        requests: NOTHING,
        ..BASE
    },
    /// CSV file missing
    csv_file_missing: Case {
        csv: Csv::Missing,
        code: 2,
        stderr: &["no-such-users.csv does not exist"],
        requests: NOTHING,
        ..BASE
    },
    /// CSV path is a directory
    csv_path_is_a_directory: Case {
        csv: Csv::Directory,
        code: 2,
        stderr: &["users.d is a directory"],
        requests: NOTHING,
        ..BASE
    },
    /// header only
    header_only: Case {
        csv: Csv::File("header_only.csv"),
        code: 0,
        stderr: &["0 rows"],
        lines: Some(0),
        posts: Some(0),
        ..BASE
    },
    /// binary garbage
    binary_garbage: Case {
        csv: Csv::Bytes("garbage.csv", garbage),
        code: 2,
        // Named as what it is, and not echoed.
        stderr: &["garbage.csv is not a CSV file: it is a PNG image"],
        absent: &["header row found"],
        lines: Some(0),
        requests: NOTHING,
        ..BASE
    },
    /// good header, binary garbage rows
    good_header_binary_garbage_rows: Case {
        csv: Csv::Bytes("garbage_rows.csv", garbage_rows),
        code: 1,
        // Garbage rows are named by their line, never echoed.
        stdout: &["line 2... Failed: "],
        posts: Some(0),
        ..BASE
    },
    /// missing email column
    missing_email_column: Case {
        csv: Csv::File("missing_email_column.csv"),
        code: 2,
        stderr: &[
            "line 1:",
            "has no \"email\" column",
            "\"username\", \"first_name\", \"password\"",
        ],
        lines: Some(0),
        requests: NOTHING,
        ..BASE
    },
    /// missing password column in manual mode
    missing_password_column_in_manual_mode: Case {
        csv: Csv::File("missing_password_column.csv"),
        code: 2,
        stderr: &["has no \"password\" column", "manual"],
        requests: NOTHING,
        ..BASE
    },
    /// no password column is fine in random mode
    no_password_column_is_fine_in_random_mode: Case {
        csv: Csv::File("missing_password_column.csv"),
        config: Cfg::Mode("random"),
        stdout: &["jon@westeros.com... Success\n"],
        created: Some(&["jon"]),
        ..BASE
    },
    /// duplicate header column
    duplicate_header_column: Case {
        csv: Csv::File("duplicate_header_column.csv"),
        code: 2,
        stderr: &["line 1:", "\"email\" twice (columns 2 and 4)"],
        requests: NOTHING,
        ..BASE
    },
    /// ragged rows fail alone, later rows import
    ragged_rows_fail_alone_later_rows_import: Case {
        csv: Csv::File("ragged_rows.csv"),
        args: &["-c", "1"],
        code: 1,
        stdout: &[
            // Named by the line only: the cell at the e-mail's place may be anything.
            "line 3... Failed: has 4 cells but the header has 3 columns",
            "line 5... Failed: has 2 cells but the header has 3 columns",
            "sansa@westeros.com... Success\n",
            "arya@westeros.com... Success\n",
            "rickon@westeros.com... Success\n",
        ],
        stderr: &["5 rows: 3 created, 0 skipped, 2 failed"],
        lines: Some(5),
        posts: Some(3),
        created: Some(&["sansa", "arya", "rickon"]),
        ..BASE
    },
    /// unclosed quote
    unclosed_quote: Case {
        csv: Csv::File("unclosed_quote.csv"),
        // The quote swallows the rest of the file into one cell: the
        // reading stops there, saying where the quote opened, instead
        // of creating "jon" with the next rows as his first name.
        // Found before anything is sent.
        code: 2,
        stderr: &[
            "unclosed_quote.csv, line 3: cannot read further: a quote (\") opens column 4 and is never closed",
            "(3 more lines)",
            "Nothing was sent",
        ],
        requests: NOTHING,
        ..BASE
    },
    /// a quote never closed, on standard input
    a_quote_never_closed_on_standard_input: Case {
        csv: Csv::Stdin(|| {
            std::fs::read("tests/fixtures/corpus/unclosed_quote.csv").unwrap()
        }),
        // A stream cannot be read twice: the rows before it are sent.
        code: 2,
        stderr: &[
            "standard input, line 3: cannot read further: a quote (\") opens column 4 and is never closed",
            "1 row: 1 created",
        ],
        created: Some(&["sansa"]),
        ..BASE
    },
    /// blank lines count as spreadsheet rows
    blank_lines_count_as_spreadsheet_rows: Case {
        csv: Csv::File("blank_lines.csv"),
        code: 1,
        stdout: &["bad-email... Failed: line 7: email does not appear to be valid"],
        lines: Some(3),
        created: Some(&["jon", "arya"]),
        ..BASE
    },
    /// a row longer than any user (a file that is not CSV)
    a_row_longer_than_any_user: Case {
        csv: Csv::Bytes("huge.csv", huge_row),
        code: 2,
        stderr: &[
            "huge.csv, line 3: cannot read further: this row is longer than 1 MiB",
            "Nothing was sent",
        ],
        requests: NOTHING,
        ..BASE
    },
    /// blank lines and a row of delimiters above a semicolon header
    blank_lines_and_delimiters_above_a_semicolon_header: Case {
        csv: Csv::File("blank_lines_before_header.csv"),
        code: 1,
        stdout: &["bad-email... Failed: line 6: email does not appear to be valid"],
        absent: &["unknown column"],
        created: Some(&["jon"]),
        check: |sb, _| assert_eq!(sb.created()[0]["city"], "Castle Black, The Wall"),
        ..BASE
    },
    /// old Mac line ends (CR alone)
    old_mac_line_ends: Case {
        csv: Csv::File("mac_cr_line_ends.csv"),
        code: 1,
        stdout: &["bad-email... Failed: line 4: email does not appear to be valid"],
        created: Some(&["jon"]),
        ..BASE
    },
    /// a required column misspelt
    a_required_column_misspelt: Case {
        csv: Csv::File("header_typo_email.csv"),
        code: 2,
        stderr: &[
            "line 1: the header row has no \"email\" column; the column \"E-mail\" may be meant as \"email\": rename it",
        ],
        requests: NOTHING,
        ..BASE
    },
    /// JSON lines carry the spreadsheet line too
    json_lines_carry_the_spreadsheet_line_too: Case {
        csv: Csv::File("blank_lines.csv"),
        args: &["--output", "json"],
        code: 1,
        stdout: &[r#"{"line":7,"username":"bad","email":"bad-email","status":"failed""#],
        lines: Some(3),
        ..BASE
    },
    // ---- Spreadsheet dialects ---------------------------------------
    /// UTF-8 BOM and capitalised headers with spaces
    utf8_bom_and_capitalised_headers_with_spaces: Case {
        csv: Csv::File("bom_capitalised_headers.csv"),
        stdout: &["jon@westeros.com... Success\n"],
        absent: &["unknown column", "warning"],
        check: |sb, _| {
            let u = &sb.created()[0];
            assert_eq!(u["first_name"], "Jon");
            assert_eq!(u["last_name"], "Snow");
        },
        created: Some(&["jon"]),
        ..BASE
    },
    /// UTF-8 BOM before a quoted header (PowerShell Export-Csv)
    utf8_bom_before_a_quoted_header: Case {
        csv: Csv::File("bom_quoted_headers.csv"),
        stdout: &["jon@westeros.com... Success\n"],
        absent: &["unknown column", "warning"],
        created: Some(&["jon"]),
        check: |sb, _| assert_eq!(sb.created()[0]["first_name"], "Jon"),
        ..BASE
    },
    /// semicolon-delimited
    semicolon_delimited: Case {
        csv: Csv::File("semicolon.csv"),
        lines: Some(2),
        created: Some(&["jon", "arya"]),
        check: |sb, _| {
            let c = created_by_username(sb);
            assert_eq!(c["jon"]["address"], "Castle Black, The Wall");
            assert_eq!(c["arya"]["address"], "Braavos; House of Black and White");
        },
        ..BASE
    },
    /// Excel's sep= line
    excel_sep_line: Case {
        csv: Csv::File("excel_sep_line.csv"),
        code: 1,
        // Excel hides that line: the header is row 1.
        stdout: &["bad-email... Failed: line 3: email does not appear to be valid"],
        absent: &["unknown column"],
        created: Some(&["jon"]),
        check: |sb, _| assert_eq!(sb.created()[0]["city"], "Castle Black, The Wall"),
        ..BASE
    },
    /// tab-delimited
    tab_delimited: Case {
        csv: Csv::File("tab_delimited.tsv"),
        lines: Some(2),
        created: Some(&["jon", "arya"]),
        check: |sb, _| {
            let c = created_by_username(sb);
            assert_eq!(c["jon"]["city"], "Castle Black, The Wall");
        },
        ..BASE
    },
    /// Windows-1252 accents
    windows_1252_accents: Case {
        csv: Csv::Bytes("windows1252.csv", windows_1252),
        stderr: &["Windows-1252"],
        lines: Some(3),
        created: Some(&["zoe", "francois", "jose"]),
        check: |sb, out| {
            let c = created_by_username(sb);
            assert_eq!(c["zoe"]["first_name"], "Zoë");
            assert_eq!(c["zoe"]["last_name"], "Müller");
            assert_eq!(c["francois"]["first_name"], "François");
            assert_eq!(c["francois"]["city"], "Montréal");
            assert_eq!(c["jose"]["job_title"], "Señor €uro");
            let err = stderr_of(out);
            assert_eq!(err.matches("Windows-1252").count(), 1, "{err}");
        },
        ..BASE
    },
    /// Windows-1252 on standard input
    windows_1252_on_standard_input: Case {
        csv: Csv::Stdin(windows_1252),
        stderr: &[
            "standard input, line 2: the file is not UTF-8; reading it as Windows-1252",
        ],
        created: Some(&["zoe", "francois", "jose"]),
        check: |sb, out| {
            assert_eq!(created_by_username(sb)["francois"]["last_name"], "Bérubé");
            assert_eq!(stderr_of(out).matches("Windows-1252").count(), 1);
        },
        ..BASE
    },
    /// UTF-16 (Excel "Unicode Text")
    utf16_excel_unicode_text: Case {
        csv: Csv::Bytes("utf16.txt", utf16),
        absent: &["Windows-1252", "warning"],
        created: Some(&["zoe"]),
        check: |sb, _| assert_eq!(sb.created()[0]["first_name"], "Zoë"),
        ..BASE
    },
    /// UTF-16 big-endian without a byte-order mark
    utf16_big_endian_without_a_byte_order_mark: Case {
        csv: Csv::Bytes("utf16be.txt", utf16_be_bare),
        absent: &["Windows-1252", "warning"],
        created: Some(&["zoe"]),
        check: |sb, _| assert_eq!(sb.created()[0]["first_name"], "Zoë"),
        ..BASE
    },
    /// CRLF line ends
    crlf_line_ends: Case {
        csv: Csv::File("crlf.csv"),
        created: Some(&["jon", "arya"]),
        check: |sb, _| {
            let c = created_by_username(sb);
            assert_eq!(c["jon"]["last_name"], "Snow");
            assert_eq!(c["arya"]["last_name"], "Stark");
            assert_eq!(c["arya"]["password"], "Needle-5678");
        },
        ..BASE
    },
    /// quoted fields with newlines do not shift line numbers
    quoted_fields_with_newlines_do_not_shift_line_numbers: Case {
        csv: Csv::File("embedded_newlines.csv"),
        code: 1,
        stdout: &["not-an-email... Failed: line 5: email does not appear to be valid"],
        lines: Some(5),
        created: Some(&["jon", "arya", "sansa", "bran"]),
        check: |sb, _| {
            let c = created_by_username(sb);
            assert_eq!(c["jon"]["address"], "Castle Black\nThe Wall");
            assert_eq!(
                c["arya"]["address"],
                "House of Black and White\nBraavos\nFree Cities"
            );
        },
        ..BASE
    },
    /// surrounding whitespace is trimmed
    surrounding_whitespace_is_trimmed: Case {
        csv: Csv::File("whitespace_cells.csv"),
        stdout: &["jon@westeros.com... Success\n"],
        created: Some(&["jon"]),
        check: |sb, _| {
            let u = &sb.created()[0];
            assert_eq!(u["email"], "jon@westeros.com");
            assert_eq!(u["password"], "Ghost-1234");
            assert_eq!(u["first_name"], "Jon");
        },
        ..BASE
    },
    /// unknown column with a typo
    unknown_column_with_a_typo: Case {
        csv: Csv::File("unknown_column_typo.csv"),
        stderr: &[
            "unknown column \"frist_name\" is ignored (not sent) (did you mean \"first_name\"?)",
            "unknown column \"department\"",
        ],
        created: Some(&["jon"]),
        check: |sb, _| {
            let u = sb.created()[0].clone();
            assert!(
                u.get("first_name").is_none() && u.get("frist_name").is_none(),
                "{u}"
            );
            assert!(u.get("department").is_none(), "{u}");
        },
        ..BASE
    },
    // ---- Row rules --------------------------------------------------
    /// duplicate username and email in the file
    duplicate_username_and_email_in_the_file: Case {
        csv: Csv::File("duplicates.csv"),
        args: &["-c", "1"],
        code: 1,
        stdout: &[
            "other@westeros.com... Failed: line 4: duplicate of line 2",
            "ARYA@Westeros.com... Failed: line 5: duplicate of line 3",
        ],
        posts: Some(3),
        created: Some(&["jon", "arya", "sansa"]),
        ..BASE
    },
    /// username characters
    username_characters: Case {
        csv: Csv::File("bad_username.csv"),
        code: 1,
        stdout: &[
            "jon@westeros.com... Failed: line 2: username \"jon snow\" has the character \" \" (a space)",
            "jon2@westeros.com... Failed: line 3: username \"jon@snow\" has the character \"@\"",
            "zoe@westeros.com... Failed: line 4: username \"zoë\" has the character \"ë\"",
            "nobody@westeros.com... Failed: line 5: username is empty",
            "arya@westeros.com... Success",
        ],
        posts: Some(1),
        created: Some(&["arya.stark_2-x"]),
        ..BASE
    },
    /// email shapes
    email_shapes: Case {
        csv: Csv::File("bad_email.csv"),
        code: 1,
        stdout: &[
            "plainaddress... Failed: line 2: email does not appear to be valid",
            "a2@westeros... Failed: line 3: email does not appear to be valid",
            "a3@@westeros.com... Failed: line 4: email does not appear to be valid",
            "a4 stark@westeros.com... Failed: line 5: email does not appear to be valid",
            "a5... Failed: line 6: email is empty",
            "a6@westeros.com... Success",
        ],
        posts: Some(1),
        ..BASE
    },
    /// missing password in manual mode
    missing_password_in_manual_mode: Case {
        csv: Csv::File("missing_password.csv"),
        code: 1,
        stdout: &[
            "jon@westeros.com... Failed: line 2: password is empty",
            "sansa@westeros.com... Failed: line 4: password is empty",
            "arya@westeros.com... Success",
        ],
        posts: Some(1),
        ..BASE
    },
    /// fax number not E.164
    fax_number_not_e164: Case {
        csv: Csv::File("bad_fax.csv"),
        code: 1,
        stdout: &[
            "f1@westeros.com... Failed: line 2: fax_number \"5145550101\" is not in E.164 form",
            "f2@westeros.com... Failed: line 3: fax_number \"+1 514 555 0101\" is not in E.164 form",
            "f3@westeros.com... Failed: line 4: fax_number",
            "f4@westeros.com... Failed: line 5: fax_number",
            "f5@westeros.com... Success",
        ],
        created: Some(&["f5"]),
        check: |sb, _| {
            let u = &sb.created()[0];
            assert_eq!(u["selected_fax_number"], "501", "the id as the portal gave it");
            assert_eq!(u["fax_number_type"], "selected");
        },
        ..BASE
    },
    /// language not en/fr/de
    language_not_en_fr_de: Case {
        csv: Csv::File("bad_language.csv"),
        code: 1,
        stdout: &[
            "l1@westeros.com... Failed: line 2: language \"es\" is not one of en, fr, de",
            "l2@westeros.com... Failed: line 3: language \"english\" is not one of en, fr, de",
            "l3@westeros.com... Success",
        ],
        created: Some(&["l3"]),
        check: |sb, _| assert_eq!(sb.created()[0]["language"], "de"),
        ..BASE
    },
    /// unknown time zone, with a suggestion
    unknown_time_zone_with_a_suggestion: Case {
        csv: Csv::File("bad_timezone.csv"),
        code: 1,
        stdout: &[
            "t1@westeros.com... Failed: line 2: time_zone \"Pariss\" is not a time zone the portal knows (did you mean \"Paris\"?)",
            "t2@westeros.com... Failed: line 3: time_zone \"Mars/Olympus\" is not a time zone",
            "t3@westeros.com... Success",
            // What most systems call it: the suggestion is the Rails name.
            "t4@westeros.com... Failed: line 5: time_zone \"America/New_York\" is not a time zone the portal knows (did you mean \"Eastern Time (US & Canada)\"?)",
        ],
        created: Some(&["t3"]),
        check: |sb, _| {
            assert_eq!(sb.created()[0]["time_zone"], "Eastern Time (US & Canada)");
        },
        ..BASE
    },
    // ---- Config files -----------------------------------------------
    /// config: invalid JSON names line and column
    config_invalid_json_names_line_and_column: Case {
        config: Cfg::File("config_invalid_json.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["config.json, line 4, column 1: invalid JSON: trailing comma"],
        lines: Some(0),
        requests: NOTHING,
        ..BASE
    },
    /// config and CSV swapped on the command line
    config_and_csv_swapped_on_the_command_line: Case {
        config: Cfg::File("crlf.csv"),
        csv: Csv::File("config_bom_crlf.json"),
        code: 2,
        stderr: &[
            "config.json, line 1, column 1: invalid JSON",
            "looks like the users CSV: the config file comes first",
        ],
        requests: NOTHING,
        ..BASE
    },
    /// config: unknown `password_setup_mode`
    config_unknown_password_setup_mode: Case {
        config: Cfg::File("config_bad_mode.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &[
            "\"password_setup_mode\" is \"automatic\"",
            "\"manual\", \"user_choice\", \"random\"",
        ],
        requests: NOTHING,
        ..BASE
    },
    /// config: unknown keys warn with the closest key
    config_unknown_keys_warn_with_the_closest_key: Case {
        config: Cfg::File("config_unknown_key.json"),
        csv: Csv::File("crlf.csv"),
        stderr: &[
            "unknown key \"acess_token\" is ignored (did you mean \"access_token\"?)",
            "unknown key \"proxy\" is ignored",
        ],
        absent: &["did you mean \"password_setup_mode\""],
        created: Some(&["jon", "arya"]),
        ..BASE
    },
    /// config: empty file
    config_empty_file: Case {
        config: Cfg::File("config_empty.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["config.json is empty"],
        requests: NOTHING,
        ..BASE
    },
    /// config: missing file
    config_missing_file: Case {
        config: Cfg::Missing,
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["no-such-config.json", "does not exist"],
        requests: NOTHING,
        ..BASE
    },
    /// config: a directory
    config_a_directory: Case {
        config: Cfg::Directory,
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["config.d", "is a directory"],
        requests: NOTHING,
        ..BASE
    },
    /// config: http:// to a host that is not this machine
    config_http_to_a_host_that_is_not_this_machine: Case {
        config: Cfg::File("config_http_remote.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["http://portal.example.com", "unencrypted", "https://"],
        requests: NOTHING,
        ..BASE
    },
    /// config: not an object
    config_not_an_object: Case {
        config: Cfg::File("config_not_object.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["must hold a JSON object", "not a list"],
        requests: NOTHING,
        ..BASE
    },
    /// config: blank `enterprise_account`
    config_blank_enterprise_account: Case {
        config: Cfg::File("config_missing_account.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["\"enterprise_account\" is missing or empty"],
        requests: NOTHING,
        ..BASE
    },
    /// config: `access_token` is a number
    config_access_token_is_a_number: Case {
        config: Cfg::File("config_token_number.json"),
        csv: Csv::File("crlf.csv"),
        code: 2,
        stderr: &["\"access_token\" must be a string", "not a number"],
        absent: &["12345"],
        requests: NOTHING,
        ..BASE
    },
    /// config: BOM, CRLF and a trailing slash are fine
    config_bom_crlf_and_a_trailing_slash_are_fine: Case {
        config: Cfg::File("config_bom_crlf.json"),
        csv: Csv::File("crlf.csv"),
        absent: &["warning"],
        created: Some(&["jon", "arya"]),
        ..BASE
    },
}

/// Runs one case; returns what did not match.
fn run_case(name: &str, case: &Case) -> Vec<String> {
    let sb = Sandbox::start(SandboxConfig::default());
    let mode = match case.config {
        Cfg::Mode(m) => m,
        _ => "manual",
    };
    let mut ws = Workspace::new(&sb, mode);
    match case.config {
        Cfg::Mode(_) => {}
        Cfg::File(f) => {
            let text = std::fs::read_to_string(Path::new(CORPUS).join(f)).expect(f);
            let text = text
                .replace("@ENDPOINT@", &sb.url())
                .replace("@TOKEN@", sandbox::TOKEN);
            std::fs::write(&ws.config, text).unwrap();
        }
        Cfg::Missing => ws.config = ws.path("no-such-config.json"),
        Cfg::Directory => {
            let d = ws.path("config.d");
            std::fs::create_dir(&d).unwrap();
            ws.config = d;
        }
    }
    let (csv, stdin): (PathBuf, Vec<u8>) = match case.csv {
        Csv::File(f) => (
            ws.write(f, std::fs::read(Path::new(CORPUS).join(f)).expect(f)),
            Vec::new(),
        ),
        Csv::Bytes(f, make) => (ws.write(f, make()), Vec::new()),
        Csv::Stdin(make) => (PathBuf::from("-"), make()),
        Csv::Missing => (ws.path("no-such-users.csv"), Vec::new()),
        Csv::Directory => {
            std::fs::create_dir(ws.path("users.d")).unwrap();
            (ws.path("users.d"), Vec::new())
        }
    };
    let mut args = vec!["--no-progress", "--rate", "0"];
    args.extend_from_slice(case.args);
    let out = ws
        .cmd(&args, &csv)
        .write_stdin(stdin)
        .output()
        .expect("run the binary");
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));

    let mut bad = Vec::new();
    let code = out.status.code();
    if code != Some(case.code) {
        bad.push(format!("exit code {code:?}, expected {}", case.code));
    }
    for s in case.stdout {
        if !stdout.contains(s) {
            bad.push(format!("stdout lacks {s:?}"));
        }
    }
    for s in case.stderr {
        if !stderr.contains(s) {
            bad.push(format!("stderr lacks {s:?}"));
        }
    }
    // Never: a secret, a panic, a debug dump.
    let always_absent = [
        sandbox::TOKEN,
        "panicked",
        "RUST_BACKTRACE",
        "Ghost-1234",
        "Needle-5678",
    ];
    for s in case.absent.iter().chain(&always_absent) {
        if stdout.contains(s) || stderr.contains(s) {
            bad.push(format!("output holds {s:?}"));
        }
    }
    if let Some(n) = case.lines
        && stdout.lines().count() != n
    {
        bad.push(format!(
            "{} stdout lines, expected {n}",
            stdout.lines().count()
        ));
    }
    if let Some(n) = case.posts
        && sb.post_count() != n
    {
        bad.push(format!("{} POSTs, expected {n}", sb.post_count()));
    }
    if let Some(n) = case.requests
        && sb.received().len() != n
    {
        bad.push(format!("{} requests, expected {n}", sb.received().len()));
    }
    if let Some(names) = case.created {
        let got: BTreeSet<String> = sb
            .created()
            .iter()
            .map(|u| u["username"].as_str().unwrap_or_default().to_owned())
            .collect();
        let want: BTreeSet<String> = names.iter().map(std::string::ToString::to_string).collect();
        if got != want {
            bad.push(format!("created {got:?}, expected {want:?}"));
        }
        if sb.post_count() != names.len() {
            bad.push(format!(
                "{} POSTs for {} users",
                sb.post_count(),
                names.len()
            ));
        }
    }
    if bad.is_empty()
        && let Err(p) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.check)(&sb, &out)))
    {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                p.downcast_ref::<&str>()
                    .map(std::string::ToString::to_string)
            })
            .unwrap_or_default();
        bad.push(format!("check failed: {msg}"));
    }
    if !bad.is_empty() {
        bad.insert(
            0,
            format!("--- {name}\nstdout:\n{stdout}stderr:\n{stderr}problems:"),
        );
    }
    bad
}

/// Every fixture in `tests/fixtures/corpus/` is used by some case, and no
/// case names a fixture that is not there.
#[test]
fn every_fixture_is_used_and_none_is_missing() {
    let cases = all_cases();
    // At least one fixture file per case that uses one, and no fixture unused.
    let mut used = BTreeSet::new();
    for (_, c) in &cases {
        if let Csv::File(f) = c.csv {
            used.insert(f.to_owned());
        }
        if let Cfg::File(f) = c.config {
            used.insert(f.to_owned());
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(used, on_disk, "fixtures used vs on disk");
}

/// Deterministic pseudo-random bytes (xorshift), every byte value likely.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

fn garbage() -> Vec<u8> {
    // A PNG signature, then noise: a file picked by mistake.
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.extend(noise(0x9e37_79b9_7f4a_7c15, 2048));
    v
}

fn garbage_rows() -> Vec<u8> {
    let mut v = b"username,email,password\n".to_vec();
    v.extend(noise(42, 2048));
    v
}

fn huge_row() -> Vec<u8> {
    let mut v = b"username,email,password\njon,jon@westeros.com,Ghost-1234\n".to_vec();
    v.extend(std::iter::repeat_n(b'x', 3 << 20));
    v
}

fn windows_1252() -> Vec<u8> {
    b"username,email,password,first_name,last_name,city,job_title\r\n\
      zoe,zoe@westeros.com,Password-1,Zo\xeb,M\xfcller,,\r\n\
      francois,francois@westeros.com,Password-2,Fran\xe7ois,B\xe9rub\xe9,Montr\xe9al,\r\n\
      jose,jose@westeros.com,Password-3,Jos\xe9,,,Se\xf1or \x80uro\r\n"
        .to_vec()
}

fn utf16() -> Vec<u8> {
    let text =
        "username\temail\tpassword\tfirst_name\r\nzoe\tzoe@westeros.com\tPassword-1\tZoë\r\n";
    let mut v = vec![0xff, 0xfe];
    for u in text.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

fn utf16_be_bare() -> Vec<u8> {
    let text = "username,email,password,first_name\nzoe,zoe@westeros.com,Password-1,Zoë\n";
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}
