//! `export`: every user of the enterprise as a CSV in the import's own
//! columns, sorted by username: the template, the backup before a bulk
//! change, and a file that imported back with `--existing update` changes
//! nothing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::console::Console;
use crate::engine::stop::Stop;
use crate::error::Error;
use crate::human::{plural, thousands};
use crate::input::Column;
use crate::ops::setup;
use crate::options::Options;
use crate::portal::Directory;
use crate::portal::directory::normalize_number;
use crate::portal::users::PortalUser;
use crate::report::{Operation, Summary};
use crate::sanitize;

/// The import's columns but the password, in its documented order.
fn columns() -> impl Iterator<Item = Column> {
    Column::ALL.into_iter().filter(|c| *c != Column::Password)
}

/// Writes the export to `out` (replaced atomically) or standard output.
pub(crate) async fn run(
    opts: &Options,
    out: Option<&Path>,
    stop: Arc<Stop>,
    console: &mut dyn Console,
) -> Result<Summary, Error> {
    let started = Instant::now();
    setup::check_options(opts)?;
    let (config, warnings) = Config::load(&opts.config, opts.env_token.clone())?;
    for w in warnings {
        console.warn(w);
    }
    let engine = setup::engine(opts, &config, stop)?;
    let dir = setup::look_up_directory(&engine).await?;
    let roster = setup::look_up_users(&engine).await?;
    let mut users: Vec<&PortalUser> = roster.users().iter().collect();
    users.sort_by(|a, b| {
        a.username
            .to_lowercase()
            .cmp(&b.username.to_lowercase())
            .then_with(|| a.username.cmp(&b.username))
    });
    // On a terminal the portal's text is shown, not obeyed (an escape
    // sequence in a name could retitle the window or clear the screen); a
    // file or a pipe gets it exactly, to import back unchanged.
    let shown_on_a_terminal = out.is_none() && std::io::stdout().is_terminal();
    let mut unknown_groups = 0u64;
    let mut bytes = Vec::with_capacity(users.len() * 128);
    {
        let mut w = csv::Writer::from_writer(&mut bytes);
        let io = |e: csv::Error| Error::Export {
            path: out.map_or_else(|| PathBuf::from("-"), Path::to_owned),
            source: e.into(),
        };
        w.write_record(columns().map(Column::name)).map_err(io)?;
        for u in &users {
            let (mut row, known) = row(u, &dir);
            unknown_groups += u64::from(!known);
            if shown_on_a_terminal {
                for cell in &mut row {
                    *cell = sanitize::visible(cell).into_owned();
                }
            }
            w.write_record(&row).map_err(io)?;
        }
        w.flush().map_err(|e| io(e.into()))?;
    }
    if unknown_groups > 0 {
        console.warn(format!(
            "{} user{} in a group the groups lookup does not list: their group cell is empty",
            thousands(unknown_groups),
            plural(unknown_groups)
        ));
    }
    if let Some(path) = out {
        replace(path, &bytes).map_err(|source| Error::Export {
            path: path.to_owned(),
            source,
        })?;
    } else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .map_err(|source| Error::Export {
                path: "-".into(),
                source,
            })?;
    }
    Ok(Summary {
        rows: users.len() as u64,
        elapsed: started.elapsed(),
        operation: Operation::Export,
        exported_to: Some(
            out.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string()),
        ),
        ..Summary::default()
    })
}

/// One user's cells; and whether its group was found.
fn row(u: &PortalUser, dir: &Directory) -> (Vec<String>, bool) {
    let mut known = true;
    let cells = columns()
        .map(|c| match c {
            Column::Group => match u.group_id.as_deref() {
                None => String::new(),
                Some(id) => dir.group_name(id).map_or_else(
                    || {
                        known = false;
                        String::new()
                    },
                    str::to_owned,
                ),
            },
            // As a file gives it (E.164), however the portal formats it:
            // the export imports back unchanged.
            Column::FaxNumber => {
                let by_id = u.fax_id.as_deref().and_then(|id| dir.fax_by_id(id));
                normalize_number(by_id.unwrap_or(u.value(c)))
            }
            _ => u.value(c).to_owned(),
        })
        .collect();
    (cells, known)
}

/// Writes the export to `path`. A named pipe or a device (`/dev/stdout`) is
/// written to as it is: a reader may be waiting on it. A regular file is
/// written next to `path` and renamed over it, so that a reader sees the old
/// file or the new one, never half of either. The export holds the
/// enterprise's personal data: it is created owner-only (0600), and an
/// existing file's stricter mode is kept.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let existing = std::fs::metadata(path).ok();
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        return f.write_all(bytes).and_then(|()| f.flush());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written =
        write_private(&tmp, bytes, existing.as_ref()).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Creates `path` (it must not exist) owner-only, or with `old`'s mode where
/// that is stricter, and writes `bytes` to it.
fn write_private(
    path: &Path,
    bytes: &[u8],
    old: Option<&std::fs::Metadata>,
) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = old.map_or(0o600, |m| m.permissions().mode() & 0o600);
        opts.mode(mode);
        mode
    };
    #[cfg(not(unix))]
    let _ = old;
    let mut f = opts.open(path)?;
    // The umask may have taken bits away, never added any; set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_becomes_the_imports_cells() {
        let dir = Directory::from_answers(
            &json!({"default": 1, "groups": {"1": "Everyone", "12": "Casterly Rock"}}),
            &json!({"fax_numbers": {"501": {"number": "+15145550101"}}}),
        )
        .unwrap();
        let u = PortalUser::from_json(&json!({"id": 7, "username": "tirion", "email": "t@w.com",
            "group_id": 12, "main_fax_number_id": 501, "language": "fr", "first_name": "Tirion"}));
        let (cells, known) = row(&u, &dir);
        assert!(known);
        assert_eq!(
            cells[..6],
            [
                "tirion",
                "t@w.com",
                "Tirion",
                "",
                "Casterly Rock",
                "+15145550101"
            ]
        );
        assert_eq!(cells[16], "fr");
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn an_export_is_private_and_keeps_a_stricter_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let new = d.path().join("new.csv");
        replace(&new, b"a\n").unwrap();
        assert_eq!(mode(&new), 0o600, "a new export is owner-only");
        let public = d.path().join("public.csv");
        std::fs::write(&public, "old\n").unwrap();
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace(&public, b"a\n").unwrap();
        assert_eq!(
            mode(&public),
            0o600,
            "an export over a public file is private"
        );
        let strict = d.path().join("strict.csv");
        std::fs::write(&strict, "old\n").unwrap();
        std::fs::set_permissions(&strict, std::fs::Permissions::from_mode(0o400)).unwrap();
        replace(&strict, b"a\n").unwrap();
        assert_eq!(mode(&strict), 0o400, "a stricter mode is kept");
        assert_eq!(std::fs::read_to_string(&strict).unwrap(), "a\n");
    }

    #[test]
    fn a_file_is_replaced_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("users.csv");
        std::fs::write(&p, "old\n").unwrap();
        replace(&p, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
