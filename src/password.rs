//! Generated passwords (`--generate-passwords FILE`, manual mode): one per
//! row without a password, from the operating system's secure random
//! source, made once when the row's request is built so that every retry
//! sends the same one. Only the passwords file ever holds them.

use std::path::Path;

use crate::config::PasswordMode;
use crate::error::Error;
use crate::input::Generated;
use crate::input::{Column, Header, Record};
use crate::options::{Command, Options};
use crate::secret::Secret;

/// Length of a generated password.
const LENGTH: usize = 20;
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
/// Symbols that need no quoting in a CSV cell or a shell word, and that a
/// spreadsheet does not read as a formula after the first character.
const SYMBOLS: &[u8] = b"!#%*+-.=?@_~";

/// What a run does for rows without a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Nothing: a row needs its own password (manual mode).
    Off,
    /// Each gets a generated one.
    On,
    /// A dry run: none is generated; the row says one would be.
    DryRun,
}

impl Generation {
    pub(crate) fn of(opts: &Options) -> Generation {
        match (&opts.generate_passwords, opts.dry_run) {
            (None, _) => Generation::Off,
            (Some(_), false) => Generation::On,
            (Some(_), true) => Generation::DryRun,
        }
    }

    /// Gives a row about to be created a password when its cell is empty.
    /// The error is the row's failure.
    pub(crate) fn fill(self, header: &Header, record: &mut Record) -> Result<(), String> {
        if self == Generation::Off || !record.get(header, Column::Password).is_empty() {
            return Ok(());
        }
        let password = match self {
            Generation::On => Generated::Yes(generate().map_err(|e| {
                format!(
                    "cannot generate a password: the operating system's random source failed \
                     ({e}); nothing was sent for this row"
                )
            })?),
            Generation::DryRun | Generation::Off => Generated::Would,
        };
        record.set_generated(password);
        Ok(())
    }
}

/// `--generate-passwords` goes with manual mode and an operation that
/// creates users, and its file must be new or empty.
pub(crate) fn check(opts: &Options, mode: PasswordMode) -> Result<(), Error> {
    let Some(path) = &opts.generate_passwords else {
        return Ok(());
    };
    if matches!(opts.command, Command::Delete { .. }) {
        return Err(Error::Usage(
            "--generate-passwords does not apply to delete (it creates nobody): remove it".into(),
        ));
    }
    if mode != PasswordMode::Manual {
        let who = if mode == PasswordMode::UserChoice {
            "the portal e-mails each new user to choose one"
        } else {
            "the portal generates each new user's password and tells nobody"
        };
        return Err(Error::Usage(format!(
            "--generate-passwords needs \"password_setup_mode\": \"manual\" in the config; it is \
             \"{}\" ({who}): remove --generate-passwords or set \"manual\"",
            PasswordMode::NAMES[mode as usize]
        )));
    }
    check_file(path)
}

