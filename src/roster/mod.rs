//! The enterprise's users against the file: which row is which user
//! (username, else e-mail, any case), and what an update would change.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::input::validate::Checked;
use crate::input::{Column, Header, Record, timezones};
use crate::portal::Directory;
use crate::portal::directory::id_text;
use crate::portal::payload::{self, PayloadError};
use crate::portal::users::PortalUser;

/// The users of the enterprise, found by username or e-mail.
pub(crate) struct Roster {
    users: Vec<PortalUser>,
    by_username: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
}

/// Who a row is.
#[derive(Debug)]
pub(crate) enum Match<'a> {
    /// No user has its username or its e-mail.
    New,
    /// This user (by username, else by e-mail).
    Existing(&'a PortalUser),
    /// The username is one user's and the e-mail another's.
    Conflict {
        by_username: &'a PortalUser,
        by_email: &'a PortalUser,
    },
}

/// Why a row whose username is one user's and e-mail another's fails;
/// `outcome` says what was not done.
pub(crate) fn conflict(by_username: &PortalUser, by_email: &PortalUser, outcome: &str) -> String {
    format!(
        "conflict: the username is the portal's user \"{}\" and the e-mail is the portal's user \
         \"{}\"; {outcome}: fix the row",
        by_username.username, by_email.username
    )
}

impl Roster {
    pub(crate) fn new(users: Vec<PortalUser>) -> Roster {
        let mut by_username = HashMap::with_capacity(users.len());
        let mut by_email = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            by_username.entry(u.username.to_lowercase()).or_insert(i);
            if !u.email.is_empty() {
                by_email.entry(u.email.to_lowercase()).or_insert(i);
            }
        }
        Roster {
            users,
            by_username,
            by_email,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn users(&self) -> &[PortalUser] {
        &self.users
    }

    /// The users a row names, by its username or its e-mail (a sync spares them).
    pub(crate) fn named(&self, username: &str, email: &str) -> impl Iterator<Item = usize> {
        let u = (!username.is_empty())
            .then(|| self.by_username.get(&username.to_lowercase()).copied())
            .flatten();
        let e = (!email.is_empty())
            .then(|| self.by_email.get(&email.to_lowercase()).copied())
            .flatten();
        u.into_iter().chain(e)
    }

    pub(crate) fn find(&self, username: &str, email: &str) -> Match<'_> {
        let by_username = self.by_username.get(&username.to_lowercase());
        let by_email = (!email.is_empty())
            .then(|| self.by_email.get(&email.to_lowercase()))
            .flatten();
        match (by_username, by_email) {
            (Some(&u), Some(&e)) if u != e => Match::Conflict {
                by_username: &self.users[u],
                by_email: &self.users[e],
            },
            (Some(&i), _) | (None, Some(&i)) => Match::Existing(&self.users[i]),
            (None, None) => Match::New,
        }
    }
}

/// What a row would change in its user.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Every cell given equals the portal's value.
    Unchanged,
    /// One PUT with the differing fields only.
    Update {
        body: bytes::Bytes,
        /// `language: en → fr; group: Sales → Support`
        changes: String,
    },
}

