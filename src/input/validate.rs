//! The row rules, checked before anything is sent: each failure is a sentence
//! that says what is wrong with which cell and how to fix it.

use super::columns::{Column, Header};
use super::timezones;
use super::{Record, seen::SeenTable};
use crate::config::PasswordMode;

/// What validation derives from a row, for the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) language: Option<&'static str>,
    pub(crate) time_zone: Option<&'static str>,
}

pub(crate) const LANGUAGES: [&str; 3] = ["en", "fr", "de"];

/// One thing wrong with a row, said so that the user can fix the cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Problem {
    #[error(
        "has {cells} cells but the header has {columns} columns (a missing or extra delimiter, or an unclosed quote?)"
    )]
    CellCount { cells: usize, columns: usize },
    #[error("username is empty")]
    EmptyUsername,
    #[error(
        "username \"{username}\" has the character {}; only letters a-z, digits, \"-\", \"_\" and \".\" are allowed",
        describe_char(*.character)
    )]
    UsernameCharacter { username: String, character: char },
    #[error("email is empty")]
    EmptyEmail,
    #[error("email does not appear to be valid (\"{0}\")")]
    Email(String),
    #[error("password is empty (password_setup_mode is \"manual\": each row needs one)")]
    EmptyPassword,
    #[error(
        "fax_number \"{0}\" is not in E.164 form: \"+\" then the country code and number, up to 15 digits, no spaces (e.g. +15145550123)"
    )]
    FaxNumber(String),
    #[error("language \"{0}\" is not one of en, fr, de")]
    Language(String),
    #[error(
        "time_zone \"{0}\" is not a time zone the portal knows{hint}; the README lists them",
        hint = timezones::did_you_mean(.0)
    )]
    TimeZone(String),
    #[error("{column} cannot be derived by \"{template}\": {why}")]
    Underivable {
        column: &'static str,
        template: String,
        why: super::derive::Underivable,
    },
    #[error("{problem} (derived by \"{template}\", which gave \"{value}\"{hint})")]
    Derived {
        template: String,
        value: String,
        hint: &'static str,
        problem: Box<Problem>,
    },
    #[error("duplicate of line {line} ({column} \"{value}\" appears there too)")]
    Duplicate {
        line: u64,
        column: &'static str,
        value: String,
    },
}

/// Everything wrong with a row, joined by "; ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub(crate) struct Invalid(pub(crate) Vec<Problem>);

impl From<Problem> for Invalid {
    fn from(p: Problem) -> Self {
        Invalid(vec![p])
    }
}

/// A row with the wrong number of cells: nothing in it can be trusted to be
/// in its column.
pub(crate) fn cell_count(header: &Header, rec: &Record) -> Result<(), Invalid> {
    if rec.fields.len() == header.len() {
        return Ok(());
    }
    Err(Problem::CellCount {
        cells: rec.fields.len(),
        columns: header.len(),
    }
    .into())
}

/// Checks one row of a user to create against every rule; all problems
/// are listed.
pub(crate) fn validate(
    header: &Header,
    rec: &Record,
    mode: PasswordMode,
) -> Result<Checked, Invalid> {
    cell_count(header, rec)?;
    let get = |c| rec.get(header, c);
    // A template that gave nothing is said once, not again as an empty cell.
    let said = |c| rec.underivable(c).is_some();
    let mut problems = underivable(header, rec);
    for col in [
        Column::Username,
        Column::Email,
        Column::Password,
        Column::FaxNumber,
        Column::Language,
        Column::TimeZone,
    ] {
        let value = get(col);
        let missing = match col {
            Column::Username if !said(col) => Some(Problem::EmptyUsername),
            Column::Email if !said(col) => Some(Problem::EmptyEmail),
            Column::Password if mode == PasswordMode::Manual && !header.generates_password => {
                Some(Problem::EmptyPassword)
            }
            _ => None,
        };
        problems.extend(if value.is_empty() {
            missing
        } else {
            rule(col, value)
        });
    }
    if problems.is_empty() {
        return Ok(canonical(header, rec));
    }
    Err(Invalid(
        problems
            .into_iter()
            .map(|p| with_template(p, header, rec))
            .collect(),
    ))
}

