//! The per-row lines on stdout: the original tool's text form, or JSON lines.

use serde::Serialize;

use super::{RowResult, RowStatus};

/// How a row is named in a line: its e-mail, else its username, else its line.
pub(crate) fn who<'a>(
    r: &RowResult,
    username: &'a str,
    email: &'a str,
) -> std::borrow::Cow<'a, str> {
    if !email.is_empty() {
        email.into()
    } else if !username.is_empty() {
        username.into()
    } else {
        format!("line {}", r.record.line).into()
    }
}

/// `tirion.lannister@westeros.com... Success`
pub(crate) fn text(out: &mut Vec<u8>, r: &RowResult, username: &str, email: &str) {
    let who = who(r, username, email);
    let msg = r.message.as_deref().unwrap_or("");
    let line = match r.status {
        RowStatus::Created => "Success".to_owned(),
        RowStatus::Updated => format!("Updated: {msg}"),
        RowStatus::Unchanged => "Unchanged".to_owned(),
        RowStatus::Deleted => "Deleted".to_owned(),
        RowStatus::Absent => "Absent: no such user".to_owned(),
        RowStatus::Valid => "Valid".to_owned(),
        RowStatus::Skipped => format!("Skipped: {msg}"),
        // Named by its line already: not twice.
        RowStatus::Failed if r.local && username.is_empty() && email.is_empty() => {
            format!("Failed: {msg}")
        }
        RowStatus::Failed if r.local => format!("Failed: line {}: {msg}", r.record.line),
        RowStatus::Failed => format!("Failed: {msg}"),
        RowStatus::NotAttempted => format!("Not attempted: {msg}"),
    };
    out.extend_from_slice(who.as_bytes());
    out.extend_from_slice(b"... ");
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

#[derive(Serialize)]
struct JsonLine<'a> {
    /// `null` for a sync's deletion of a user the file does not name.
    line: Option<u64>,
    username: &'a str,
    email: &'a str,
    status: RowStatus,
    attempts: u32,
    http_status: Option<u16>,
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
}

/// `{"line":7,"username":…,"email":…,"status":"created",…}`
pub(crate) fn json(out: &mut Vec<u8>, r: &RowResult, username: &str, email: &str) {
    let line = JsonLine {
        line: r.record.file_line(),
        username,
        email,
        status: r.status,
        attempts: r.attempts,
        http_status: r.http_status,
        message: r.message.as_deref(),
        warning: r.warning.as_deref(),
    };
    // Writing plain strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Record;

    fn rec() -> Record {
        Record::new(7, vec![])
    }

    fn render(r: &RowResult) -> String {
        let mut out = Vec::new();
        text(&mut out, r, "tirion", "tirion.lannister@westeros.com");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_lines_in_the_original_form() {
        assert_eq!(
            render(&RowResult::new(rec(), RowStatus::Created)),
            "tirion.lannister@westeros.com... Success\n"
        );
        assert_eq!(
            render(&RowResult::new(rec(), RowStatus::Skipped).with_message("already exists")),
            "tirion.lannister@westeros.com... Skipped: already exists\n"
        );
        assert_eq!(
            render(&RowResult::local_failure(
                rec(),
                "email does not appear to be valid".into()
            )),
            "tirion.lannister@westeros.com... Failed: line 7: email does not appear to be valid\n"
        );
        assert_eq!(
            render(
                &RowResult::new(rec(), RowStatus::Failed)
                    .with_message("email: does not appear to be valid")
            ),
            "tirion.lannister@westeros.com... Failed: email: does not appear to be valid\n"
        );
        let mut out = Vec::new();
        text(&mut out, &RowResult::new(rec(), RowStatus::Valid), "", "");
        assert_eq!(String::from_utf8(out).unwrap(), "line 7... Valid\n");
    }

    #[test]
    fn json_lines() {
        let mut r = RowResult::new(rec(), RowStatus::Failed).with_message("email: bad");
        r.attempts = 2;
        r.http_status = Some(422);
        let mut out = Vec::new();
        json(&mut out, &r, "tirion", "t@w.com");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"line\":7,\"username\":\"tirion\",\"email\":\"t@w.com\",\"status\":\"failed\",\"attempts\":2,\"http_status\":422,\"message\":\"email: bad\"}\n"
        );
    }
}
