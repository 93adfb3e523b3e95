//! Reading a file whose headers are not the import's (an HR system's
//! export): which of its headers holds which import column
//! (`"columns": {"email": "Work Email"}`, `--column 'email=Work Email'`),
//! and everything else the header row is read with.

use std::sync::Arc;

use super::columns::{Column, Need};
use super::derive::{Derivations, Rule};
use crate::config::PasswordMode;
use crate::suggest::did_you_mean;

/// The import column → the file's header, each at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ColumnMap {
    entries: Vec<(Column, String)>,
    /// Where each entry comes from, for messages (`--column`, the config).
    origins: Vec<&'static str>,
}

/// One mapping as written: its column's name, its header, and where it comes from.
pub(crate) struct Mapping<'a> {
    pub(crate) column: &'a str,
    pub(crate) header: &'a str,
    pub(crate) origin: &'static str,
}

/// `email=Work Email` → `("email", "Work Email")`.
pub(crate) fn split_arg(arg: &str) -> Result<(String, String), String> {
    let (column, header) = arg.split_once('=').ok_or_else(|| {
        format!(
            "--column \"{arg}\" has no \"=\": write COLUMN=HEADER, e.g. --column 'email=Work Email'"
        )
    })?;
    Ok((column.trim().to_owned(), header.trim().to_owned()))
}

