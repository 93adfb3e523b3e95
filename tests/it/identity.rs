//! Never the wrong person (SPEC §12a, issue 18): `delete`, `sync` and
//! updates act only on a user identified beyond doubt. Each test plants in
//! the sandbox the mess a real directory holds, runs the real binary, and
//! asserts on what the portal received (no PUT or DELETE reaches a user it
//! must not, and none goes to any path but `/users/{that user's exact id}`)
//! and on what the operator saw.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::support::*;
use serde_json::{Value, json};

/// `xmc-user-importer SUB CONFIG CSV ARGS… -r 0 --no-progress`.
fn run(sub: &str, ws: &Workspace, csv: &Path, args: &[&str]) -> std::process::Output {
    importer()
        .arg(sub)
        .arg(&ws.config)
        .arg(csv)
        .args(args)
        .args(["-r", "0", "--no-progress"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

/// The paths of every PUT and DELETE, as `METHOD path`.
fn writes(sb: &Sandbox) -> Vec<String> {
    sb.received()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "DELETE" || r.method == "POST")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Every PUT and DELETE went to one of these ids, and only to them.
fn assert_writes_only_to(sb: &Sandbox, ids: &[&str]) {
    let allowed: BTreeSet<String> = ids
        .iter()
        .map(|id| sb.enterprise_url(&format!("/users/{id}")))
        .map(|u| u.split_once("/enterprises").unwrap().1.to_owned())
        .map(|p| format!("/enterprises{p}"))
        .collect();
    for r in sb.received() {
        if r.method == "PUT" || r.method == "DELETE" {
            assert!(
                allowed.contains(&r.path),
                "{} {} reached a user it must not (allowed: {allowed:?})",
                r.method,
                r.path
            );
        }
    }
}

fn sandbox() -> (Sandbox, Workspace) {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    (sb, ws)
}

fn sandbox_with(cfg: SandboxConfig) -> (Sandbox, Workspace) {
    let sb = Sandbox::start(cfg);
    let ws = Workspace::new(&sb, "random");
    (sb, ws)
}

/// `n` ordinary users `user01…`.
fn ordinary(sb: &Sandbox, n: usize) {
    for i in 1..=n {
        sb.add_user(&format!("user{i:02}"), &format!("user{i:02}@w.com"));
    }
}

/// `head` (a header and rows) followed by the rows of the 8 ordinary users.
fn with_ordinary(head: &str) -> String {
    let mut csv = head.to_owned();
    for i in 1..=8 {
        writeln!(csv, "user{i:02},user{i:02}@w.com").unwrap();
    }
    csv
}

fn line_of(out: &std::process::Output, start: &str) -> String {
    lines_of(out)
        .into_iter()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in {:?}", lines_of(out)))
}

#[test]
fn an_administrator_without_a_readable_role_is_never_deleted() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 8);
    let roles = [
        ("nokey", None),
        ("nullrole", Some(Value::Null)),
        ("listrole", Some(json!(["admin"]))),
        ("objrole", Some(json!({"name": "admin"}))),
        ("emptylist", Some(json!([]))),
    ];
    for (i, (name, role)) in roles.iter().enumerate() {
        let mut entry = json!({"id": 500 + i, "username": name, "email": format!("{name}@w.com")});
        if let Some(r) = role {
            entry["role"] = r.clone();
        }
        sb.plant(entry);
    }
    // `delete` names them all: every row fails, nothing is sent.
    let mut csv = String::from("username\n");
    for (name, _) in &roles {
        writeln!(csv, "{name}").unwrap();
    }
    let csv = ws.write("leavers.csv", csv);
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "plan: - 0 to delete, 5 failing");
    assert_has(&stderr, "spared: 5 role unknown");
    assert_has(
        &line_of(&out, "nullrole... Failed: "),
        "has no readable role (it is null): not deleted, whatever the options",
    );
    assert_has(
        &line_of(&out, "listrole... Failed: "),
        "no readable role (it is a list)",
    );
    // Not even with --include-admins.
    let out = run("delete", &ws, &csv, &["--yes", "--include-admins"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(sb.count_method("DELETE"), 0);

    // A sync whose file names only the ordinary users: they are kept, the
    // five are spared, nobody is deleted.
    let csv = ws.write("roster.csv", with_ordinary("username,email\n"));
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_has(&stderr, "- 0 to delete");
    assert_has(&stderr, "spared: 5 role unknown");
    assert_eq!(sb.count_method("DELETE"), 0);
    assert_eq!(sb.planted().len(), 5);
}

#[test]
fn a_user_listed_twice_is_ambiguous_never_unchanged_then_deleted() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 8);
    let twice = json!({"id": 77, "username": "jon", "email": "jon@w.com", "role": "user"});
    sb.plant(twice.clone());
    sb.plant(twice);
    let csv = ws.write(
        "roster.csv",
        "username,email\njon,jon@w.com\nuser01,user01@w.com\nuser02,user02@w.com\n",
    );
    let out = run(
        "sync",
        &ws,
        &csv,
        &["--delete-missing", "--yes", "--max-deletes", "100"],
    );
    let stdout = stdout_of(&out);
    // The quarter rail: 6 of the 8 users a sync may delete.
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    // Jon is named by the file (in a failing row): never a deletion, and
    // not among those spared either.
    assert_has(&stderr_of(&out), "- 6 to delete, 2 unchanged, 1 failing");
    assert!(!stderr_of(&out).contains("spared"), "{}", stderr_of(&out));
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
    // The file names everybody now: jon's row fails, nobody is deleted.
    let csv = with_ordinary("username,email\njon,jon@w.com\n");
    let csv = ws.write("roster.csv", csv);
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    let stdout = stdout + &stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let jon: Vec<&str> = stdout.lines().filter(|l| l.starts_with("jon@")).collect();
    assert_eq!(jon.len(), 1, "one line for jon: {jon:?}");
    assert_has(
        jon[0],
        "Failed: line 2: ambiguous: the portal lists its user \"jon\" (id 77) 2 times",
    );
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
}

