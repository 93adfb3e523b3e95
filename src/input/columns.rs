//! The CSV columns the importer knows, and the header row mapped onto them.

use std::sync::Arc;

use super::derive::Derivations;
use super::mapping::{ColumnMap, Reading};
use crate::config::PasswordMode;
use crate::suggest::{closest, did_you_mean};

/// A column of the users CSV, in the order the documentation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Username,
    Email,
    FirstName,
    LastName,
    Group,
    Password,
    FaxNumber,
    Salutation,
    JobTitle,
    CompanyName,
    Address,
    City,
    State,
    Country,
    ZipCode,
    PhoneNumber,
    MobileNumber,
    Language,
    TimeZone,
}

impl Column {
    pub(crate) const ALL: [Column; 19] = [
        Column::Username,
        Column::Email,
        Column::FirstName,
        Column::LastName,
        Column::Group,
        Column::Password,
        Column::FaxNumber,
        Column::Salutation,
        Column::JobTitle,
        Column::CompanyName,
        Column::Address,
        Column::City,
        Column::State,
        Column::Country,
        Column::ZipCode,
        Column::PhoneNumber,
        Column::MobileNumber,
        Column::Language,
        Column::TimeZone,
    ];

    /// Free text, sent as it is (omitted when empty).
    pub(crate) fn is_plain(self) -> bool {
        !matches!(
            self,
            Column::Username
                | Column::Email
                | Column::Group
                | Column::Password
                | Column::FaxNumber
                | Column::Language
                | Column::TimeZone
        )
    }

    /// A field an update may change: all but the username, the e-mail and
    /// the password.
    pub(crate) fn is_editable(self) -> bool {
        !matches!(self, Column::Username | Column::Email | Column::Password)
    }

    /// The header name, which is also the key sent to the portal for plain fields.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::Username => "username",
            Column::Email => "email",
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Group => "group",
            Column::Password => "password",
            Column::FaxNumber => "fax_number",
            Column::Salutation => "salutation",
            Column::JobTitle => "job_title",
            Column::CompanyName => "company_name",
            Column::Address => "address",
            Column::City => "city",
            Column::State => "state",
            Column::Country => "country",
            Column::ZipCode => "zip_code",
            Column::PhoneNumber => "phone_number",
            Column::MobileNumber => "mobile_number",
            Column::Language => "language",
            Column::TimeZone => "time_zone",
        }
    }

    pub(super) fn from_header(name: &str) -> Option<Column> {
        Column::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The header row: where each known column stands, and the names as written.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The header's cells, as read (for the failed-rows file).
    pub(crate) names: Vec<String>,
    positions: [Option<usize>; 19],
    /// The columns filled from others where a row's cell is empty.
    pub(crate) derive: Arc<Derivations>,
    /// A row without a password gets a generated one (`--generate-passwords`).
    pub(crate) generates_password: bool,
}

/// Why the header row is not usable.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// A required column is missing (the sentence says which, and what was found).
    #[error("{0}")]
    Missing(String),
    /// A column is named twice.
    #[error(
        "the header names the column \"{name}\" twice (columns {first} and {second}); keep one"
    )]
    Duplicate {
        /// The column.
        name: &'static str,
        /// Its 1-based positions.
        first: usize,
        /// The second one.
        second: usize,
    },
    /// A quote opened in the header is never closed.
    #[error("{0}")]
    Unclosed(super::stream::Unclosed),
    /// A mapping (`--column`, the config's `"columns"`) names a header the file lacks.
    #[error(
        "the header row has no column \"{header}\" (mapped to \"{column}\" by {origin}){closest}"
    )]
    Unmapped {
        /// The header the mapping names.
        header: String,
        /// The import column.
        column: &'static str,
        /// Where the mapping comes from.
        origin: &'static str,
        /// `; the closest header is "…"`.
        closest: String,
    },
    /// A template reads a column the file lacks.
    #[error(
        "the template for \"{column}\" (\"{template}\") reads {{{reads}}}, but the file has no \
         \"{reads}\" column; map one of its headers to it with --column '{reads}=HEADER'"
    )]
    Underivable {
        /// The derived column.
        column: &'static str,
        /// The template, as written.
        template: String,
        /// The column the template reads.
        reads: &'static str,
    },
}

