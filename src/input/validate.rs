//! The row rules, checked before anything is sent: each failure is a sentence
//! that says what is wrong with which cell and how to fix it.

use super::columns::{Column, Header};
use super::timezones;
use super::{Record, seen::SeenTable};
use crate::config::PasswordMode;

/// What validation derives from a row, for the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub language: Option<&'static str>,
    pub time_zone: Option<&'static str>,
}

pub const LANGUAGES: [&str; 3] = ["en", "fr", "de"];

/// Checks one row against every rule; all problems are listed, joined by "; ".
pub fn validate(header: &Header, rec: &Record, mode: PasswordMode) -> Result<Checked, String> {
    let mut problems = Vec::new();
    if rec.fields.len() != header.len() {
        problems.push(format!(
            "has {} cells but the header has {} columns (a missing or extra delimiter, or an unclosed quote?)",
            rec.fields.len(),
            header.len()
        ));
        return Err(problems.join("; "));
    }
    let get = |c| rec.get(header, c);

    let username = get(Column::Username);
    if username.is_empty() {
        problems.push("username is empty".to_owned());
    } else if let Some(bad) = username
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        problems.push(format!(
            "username \"{username}\" has the character {}; only letters a-z, digits, \"-\", \"_\" and \".\" are allowed",
            describe_char(bad)
        ));
    }

    let email = get(Column::Email);
    if email.is_empty() {
        problems.push("email is empty".to_owned());
    } else if !plausible_email(email) {
        problems.push(format!("email does not appear to be valid (\"{email}\")"));
    }

    if mode == PasswordMode::Manual && get(Column::Password).is_empty() {
        problems.push(
            "password is empty (password_setup_mode is \"manual\": each row needs one)".to_owned(),
        );
    }

    let fax = get(Column::FaxNumber);
    if !fax.is_empty() && !is_e164(fax) {
        problems.push(format!(
            "fax_number \"{fax}\" is not in E.164 form: \"+\" then the country code and number, up to 15 digits, no spaces (e.g. +15145550123)"
        ));
    }

    let language = match get(Column::Language) {
        "" => None,
        l => match LANGUAGES.iter().find(|k| k.eq_ignore_ascii_case(l)) {
            Some(k) => Some(*k),
            None => {
                problems.push(format!("language \"{l}\" is not one of en, fr, de"));
                None
            }
        },
    };

    let time_zone = match get(Column::TimeZone) {
        "" => None,
        tz => match timezones::canonical(tz) {
            Some(c) => Some(c),
            None => {
                problems.push(format!(
                    "time_zone \"{tz}\" is not a time zone the portal knows{}; the README lists them",
                    timezones::did_you_mean(tz)
                ));
                None
            }
        },
    };

    if problems.is_empty() {
        Ok(Checked {
            language,
            time_zone,
        })
    } else {
        Err(problems.join("; "))
    }
}

/// Usernames and e-mails of the rows accepted so far.
#[derive(Default)]
pub struct Duplicates {
    usernames: SeenTable,
    emails: SeenTable,
}

impl Duplicates {
    pub fn with_capacity(rows: usize) -> Self {
        Duplicates {
            usernames: SeenTable::with_capacity(rows),
            emails: SeenTable::with_capacity(rows),
        }
    }

    /// Fails a row whose username or e-mail an earlier row already has;
    /// otherwise records both.
    pub fn check(&mut self, username: &str, email: &str, line: u64) -> Result<(), String> {
        if let Some(first) = self.usernames.get(username) {
            return Err(format!(
                "duplicate of line {first} (username \"{username}\" appears there too)"
            ));
        }
        if let Some(first) = self.emails.get(email) {
            return Err(format!(
                "duplicate of line {first} (email \"{email}\" appears there too)"
            ));
        }
        self.usernames.insert(username, line);
        self.emails.insert(email, line);
        Ok(())
    }
}

/// One `@`, something before it, a dot inside the domain, no spaces.
pub fn plausible_email(s: &str) -> bool {
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
pub fn is_e164(s: &str) -> bool {
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
        Record {
            line: 7,
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    const COLS: &str = "username,email,password,fax_number,language,time_zone";

    fn check(fields: &[&str]) -> Result<Checked, String> {
        validate(&header(COLS), &row(fields), PasswordMode::Manual)
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
    fn duplicates_name_the_first_line() {
        let mut d = Duplicates::default();
        assert!(d.check("Jon", "jon@w.com", 2).is_ok());
        assert!(d.check("arya", "arya@w.com", 3).is_ok());
        let e = d.check("JON", "other@w.com", 4).unwrap_err();
        assert!(e.starts_with("duplicate of line 2"), "{e}");
        let e = d.check("sansa", "ARYA@w.com", 5).unwrap_err();
        assert!(e.starts_with("duplicate of line 3"), "{e}");
    }
}