#[test]
fn two_users_sharing_an_id_are_never_deleted_through_it() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 8);
    sb.plant(json!({"id": 5, "username": "alice", "email": "alice@w.com", "role": "user"}));
    sb.plant(json!({"id": 5, "username": "bob", "email": "bob@w.com", "role": "user"}));
    let csv = with_ordinary("username,email\nalice,alice@w.com\n");
    let csv = ws.write("roster.csv", csv);
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "- 0 to delete");
    assert_has(&stderr, "spared: 1 ambiguous");
    assert_has(
        &line_of(&out, "alice@w.com... Failed: "),
        "the portal lists the id 5 for more than one entry",
    );
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
    assert_eq!(sb.planted().len(), 2);
}

#[test]
fn names_that_differ_only_in_case_are_ambiguous() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 8);
    sb.plant(json!({"id": 20, "username": "Bob", "email": "bob20@w.com", "role": "user"}));
    sb.plant(json!({"id": 21, "username": "bob", "email": "bob21@w.com", "role": "user"}));
    let csv = ws.write("leaver.csv", "username\nbob\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "spared: 1 ambiguous");
    let line = line_of(&out, "bob... Failed: line 2: ");
    assert_has(&line, "the username matches 2 users of the portal");
    assert_has(&line, "\"Bob\" (id 20)");
    assert_has(&line, "\"bob\" (id 21)");
    // A sync whose file names `Bob,bob1@…`: neither is deleted.
    let csv = with_ordinary("username,email\nBob,bob1@w.com\n");
    let csv = ws.write("roster.csv", csv);
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
    assert_eq!(sb.planted().len(), 2);
}

#[test]
fn two_users_sharing_an_email_are_not_deleted_by_it() {
    let (sb, ws) = sandbox();
    sb.plant(json!({"id": 30, "username": "carol", "email": "shared@w.com", "role": "user"}));
    sb.plant(json!({"id": 31, "username": "dave", "email": "Shared@W.com", "role": "user"}));
    let csv = ws.write("leaver.csv", "email\nshared@w.com\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let line = line_of(&out, "shared@w.com... Failed: ");
    assert_has(&line, "ambiguous: the e-mail matches 2 users");
    assert_has(&line, "nobody was deleted");
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
}

#[test]
fn padded_decomposed_and_invisible_names_are_matched_or_refused_never_deleted() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 8);
    sb.plant(json!({"id": 40, "username": "trail ", "email": "trail@w.com", "role": "user"}));
    sb.plant(json!({"id": 41, "username": " lead", "email": "lead@w.com", "role": "user"}));
    // "zoé" with the accent as a combining mark (NFD); the file has NFC.
    sb.plant(json!({"id": 42, "username": "zoe", "email": "zoe\u{301}@w.com", "role": "user"}));
    sb.plant(
        json!({"id": 43, "username": "fr\u{200b}ank", "email": "frank@w.com", "role": "user"}),
    );
    // One the file does not name, with an invisible character: spared.
    sb.plant(
        json!({"id": 44, "username": "gh\u{200b}ost", "email": "ghost@w.com", "role": "user"}),
    );
    let csv = with_ordinary(
        "username,email\ntrail,trail@w.com\nlead,lead@w.com\nzoe,zo\u{e9}@w.com\nfrank,frank@w.com\n",
    );
    let csv = ws.write("roster.csv", csv);
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "+ 0 to create");
    assert_has(&stderr, "- 0 to delete");
    assert_has(&stderr, "spared: 1 with an invisible character");
    assert!(!stderr.contains('\u{200b}'), "shown raw: {stderr}");
    let frank = line_of(&out, "frank@w.com... Failed: ");
    assert_has(&frank, "fr\\u{200b}ank");
    assert_has(&frank, "invisible or control character");
    assert!(!stdout_of(&out).contains('\u{200b}'));
    for l in ["trail@w.com... Unchanged", "lead@w.com... Unchanged"] {
        assert!(
            lines_of(&out).contains(&l.to_owned()),
            "{:?}",
            lines_of(&out)
        );
    }
    assert_has(&line_of(&out, "zo\u{e9}@w.com... "), "Unchanged");
    assert!(
        !stderr.contains("cannot change an e-mail"),
        "the same e-mail in another normal form: {stderr}"
    );
    assert!(
        writes(&sb).is_empty(),
        "no look-alike created, none deleted: {:?}",
        writes(&sb)
    );
}