/// Checks only the cells of `columns` (what an update sends): the portal's
/// own values that stay as they are are not judged again.
pub(crate) fn validate_sent(
    header: &Header,
    rec: &Record,
    columns: &[Column],
) -> Result<(), Invalid> {
    let problems: Vec<Problem> = columns
        .iter()
        .filter_map(|&c| rule(c, rec.get(header, c)))
        .map(|p| with_template(p, header, rec))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid(problems))
    }
}

/// The row's language and time zone in their canonical form, where known.
pub(crate) fn canonical(header: &Header, rec: &Record) -> Checked {
    let language = rec.get(header, Column::Language);
    Checked {
        language: LANGUAGES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(language))
            .copied(),
        time_zone: timezones::canonical(rec.get(header, Column::TimeZone)),
    }
}

/// The rule of one non-empty cell, if it breaks it.
fn rule(col: Column, value: &str) -> Option<Problem> {
    if value.is_empty() {
        return None;
    }
    match col {
        Column::Username => value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map(|bad| Problem::UsernameCharacter {
                username: value.to_owned(),
                character: bad,
            }),
        Column::Email => (!plausible_email(value)).then(|| Problem::Email(value.to_owned())),
        Column::FaxNumber => (!is_e164(value)).then(|| Problem::FaxNumber(value.to_owned())),
        Column::Language => (!LANGUAGES.iter().any(|k| k.eq_ignore_ascii_case(value)))
            .then(|| Problem::Language(value.to_owned())),
        Column::TimeZone => timezones::canonical(value)
            .is_none()
            .then(|| Problem::TimeZone(value.to_owned())),
        _ => None,
    }
}

/// The templates that gave the row no value: said once each, and not again
/// as an empty cell.
fn underivable(header: &Header, rec: &Record) -> Vec<Problem> {
    header
        .derive
        .rules()
        .iter()
        .filter_map(|rule| {
            Some(Problem::Underivable {
                column: rule.column.name(),
                template: rule.template.source.clone(),
                why: rec.underivable(rule.column)?.clone(),
            })
        })
        .collect()
}

/// A problem with a derived value shows the template and what it gave.
fn with_template(problem: Problem, header: &Header, rec: &Record) -> Problem {
    let column = match &problem {
        Problem::UsernameCharacter { .. } => Column::Username,
        Problem::Email(_) => Column::Email,
        Problem::FaxNumber(_) => Column::FaxNumber,
        Problem::Language(_) => Column::Language,
        Problem::TimeZone(_) => Column::TimeZone,
        _ => return problem,
    };
    let Some(rule) = header
        .derive
        .rule(column)
        .filter(|_| rec.is_derived(column))
    else {
        return problem;
    };
    Problem::Derived {
        template: rule.template.source.clone(),
        value: rec.get(header, column).to_owned(),
        hint: if column == Column::Username && !rule.template.source.contains("slug") {
            "; end the template with |slug to keep only what a username may hold"
        } else {
            ""
        },
        problem: Box::new(problem),
    }
}

/// Usernames and e-mails of the rows accepted so far.
#[derive(Default)]
pub(crate) struct Duplicates {
    usernames: SeenTable,
    emails: SeenTable,
}

impl Duplicates {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Duplicates {
            usernames: SeenTable::with_capacity(rows),
            emails: SeenTable::with_capacity(rows),
        }
    }

    /// Fails a row whose username or e-mail an earlier row already has;
    /// otherwise records both. An empty value is no one's (a `delete` may
    /// name its users by one of the two).
    pub(crate) fn check(&mut self, username: &str, email: &str, line: u64) -> Result<(), Problem> {
        let duplicate = |line, column, value: &str| Problem::Duplicate {
            line,
            column,
            value: value.to_owned(),
        };
        let given = [
            ("username", username, &self.usernames),
            ("email", email, &self.emails),
        ];
        for (column, value, seen) in given {
            if !value.is_empty()
                && let Some(first) = seen.get(value)
            {
                return Err(duplicate(first, column, value));
            }
        }
        if !username.is_empty() {
            self.usernames.insert(username, line);
        }
        if !email.is_empty() {
            self.emails.insert(email, line);
        }
        Ok(())
    }
}

