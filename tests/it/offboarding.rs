//! Offboarding (SPEC §12): `delete` and `sync`, their plan, their safety
//! rails (`--yes`, `--max-deletes`, a quarter of the enterprise,
//! administrators) and the confirmation typed on a terminal.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::support::*;
use serde_json::{Value, json};

const FAULTS: [Fault; 4] = [
    Fault::CreateThenReset,
    Fault::CreateThenError500,
    Fault::Reset,
    Fault::Error500,
];

fn count_lines(out: &std::process::Output, suffix: &str) -> usize {
    lines_of(out).iter().filter(|l| l.ends_with(suffix)).count()
}

/// `xmc-user-importer SUBCOMMAND CONFIG CSV ARGS… -r 0 -c 16 --no-progress`.
fn run(sub: &str, ws: &Workspace, csv: &Path, args: &[&str]) -> std::process::Output {
    importer()
        .arg(sub)
        .arg(&ws.config)
        .arg(csv)
        .args(args)
        .args(["-r", "0", "-c", "16", "--no-progress"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap()
}

fn usernames(sb: &Sandbox) -> BTreeSet<String> {
    sb.users()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

/// `count` users of role `user`, `user00001`…, each with a first name, a
/// job title, a language and a group; and the administrator `maester`.
fn enterprise(sb: &Sandbox, count: usize) {
    for i in 1..=count {
        sb.add_user_with(
            "user",
            json!({"username": format!("user{i:05}"), "email": format!("user{i:05}@example.com"),
                   "first_name": format!("User {i}"), "job_title": "Ranger", "language": "en",
                   "group_id": 12}),
        );
    }
    sb.add_user_with(
        "admin",
        json!({"username": "maester", "email": "maester@westeros.com"}),
    );
}

/// Done when (4): 50 named users, 5 unknown, 1 administrator.
#[test]
fn delete_fifty_named_five_unknown_and_an_administrator() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 60);
    let ws = Workspace::new(&sb, "random");
    let mut csv = String::from("username,email\n");
    for i in 1..=50 {
        writeln!(csv, "user{i:05},user{i:05}@example.com").unwrap();
        if i == 25 {
            csv.push_str("maester,maester@westeros.com\n");
        }
    }
    for i in 1..=5 {
        writeln!(csv, "ghost{i},ghost{i}@westeros.com").unwrap();
    }
    let csv = ws.write("leavers.csv", csv);
    let plan_names = "to delete: user00001, user00002, user00003, user00004, user00005 and 45 more";

    // No terminal, no --yes: refused, nothing deleted.
    let out = run("delete", &ws, &csv, &[]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(&stderr, "plan: - 50 to delete, 5 absent, 1 failing");
    assert_has(&stderr, plan_names);
    assert_has(&stderr, "--yes");
    assert_eq!(sb.count_method("DELETE"), 0);

    // --dry-run: the plan and every row, nothing deleted; the admin row fails.
    let report = ws.path("dry.csv");
    let out = run(
        "delete",
        &ws,
        &csv,
        &["--dry-run", "--report", report.to_str().unwrap()],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "plan: - 50 to delete, 5 absent, 1 failing");
    assert_eq!(sb.count_method("DELETE"), 0);
    let rows = csv_maps(&report);
    assert_eq!(rows.len(), 56);
    let would = rows
        .iter()
        .filter(|r| r["status"] == "valid" && r["message"] == "would be deleted")
        .count();
    assert_eq!(would, 50, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r["status"] == "absent").count(), 5);
    assert_eq!(count_lines(&out, "... Valid"), 50);

    // --yes: exactly the 50; the administrator is spared and fails.
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(sb.count_method("DELETE"), 50);
    assert_has(&stderr, "56 rows: 50 deleted, 5 absent, 1 failed in ");
    assert_eq!(count_lines(&out, "... Deleted"), 50);
    let lines = lines_of(&out);
    for i in 1..=5 {
        assert!(
            lines.contains(&format!("ghost{i}@westeros.com... Absent: no such user")),
            "{lines:?}"
        );
    }
    let admin = lines
        .iter()
        .find(|l| l.starts_with("maester@westeros.com... Failed: "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_has(admin, "--include-admins");
    let left = usernames(&sb);
    let want: BTreeSet<String> = (51..=60)
        .map(|i| format!("user{i:05}"))
        .chain(["maester".to_owned()])
        .collect();
    assert_eq!(left, want);

    // Again: nothing to delete, 55 absent, the administrator still refused.
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "plan: - 0 to delete, 55 absent, 1 failing");
    assert_has(&stderr, "56 rows: 0 deleted, 55 absent, 1 failed in ");
    assert_eq!(count_lines(&out, "... Absent: no such user"), 55);
    assert_eq!(sb.count_method("DELETE"), 50);
    assert_eq!(usernames(&sb), want);
}

#[test]
fn delete_by_email_alone_any_case_and_admins_with_include_admins() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 3);
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write(
        "leavers.csv",
        "email\nUSER00001@Example.com\nmaester@westeros.com\n",
    );
    // A dry run of rows that can all be deleted: exit 0.
    let out = run("delete", &ws, &csv, &["--dry-run", "--include-admins"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_has(&stderr_of(&out), "plan: - 2 to delete");
    assert_eq!(sb.count_method("DELETE"), 0);
    let out = run("delete", &ws, &csv, &["--yes", "--include-admins"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let mut lines = lines_of(&out);
    lines.sort();
    assert_eq!(
        lines,
        [
            "USER00001@Example.com... Deleted",
            "maester@westeros.com... Deleted"
        ]
    );
    assert_eq!(
        usernames(&sb),
        BTreeSet::from(["user00002".to_owned(), "user00003".to_owned()])
    );
    // Again: both absent, which is fine.
    let out = run("delete", &ws, &csv, &["--yes", "--include-admins"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(count_lines(&out, "... Absent: no such user"), 2);
    assert_has(
        &stderr_of(&out),
        "2 rows: 0 deleted, 2 absent, 0 failed in ",
    );
    assert_eq!(sb.count_method("DELETE"), 2);
    // A username column alone suffices too.
    let csv = ws.write("leavers.csv", "username\nUser00002\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(lines_of(&out), ["User00002... Deleted"]);
    assert_eq!(usernames(&sb), BTreeSet::from(["user00003".to_owned()]));
}

/// A deletion whose answer was lost is retried; its 404 then counts as deleted.
#[test]
fn deletes_under_faults_count_each_user_once() {
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 0.15,
        faults: FAULTS.to_vec(),
        ..Default::default()
    });
    enterprise(&sb, 80);
    let ws = Workspace::new(&sb, "random");
    let mut csv = String::from("username\n");
    for i in 1..=60 {
        writeln!(csv, "user{i:05}").unwrap();
    }
    let csv = ws.write("leavers.csv", csv);
    let out = run(
        "delete",
        &ws,
        &csv,
        &["--yes", "--retries", "8", "--timeout", "2"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(&stderr, "60 rows: 60 deleted, 0 absent, 0 failed in ");
    assert_eq!(count_lines(&out, "... Deleted"), 60);
    let faults: usize = sb.fault_counts().values().sum();
    assert!(faults >= 3, "too few faults to mean anything: {faults}");
    let want: BTreeSet<String> = (61..=80)
        .map(|i| format!("user{i:05}"))
        .chain(["maester".to_owned()])
        .collect();
    assert_eq!(usernames(&sb), want);
}

/// Done when (5): 160 rows (10 edited, 20 new) against 150 users and an
/// administrator, under 15% faults: the portal ends as the file plus the
/// administrator; a second sync sends nothing.
#[test]
fn sync_under_faults_makes_the_enterprise_the_file() {
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 0.15,
        faults: FAULTS.to_vec(),
        ..Default::default()
    });
    enterprise(&sb, 150);
    let ws = Workspace::new(&sb, "random");
    let mut rows: Vec<[String; 6]> = (1..=140)
        .map(|i| {
            [
                format!("user{i:05}"),
                format!("user{i:05}@example.com"),
                format!("User {i}"),
                (if i <= 10 { "Maester" } else { "Ranger" }).to_owned(),
                "en".to_owned(),
                "Casterly Rock".to_owned(),
            ]
        })
        .collect();
    rows.extend((1..=20).map(|i| {
        [
            format!("new{i:05}"),
            format!("new{i:05}@example.com"),
            format!("New {i}"),
            "Squire".to_owned(),
            "fr".to_owned(),
            "Winterfell".to_owned(),
        ]
    }));
    let mut csv = String::from("username,email,first_name,job_title,language,group\n");
    for r in &rows {
        csv.push_str(&r.join(","));
        csv.push('\n');
    }
    let csv = ws.write("hr.csv", csv);
    let report = ws.path("report.csv");
    // Retries enough for 15% faults; room for the 10 deletions.
    let sync = [
        "--delete-missing",
        "--yes",
        "--max-deletes",
        "20",
        "--retries",
        "8",
        "--timeout",
        "2",
    ];
    let report_arg = report.to_str().unwrap();
    let first = [&sync[..], &["--no-welcome-email", "--report", report_arg]].concat();
    let out = run("sync", &ws, &csv, &first);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 20 to create, ~ 10 to update, - 10 to delete, 130 unchanged",
    );
    assert_has(
        &stderr,
        "to delete: user00141, user00142, user00143, user00144, user00145 and 5 more",
    );
    assert_has(
        &stderr,
        "20 created, 10 updated, 130 unchanged, 10 deleted, 0 failed in ",
    );
    let faults: usize = sb.fault_counts().values().sum();
    assert!(faults >= 5, "too few faults to mean anything: {faults}");

    // The portal: the file's users, as the file has them, and the administrator.
    let mut want: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    want.insert("maester".into());
    assert_eq!(usernames(&sb), want);
    for r in &rows {
        let u = sb.user_by_username(&r[0]).unwrap();
        assert_eq!(u["email"], r[1].as_str(), "{u}");
        assert_eq!(u["first_name"], r[2].as_str(), "{u}");
        assert_eq!(u["job_title"], r[3].as_str(), "{u}");
        assert_eq!(u["language"], r[4].as_str(), "{u}");
        let group = if r[5] == "Winterfell" { 13 } else { 12 };
        assert_eq!(u["group_id"], json!(group), "{u}");
    }
    for b in sb.post_bodies() {
        assert_eq!(b["user"]["disable_welcome_email"], json!(true), "{b}");
    }
    // Deletes last: every write that deletes came after every create and update.
    let received = sb.received();
    let last_upsert = received
        .iter()
        .filter(|r| r.method == "POST" || r.method == "PUT")
        .map(|r| r.at)
        .max()
        .unwrap();
    let first_delete = received
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.at)
        .min()
        .unwrap();
    assert!(
        last_upsert < first_delete,
        "a delete before a create or update"
    );
    // Each deletion: an output line and a report row without a line number.
    let lines = lines_of(&out);
    for i in 141..=150 {
        assert!(
            lines.contains(&format!("user{i:05}@example.com... Deleted")),
            "{lines:?}"
        );
    }
    let report = csv_maps(&report);
    assert_eq!(report.len(), 170);
    let deleted: BTreeSet<&str> = report
        .iter()
        .filter(|r| r["status"] == "deleted")
        .map(|r| {
            assert_eq!(r["line"], "", "{r:?}");
            r["username"].as_str()
        })
        .collect();
    let want_deleted: BTreeSet<String> = (141..=150).map(|i| format!("user{i:05}")).collect();
    assert_eq!(
        deleted,
        want_deleted
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );
    assert!(
        report
            .iter()
            .all(|r| r["status"] == "deleted" || !r["line"].is_empty())
    );

    // Again: nothing to do, nothing sent.
    let writes = write_requests(&sb);
    let out = run("sync", &ws, &csv, &sync);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 0 to create, ~ 0 to update, - 0 to delete, 160 unchanged",
    );
    assert_has(
        &stderr,
        "160 rows: 0 created, 0 updated, 160 unchanged, 0 deleted, 0 failed in ",
    );
    assert_eq!(write_requests(&sb), writes);
    assert_eq!(count_lines(&out, "... Unchanged"), 160);
}

/// Done when (6): a truncated roster must never empty an enterprise.
#[test]
fn a_truncated_roster_is_refused_with_nothing_sent() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 150);
    let ws = Workspace::new(&sb, "random");
    // The first 10 users (one edited) and a new one.
    let mut csv = String::from("username,email,job_title\n");
    for i in 1..=10 {
        let title = if i == 1 { "Maester" } else { "Ranger" };
        writeln!(csv, "user{i:05},user{i:05}@example.com,{title}").unwrap();
    }
    csv.push_str("newbie,newbie@example.com,Squire\n");
    let csv = ws.write("truncated.csv", csv);
    let before = sb.users();

    // The default --max-deletes (10).
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 1 to create, ~ 1 to update, - 140 to delete, 9 unchanged",
    );
    assert_has(&stderr, "more than --max-deletes 10");
    assert_has(&stderr, "--max-deletes 140");
    assert_eq!(write_requests(&sb), 0);

    // A --max-deletes high enough: then more than a quarter of the enterprise.
    let out = run(
        "sync",
        &ws,
        &csv,
        &["--delete-missing", "--yes", "--max-deletes", "1000"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(
        &stderr,
        "140 of the enterprise's 150 users a sync may delete",
    );
    assert_has(&stderr, "more than a quarter");
    assert_eq!(write_requests(&sb), 0);
    assert_eq!(sb.users(), before);

    // Without --delete-missing the same file only creates and updates.
    let out = run("sync", &ws, &csv, &[]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 1 to create, ~ 1 to update, - 0 to delete, 9 unchanged",
    );
    assert_eq!(sb.count_method("POST"), 1);
    assert_eq!(sb.count_method("PUT"), 1);
    assert_eq!(sb.count_method("DELETE"), 0);
    assert_eq!(sb.users().len(), 152);
}

#[test]
fn sync_asks_for_yes_off_a_terminal_and_dry_run_sends_nothing() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 8);
    let ws = Workspace::new(&sb, "random");
    // user00008 is missing; user00001 changes; arya is new.
    let mut csv = String::from("username,email,job_title\n");
    for i in 1..=7 {
        let title = if i == 1 { "Maester" } else { "Ranger" };
        writeln!(csv, "user{i:05},user{i:05}@example.com,{title}").unwrap();
    }
    csv.push_str("arya,arya@westeros.com,\n");
    let csv = ws.write("hr.csv", csv);

    let out = run("sync", &ws, &csv, &["--delete-missing"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 1 to create, ~ 1 to update, - 1 to delete, 6 unchanged",
    );
    assert_has(&stderr, "to delete: user00008");
    assert_has(&stderr, "add --yes");
    assert_eq!(write_requests(&sb), 0);

    let report = ws.path("dry.csv");
    let out = run(
        "sync",
        &ws,
        &csv,
        &[
            "--delete-missing",
            "--dry-run",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(
        &stderr,
        "plan: + 1 to create, ~ 1 to update, - 1 to delete, 6 unchanged",
    );
    assert_eq!(write_requests(&sb), 0);
    assert_eq!(csv_maps(&report).len(), 9);

    // With --yes, as JSON lines: the deletion has "line": null.
    let out = run(
        "sync",
        &ws,
        &csv,
        &["--delete-missing", "--yes", "--output", "json"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: Vec<Value> = lines_of(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 9);
    let deletion = json.iter().find(|j| j["status"] == "deleted").unwrap();
    assert_eq!(deletion["line"], Value::Null, "{deletion}");
    assert_eq!(deletion["username"], "user00008");
    let statuses: BTreeSet<String> = json.iter().map(|j| j["status"].to_string()).collect();
    assert_eq!(
        statuses,
        BTreeSet::from(
            ["\"created\"", "\"updated\"", "\"unchanged\"", "\"deleted\""].map(String::from)
        )
    );
    assert!(!usernames(&sb).contains("user00008"));
    assert!(
        usernames(&sb).contains("maester"),
        "an administrator deleted"
    );
    // Nothing to delete: no --yes needed.
    let out = run("sync", &ws, &csv, &["--delete-missing"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

#[test]
fn a_token_without_the_directory_permission_stops_delete_and_sync_before_anything() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 3);
    let ws = Workspace::new(&sb, "random");
    ws.edit_config(sandbox::TOKEN, sandbox::LIMITED_TOKEN);
    let csv = ws.write(
        "u.csv",
        "username,email,job_title\nuser00001,user00001@example.com,Maester\nnew,new@example.com,\n",
    );
    for (sub, args) in [
        ("delete", &["--yes"][..]),
        ("sync", &["--delete-missing", "--yes"][..]),
        ("sync", &[][..]),
    ] {
        let out = run(sub, &ws, &csv, args);
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{sub} {args:?}: {stderr}");
        assert!(stderr.contains("Query user directory"), "{sub}: {stderr}");
        assert_eq!(write_requests(&sb), 0, "{sub} {args:?}");
    }
    assert_eq!(sb.users().len(), 4);
}

/// Runs `delete` under a pseudo-terminal (util-linux `script`, as in
/// tests/output.rs) with `answer` typed on it.
fn delete_on_a_terminal(ws: &Workspace, csv: &Path, answer: &str) -> (Option<i32>, String) {
    let args = format!(
        "delete {} {} -r 0 --no-progress",
        ws.config.display(),
        csv.display()
    );
    on_a_terminal(&args, answer)
}

/// Done when (7): on a terminal the account name typed confirms; anything
/// else deletes nothing.
#[test]
fn on_a_terminal_the_account_name_typed_confirms() {
    let sb = Sandbox::start(SandboxConfig::default());
    enterprise(&sb, 3);
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("leavers.csv", "username\nuser00001\nuser00002\n");
    let prompt = "type the enterprise account name (westeros) to delete 2 users: ";

    let (code, screen) = delete_on_a_terminal(&ws, &csv, "winterfell\n");
    assert_eq!(code, Some(2), "{screen}");
    assert_has(&screen, "plan: - 2 to delete");
    assert_has(&screen, prompt);
    assert_has(&screen, "not confirmed");
    assert_eq!(sb.count_method("DELETE"), 0);
    assert_eq!(sb.users().len(), 4);

    let (code, screen) = delete_on_a_terminal(&ws, &csv, "westeros\n");
    assert_eq!(code, Some(0), "{screen}");
    assert_has(&screen, prompt);
    assert_has(&screen, "2 rows: 2 deleted");
    assert_eq!(sb.count_method("DELETE"), 2);
    assert_eq!(
        usernames(&sb),
        BTreeSet::from(["user00003".to_owned(), "maester".to_owned()])
    );
}

/// A sync stopped before its deletions (the token revoked mid-run): the
/// deletions of users the file does not name are "not attempted", counted
/// apart from the file's rows, and kept out of the failed-rows file (an
/// import of it would create them).
#[test]
fn a_sync_stopped_before_its_deletions_counts_them_apart() {
    let sb = Sandbox::start(SandboxConfig {
        revoke_after: Some(3),
        ..Default::default()
    });
    enterprise(&sb, 20);
    let ws = Workspace::new(&sb, "random");
    // 15 of the 20 kept, each edited (15 PUTs); 5 to delete.
    let mut csv = String::from("username,email,job_title\n");
    for i in 1..=15 {
        writeln!(csv, "user{i:05},user{i:05}@example.com,Maester").unwrap();
    }
    let csv = ws.write("hr.csv", csv);
    let failed = ws.path("failed.csv");
    let report = ws.path("report.csv");
    let out = run(
        "sync",
        &ws,
        &csv,
        &[
            "--delete-missing",
            "--yes",
            "--failed",
            failed.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(&stderr, "stopped: the portal refused the access token");
    // 15 rows (not 20), and a rate a run could reach (the deletions not
    // attempted are not subtracted from the rows).
    assert_has(
        &stderr,
        "15 rows: 0 created, 3 updated, 0 unchanged, 0 deleted, ",
    );
    let summary = stderr.lines().find(|l| l.starts_with("15 rows: ")).unwrap();
    let rate: f64 = summary
        .rsplit_once('(')
        .and_then(|(_, r)| r.split_once(' '))
        .map(|(r, _)| r.parse().unwrap())
        .unwrap();
    assert!(rate < 1e6, "{summary}");
    assert_has(&stderr, "(12 rows, owner-only");
    // Finished by an update: a sync of those 12 rows would delete the rest.
    assert_has(
        &stderr,
        &format!(
            "fix them and run: xmc-user-importer import CONFIG {} --existing update",
            failed.display()
        ),
    );
    assert_eq!(sb.count_method("DELETE"), 0);
    // The failed-rows file: the file's 12 rows, none of the deletions.
    let (_, rows) = read_csv(&failed);
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r[0] != "user00016"), "{rows:?}");
    // The report: every row and every deletion, the deletions without a line.
    let report = csv_maps(&report);
    assert_eq!(report.len(), 20);
    let deletions: Vec<_> = report.iter().filter(|r| r["line"].is_empty()).collect();
    assert_eq!(deletions.len(), 5);
    assert!(
        deletions.iter().all(|r| r["status"] == "not_attempted"),
        "{deletions:?}"
    );
}

/// A delete reads its names from standard input: every row is decided
/// before anything is sent, so a stop leaves none unaccounted for; and it
/// looks up neither groups nor fax numbers.
#[test]
fn a_delete_from_standard_input_accounts_for_every_row_after_a_stop() {
    let sb = Sandbox::start(SandboxConfig {
        revoke_after: Some(2),
        ..Default::default()
    });
    enterprise(&sb, 12);
    let ws = Workspace::new(&sb, "random");
    let mut names = String::from("email\n");
    for i in 1..=10 {
        writeln!(names, "user{i:05}@example.com").unwrap();
    }
    let out = run_code(
        importer()
            .args(["delete", "--yes", "-c", "1", "-r", "0"])
            .arg(&ws.config)
            .arg("-")
            .write_stdin(names),
        2,
    );
    let stderr = stderr_of(&out);
    assert_has(&stderr, "plan: - 10 to delete");
    assert_has(
        &stderr,
        "10 rows: 2 deleted, 0 absent, 1 failed, 7 not attempted in ",
    );
    assert!(!stderr.contains("was not read past"), "{stderr}");
    assert_eq!(sb.count_method("DELETE"), 3, "two, then the refused one");
    let lookups: Vec<String> = sb
        .paths("GET")
        .into_iter()
        .filter(|p| p.ends_with("/groups") || p.ends_with("/fax_numbers"))
        .collect();
    assert_eq!(lookups, Vec::<String>::new());
}
