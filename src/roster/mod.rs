//! Who is who (SPEC §12a): which one portal user a row means, beyond doubt
//! (username, else e-mail; trimmed, NFC, case-folded), which users cannot be
//! matched or acted on with certainty (and why), and what an update would
//! change. The operations ask here; they never re-derive these rules.

use std::collections::HashMap;

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::input::validate::Checked;
use crate::input::{Column, Header, Record, timezones};
use crate::portal::Directory;
use crate::portal::directory::id_text;
use crate::portal::payload::{self, PayloadError};
use crate::portal::users::PortalUser;
use crate::sanitize;

/// How two names compare: trimmed, lower-cased, in Unicode NFC (an e-mail
/// in decomposed form is the same e-mail).
pub(crate) fn key(name: &str) -> String {
    name.trim().to_lowercase().nfc().collect()
}

/// The key without its invisible characters: what a name looks like. Two
/// names with one skeleton look alike on a screen.
fn skeleton(name: &str) -> String {
    key(name)
        .chars()
        .filter(|c| !sanitize::is_invisible(*c))
        .collect()
}

fn has_invisible(name: &str) -> bool {
    name.chars().any(sanitize::is_invisible)
}

/// Why a listed user cannot be matched or acted on beyond doubt. Such a user
/// is never updated or deleted; a row naming them fails saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Doubt {
    /// The list holds its id more than once (one user listed twice, or two
    /// users sharing an id).
    SharedId,
    /// Another entry has the same username or e-mail (after trimming, NFC
    /// and case folding): `Bob` and `bob`.
    SharedName,
    /// Its username or e-mail holds an invisible or control character.
    Invisible,
    /// Its id cannot name it in a request (a float, `..`, a control character…).
    Unaddressable,
    /// Neither a username nor an e-mail: no row can name it.
    Nameless,
}

impl Doubt {
    /// Why a row naming `user` fails.
    fn why(self, user: &PortalUser) -> String {
        let who = user.shown();
        match self {
            Doubt::SharedId => format!(
                "ambiguous: the portal lists the id {} for more than one entry (one of them {who})",
                user.id_shown
            ),
            Doubt::SharedName => format!(
                "ambiguous: the portal's user {who} shares its username or e-mail with another \
                 user (any case)"
            ),
            Doubt::Invisible => format!(
                "the portal's user {who} has an invisible or control character in its username \
                 or e-mail, so it cannot be matched with certainty"
            ),
            Doubt::Unaddressable => format!(
                "the portal's user {who} has an id that cannot name it in a request, so this \
                 tool never changes or deletes it"
            ),
            Doubt::Nameless => format!("the portal's user {who} has no username or e-mail"),
        }
    }
}

/// The users of the enterprise, found by username or e-mail.
pub(crate) struct Roster {
    users: Vec<PortalUser>,
    /// Skeleton of the username (or e-mail) → every user that has it.
    by_username: HashMap<String, Vec<usize>>,
    by_email: HashMap<String, Vec<usize>>,
    /// Each user's doubt, if any (the first found, in `Doubt` order).
    doubts: Vec<Option<Doubt>>,
}

/// Who a row is.
#[derive(Debug)]
pub(crate) enum Match<'a> {
    /// No user has its username or its e-mail.
    New,
    /// This one user, beyond doubt (by username, else by e-mail), and the
    /// id that names it in a request.
    Existing { user: &'a PortalUser, id: &'a str },
    /// Not certain which one user the row means, or that user cannot be
    /// acted on: nothing is done to anyone.
    Doubtful(Refusal),
}

/// Why a row is refused, and what would mend it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) why: String,
    pub(crate) fix: &'static str,
    /// The doubt about the portal's users, when the row itself is not at
    /// fault (a plan counts them as spared).
    pub(crate) doubt: Option<Doubt>,
}

impl Refusal {
    /// `why; outcome: fix`, e.g. `…; nothing was changed: fix the row`.
    pub(crate) fn message(&self, outcome: &str) -> String {
        format!("{}; {outcome}: {}", self.why, self.fix)
    }
}