/// The passwords file may exist only empty: a run never overwrites the
/// passwords of an earlier one.
pub(crate) fn check_file(path: &Path) -> Result<(), Error> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::Usage(format!(
            "--generate-passwords {} is a folder; give the path of a new file",
            path.display()
        ))),
        Ok(m) if m.len() > 0 => Err(Error::Usage(format!(
            "--generate-passwords {} exists and is not empty: it may hold the passwords of an \
             earlier run. Move it away (and hand those passwords over) or give a new path",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// A password of [`LENGTH`] characters with lower case, upper case, digits
/// and a symbol, starting with a letter or digit; every character drawn
/// uniformly from the operating system's secure random source.
pub(crate) fn generate() -> Result<Secret, getrandom::Error> {
    let alphabet: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    // The largest multiple of the alphabet's size a byte holds: bytes above
    // it are dropped, so that no character is likelier than another.
    let limit = 256 - 256 % alphabet.len();
    loop {
        let mut out = Vec::with_capacity(LENGTH);
        while out.len() < LENGTH {
            let mut bytes = [0u8; 64];
            getrandom::fill(&mut bytes)?;
            out.extend(
                bytes
                    .iter()
                    .map(|b| usize::from(*b))
                    .filter(|b| *b < limit)
                    .map(|b| alphabet[b % alphabet.len()])
                    .take(LENGTH - out.len()),
            );
        }
        if is_strong(&out) {
            // Only ASCII from the alphabet: always UTF-8.
            return Ok(Secret::new(String::from_utf8_lossy(&out).into_owned()));
        }
    }
}

/// Every class present, and no symbol first.
fn is_strong(p: &[u8]) -> bool {
    [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .all(|class| p.iter().any(|c| class.contains(c)))
        && p.first().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_and_different_each_time() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let p = generate().unwrap();
            let p = p.expose();
            assert_eq!(p.len(), LENGTH);
            assert!(is_strong(p.as_bytes()), "{p}");
            assert!(
                p.bytes()
                    .all(|b| [LOWER, UPPER, DIGITS, SYMBOLS].concat().contains(&b))
            );
            assert!(seen.insert(p.to_owned()), "a password came twice");
        }
    }

    #[test]
    fn every_character_of_the_alphabet_comes() {
        let mut counts = std::collections::HashMap::new();
        for _ in 0..500 {
            for b in generate().unwrap().expose().bytes().skip(1) {
                *counts.entry(b).or_insert(0u32) += 1;
            }
        }
        let alphabet = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
        assert_eq!(counts.len(), alphabet.len());
        // 9,500 draws over 74 characters: about 128 each.
        assert!(counts.values().all(|n| (60..250).contains(n)), "{counts:?}");
    }

    #[test]
    fn weak_ones_are_recognised() {
        assert!(is_strong(b"aB3!xxxxxxxxxxxxxxxx"));
        assert!(!is_strong(b"ab3!xxxxxxxxxxxxxxxx"), "no upper case");
        assert!(!is_strong(b"aBc!xxxxxxxxxxxxxxxx"), "no digit");
        assert!(!is_strong(b"aB3xxxxxxxxxxxxxxxxx"), "no symbol");
        assert!(!is_strong(b"!aB3xxxxxxxxxxxxxxxx"), "a symbol first");
    }

    #[test]
    fn only_a_row_without_a_password_gets_one() {
        let reading = crate::input::Reading {
            generate_passwords: true,
            ..PasswordMode::Manual.into()
        };
        let cells = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        let (h, _) = Header::parse(cells("username,email,password"), reading).unwrap();
        let row = |p: &str| Record::new(2, cells(&format!("a,a@x.io,{p}")));

        let mut own = row("Own-Passw0rd");
        Generation::On.fill(&h, &mut own).unwrap();
        assert_eq!(own.get(&h, Column::Password), "Own-Passw0rd");
        assert!(matches!(own.generated(), Generated::No));

        let mut none = row(" ");
        Generation::On.fill(&h, &mut none).unwrap();
        let Generated::Yes(p) = none.generated() else {
            panic!("no password generated")
        };
        assert_eq!(none.get(&h, Column::Password), p.expose());
        assert_eq!(
            none.cell(&h, Column::Password),
            "",
            "the file's cell is unchanged"
        );

        let mut dry = row("");
        Generation::DryRun.fill(&h, &mut dry).unwrap();
        assert!(matches!(dry.generated(), Generated::Would));
        assert_eq!(dry.get(&h, Column::Password), "");

        let mut off = row("");
        Generation::Off.fill(&h, &mut off).unwrap();
        assert!(matches!(off.generated(), Generated::No));
    }

    #[test]
    fn the_file_may_exist_only_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwords.csv");
        assert!(check_file(&p).is_ok());
        std::fs::write(&p, "").unwrap();
        assert!(check_file(&p).is_ok());
        std::fs::write(&p, "username,email,password\n").unwrap();
        let e = check_file(&p).unwrap_err().to_string();
        assert!(e.contains("exists and is not empty"), "{e}");
        assert!(
            check_file(dir.path())
                .unwrap_err()
                .to_string()
                .contains("folder")
        );
    }
}
