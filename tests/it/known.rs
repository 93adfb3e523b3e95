//! Know who exists before sending (issue 19, SPEC §12a): every import reads
//! the user list at start when the token may, so a re-run sends nothing, a
//! row naming two users is a conflict, only what is sent is validated, the
//! export → update round trip holds in every password mode, and an export is
//! a private file that goes where it is told.

use std::fmt::Write as _;
use std::path::Path;

use crate::support::*;
use serde_json::json;

fn export(ws: &Workspace, out: &Path) -> std::process::Output {
    importer()
        .arg("export")
        .arg(&ws.config)
        .arg(out)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn a_rerun_of_a_thousand_existing_users_sends_nothing_at_the_defaults() {
    let sb = Sandbox::start(SandboxConfig {
        latency: std::time::Duration::from_millis(20),
        ..SandboxConfig::default()
    });
    for i in 1..=1000 {
        sb.add_user(&format!("user{i:05}"), &format!("user{i:05}@example.com"));
    }
    let ws = Workspace::new(&sb, "manual");
    let csv = ws.write("u.csv", users_csv(1000, true));
    // The defaults: -c 8 -r 10. Sending 1,000 POSTs would take 100 s.
    let out = ws.cmd(&["--no-progress", "-q"], &csv).output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(
        &stderr,
        "1,000 rows: 0 created, 1,000 skipped, 0 failed in ",
    );
    assert_eq!(sb.post_count(), 0);
    assert_eq!(sb.count_method("GET"), 3, "groups, fax numbers, users");
}

#[test]
fn a_row_naming_two_users_is_a_conflict_and_nothing_is_sent() {
    let sb = Sandbox::start(SandboxConfig::default());
    sb.add_user("alice", "alice@example.com");
    sb.add_user("bob", "bob@example.com");
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", "username,email\nalice,bob@example.com\n");
    let out = ws
        .cmd(&["-r", "0", "--no-progress"], &csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "bob@example.com... Failed: line 2: conflict: the username is the portal's user \"alice\" \
         and the e-mail is the portal's user \"bob\"; nothing was changed: fix the row\n"
    );
    assert_eq!(sb.post_count(), 0);
}

#[test]
fn an_existing_user_needs_no_password_and_a_new_one_fails_alone_without() {
    let sb = Sandbox::start(SandboxConfig::default());
    sb.add_user("tirion", "tirion@example.com");
    let ws = Workspace::new(&sb, "manual");
    // --existing skip (the default): the existing user's empty password cell is fine.
    let csv = ws.write(
        "u.csv",
        "username,email,password\ntirion,tirion@example.com,\nnew,new@example.com,Passw0rd-1\n",
    );
    let out = ws
        .cmd(&["-r", "0", "--no-progress"], &csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        lines_of(&out),
        [
            "tirion@example.com... Skipped: already exists",
            "new@example.com... Success"
        ]
    );
    // --existing update without a password column at all: the update goes,
    // the row that would create fails alone, saying why.
    let csv = ws.write(
        "v.csv",
        "username,email,job_title\ntirion,tirion@example.com,Hand\nsansa,sansa@example.com,Lady\n",
    );
    let out = ws
        .cmd(&["-r", "0", "--no-progress", "--existing", "update"], &csv)
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "the file has no \"password\" column");
    let mut lines = lines_of(&out);
    lines.sort();
    assert_eq!(
        lines,
        [
            "sansa@example.com... Failed: line 3: password is empty (password_setup_mode is \
             \"manual\": each row needs one)",
            "tirion@example.com... Updated: job_title: (empty) → Hand",
        ]
    );
    assert_eq!(sb.post_count(), 1);
}

