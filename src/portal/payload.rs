//! The user object sent for a row (`{"user": {…}}`), serialized straight from
//! the row's cells into the request body.

use serde::Serialize;
use serde_json::Value;

use super::directory::Directory;
use crate::config::PasswordMode;
use crate::input::validate::Checked;
use crate::input::{Column, Header, Record};

#[derive(Serialize)]
struct Body<'a> {
    user: UserPayload<'a>,
}

#[derive(Serialize)]
struct UserPayload<'a> {
    username: &'a str,
    email: &'a str,
    role: &'static str,
    group_id: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    selected_fax_number: Option<&'a Value>,
    fax_number_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<&'static str>,
    #[serde(flatten)]
    plain: PlainFields<'a>,
    password_setup_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_confirmation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_welcome_email: Option<bool>,
}

/// The fields copied as they are, each omitted when empty.
struct PlainFields<'a> {
    header: &'a Header,
    record: &'a Record,
}

impl Serialize for PlainFields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for col in Column::ALL.into_iter().filter(|c| c.is_plain()) {
            let v = self.record.get(self.header, col);
            if !v.is_empty() {
                map.serialize_entry(col.name(), v)?;
            }
        }
        map.end()
    }
}

/// A payload ready to send, and the warning that goes with it.
pub(crate) struct Built {
    pub(crate) body: bytes::Bytes,
    pub(crate) warning: Option<String>,
}

/// Why a row's payload cannot be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error("group \"{0}\" does not exist in the enterprise (--strict); create it or fix the name")]
    UnknownGroup(String),
    #[error("fax_number {0} is not one of the enterprise's fax numbers (--strict)")]
    UnknownFaxNumber(String),
    #[error("cannot encode the row: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The ID of the group a (non-empty) `group` cell names. `Ok(None)` when
/// the enterprise has no such group, with a warning ending in `otherwise`;
/// with `strict`, an error.
pub(crate) fn group_id<'d>(
    dir: &'d Directory,
    group: &str,
    strict: bool,
    otherwise: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<&'d Value>, PayloadError> {
    known_or(dir.group(group), strict, warnings, || {
        (
            PayloadError::UnknownGroup(group.to_owned()),
            format!("group \"{group}\" does not exist in the enterprise; {otherwise}"),
        )
    })
}

/// `found`, or (with `strict`) the error, or nothing and the warning.
fn known_or<'d>(
    found: Option<&'d Value>,
    strict: bool,
    warnings: &mut Vec<String>,
    unknown: impl FnOnce() -> (PayloadError, String),
) -> Result<Option<&'d Value>, PayloadError> {
    if found.is_some() {
        return Ok(found);
    }
    let (error, warning) = unknown();
    if strict {
        return Err(error);
    }
    warnings.push(warning);
    Ok(None)
}

/// The ID of the fax number a (non-empty) `fax_number` cell holds, as
/// [`group_id`] does for groups.
pub(crate) fn fax_number_id<'d>(
    dir: &'d Directory,
    fax: &str,
    strict: bool,
    otherwise: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<&'d Value>, PayloadError> {
    known_or(dir.fax_number(fax), strict, warnings, || {
        (
            PayloadError::UnknownFaxNumber(fax.to_owned()),
            format!("fax_number {fax} is not one of the enterprise's fax numbers; {otherwise}"),
        )
    })
}

/// How the payload of a row is built, fixed for the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) mode: PasswordMode,
    /// An unknown group or fax number fails the row.
    pub(crate) strict: bool,
    /// `"disable_welcome_email": true` on each create.
    pub(crate) no_welcome_email: bool,
}

