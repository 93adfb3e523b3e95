//! The core import, end to end: the real binary against the sandbox over HTTP.
//! Also a large file with broken rows, imported, dry-run and dry-run offline,
//! and `--strict` on groups and fax numbers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::support::*;
use predicates::prelude::*;
use serde_json::json;

const ALL_COLUMNS: &str = "username,email,first_name,last_name,group,password,fax_number,salutation,job_title,company_name,address,city,state,country,zip_code,phone_number,mobile_number,language,time_zone";

#[test]
fn quick_start_row_sends_exactly_the_user_object() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let csv = ws.write("sample.csv", std::fs::read("examples/sample.csv").unwrap());
    ws.cmd(&[], &csv)
        .assert()
        .success()
        .stdout("tirion.lannister@westeros.com... Success\n")
        .stderr(predicate::str::contains(
            "1 row: 1 created, 0 skipped, 0 failed",
        ));
    assert_eq!(
        sb.post_bodies(),
        vec![json!({"user": {
            "username": "tirion", "email": "tirion.lannister@westeros.com", "role": "user",
            "group_id": "12", "fax_number_type": "enterprise", "language": "fr",
            "first_name": "Tirion", "last_name": "Lannister", "salutation": "Lord",
            "job_title": "Hand of the King", "company_name": "House Lannister",
            "password_setup_type": "force", "password": "Wine&Books-42", "password_confirmation": "Wine&Books-42"
        }})]
    );
    // The three lookups (groups, fax numbers, the users: SPEC §12a), once
    // each, before the POST; the four headers on every request.
    let rec = sb.received();
    let order: Vec<(String, String)> = rec
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        order,
        [
            ("GET".into(), "/enterprises/westeros/groups".into()),
            ("GET".into(), "/enterprises/westeros/fax_numbers".into()),
            ("GET".into(), "/enterprises/westeros/users".into()),
            ("POST".into(), "/enterprises/westeros/users".into())
        ]
    );
    for r in &rec {
        assert_eq!(r.token.as_deref(), Some(sandbox::TOKEN));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.accept.as_deref(), Some("application/json"));
        assert_eq!(
            r.user_agent.as_deref(),
            Some(concat!("xmc-user-importer/", env!("CARGO_PKG_VERSION")))
        );
    }
}

#[test]
fn every_column_maps_to_its_key() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let csv = ws.write(
        "all.csv",
        format!(
            "{ALL_COLUMNS}\n\
             jsnow,jon.snow@westeros.com,Jon,Snow,winterfell,Ghost-1234,+15145550101,Lord,Commander,Night's Watch,\"Castle Black, The Wall\",Winterfell,North,Westeros,W-001,+15145550000,+15145559999,De,eastern time (us & canada)\n\
             arya,arya@westeros.com,,,,Needle-5678,,,,,,,,,,,,,\n"
        ),
    );
    ws.cmd(&["--no-progress"], &csv).assert().success();
    let bodies = sb.post_bodies();
    let jon = bodies
        .iter()
        .find(|b| b["user"]["username"] == "jsnow")
        .unwrap();
    assert_eq!(
        jon,
        &json!({"user": {
            "username": "jsnow", "email": "jon.snow@westeros.com", "role": "user", "group_id": "13",
            "selected_fax_number": "501", "fax_number_type": "selected", "language": "de",
            "time_zone": "Eastern Time (US & Canada)", "first_name": "Jon", "last_name": "Snow",
            "salutation": "Lord", "job_title": "Commander", "company_name": "Night's Watch",
            "address": "Castle Black, The Wall", "city": "Winterfell", "state": "North", "country": "Westeros",
            "zip_code": "W-001", "phone_number": "+15145550000", "mobile_number": "+15145559999",
            "password_setup_type": "force", "password": "Ghost-1234", "password_confirmation": "Ghost-1234"
        }})
    );
    let arya = bodies
        .iter()
        .find(|b| b["user"]["username"] == "arya")
        .unwrap();
    assert_eq!(
        arya,
        &json!({"user": {"username": "arya", "email": "arya@westeros.com", "role": "user", "group_id": "1",
            "fax_number_type": "enterprise", "password_setup_type": "force",
            "password": "Needle-5678", "password_confirmation": "Needle-5678"}})
    );
}