/// The users indexed under `name`'s skeleton.
fn look<'a>(map: &'a HashMap<String, Vec<usize>>, name: &str) -> &'a [usize] {
    if name.trim().is_empty() {
        return &[];
    }
    map.get(&skeleton(name)).map_or(&[], Vec::as_slice)
}

/// The users `found` name, as a message lists them.
fn listed(users: &[PortalUser], found: &[usize]) -> String {
    let mut names: Vec<String> = found.iter().take(5).map(|&i| users[i].shown()).collect();
    if found.len() > 5 {
        names.push(format!("and {} more", found.len() - 5));
    }
    names.join(", ")
}

impl Roster {
    pub(crate) fn new(users: Vec<PortalUser>) -> Roster {
        let mut by_username: HashMap<String, Vec<usize>> = HashMap::with_capacity(users.len());
        let mut by_email: HashMap<String, Vec<usize>> = HashMap::with_capacity(users.len());
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::with_capacity(users.len());
        let mut doubts: Vec<Option<Doubt>> = vec![None; users.len()];
        let mut doubt = |i: usize, d: Doubt| {
            let slot: &mut Option<Doubt> = &mut doubts[i];
            *slot = Some(slot.map_or(d, |old| old.min(d)));
        };
        for (i, u) in users.iter().enumerate() {
            if !u.username.trim().is_empty() {
                by_username
                    .entry(skeleton(&u.username))
                    .or_default()
                    .push(i);
            }
            if !u.email.trim().is_empty() {
                by_email.entry(skeleton(&u.email)).or_default().push(i);
            }
            match &u.id {
                Some(id) => by_id.entry(id.as_str()).or_default().push(i),
                None => doubt(i, Doubt::Unaddressable),
            }
            if has_invisible(&u.username) || has_invisible(&u.email) {
                doubt(i, Doubt::Invisible);
            }
            if u.username.trim().is_empty() && u.email.trim().is_empty() {
                doubt(i, Doubt::Nameless);
            }
        }
        for group in by_id.values().filter(|g| g.len() > 1) {
            for &i in group {
                doubt(i, Doubt::SharedId);
            }
        }
        let names = by_username.values().chain(by_email.values());
        for group in names.filter(|g| g.len() > 1) {
            for &i in group {
                doubt(i, Doubt::SharedName);
            }
        }
        drop(by_id);
        Roster {
            users,
            by_username,
            by_email,
            doubts,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn users(&self) -> &[PortalUser] {
        &self.users
    }

    /// Why the user at `i` cannot be acted on beyond doubt, if so.
    pub(crate) fn doubt(&self, i: usize) -> Option<Doubt> {
        self.doubts[i]
    }

    /// Every user whose username is `username` or whose e-mail is `email`
    /// (as they look: invisible characters aside).
    fn candidates(&self, username: &str, email: &str) -> (&[usize], &[usize]) {
        (
            look(&self.by_username, username),
            look(&self.by_email, email),
        )
    }

    /// The users a row names in any way, by its username or its e-mail (a
    /// sync never deletes them, even when the row fails).
    pub(crate) fn named(&self, username: &str, email: &str) -> impl Iterator<Item = usize> + '_ {
        let (u, e) = self.candidates(username, email);
        u.iter().chain(e).copied()
    }

    /// The one user a row means, beyond doubt.
    pub(crate) fn find(&self, username: &str, email: &str) -> Match<'_> {
        let doubtful = |why: String, fix: &'static str, doubt: Option<Doubt>| {
            Match::Doubtful(Refusal { why, fix, doubt })
        };
        if has_invisible(username) || has_invisible(email) {
            return doubtful(
                "the row's username or e-mail holds an invisible or control character".into(),
                "fix the row",
                None,
            );
        }
        let (u, e) = self.candidates(username, email);
        for (found, what) in [(u, "username"), (e, "e-mail")] {
            if found.len() > 1 {
                let first = &self.users[found[0]];
                let why = if found.iter().all(|&i| self.users[i] == *first) {
                    format!(
                        "ambiguous: the portal lists its user {} {} times",
                        first.shown(),
                        found.len()
                    )
                } else {
                    format!(
                        "ambiguous: the {what} matches {} users of the portal ({})",
                        found.len(),
                        listed(&self.users, found)
                    )
                };
                return doubtful(
                    why,
                    "make the portal's users distinct, or name the user by its other field",
                    Some(Doubt::SharedName),
                );
            }
        }
        let i = match (u.first(), e.first()) {
            (Some(&a), Some(&b)) if a != b => {
                return doubtful(
                    format!(
                        "conflict: the username is the portal's user \"{}\" and the e-mail is the \
                         portal's user \"{}\"",
                        self.users[a].plan_name(),
                        self.users[b].plan_name()
                    ),
                    "fix the row",
                    None,
                );
            }
            (Some(&i), _) | (None, Some(&i)) => i,
            (None, None) => return Match::New,
        };
        let user = &self.users[i];
        match (self.doubts[i], user.id.as_deref()) {
            (None, Some(id)) => Match::Existing { user, id },
            (Some(d), _) => doubtful(d.why(user), "fix the portal's user first", Some(d)),
            (None, None) => {
                let d = Doubt::Unaddressable;
                doubtful(d.why(user), "fix the portal's user first", Some(d))
            }
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
        /// The columns whose cells are sent (their rules apply).
        columns: Vec<Column>,
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
    if key(email) != key(&user.email) && !email.is_empty() {
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
                    out.change(col, &from, &to, [("group_id", Value::String(id))]);
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
                    out.change(col, portal, &number, sent);
                }
            }
            Column::Language => {
                let want = checked.language.unwrap_or(cell);
                if !want.eq_ignore_ascii_case(portal) {
                    out.change(col, portal, want, [("language", want.into())]);
                }
            }
            Column::TimeZone => {
                let want = checked.time_zone.unwrap_or(cell);
                if want != timezones::canonical(portal).unwrap_or(portal) {
                    out.change(col, portal, want, [("time_zone", want.into())]);
                }
            }
            _ if cell != portal => {
                out.change(col, portal, cell, [(col.name(), cell.into())]);
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
    columns: Vec<Column>,
}

impl Changes {
    /// `what: from → to`, sent as `fields`.
    fn change<const N: usize>(
        &mut self,
        col: Column,
        from: &str,
        to: &str,
        fields: [(&str, Value); N],
    ) {
        self.said
            .push(format!("{}: {} → {to}", col.name(), or_none(from)));
        self.columns.push(col);
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
            columns: self.columns,
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
        let Match::Existing { user, .. } = roster.find(username, email) else {
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
        let id = |m: Match<'_>| match m {
            Match::Existing { id, .. } => Some(id.to_owned()),
            other => panic!("{other:?}"),
        };
        assert_eq!(id(r.find("TIRION", "other@w.com")).as_deref(), Some("1"));
        assert_eq!(id(r.find("someone", "A@W.COM")).as_deref(), Some("2"));
        assert!(matches!(r.find("nobody", "n@w.com"), Match::New));
        let Match::Doubtful(why) = r.find("tirion", "a@w.com") else {
            panic!("not a conflict")
        };
        assert!(why.why.starts_with("conflict: "), "{why:?}");
    }