/// Header warnings shown one by one; past them, the rest are counted.
const HEADER_WARNINGS_SHOWN: usize = 5;

/// The columns a file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Users to create: username, email, and a password in manual mode.
    Users(PasswordMode),
    /// Users to find (a deletion): a username or an email column suffices.
    Names,
}

impl From<PasswordMode> for Need {
    fn from(mode: PasswordMode) -> Need {
        Need::Users(mode)
    }
}

impl Header {
    /// Maps the header cells onto columns: case-insensitive, surrounding spaces
    /// and a byte-order mark ignored; a mapped header reads as its import
    /// column. Returns the warnings for unknown columns.
    pub(crate) fn parse(
        cells: Vec<String>,
        reading: impl Into<Reading>,
    ) -> Result<(Header, Vec<String>), HeaderError> {
        let reading = reading.into();
        let map = &reading.columns;
        let mut positions = [None; 19];
        let mut warnings = Vec::new();
        let mut ignored = 0u64;
        for (i, raw) in cells.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}').trim();
            let mapped = map.column_of(name);
            let own = Column::from_header(name);
            // The import's own name of a column mapped to another header.
            let displaced = own
                .filter(|_| mapped.is_none())
                .and_then(|c| Some((c, map.header_of(c)?)));
            if let Some((col, (header, origin))) = displaced {
                warnings.push(format!(
                    "column \"{}\" is ignored: \"{}\" is read from \"{header}\" ({origin})",
                    crate::sanitize::cut(name, 60),
                    col.name()
                ));
                continue;
            }
            match mapped.or(own) {
                Some(col) => {
                    if let Some(first) = positions[col.index()] {
                        return Err(HeaderError::Duplicate {
                            name: col.name(),
                            first: first + 1,
                            second: i + 1,
                        });
                    }
                    positions[col.index()] = Some(i);
                }
                None if warnings.len() >= HEADER_WARNINGS_SHOWN => ignored += 1,
                None if name.is_empty() => warnings.push(format!(
                    "column {} has no name in the header; its values are ignored",
                    i + 1
                )),
                None => warnings.push(format!(
                    "unknown column \"{}\" is ignored (not sent){}",
                    crate::sanitize::cut(name, 60),
                    did_you_mean(name, Column::ALL.iter().map(|c| c.name()))
                )),
            }
        }
        if ignored > 0 {
            warnings.push(format!(
                "{ignored} more unknown or unnamed column{} ignored (not sent)",
                if ignored == 1 { " is" } else { "s are" }
            ));
        }
        unmapped(&cells, map, &positions)?;
        let header = Header {
            names: cells,
            positions,
            derive: reading.derive.clone(),
            generates_password: reading.generate_passwords,
        };
        header.check_required(reading.need)?;
        Ok((header, warnings))
    }

    /// Each required column is in the file, or filled (derived, generated);
    /// each column a template reads is in the file.
    fn check_required(&self, need: Need) -> Result<(), HeaderError> {
        for rule in self.derive.rules() {
            if let Some(source) = rule
                .template
                .sources()
                .find(|s| self.position(s.column()).is_none())
            {
                return Err(HeaderError::Underivable {
                    column: rule.column.name(),
                    template: rule.template.source.clone(),
                    reads: source.column().name(),
                });
            }
        }
        let (required, mode) = match need {
            Need::Users(PasswordMode::Manual) => (
                vec![Column::Username, Column::Email, Column::Password],
                PasswordMode::Manual,
            ),
            Need::Users(mode) => (vec![Column::Username, Column::Email], mode),
            Need::Names => (vec![Column::Username, Column::Email], PasswordMode::Random),
        };
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|c| self.position(*c).is_none() && !self.is_filled(*c))
            .map(Column::name)
            .collect();
        let names_suffice = need == Need::Names && missing.len() < 2;
        if !missing.is_empty() && !names_suffice {
            return Err(missing_columns(&self.names, &missing, mode));
        }
        Ok(())
    }

    /// Whether rows get `col` without the file's cell: derived, or a generated password.
    fn is_filled(&self, col: Column) -> bool {
        self.derive.rule(col).is_some() || (col == Column::Password && self.generates_password)
    }

    pub(crate) fn position(&self, col: Column) -> Option<usize> {
        self.positions[col.index()]
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the cells of the file's column `i` are read (a known column).
    pub(crate) fn is_used(&self, i: usize) -> bool {
        self.positions.contains(&Some(i))
    }
}