/// One `@`, something before it, a dot inside the domain, no spaces.
pub(crate) fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// `+`, a non-zero digit, then at most 14 more digits.
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "\" \" (a space)".to_owned(),
        '@' => "\"@\" (an e-mail address belongs in the email column)".to_owned(),
        c if c.is_control() => format!("U+{:04X} (a control character)", c as u32),
        c => format!("\"{c}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cols: &str) -> Header {
        Header::parse(
            cols.split(',').map(String::from).collect(),
            PasswordMode::Manual,
        )
        .unwrap()
        .0
    }

    fn row(fields: &[&str]) -> Record {
        Record::new(
            7,
            fields
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        )
    }

    const COLS: &str = "username,email,password,fax_number,language,time_zone";

    fn check(fields: &[&str]) -> Result<Checked, String> {
        validate(&header(COLS), &row(fields), PasswordMode::Manual).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_row_passes_and_normalises() {
        let c = check(&[
            "tirion",
            "t@westeros.com",
            "pw",
            "+15145550101",
            "FR",
            "eastern time (us & canada)",
        ])
        .unwrap();
        assert_eq!(c.language, Some("fr"));
        assert_eq!(c.time_zone, Some("Eastern Time (US & Canada)"));
        let c = check(&[" a.b-c_d ", "a@b.co", "p", "", "", ""]).unwrap();
        assert_eq!(
            c,
            Checked {
                language: None,
                time_zone: None
            }
        );
    }

    #[test]
    fn each_rule_fails_with_a_reason() {
        let cases: [(&[&str], &str); 10] = [
            (&["", "a@b.co", "p", "", "", ""], "username is empty"),
            (&["jo hn", "a@b.co", "p", "", "", ""], "a space"),
            (&["jo@hn", "a@b.co", "p", "", "", ""], "email column"),
            (
                &["a", "ab.co", "p", "", "", ""],
                "email does not appear to be valid",
            ),
            (
                &["a", "a@b", "p", "", "", ""],
                "email does not appear to be valid",
            ),
            (&["a", "", "p", "", "", ""], "email is empty"),
            (&["a", "a@b.co", "", "", "", ""], "password is empty"),
            (&["a", "a@b.co", "p", "+0123", "", ""], "E.164"),
            (&["a", "a@b.co", "p", "", "es", ""], "language \"es\""),
            (
                &["a", "a@b.co", "p", "", "", "Pariss"],
                "did you mean \"Paris\"",
            ),
        ];
        for (fields, want) in cases {
            let e = check(fields).unwrap_err();
            assert!(e.contains(want), "{fields:?}: {e}");
        }
    }

    #[test]
    fn several_problems_are_all_listed() {
        let e = check(&["", "bad", "", "", "", ""]).unwrap_err();
        assert_eq!(e.matches("; ").count(), 2, "{e}");
    }

    #[test]
    fn wrong_cell_count() {
        let e = check(&["a", "a@b.co"]).unwrap_err();
        assert!(
            e.contains("has 2 cells but the header has 6 columns"),
            "{e}"
        );
    }

    #[test]
    fn email_and_fax_shapes() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "x@y.z"] {
            assert!(plausible_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@@b.co", "a@b@c.co", "a b@c.co", "a@b.", "a@.b", "a@b..c",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
        for ok in ["+1", "+15145550101", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "15145550101",
            "+",
            "+0514",
            "+1234567890123456",
            "+1 514",
            "+1-514",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn an_empty_name_or_email_is_no_ones() {
        let mut d = Duplicates::default();
        assert!(d.check("", "arya@w.com", 2).is_ok());
        assert!(d.check("", "sansa@w.com", 3).is_ok());
        assert!(d.check("jon", "", 4).is_ok());
        assert!(d.check("bran", "", 5).is_ok());
        let e = d.check("", "ARYA@w.com", 6).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = d.check("JON", "", 7).unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn duplicates_name_the_first_line() {
        let mut d = Duplicates::default();
        assert!(d.check("Jon", "jon@w.com", 2).is_ok());
        assert!(d.check("arya", "arya@w.com", 3).is_ok());
        let e = d.check("JON", "other@w.com", 4).unwrap_err().to_string();
        assert!(e.starts_with("duplicate of line 2"), "{e}");
        let e = d.check("sansa", "ARYA@w.com", 5).unwrap_err().to_string();
        assert!(e.starts_with("duplicate of line 3"), "{e}");
    }

    /// A header read with these derivations, and a row of it with its values derived.
    fn derived(cols: &str, derive: &[&str], fields: &[&str]) -> (Header, Record) {
        let derive: Vec<String> = derive.iter().map(|s| (*s).to_owned()).collect();
        let reading = crate::input::Reading::build(&crate::input::mapping::Asked {
            need: PasswordMode::Manual.into(),
            config_columns: &[],
            config_derive: &[],
            cli_columns: &[],
            cli_derive: &derive,
            generate_passwords: true,
        })
        .unwrap();
        let h = Header::parse(cols.split(',').map(String::from).collect(), reading)
            .unwrap()
            .0;
        let mut r = row(fields);
        r.derive(&h);
        (h, r)
    }

    #[test]
    fn derived_values_fill_empty_cells_only() {
        let cols = "username,email,first_name,last_name";
        let rule = ["username={first_name}.{last_name}|slug"];
        let (h, r) = derived(cols, &rule, &["", "z@x.io", "Zoë", "O'Núñez"]);
        assert_eq!(r.get(&h, Column::Username), "zoe.onunez");
        assert!(r.is_derived(Column::Username));
        assert_eq!(
            r.cell(&h, Column::Username),
            "",
            "the file's cell is unchanged"
        );
        assert!(
            validate(&h, &r, PasswordMode::Manual).is_ok(),
            "the password is generated"
        );
        let (h, r) = derived(cols, &rule, &["zoe", "z@x.io", "Zoë", "Núñez"]);
        assert_eq!(r.get(&h, Column::Username), "zoe", "a cell given is kept");
        assert!(!r.is_derived(Column::Username));
        // Absent: the file has no username column at all.
        let (h, r) = derived(
            "email,first_name,last_name",
            &rule,
            &["z@x.io", "Ann Marie", "Åberg"],
        );
        assert_eq!(r.get(&h, Column::Username), "annmarie.aberg");
    }

    #[test]
    fn a_derived_value_that_breaks_the_rule_shows_its_template() {
        let cols = "username,email,first_name,last_name";
        let (h, r) = derived(
            cols,
            &["username={first_name}.{last_name}"],
            &["", "z@x.io", "Zoë", "Núñez"],
        );
        let e = validate(&h, &r, PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "username \"Zoë.Núñez\" has the character \"ë\"; only letters a-z, digits, \"-\", \
             \"_\" and \".\" are allowed (derived by \"{first_name}.{last_name}\", which gave \
             \"Zoë.Núñez\"; end the template with |slug to keep only what a username may hold)"
        );
        let (h, r) = derived(
            cols,
            &["username={first_name}.{last_name}|slug"],
            &["", "z@x.io", "Zoë", ""],
        );
        let e = validate(&h, &r, PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "username cannot be derived by \"{first_name}.{last_name}|slug\": last_name is empty"
        );
        let (h, r) = derived(cols, &["email={username}@acme"], &["zoe", "", "Zoë", "N"]);
        let e = validate(&h, &r, PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "email does not appear to be valid (\"zoe@acme\") (derived by \"{username}@acme\""
            ),
            "{e}"
        );
    }
}