    fn messy(entries: &serde_json::Value) -> Roster {
        Roster::new(crate::portal::users::parse_list(&entries.to_string()).unwrap())
    }

    fn refusal(r: &Roster, username: &str, email: &str) -> String {
        match r.find(username, email) {
            Match::Doubtful(why) => why.why,
            other => panic!("{username}/{email}: not refused: {other:?}"),
        }
    }

    #[test]
    fn names_compare_trimmed_nfc_and_case_folded() {
        let r = messy(&json!([
            {"id": 1, "username": "trail ", "email": "t@w.com", "role": "user"},
            {"id": 2, "username": " lead", "email": "l@w.com", "role": "user"},
            {"id": 3, "username": "zoe", "email": "zoe\u{0301}@w.com", "role": "user"},
            {"id": 4, "username": "STARK", "email": "Stark@W.com", "role": "user"},
        ]));
        for (u, e, id) in [
            ("trail", "", "1"),
            ("lead", "", "2"),
            ("", "zo\u{e9}@w.com", "3"),
            ("stark", "", "4"),
            ("", "stark@w.com", "4"),
        ] {
            match r.find(u, e) {
                Match::Existing { id: found, .. } => assert_eq!(found, id, "{u}/{e}"),
                other => panic!("{u}/{e}: {other:?}"),
            }
        }
        assert_eq!(key(" Zo\u{0065}\u{0301} "), "zo\u{e9}");
    }