/// A mapped header the file lacks: named, with the file's closest header.
fn unmapped(
    cells: &[String],
    map: &ColumnMap,
    positions: &[Option<usize>; 19],
) -> Result<(), HeaderError> {
    let Some((column, header, origin)) = map
        .entries()
        .find(|(c, _, _)| positions[c.index()].is_none())
    else {
        return Ok(());
    };
    let closest = cells
        .iter()
        .map(|c| c.trim_start_matches('\u{feff}').trim())
        .filter(|c| !c.is_empty())
        .map(|c| {
            (
                c,
                strsim::jaro_winkler(&c.to_lowercase(), &header.to_lowercase()),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| {
            format!(
                "; the closest header is \"{}\"",
                crate::sanitize::cut(c, 60)
            )
        })
        .unwrap_or_default();
    Err(HeaderError::Unmapped {
        header: header.to_owned(),
        column: column.name(),
        origin,
        closest,
    })
}

/// The error for a header without the `missing` columns: what is missing,
/// a column that is probably one of them misspelt, and what was found. A
/// first row holding an e-mail address is a user, not a header, and is not
/// echoed (the row may hold a password).
fn missing_columns(cells: &[String], missing: &[&str], mode: PasswordMode) -> HeaderError {
    let clean = |c: &'_ String| c.trim_start_matches('\u{feff}').trim().to_owned();
    if cells.iter().any(|c| c.contains('@')) {
        return HeaderError::Missing(format!(
            "the first row holds an e-mail address: it looks like a user, not a header \
             row. Add a header row naming the columns first, e.g. \
             username,email,first_name,last_name{}",
            if mode == PasswordMode::Manual {
                ",password"
            } else {
                ""
            }
        ));
    }
    let why = if missing.contains(&"password") {
        " (password_setup_mode is \"manual\", so each row needs a password)"
    } else {
        ""
    };
    let quoted: Vec<String> = missing.iter().map(|m| format!("\"{m}\"")).collect();
    let what = match quoted.as_slice() {
        [one] => format!("has no {one} column"),
        [init @ .., last] => format!(
            "is missing the required columns {} and {last}",
            init.join(", ")
        ),
        [] => String::new(),
    };
    // A column that is probably the missing one, misspelt ("E-mail").
    let hints: String = missing
        .iter()
        .filter_map(|m| {
            let cell = cells.iter().map(clean).find(|c| {
                Column::from_header(c).is_none()
                    && closest(c, Column::ALL.iter().map(|c| c.name())) == Some(*m)
            })?;
            Some(format!(
                "; the column \"{cell}\" may be meant as \"{m}\": rename it"
            ))
        })
        .collect();
    let found: Vec<String> = cells
        .iter()
        .take(8)
        .map(|c| format!("\"{}\"", clean(c)))
        .collect();
    // A file whose headers are another system's (an HR export): say how to map them.
    let first = missing.first().copied().unwrap_or("username");
    let fill = match first {
        "password" => "--generate-passwords FILE gives each row a random one".to_owned(),
        "username" => "--derive 'username={email.local}' fills it from others".to_owned(),
        _ => format!("--derive '{first}=TEMPLATE' fills it from others"),
    };
    let map_hint = format!(
        "; if the file names it otherwise, map it with --column '{first}=HEADER' (or \"columns\" \
         in the config), or {fill}"
    );
    HeaderError::Missing(format!(
        "the header row {what}{why}{hints}{map_hint}; the header row found was: {}{}",
        found.join(", "),
        if cells.len() > 8 { ", …" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn case_insensitive_trimmed_bom() {
        let (h, w) = Header::parse(
            cells("\u{feff}Username, EMAIL ,Password,First_Name"),
            PasswordMode::Manual,
        )
        .unwrap();
        assert!(w.is_empty());
        assert_eq!(h.position(Column::Username), Some(0));
        assert_eq!(h.position(Column::Email), Some(1));
        assert_eq!(h.position(Column::FirstName), Some(3));
        assert_eq!(h.position(Column::Group), None);
    }

    #[test]
    fn unknown_columns_warn_with_suggestion() {
        let (_, w) = Header::parse(
            cells("username,email,frist_name,department"),
            PasswordMode::Random,
        )
        .unwrap();
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("\"frist_name\"") && w[0].contains("did you mean \"first_name\""));
        assert!(w[1].contains("\"department\"") && !w[1].contains("did you mean"));
    }

    #[test]
    fn missing_required_columns() {
        let e = Header::parse(cells("username,email"), PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no \"password\" column") && e.contains("manual"),
            "{e}"
        );
        assert!(Header::parse(cells("username,email"), PasswordMode::UserChoice).is_ok());
        let e = Header::parse(cells("user,mail"), PasswordMode::Random)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is missing the required columns \"username\" and \"email\""),
            "{e}"
        );
        let e = Header::parse(cells("username,E-Mail,password"), PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no \"email\" column; the column \"E-Mail\" may be meant as \"email\": rename it;"),
            "{e}"
        );
    }

    #[test]
    fn a_file_without_a_header_row_is_named_so_and_its_first_user_not_echoed() {
        let e = Header::parse(
            cells("tirion,tirion@westeros.com,Wine&Books-42"),
            PasswordMode::Manual,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("looks like a user, not a header row"), "{e}");
        assert!(!e.contains("Wine&Books-42") && !e.contains("tirion"), "{e}");
    }

    fn hr(columns: &[&str], derive: &[&str], generate: bool) -> Reading {
        let columns: Vec<String> = columns.iter().map(|s| (*s).to_owned()).collect();
        let derive: Vec<String> = derive.iter().map(|s| (*s).to_owned()).collect();
        Reading::build(&crate::input::mapping::Asked {
            need: Need::Users(PasswordMode::Manual),
            config_columns: &[("first_name".into(), "Legal First Name".into())],
            config_derive: &[],
            cli_columns: &columns,
            cli_derive: &derive,
            generate_passwords: generate,
        })
        .unwrap()
    }

    const HR: &str = "Employee ID, WORK EMAIL ,Legal First Name,Last Name,Preferred Language";

    #[test]
    fn mapped_headers_read_as_their_columns() {
        let reading = hr(
            &[
                "email=Work Email",
                "last_name=Last Name",
                "language=preferred language",
            ],
            &["username={first_name}.{last_name}|slug"],
            true,
        );
        let (h, w) = Header::parse(cells(HR), reading).unwrap();
        assert_eq!(h.position(Column::Email), Some(1));
        assert_eq!(h.position(Column::FirstName), Some(2), "from the config");
        assert_eq!(h.position(Column::LastName), Some(3));
        assert_eq!(h.position(Column::Language), Some(4));
        assert_eq!(h.position(Column::Username), None, "derived");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("unknown column \"Employee ID\""), "{w:?}");
    }

    #[test]
    fn an_unmapped_file_or_a_missing_header_is_said_with_the_way_out() {
        let e = Header::parse(cells(HR), PasswordMode::Manual)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--column 'username=HEADER'"), "{e}");
        let e = Header::parse(cells(HR), hr(&["email=Work E-mail"], &[], true))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the header row has no column \"Work E-mail\" (mapped to \"email\" by --column); \
             the closest header is \"WORK EMAIL\""
        );
        // The template reads a column the file does not have.
        let e = Header::parse(
            cells(HR),
            hr(&["email=Work Email"], &["username={last_name}"], true),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("reads {last_name}, but the file has no \"last_name\""),
            "{e}"
        );
        // No password column: fine only when passwords are generated.
        let e = Header::parse(
            cells(HR),
            hr(&["email=Work Email"], &["username={email.local}"], false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("has no \"password\" column") && e.contains("--generate-passwords"),
            "{e}"
        );
    }

    #[test]
    fn the_imports_own_name_of_a_mapped_column_is_ignored() {
        let (h, w) = Header::parse(
            cells("username,Email,Work Email,password,Legal First Name"),
            hr(&["email=Work Email"], &[], false),
        )
        .unwrap();
        assert_eq!(h.position(Column::Email), Some(2));
        assert!(
            w[0].contains(
                "column \"Email\" is ignored: \"email\" is read from \"Work Email\" (--column)"
            ),
            "{w:?}"
        );
    }

    #[test]
    fn duplicate_column_is_refused() {
        let e = Header::parse(cells("username,email,Email"), PasswordMode::Random)
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice (columns 2 and 3)"), "{e}");
    }
}