#[test]
fn an_id_that_does_not_round_trip_is_never_sent() {
    let (sb, ws) = sandbox_with(SandboxConfig {
        ruby_ids: true,
        ..SandboxConfig::default()
    });
    sb.plant(json!({"id": 1, "username": "ceo", "email": "ceo@w.com", "role": "user"}));
    let odd = r#"[
        {"id": 18446744073709551616, "username": "leaver", "email": "leaver@w.com", "role": "user"},
        {"id": 1.2e29, "username": "exp", "email": "exp@w.com", "role": "user"},
        {"id": 2.5, "username": "half", "email": "half@w.com", "role": "user"},
        {"id": "x\ny", "username": "newline", "email": "nl@w.com", "role": "user"}
    ]"#;
    for entry in serde_json::from_str::<Vec<Value>>(odd).unwrap() {
        sb.plant(entry);
    }
    let csv = ws.write("leavers.csv", "username\nleaver\nexp\nhalf\nnewline\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "spared: 4 with an unusable id");
    assert_has(
        &line_of(&out, "leaver... Failed: line 2: "),
        "has an id that cannot name it in a request",
    );
    assert_has(
        &line_of(&out, "newline... Failed: line 5: "),
        "(id \"x\\ny\")",
    );
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
    assert!(sb.planted().iter().any(|u| u["username"] == "ceo"));
    // A sync never reaches them either.
    let csv = ws.write("roster.csv", "username,email\nceo,ceo@w.com\n");
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_has(&stderr_of(&out), "spared: 4 with an unusable id");
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
}

#[test]
fn a_user_without_a_username_is_matched_by_email_and_an_unusable_one_is_not_absent() {
    let (sb, ws) = sandbox();
    sb.plant(json!({"id": 60, "username": null, "email": "nameless@w.com", "role": "user"}));
    sb.plant(json!({"id": 61, "username": "", "email": "blank@w.com", "role": "user"}));
    sb.plant(json!({"id": ".", "username": "dot", "email": "dot@w.com", "role": "user"}));
    sb.plant(json!({"id": "..", "username": "dotdot", "email": "dotdot@w.com", "role": "user"}));
    let csv = ws.write(
        "leavers.csv",
        "email\nnameless@w.com\nblank@w.com\ndot@w.com\ndotdot@w.com\n",
    );
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines = lines_of(&out);
    assert!(
        lines.contains(&"nameless@w.com... Deleted".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"blank@w.com... Deleted".to_owned()),
        "{lines:?}"
    );
    for who in ["dot@w.com", "dotdot@w.com"] {
        let l = line_of(&out, &format!("{who}... "));
        assert_has(&l, "Failed: ");
        assert_has(&l, "cannot name it in a request");
        assert!(!l.contains("Absent"), "{l}");
    }
    assert_writes_only_to(&sb, &["60", "61"]);
    assert_eq!(sb.count_method("DELETE"), 2);
}