/// The row against its user: an empty cell leaves the field as it is;
/// language, time zone, group and fax number compare by their canonical
/// form. Username, e-mail and password are never sent.
pub(crate) fn diff(
    header: &Header,
    record: &Record,
    checked: &Checked,
    user: &PortalUser,
    dir: &Directory,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<Verdict, PayloadError> {
    let email = record.get(header, Column::Email);
    if !email.eq_ignore_ascii_case(&user.email) && !email.is_empty() {
        warnings.push(format!(
            "the portal has the e-mail {} for {}; an update cannot change an e-mail",
            user.email, user.username
        ));
    }
    let mut out = Changes::default();
    for col in Column::ALL.into_iter().filter(|c| c.is_editable()) {
        let cell = record.get(header, col);
        if cell.is_empty() {
            continue;
        }
        let portal = user.value(col);
        match col {
            Column::Group => {
                let keep = "the group is left as it is";
                if let Some(id) = payload::group_id(dir, cell, strict, keep, warnings)?
                    .and_then(id_text)
                    .filter(|id| user.group_id.as_deref() != Some(id.as_str()))
                {
                    let name = |id: Option<&str>| {
                        id.map_or("none", |i| dir.group_name(i).unwrap_or(i))
                            .to_owned()
                    };
                    let from = name(user.group_id.as_deref());
                    let to = name(Some(&id));
                    out.change("group", &from, &to, [("group_id", Value::String(id))]);
                }
            }
            Column::FaxNumber => {
                let keep = "the fax number is left as it is";
                if let Some(id) = payload::fax_number_id(dir, cell, strict, keep, warnings)?
                    .and_then(id_text)
                    .filter(|id| user.fax_id.as_deref() != Some(id.as_str()))
                {
                    let number = dir.fax_by_id(&id).unwrap_or(cell).to_owned();
                    let sent = [
                        ("selected_fax_number", Value::String(id)),
                        ("fax_number_type", "selected".into()),
                    ];
                    out.change("fax_number", portal, &number, sent);
                }
            }
            Column::Language => {
                let want = checked.language.unwrap_or(cell);
                if !want.eq_ignore_ascii_case(portal) {
                    out.change("language", portal, want, [("language", want.into())]);
                }
            }
            Column::TimeZone => {
                let want = checked.time_zone.unwrap_or(cell);
                if want != timezones::canonical(portal).unwrap_or(portal) {
                    out.change("time_zone", portal, want, [("time_zone", want.into())]);
                }
            }
            _ if cell != portal => {
                out.change(col.name(), portal, cell, [(col.name(), cell.into())]);
            }
            _ => {}
        }
    }
    out.verdict()
}

/// The changes found so far: what is sent, and how it reads.
#[derive(Default)]
struct Changes {
    fields: Map<String, Value>,
    said: Vec<String>,
}

impl Changes {
    /// `what: from → to`, sent as `fields`.
    fn change<const N: usize>(
        &mut self,
        what: &str,
        from: &str,
        to: &str,
        fields: [(&str, Value); N],
    ) {
        self.said.push(format!("{what}: {} → {to}", or_none(from)));
        for (k, v) in fields {
            self.fields.insert(k.to_owned(), v);
        }
    }

    fn verdict(self) -> Result<Verdict, PayloadError> {
        if self.fields.is_empty() {
            return Ok(Verdict::Unchanged);
        }
        let body = serde_json::to_vec(&serde_json::json!({ "user": self.fields }))?;
        Ok(Verdict::Update {
            body: body.into(),
            changes: self.said.join("; "),
        })
    }
}

fn or_none(v: &str) -> &str {
    if v.is_empty() { "(empty)" } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PasswordMode;
    use crate::input::validate::validate;
    use serde_json::json;

    fn roster() -> Roster {
        Roster::new(
            crate::portal::users::parse_list(
                &json!([
                    {"id": 1, "username": "tirion", "email": "t@w.com", "role": "user",
                     "language": "en", "group_id": 12, "job_title": "Hand", "time_zone": "Paris"},
                    {"id": 2, "username": "arya", "email": "a@w.com", "role": "user"},
                ])
                .to_string(),
            )
            .unwrap(),
        )
    }

    fn dir() -> Directory {
        Directory::from_answers(
            &json!({"default": 1, "groups": {"1": "Everyone", "12": "Casterly Rock", "13": "Winterfell"}}),
            &json!({"fax_numbers": {"501": {"number": "+15145550101"}}}),
        )
        .unwrap()
    }

    fn verdict(cols: &str, vals: &str) -> (Verdict, Vec<String>) {
        let cells = cols.split(',').map(String::from).collect();
        let (header, _) = Header::parse(cells, PasswordMode::Random).unwrap();
        let record = Record::new(2, vals.split(',').map(String::from).collect());
        let checked = validate(&header, &record, PasswordMode::Random).unwrap();
        let roster = roster();
        let username = record.get(&header, Column::Username);
        let email = record.get(&header, Column::Email);
        let Match::Existing(user) = roster.find(username, email) else {
            panic!("not found")
        };
        let mut warnings = Vec::new();
        let v = diff(
            &header,
            &record,
            &checked,
            user,
            &dir(),
            false,
            &mut warnings,
        )
        .unwrap();
        (v, warnings)
    }

    #[test]
    fn matches_by_username_then_email_and_sees_conflicts() {
        let r = roster();
        assert!(matches!(r.find("TIRION", "other@w.com"), Match::Existing(u) if u.id == "1"));
        assert!(matches!(r.find("someone", "A@W.COM"), Match::Existing(u) if u.id == "2"));
        assert!(matches!(r.find("nobody", "n@w.com"), Match::New));
        assert!(matches!(
            r.find("tirion", "a@w.com"),
            Match::Conflict { .. }
        ));
    }

    #[test]
    fn equal_cells_are_unchanged_in_their_canonical_form() {
        let (v, w) = verdict(
            "username,email,language,group,time_zone,job_title,first_name",
            "tirion,t@w.com,EN,casterly rock,paris,Hand,",
        );
        assert_eq!(v, Verdict::Unchanged);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn only_the_differing_fields_are_sent() {
        let (v, _) = verdict(
            "username,email,language,group,job_title,fax_number",
            "tirion,t@w.com,fr,Winterfell,Hand,+15145550101",
        );
        let Verdict::Update { body, changes } = v else {
            panic!("unchanged")
        };
        assert_eq!(
            changes,
            "group: Casterly Rock → Winterfell; fax_number: (empty) → +15145550101; language: en → fr"
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"user": {"group_id": "13", "selected_fax_number": "501",
                "fax_number_type": "selected", "language": "fr"}})
        );
    }

    #[test]
    fn an_unknown_group_is_left_alone_with_a_warning() {
        let (v, w) = verdict("username,email,group", "tirion,t@w.com,Dragonstone");
        assert_eq!(v, Verdict::Unchanged);
        assert!(w[0].contains("left as it is"), "{w:?}");
    }
}