#[test]
fn password_modes() {
    for (mode, setup) in [
        ("manual", "force"),
        ("user_choice", "user"),
        ("random", "auto"),
    ] {
        let sb = Sandbox::start(SandboxConfig::default());
        let ws = Workspace::new(&sb, mode);
        let csv = ws.write(
            "u.csv",
            "username,email,password\nbran,bran@westeros.com,Raven-Eyes-3\n",
        );
        ws.cmd(&[], &csv).assert().success();
        let b = &sb.post_bodies()[0]["user"];
        assert_eq!(b["password_setup_type"], setup, "{mode}");
        if mode == "manual" {
            assert_eq!(b["password"], "Raven-Eyes-3");
            assert_eq!(b["password_confirmation"], "Raven-Eyes-3");
        } else {
            assert!(
                b.get("password").is_none() && b.get("password_confirmation").is_none(),
                "{mode}: {b}"
            );
        }
    }
    // Outside manual mode the password column is not even required.
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", "username,email\nbran,bran@westeros.com\n");
    ws.cmd(&[], &csv).assert().success();
}

#[test]
fn a_rejected_row_next_to_an_accepted_one() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let csv = ws.write(
        "u.csv",
        "username,email,password\nsansa,sansa@westeros.com,Lemon-Cakes-1\nrickon,rickon@westeros.com,short\n",
    );
    let out = ws
        .cmd(&["-c", "1"], &csv)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = stdout_of(&out);
    assert_has(&stdout, "sansa@westeros.com... Success\n");
    assert_has(
        &stdout,
        "rickon@westeros.com... Failed: password: is too short (minimum is 8 characters)\n",
    );
    assert!(stderr_of(&out).contains("2 rows: 1 created, 0 skipped, 1 failed"));
}

#[test]
fn five_hundred_users_at_concurrency_twelve() {
    let sb = Sandbox::start(SandboxConfig {
        latency: std::time::Duration::from_millis(20),
        ..Default::default()
    });
    let ws = Workspace::new(&sb, "user_choice");
    let csv = ws.write("u.csv", users_csv(500, false));
    let out = ws
        .cmd(&["--concurrency", "12", "--rate", "0"], &csv)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = stdout_of(&out);
    assert_eq!(stdout.lines().count(), 500);
    for i in 1..=500 {
        let line = format!("user{i:05}@example.com... Success");
        assert_eq!(stdout.lines().filter(|l| *l == line).count(), 1, "{line}");
    }
    assert_eq!(sb.created().len(), 500);
    assert_eq!(sb.post_count(), 500);
    assert!(sb.max_in_flight() <= 12, "{} in flight", sb.max_in_flight());
    assert!(
        sb.max_in_flight() >= 6,
        "the pool was not used: {}",
        sb.max_in_flight()
    );
}

#[test]
fn rate_limit_holds_in_every_second() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(200, false));
    ws.cmd(&["--rate", "50", "--burst", "5", "-c", "16"], &csv)
        .assert()
        .success();
    assert_eq!(sb.post_count(), 200);
    let busiest = sb.busiest_second();
    assert!(busiest <= 55, "{busiest} POSTs in one second");
}

#[test]
fn wrong_token_exits_2_and_posts_nothing() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    ws.edit_config(sandbox::TOKEN, "wrong-token-123");
    let csv = ws.write("u.csv", users_csv(3, false));
    ws.cmd(&[], &csv)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "refused the access token (HTTP 401",
        ))
        .stderr(predicate::str::contains("Nothing was sent"))
        .stderr(predicate::str::contains("wrong-token-123").not());
    assert_eq!(sb.post_count(), 0);
    // XMC_ACCESS_TOKEN wins over the file.
    ws.cmd(&[], &csv)
        .env("XMC_ACCESS_TOKEN", sandbox::TOKEN)
        .assert()
        .success();
    assert_eq!(sb.created().len(), 3);
}

#[test]
fn missing_required_columns_exit_2_before_anything_is_sent() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    for (csv, missing) in [
        (
            "username,first_name,password\na,b,c\n",
            "has no \"email\" column",
        ),
        (
            "email,first_name\na@b.co,b\n",
            "the required columns \"username\" and \"password\"",
        ),
        ("username,email\na,a@b.co\n", "has no \"password\" column"),
    ] {
        let p = ws.write("m.csv", csv);
        ws.cmd(&[], &p)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(missing))
            .stderr(predicate::str::contains("line 1"));
    }
    assert!(sb.received().is_empty(), "the portal was contacted");
}

#[test]
fn csv_from_standard_input() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    ws.cmd(&[], std::path::Path::new("-"))
        .write_stdin("username,email\nhodor,hodor@westeros.com\n")
        .assert()
        .success()
        .stdout("hodor@westeros.com... Success\n");
}