/// Builds the request body for a validated row. With `strict`, a group or fax
/// number the enterprise does not have fails the row instead of a warning.
pub(crate) fn build(
    header: &Header,
    record: &Record,
    checked: &Checked,
    dir: &Directory,
    rules: Rules,
) -> Result<Built, PayloadError> {
    let Rules {
        mode,
        strict,
        no_welcome_email,
    } = rules;
    let mut warnings = Vec::new();
    let group = record.get(header, Column::Group);
    let group_id = if group.is_empty() {
        &dir.default_group
    } else {
        group_id(
            dir,
            group,
            strict,
            "the default group was used",
            &mut warnings,
        )?
        .unwrap_or(&dir.default_group)
    };
    let fax = record.get(header, Column::FaxNumber);
    let selected_fax_number = if fax.is_empty() {
        None
    } else {
        fax_number_id(
            dir,
            fax,
            strict,
            "the enterprise number was used",
            &mut warnings,
        )?
    };

    let password = (mode == PasswordMode::Manual)
        .then(|| record.get(header, Column::Password))
        .filter(|p| !p.is_empty());
    let body = Body {
        user: UserPayload {
            username: record.get(header, Column::Username),
            email: record.get(header, Column::Email),
            role: "user",
            group_id,
            selected_fax_number,
            fax_number_type: if selected_fax_number.is_some() {
                "selected"
            } else {
                "enterprise"
            },
            language: checked.language,
            time_zone: checked.time_zone,
            plain: PlainFields { header, record },
            password_setup_type: mode.setup_type(),
            password,
            password_confirmation: password,
            disable_welcome_email: no_welcome_email.then_some(true),
        },
    };
    let mut buf = Vec::with_capacity(512);
    serde_json::to_writer(&mut buf, &body)?;
    Ok(Built {
        body: buf.into(),
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::validate::validate;
    use serde_json::json;

    fn dir() -> Directory {
        Directory::from_answers(
            &json!({"default": 1, "groups": {"1": "Everyone", "3": "Casterly Rock"}}),
            &json!({"fax_numbers": {"9": {"number": "+15145550101"}}}),
        )
        .unwrap()
    }

    fn payload(
        cols: &str,
        vals: &str,
        mode: PasswordMode,
        strict: bool,
    ) -> Result<(Value, Option<String>), String> {
        let (h, _) = Header::parse(cols.split(',').map(String::from).collect(), mode).unwrap();
        let r = Record::new(2, vals.split(',').map(String::from).collect());
        let checked = validate(&h, &r, mode).map_err(|e| e.to_string())?;
        let rules = Rules {
            mode,
            strict,
            no_welcome_email: false,
        };
        let b = build(&h, &r, &checked, &dir(), rules).map_err(|e| e.to_string())?;
        Ok((serde_json::from_slice(&b.body).unwrap(), b.warning))
    }

    #[test]
    fn quick_start_row_maps_every_field() {
        let cols = "username,email,first_name,last_name,group,password,fax_number,salutation,job_title,company_name,address,city,state,country,zip_code,phone_number,mobile_number,language,time_zone";
        let vals = "tirion, tirion.lannister@westeros.com ,Tirion,Lannister,Casterly Rock,Secret123,,Lord,Hand,Lannister,1 Rock Rd,Lannisport,Westerlands,Westeros,W1,+15550001,+15550002,FR,paris";
        let (v, w) = payload(cols, vals, PasswordMode::Manual, false).unwrap();
        assert_eq!(w, None);
        assert_eq!(
            v,
            json!({"user": {
                "username": "tirion", "email": "tirion.lannister@westeros.com", "role": "user",
                "group_id": "3", "fax_number_type": "enterprise", "language": "fr", "time_zone": "Paris",
                "first_name": "Tirion", "last_name": "Lannister", "salutation": "Lord", "job_title": "Hand",
                "company_name": "Lannister", "address": "1 Rock Rd", "city": "Lannisport", "state": "Westerlands",
                "country": "Westeros", "zip_code": "W1", "phone_number": "+15550001", "mobile_number": "+15550002",
                "password_setup_type": "force", "password": "Secret123", "password_confirmation": "Secret123"
            }})
        );
    }

    #[test]
    fn empty_fields_are_omitted_and_defaults_apply() {
        let (v, _) = payload(
            "username,email,first_name,group,language",
            "a,a@b.co,,,",
            PasswordMode::Random,
            false,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"user": {"username": "a", "email": "a@b.co", "role": "user", "group_id": "1",
                "fax_number_type": "enterprise", "password_setup_type": "auto"}})
        );
    }

    #[test]
    fn password_only_in_manual_mode() {
        let (v, _) = payload(
            "username,email,password",
            "a,a@b.co,pw",
            PasswordMode::UserChoice,
            false,
        )
        .unwrap();
        assert_eq!(v["user"]["password_setup_type"], "user");
        assert!(
            v["user"].get("password").is_none() && v["user"].get("password_confirmation").is_none()
        );
    }

    #[test]
    fn fax_and_group_lookups_warn_or_fail() {
        let (v, w) = payload(
            "username,email,fax_number,group",
            "a,a@b.co,+15145550101,casterly rock",
            PasswordMode::Random,
            false,
        )
        .unwrap();
        assert_eq!(v["user"]["selected_fax_number"], "9");
        assert_eq!(v["user"]["fax_number_type"], "selected");
        assert_eq!(v["user"]["group_id"], "3");
        assert_eq!(w, None);
        let (v, w) = payload(
            "username,email,fax_number,group",
            "a,a@b.co,+15145550199,Nights Watch",
            PasswordMode::Random,
            false,
        )
        .unwrap();
        assert_eq!(v["user"]["group_id"], "1");
        assert_eq!(v["user"]["fax_number_type"], "enterprise");
        assert!(v["user"].get("selected_fax_number").is_none());
        let w = w.unwrap();
        assert!(
            w.contains("group \"Nights Watch\"") && w.contains("+15145550199"),
            "{w}"
        );
        let e = payload(
            "username,email,group",
            "a,a@b.co,Nights Watch",
            PasswordMode::Random,
            true,
        )
        .unwrap_err();
        assert!(e.contains("--strict"), "{e}");
        let e = payload(
            "username,email,fax_number",
            "a,a@b.co,+15145550199",
            PasswordMode::Random,
            true,
        )
        .unwrap_err();
        assert!(e.contains("--strict"), "{e}");
    }
}
