//! Text from the portal or from a CSV cell is untrusted. Before it reaches a
//! terminal, a file or a spreadsheet it goes through here: control
//! characters are shown as escapes (they could move the cursor, retitle the
//! window, clear the screen, or overwrite a line), the portal's text is cut
//! to a readable length, secrets are blanked, and a cell that a spreadsheet
//! would run as a formula is defused.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most of a portal's text shown or written (in characters).
pub(crate) const MAX_PORTAL_TEXT: usize = 500;

/// What a blanked secret reads as.
pub(crate) const REDACTED: &str = "[redacted]";

/// A character that must not reach a terminal as it is, and that makes a
/// name uncertain (SPEC §12a): C0 and C1 controls, DEL, the invisible marks
/// that reorder text (bidi), and the zero-width ones that make two names
/// look alike (zero-width space and joiners, word joiner, byte-order mark,
/// soft hyphen, Mongolian vowel separator).
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with each unsafe character shown as its escape: `\x1b`, `\r`, `\n`,
/// `\t`, `\u{202e}`. Text that needs none is returned as it is.
pub(crate) fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_invisible) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_invisible(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` cut to `max` characters, with "…" when it was longer.
pub(crate) fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!("{}…", &s[..at])),
    }
}

/// Shorter secrets are not blanked: the portal refuses passwords under 8
/// characters anyway, and a short one ("short") is a word the portal's own
/// messages use ("is too short").
const MIN_SECRET_CHARS: usize = 8;

/// `s` with every occurrence of each secret (the access token, a row's
/// password) of [`MIN_SECRET_CHARS`] or more blanked.
pub(crate) fn scrub<'a>(s: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(s);
    for secret in secrets
        .iter()
        .filter(|x| x.chars().count() >= MIN_SECRET_CHARS)
    {
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, REDACTED));
        }
    }
    out
}

/// The portal's text, ready for any output: secrets blanked, controls
/// escaped, cut to [`MAX_PORTAL_TEXT`].
pub(crate) fn portal_text(s: &str, secrets: &[&str]) -> String {
    let scrubbed = scrub(s, secrets);
    let cut = cut(&scrubbed, MAX_PORTAL_TEXT);
    visible(&cut).into_owned()
}

/// A cell for a CSV that may be opened in a spreadsheet: one starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula
/// there (OWASP "CSV injection"); a `'` before it keeps it text.
pub(crate) fn spreadsheet_cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_as_escapes() {
        assert_eq!(
            visible("\u{1b}]0;pwned\u{7}\u{1b}[2J bad"),
            "\\x1b]0;pwned\\x07\\x1b[2J bad"
        );
        assert_eq!(
            visible("ok\rFAKE: everything created successfully"),
            "ok\\rFAKE: everything created successfully"
        );
        assert_eq!(
            visible("a\u{9b}b\u{7f}c\u{202e}d"),
            "a\\x9bb\\x7fc\\u{202e}d"
        );
        assert!(matches!(visible("Zoë Ñúñez"), Cow::Borrowed(_)));
        // Escaping is stable: escaped text needs no more.
        let once = visible("\u{1b}x").into_owned();
        assert_eq!(visible(&once), once);
    }

    #[test]
    fn long_text_is_cut_at_a_character() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("ééééé", 2), "éé…");
        let huge = "x".repeat(5_000_000);
        assert_eq!(portal_text(&huge, &[]).chars().count(), MAX_PORTAL_TEXT + 1);
    }

    #[test]
    fn secrets_are_blanked() {
        assert_eq!(
            scrub(
                "token sandbox-token-7f3a9c and Wine&Books-42",
                &["sandbox-token-7f3a9c", "Wine&Books-42"]
            ),
            "token [redacted] and [redacted]"
        );
        assert_eq!(scrub("a b c", &["", "b"]), "a b c", "too short to blank");
        assert_eq!(
            scrub("password: is too short", &["short"]),
            "password: is too short"
        );
    }

    #[test]
    fn formulas_are_defused_for_spreadsheets() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(spreadsheet_cell(bad), format!("'{bad}"));
        }
        assert_eq!(
            spreadsheet_cell("tirion@westeros.com"),
            "tirion@westeros.com"
        );
    }
}