impl ColumnMap {
    /// The config's mappings, then the command line's, which win for the
    /// same column. `config` comes first in `all`; `cli_from` is where the
    /// command line's start.
    pub(crate) fn build(all: &[Mapping<'_>], cli_from: usize) -> Result<ColumnMap, String> {
        let mut map = ColumnMap::default();
        for (i, m) in all.iter().enumerate() {
            let column = Column::from_header(m.column.trim()).ok_or_else(|| {
                format!(
                    "{}: \"{}\" is not an import column{}",
                    m.origin,
                    m.column.trim(),
                    did_you_mean(m.column, Column::ALL.iter().map(|c| c.name()))
                )
            })?;
            let header = m.header.trim();
            if header.is_empty() {
                return Err(format!(
                    "{}: the header for \"{}\" is empty",
                    m.origin,
                    column.name()
                ));
            }
            // `email=Username` would read one import column from another's.
            if let Some(other) = Column::from_header(header).filter(|c| *c != column) {
                return Err(format!(
                    "{}: \"{}\" is mapped to the header \"{header}\", which is the name of the \
                     import column \"{}\"; rename that column in the file or map it too",
                    m.origin,
                    column.name(),
                    other.name()
                ));
            }
            if let Some(k) = map.entries.iter().position(|(c, _)| *c == column) {
                if i < cli_from || map.origins[k] == m.origin {
                    return Err(format!(
                        "{}: \"{}\" is mapped twice (to \"{}\" and \"{header}\"); keep one",
                        m.origin,
                        column.name(),
                        map.entries[k].1
                    ));
                }
                // The command line wins over the config.
                map.entries.remove(k);
                map.origins.remove(k);
            }
            map.entries.push((column, header.to_owned()));
            map.origins.push(m.origin);
        }
        map.check_one_header_each()?;
        Ok(map)
    }

    fn check_one_header_each(&self) -> Result<(), String> {
        for (i, (column, header)) in self.entries.iter().enumerate() {
            if let Some((other, _)) = self.entries[..i]
                .iter()
                .find(|(_, h)| same_header(h, header))
            {
                return Err(format!(
                    "{}: the header \"{header}\" is mapped to both \"{}\" and \"{}\"; a header \
                     fills one import column (--derive can fill the other from it, e.g. \
                     --derive 'username={{email.local}}')",
                    self.origins[i],
                    other.name(),
                    column.name()
                ));
            }
        }
        Ok(())
    }

    /// The import column a file header is mapped to.
    pub(crate) fn column_of(&self, header: &str) -> Option<Column> {
        self.entries
            .iter()
            .find(|(_, h)| same_header(h, header))
            .map(|(c, _)| *c)
    }

    /// The header an import column is read from, when mapped.
    pub(crate) fn header_of(&self, column: Column) -> Option<(&str, &'static str)> {
        self.entries
            .iter()
            .zip(&self.origins)
            .find(|((c, _), _)| *c == column)
            .map(|((_, h), o)| (h.as_str(), *o))
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (Column, &str, &'static str)> {
        self.entries
            .iter()
            .zip(&self.origins)
            .map(|((c, h), o)| (*c, h.as_str(), *o))
    }
}

/// Two headers are the same in any case (`Prénom`, `PRÉNOM`).
fn same_header(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

/// How the header row is read: the columns the run needs, the mapping of
/// the file's headers, the derived columns, and whether rows without a
/// password get a generated one.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub(crate) need: Need,
    pub(crate) columns: Arc<ColumnMap>,
    pub(crate) derive: Arc<Derivations>,
    pub(crate) generate_passwords: bool,
}

/// Where the config's mappings come from, for messages.
pub(crate) const CONFIG_COLUMNS: &str = "the config's \"columns\"";

/// What the config and the command line say of the header.
pub(crate) struct Asked<'a> {
    pub(crate) need: Need,
    /// The config's `"columns"` and `"derive"`.
    pub(crate) config_columns: &'a [(String, String)],
    pub(crate) config_derive: &'a [(String, String)],
    /// `--column` and `--derive`, as given.
    pub(crate) cli_columns: &'a [String],
    pub(crate) cli_derive: &'a [String],
    pub(crate) generate_passwords: bool,
}

impl Reading {
    /// The reading the config and the command line ask for; the command
    /// line wins column by column. The error is a sentence naming the
    /// mapping or template at fault.
    pub(crate) fn build(asked: &Asked<'_>) -> Result<Reading, String> {
        let cli_pairs = asked
            .cli_columns
            .iter()
            .map(|a| split_arg(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mappings: Vec<Mapping<'_>> = asked
            .config_columns
            .iter()
            .map(|(c, h)| Mapping {
                column: c,
                header: h,
                origin: CONFIG_COLUMNS,
            })
            .chain(cli_pairs.iter().map(|(c, h)| Mapping {
                column: c,
                header: h,
                origin: "--column",
            }))
            .collect();
        let columns = ColumnMap::build(&mappings, asked.config_columns.len())?;
        let config_rules = asked
            .config_derive
            .iter()
            .map(|(c, t)| {
                Rule::new(c, t).map_err(|e| format!("the config's \"derive\" for \"{c}\": {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cli_rules = asked
            .cli_derive
            .iter()
            .map(|a| Rule::parse_arg(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Reading {
            need: asked.need,
            columns: Arc::new(columns),
            derive: Arc::new(Derivations::build(config_rules, cli_rules)?),
            generate_passwords: asked.generate_passwords,
        })
    }
}

impl From<Need> for Reading {
    fn from(need: Need) -> Reading {
        Reading {
            need,
            columns: Arc::default(),
            derive: Arc::default(),
            generate_passwords: false,
        }
    }
}

impl From<PasswordMode> for Reading {
    fn from(mode: PasswordMode) -> Reading {
        Need::from(mode).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(config: &[(&str, &str)], cli: &[(&str, &str)]) -> Result<ColumnMap, String> {
        let all: Vec<Mapping<'_>> = config
            .iter()
            .map(|(c, h)| Mapping {
                column: c,
                header: h,
                origin: "config file c.json, \"columns\"",
            })
            .chain(cli.iter().map(|(c, h)| Mapping {
                column: c,
                header: h,
                origin: "--column",
            }))
            .collect();
        ColumnMap::build(&all, config.len())
    }

    #[test]
    fn the_command_line_wins_per_column() {
        let m = build(
            &[("email", "Work Email"), ("first_name", "Legal First Name")],
            &[("email", "Primary Email")],
        )
        .unwrap();
        assert_eq!(m.column_of("primary email"), Some(Column::Email));
        assert_eq!(m.column_of("Work Email"), None);
        assert_eq!(m.column_of(" LEGAL FIRST NAME "), None, "the reader trims");
        assert_eq!(m.column_of("LEGAL FIRST NAME"), Some(Column::FirstName));
        assert_eq!(
            m.header_of(Column::Email),
            Some(("Primary Email", "--column"))
        );
        let m = build(&[], &[("first_name", "Prénom")]).unwrap();
        assert_eq!(m.column_of("PRÉNOM"), Some(Column::FirstName));
    }

    #[test]
    fn mistakes_are_refused_with_a_sentence() {
        let e = build(&[], &[("emial", "Work Email")]).unwrap_err();
        assert!(
            e.contains("\"emial\" is not an import column (did you mean \"email\"?)"),
            "{e}"
        );
        let e = build(&[], &[("email", "Work Email"), ("email", "Home Email")]).unwrap_err();
        assert!(e.contains("\"email\" is mapped twice"), "{e}");
        let e = build(&[], &[("email", "Work Email"), ("username", "work email")]).unwrap_err();
        assert!(
            e.contains("the header \"work email\" is mapped to both \"email\" and \"username\""),
            "{e}"
        );
        let e = build(&[("email", "Username")], &[]).unwrap_err();
        assert!(
            e.starts_with("config file c.json, \"columns\": \"email\" is mapped to the header \"Username\", which is the name of the import column \"username\""),
            "{e}"
        );
        let e = build(&[], &[("email", " ")]).unwrap_err();
        assert!(e.contains("the header for \"email\" is empty"), "{e}");
        // Mapping a column to its own name changes nothing, and is no mistake.
        assert!(build(&[], &[("email", "EMAIL")]).is_ok());
        assert!(split_arg("email").unwrap_err().contains("has no \"=\""));
        assert_eq!(
            split_arg(" email = Work Email=x ").unwrap(),
            ("email".into(), "Work Email=x".into())
        );
    }
}