/// Users whose portal values the import's row rules would reject.
fn odd_users(sb: &Sandbox) {
    sb.add_user_with(
        "user",
        json!({"username": "ann marie", "email": "ann@example.com", "first_name": "Ann"}),
    );
    sb.add_user_with(
        "user",
        json!({"username": "zoë", "email": "zoe@example.com", "language": "es"}),
    );
    sb.add_user_with(
        "user",
        json!({"username": "local", "email": "a@localhost", "time_zone": "Mars/Olympus"}),
    );
    sb.add_user_with(
        "user",
        json!({"username": "faxer", "email": "faxer@example.com",
               "main_fax_number": "+1 (514) 555-0199"}),
    );
    for i in 1..=20 {
        sb.add_user_with(
            "user",
            json!({"username": format!("user{i:02}"), "email": format!("user{i:02}@example.com"),
                   "job_title": "Ranger", "language": "fr", "time_zone": "Paris", "group_id": 13}),
        );
    }
}

#[test]
fn export_then_update_is_all_unchanged_in_every_mode_odd_values_included() {
    for mode in ["manual", "user_choice", "random"] {
        let sb = Sandbox::start(SandboxConfig::default());
        odd_users(&sb);
        let ws = Workspace::new(&sb, mode);
        let file = ws.path("users.csv");
        let out = export(&ws, &file);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr_of(&out));
        let before = sb.received().len();
        let out = ws
            .cmd(&["-r", "0", "--no-progress", "--existing", "update"], &file)
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{mode}: {stderr}");
        assert_has(
            &stderr,
            "24 rows: 0 created, 0 updated, 24 unchanged, 0 failed",
        );
        let lines = lines_of(&out);
        assert!(
            lines.iter().all(|l| l.ends_with("... Unchanged")),
            "{mode}: {lines:?}"
        );
        let sent: Vec<String> = sb.received()[before..]
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(sent.is_empty(), "{mode}: {sent:?}");
        // A sync of the export changes nothing either.
        let out = importer()
            .args(["sync", ws.config.to_str().unwrap(), file.to_str().unwrap()])
            .args(["-r", "0", "--no-progress"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr_of(&out));
        assert_eq!(sb.write_count(), 0, "{mode}");
    }
}

#[test]
fn a_changed_cell_is_validated_an_unchanged_odd_one_is_not() {
    let sb = Sandbox::start(SandboxConfig::default());
    odd_users(&sb);
    let ws = Workspace::new(&sb, "random");
    // zoë's language stays "es" (unchanged, not judged); local's time zone
    // is changed to another unknown one (sent, so judged).
    let csv = ws.write(
        "u.csv",
        "username,email,language,time_zone\nzoë,zoe@example.com,es,\nlocal,a@localhost,,Mars/Phobos\n",
    );
    let out = ws
        .cmd(&["-r", "0", "--no-progress", "--existing", "update"], &csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let lines = lines_of(&out);
    assert_eq!(lines[0], "zoe@example.com... Unchanged");
    assert!(
        lines[1].starts_with(
            "a@localhost... Failed: line 3: time_zone \"Mars/Phobos\" is not a time zone"
        ),
        "{lines:?}"
    );
    assert_eq!(sb.write_count(), 0);
}

#[cfg(unix)]
#[test]
fn an_export_is_private_and_a_named_pipe_is_written_to_not_replaced() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let sb = Sandbox::start(SandboxConfig::default());
    let mut names = String::new();
    for i in 1..=50 {
        sb.add_user(&format!("user{i:02}"), &format!("user{i:02}@example.com"));
        writeln!(names, "user{i:02}").unwrap();
    }
    let ws = Workspace::new(&sb, "random");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let new = ws.path("new.csv");
    assert_eq!(export(&ws, &new).status.code(), Some(0));
    assert_eq!(mode(&new), 0o600);
    let public = ws.write("public.csv", "old\n");
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(export(&ws, &public).status.code(), Some(0));
    assert_eq!(
        mode(&public),
        0o600,
        "an export over a public file is private"
    );
    let private = ws.write("private.csv", "old\n");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(export(&ws, &private).status.code(), Some(0));
    assert_eq!(mode(&private), 0o400, "a stricter mode is kept");

    // A named pipe: the reader waiting on it gets the export.
    let fifo = ws.path("export.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = export(&ws, &fifo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let got = reader.join().unwrap();
    assert_eq!(got.lines().count(), 51, "{got}");
    assert!(got.contains("user50@example.com"));
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the pipe is still a pipe"
    );
}