    #[test]
    fn every_user_involved_in_an_ambiguity_is_refused() {
        use Doubt::{Invisible, SharedId, SharedName, Unaddressable};
        let r = messy(&json!([
            {"id": 5, "username": "alice", "email": "alice@w.com", "role": "user"},
            {"id": 5, "username": "bob", "email": "bob@w.com", "role": "user"},
            {"id": 20, "username": "Bob2", "email": "b20@w.com", "role": "user"},
            {"id": 21, "username": "bob2", "email": "b21@w.com", "role": "user"},
            {"id": 30, "username": "carol", "email": "shared@w.com", "role": "user"},
            {"id": 31, "username": "dave", "email": "SHARED@w.com", "role": "user"},
            {"id": 40, "username": "erin", "email": "erin@w.com", "role": "user"},
            {"id": 40, "username": "erin", "email": "erin@w.com", "role": "user"},
            {"id": 50, "username": "fr\u{200b}ank", "email": "frank@w.com", "role": "user"},
            {"id": 2.5, "username": "gina", "email": "gina@w.com", "role": "user"},
            {"id": 60, "email": "nameless@w.com", "role": "user"},
            {"id": 70, "username": "hal", "email": "hal@w.com", "role": "user"},
        ]));
        assert!(refusal(&r, "alice", "").contains("lists the id 5 for more than one entry"));
        assert!(refusal(&r, "bob", "bob@w.com").starts_with("ambiguous"));
        let two = refusal(&r, "bob2", "");
        assert!(two.contains("matches 2 users"), "{two}");
        assert!(
            two.contains("\"Bob2\" (id 20)") && two.contains("\"bob2\" (id 21)"),
            "{two}"
        );
        assert!(refusal(&r, "", "shared@w.com").contains("matches 2 users"));
        assert!(
            refusal(&r, "carol", "").starts_with("ambiguous"),
            "carol shares her e-mail"
        );
        assert_eq!(
            refusal(&r, "erin", ""),
            "ambiguous: the portal lists its user \"erin\" (id 40) 2 times"
        );
        let frank = refusal(&r, "frank", "");
        assert!(frank.contains("invisible"), "{frank}");
        assert!(frank.contains("fr\\u{200b}ank"), "shown escaped: {frank}");
        assert!(refusal(&r, "", "gina@w.com").contains("cannot name it in a request"));
        assert!(refusal(&r, "fr\u{200b}ank", "").contains("the row's"));
        match r.find("", "NAMELESS@w.com") {
            Match::Existing { id, .. } => assert_eq!(id, "60"),
            other => panic!("matched by e-mail: {other:?}"),
        }
        assert!(matches!(r.find("hal", "hal@w.com"), Match::Existing { .. }));
        let doubts: Vec<Option<Doubt>> = (0..r.len()).map(|i| r.doubt(i)).collect();
        assert_eq!(
            doubts,
            [
                Some(SharedId),
                Some(SharedId),
                Some(SharedName),
                Some(SharedName),
                Some(SharedName),
                Some(SharedName),
                Some(SharedId),
                Some(SharedId),
                Some(Invisible),
                Some(Unaddressable),
                None,
                None
            ]
        );
        let named: Vec<usize> = r.named("BOB2", "erin@w.com").collect();
        assert_eq!(named, [2, 3, 6, 7], "every candidate is named");
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
        let Verdict::Update { body, changes, .. } = v else {
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