#[test]
fn a_list_answer_without_data_is_an_error_not_an_empty_enterprise() {
    let (sb, ws) = sandbox_with(SandboxConfig {
        list_answer: Some(json!({"result": true})),
        ..SandboxConfig::default()
    });
    // export: exit 2, the last backup left as it was.
    let backup = ws.write("backup.csv", "username,email\nkept,kept@w.com\n");
    let out = importer()
        .args([
            "export",
            ws.config.to_str().unwrap(),
            backup.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(&stderr, "no list of users");
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "username,email\nkept,kept@w.com\n"
    );
    // sync: exit 2, nobody created.
    let csv = ws.write("roster.csv", "username,email\nnew,new@w.com\n");
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(writes(&sb).is_empty());
    // `data: null` too.
    let (sb, ws) = sandbox_with(SandboxConfig {
        list_answer: Some(json!({"result": true, "data": null})),
        ..SandboxConfig::default()
    });
    let csv = ws.write("roster.csv", "username,email\nnew,new@w.com\n");
    let out = run("sync", &ws, &csv, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_has(&stderr_of(&out), "no list of users");
    assert!(writes(&sb).is_empty());
}

#[test]
fn the_quarter_rail_counts_only_the_users_a_sync_may_delete() {
    let (sb, ws) = sandbox();
    ordinary(&sb, 10);
    for i in 1..=30 {
        sb.add_user_with(
            "admin",
            json!({"username": format!("admin{i:02}"), "email": format!("admin{i:02}@w.com")}),
        );
    }
    let csv = ws.write("empty.csv", "username,email\n");
    let out = run(
        "sync",
        &ws,
        &csv,
        &["--delete-missing", "--yes", "--max-deletes", "100"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_has(&stderr, "spared: 30 administrators");
    assert_has(
        &stderr,
        "the plan deletes 10 of the enterprise's 10 users a sync may delete (100%",
    );
    assert!(writes(&sb).is_empty());
    assert_eq!(sb.users().len(), 40);
}

#[test]
fn a_user_promoted_after_the_list_was_read_is_not_deleted() {
    let (sb, ws) = sandbox_with(SandboxConfig {
        promote_on_list: Some("brienne".into()),
        ..SandboxConfig::default()
    });
    ordinary(&sb, 8);
    let id = sb.add_user("brienne", "brienne@w.com");
    let csv = ws.write("leaver.csv", "username\nbrienne\nuser01\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_has(&stderr, "plan: - 2 to delete");
    let line = line_of(&out, "brienne... Failed: ");
    assert_has(&line, "not deleted: \"brienne\"");
    assert_has(&line, "now has the role \"admin\"");
    assert!(lines_of(&out).contains(&"user01... Deleted".to_owned()));
    assert!(sb.user(id).is_some(), "brienne is still there");
    // The check is a GET of that very user, right before its DELETE.
    let gets = sb.paths("GET");
    assert!(
        gets.contains(&format!("/enterprises/westeros/users/{id}")),
        "{gets:?}"
    );
    assert_writes_only_to(&sb, &["1000"]);
    // A sync: the same.
    let (sb, ws) = sandbox_with(SandboxConfig {
        promote_on_list: Some("brienne".into()),
        ..SandboxConfig::default()
    });
    ordinary(&sb, 8);
    let id = sb.add_user("brienne", "brienne@w.com");
    let csv = with_ordinary("username,email\n");
    let csv = ws.write("roster.csv", csv);
    let out = run("sync", &ws, &csv, &["--delete-missing", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_has(
        &line_of(&out, "brienne@w.com... Failed: "),
        "now has the role \"admin\"",
    );
    assert!(sb.user(id).is_some());
    assert_eq!(sb.count_method("DELETE"), 0);
}

#[test]
fn an_id_that_names_someone_else_by_the_time_of_the_delete_is_not_deleted() {
    // Right after the list is read, the id of `arya` names another user
    // (deleted and reused, or renamed): the check before the DELETE sees it.
    let (sb, ws) = sandbox_with(SandboxConfig {
        rename_on_list: Some(("arya".into(), "sansa".into())),
        ..SandboxConfig::default()
    });
    let id = sb.add_user("arya", "arya@w.com");
    let csv = ws.write(
        "leaver.csv",
        "username
arya
",
    );
    let out = run("delete", &ws, &csv, &["--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let line = line_of(&out, "arya... Failed: ");
    assert_has(
        &line,
        &format!("not deleted: the id {id} is now \"sansa\" (id {id}) <arya@w.com>"),
    );
    assert_has(&line, "not the user the list named (\"arya\" <arya@w.com>)");
    assert_eq!(sb.count_method("DELETE"), 0);
    assert!(sb.user(id).is_some());
}

#[test]
fn no_content_answers_are_successes() {
    let (sb, ws) = sandbox_with(SandboxConfig {
        no_content: true,
        ..SandboxConfig::default()
    });
    let tirion = sb.add_user_with(
        "user",
        json!({"username": "tirion", "email": "t@w.com", "job_title": "Hand"}),
    );
    sb.add_user("arya", "arya@w.com");
    let csv = ws.write(
        "update.csv",
        "username,email,job_title\ntirion,t@w.com,King\n",
    );
    let out = run("import", &ws, &csv, &["--existing", "update"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        lines_of(&out),
        ["t@w.com... Updated: job_title: Hand → King"]
    );
    assert_eq!(sb.count_method("PUT"), 1, "not retried");
    assert_eq!(sb.user(tirion).unwrap()["job_title"], "King");
    let csv = ws.write("leaver.csv", "username\narya\n");
    let out = run("delete", &ws, &csv, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(lines_of(&out), ["arya... Deleted"]);
    assert_eq!(sb.count_method("DELETE"), 1);
}