/// `xmc-user-importer config.json <(generate-users)`: the path is a pipe, not
/// a file; counting its rows first would steal them from the import.
#[cfg(unix)]
#[test]
fn a_named_pipe_is_read_once_and_every_row_is_imported() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let fifo = ws.path("users.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let writer = {
        let fifo = fifo.clone();
        // Far more than the reader's first buffer.
        std::thread::spawn(move || std::fs::write(fifo, users_csv(3000, false)).unwrap())
    };
    ws.cmd(&["-c", "16", "--rate", "0", "-q"], &fifo)
        .assert()
        .success()
        .stderr(predicate::str::contains("3,000 rows: 3,000 created"));
    writer.join().unwrap();
    assert_eq!(sb.created().len(), 3000);
}

// ---- A large file with a broken row every ten ---------------------------

const BIG_HEADER: &str = "username,email,password,fax_number,language,time_zone,group,first_name";

/// 200 rows; every 10th breaks one rule (ten rules, each twice). Returns the
/// file, the usernames of the good rows, and `(line, reason)` of the bad ones.
fn two_hundred_rows() -> (String, BTreeSet<String>, Vec<(u64, String)>) {
    let mut csv = format!("{BIG_HEADER}\n");
    let mut good = BTreeSet::new();
    let mut bad = Vec::new();
    for i in 1..=200u64 {
        let line = i + 1;
        let mut user = format!("user{i:03}");
        let mut email = format!("user{i:03}@example.com");
        let mut password = format!("Passw0rd-{i}");
        let mut fax = if i % 3 == 0 { "+15145550101" } else { "" }.to_owned();
        let mut language = ["en", "FR", "de", ""][usize::try_from(i % 4).unwrap()].to_owned();
        let mut tz = if i % 5 == 0 { "paris" } else { "" }.to_owned();
        let group = if i % 7 == 0 { "Winterfell" } else { "" };
        // Quoted cells with a delimiter or a newline must not shift the lines.
        let first = match i % 13 {
            0 => "\"Snow,\nJon\"".to_owned(),
            1 => "\"Stark, \"\"Arya\"\"\"".to_owned(),
            _ => format!("User {i}"),
        };
        let mut extra = "";
        if i % 10 == 0 {
            let reason = match (i / 10 - 1) % 10 {
                0 => {
                    user = format!("bad user{i}");
                    "has the character \" \" (a space)".to_owned()
                }
                1 => {
                    email = format!("user{i:03}.example.com");
                    "email does not appear to be valid".to_owned()
                }
                2 => {
                    password.clear();
                    "password is empty".to_owned()
                }
                3 => {
                    fax = "5145550101".into();
                    "fax_number \"5145550101\" is not in E.164 form".to_owned()
                }
                4 => {
                    language = "es".into();
                    "language \"es\" is not one of en, fr, de".to_owned()
                }
                5 => {
                    tz = "Pariss".into();
                    "(did you mean \"Paris\"?)".to_owned()
                }
                6 => {
                    user = format!("USER{:03}", i - 5);
                    format!("duplicate of line {} (username", i - 5 + 1)
                }
                7 => {
                    email = "USER001@Example.com".into();
                    "duplicate of line 2 (email".to_owned()
                }
                8 => {
                    extra = ",surplus";
                    "has 9 cells but the header has 8 columns".to_owned()
                }
                _ => {
                    email.clear();
                    "email is empty".to_owned()
                }
            };
            bad.push((line, reason));
        } else {
            good.insert(user.clone());
        }
        writeln!(
            csv,
            "{user},{email},{password},{fax},{language},{tz},{group},{first}{extra}"
        )
        .unwrap();
    }
    (csv, good, bad)
}

/// Exactly the bad rows fail, locally, with their line and reason.
fn assert_failures(stdout: &str, bad: &[(u64, String)]) {
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("... Failed"))
        .collect();
    assert_eq!(failed.len(), bad.len(), "{stdout}");
    for (line, reason) in bad {
        // Named by its e-mail and its line, or (cells not lined up with the
        // header) by its line alone.
        let prefix = format!("Failed: line {line}: ");
        let by_line = format!("line {line}... Failed: ");
        let hits: Vec<&&str> = failed
            .iter()
            .filter(|l| l.contains(&prefix) || l.starts_with(&by_line))
            .collect();
        assert_eq!(hits.len(), 1, "line {line}: {hits:?}");
        assert!(
            hits[0].contains(reason.as_str()),
            "line {line}: {}",
            hits[0]
        );
    }
}

#[test]
fn two_hundred_rows_twenty_broken() {
    let (csv, good, bad) = two_hundred_rows();
    assert_eq!((good.len(), bad.len()), (180, 20));
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let path = ws.write("big.csv", csv);
    let out = ws
        .cmd(&["--no-progress", "--rate", "0", "-c", "8"], &path)
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout.lines().count(), 200);
    assert_failures(&stdout, &bad);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.ends_with("... Success"))
            .count(),
        180
    );
    assert_has(
        &stderr_of(&out),
        "200 rows: 180 created, 0 skipped, 20 failed",
    );
    assert_eq!(sb.post_count(), 180);
    let created: BTreeSet<String> = created_by_username(&sb).into_keys().collect();
    assert_eq!(created, good);
    let c = created_by_username(&sb);
    assert_eq!(c["user013"]["first_name"], "Snow,\nJon");
    assert_eq!(c["user014"]["first_name"], "Stark, \"Arya\"");
    assert_eq!(c["user015"]["time_zone"], "Paris");
    assert_eq!(c["user021"]["group_id"], "13");
    assert_eq!(c["user021"]["selected_fax_number"], "501");
    assert_eq!(c["user001"]["language"], "fr");
}

#[test]
fn dry_run_sends_no_post() {
    let (csv, _, bad) = two_hundred_rows();
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let path = ws.write("big.csv", csv);
    let out = ws
        .cmd(&["--no-progress", "--dry-run"], &path)
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(stdout.lines().count(), 200);
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with("... Valid")).count(),
        180
    );
    assert_failures(&stdout, &bad);
    let methods: Vec<(String, String)> = sb
        .received()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        methods,
        [
            ("GET".into(), "/enterprises/westeros/groups".into()),
            ("GET".into(), "/enterprises/westeros/fax_numbers".into()),
            ("GET".into(), "/enterprises/westeros/users".into()),
        ]
    );
    assert_eq!(sb.post_count(), 0);
}

#[test]
fn dry_run_offline_contacts_nothing() {
    let (csv, _, bad) = two_hundred_rows();
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    let path = ws.write("big.csv", csv);
    // A listener that must see no connection, and a closed port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let listening = format!("http://{}", listener.local_addr().unwrap());
    for endpoint in [listening.as_str(), "http://127.0.0.1:9"] {
        let config = sb.config_json("manual").replace(&sb.url(), endpoint);
        std::fs::write(&ws.config, config).unwrap();
        let out = ws
            .cmd(&["--no-progress", "--dry-run", "--offline"], &path)
            .output()
            .unwrap();
        let stdout = stdout_of(&out);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert_eq!(
            stdout.lines().filter(|l| l.ends_with("... Valid")).count(),
            180,
            "{endpoint}"
        );
        assert_failures(&stdout, &bad);
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the endpoint was contacted: {other:?}"),
    }
    assert!(sb.received().is_empty());
}

#[test]
fn strict_fails_unknown_groups_and_fax_numbers() {
    let csv = "username,email,group,fax_number\n\
               dany,dany@westeros.com,Dragonstone,\n\
               jon,jon@westeros.com,winterfell,+15145550101\n\
               sam,sam@westeros.com,,+15145559999\n";
    // Without --strict: created in the default group, with a warning.
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.write("strict.csv", csv);
    let out = ws.cmd(&["--no-progress"], &path).output().unwrap();
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_has(&stdout, "dany@westeros.com... Success");
    assert_has(
        &stderr,
        "line 2: dany@westeros.com: group \"Dragonstone\" does not exist",
    );
    assert_has(
        &stderr,
        "line 4: sam@westeros.com: fax_number +15145559999 is not one",
    );
    let c = created_by_username(&sb);
    assert_eq!(c["dany"]["group_id"], "1");
    assert_eq!(c["jon"]["group_id"], "13");
    assert_eq!(c["sam"]["fax_number_type"], "enterprise");
    assert!(c["sam"].get("selected_fax_number").is_none());

    // With --strict: those rows fail, the good one is created.
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let path = ws.write("strict.csv", csv);
    let out = ws
        .cmd(&["--no-progress", "--strict"], &path)
        .output()
        .unwrap();
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_has(
        &stdout,
        "dany@westeros.com... Failed: line 2: group \"Dragonstone\" does not exist in the enterprise (--strict)",
    );
    assert_has(
        &stdout,
        "sam@westeros.com... Failed: line 4: fax_number +15145559999 is not one of the enterprise's fax numbers (--strict)",
    );
    assert_has(&stdout, "jon@westeros.com... Success");
    assert_eq!(sb.post_count(), 1);
    assert!(!stderr.contains("Dragonstone"), "{stderr}");
}
