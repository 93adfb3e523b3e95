//! What the administrator reads and keeps: lines, JSON, report, failed rows,
//! quiet mode, the summary, and the progress bar on a terminal only.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::support::*;
use predicates::prelude::*;

/// Created, existing, rejected by the portal, invalid locally, duplicate.
const MIXED: &str = "username,email,first_name,password\n\
    jaime,jaime@westeros.com,Jaime,Golden-Hand-1\n\
    cersei,cersei@westeros.com,Cersei,Wildfire-22\n\
    tommen,tommen@westeros.com,Tommen,kitty\n\
    myrcella,not-an-email,Myrcella,Dorne-Sun-33\n\
    joffrey,joffrey@westeros.com,\"Joffrey, First of His Name\",Crossbow-44\n\
    JAIME,jaime2@westeros.com,Jaime,Golden-Hand-1\n";

fn mixed_run(extra: &[&str]) -> (Sandbox, Workspace, std::process::Output) {
    let sb = Sandbox::start(SandboxConfig::default());
    sb.add_user("cersei", "cersei@westeros.com");
    let ws = Workspace::new(&sb, "manual");
    let csv = ws.write("users.csv", MIXED);
    let mut args = vec![
        "-c",
        "1",
        "--report",
        "report.csv",
        "--failed",
        "failed.csv",
    ];
    args.extend_from_slice(extra);
    let out = ws
        .cmd(&args, &csv)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    (sb, ws, out)
}

#[test]
fn text_lines_and_summary() {
    let (_sb, _ws, out) = mixed_run(&[]);
    assert_eq!(out.status.code(), Some(1));
    // Local failures are reported as soon as they are read, so the order may differ.
    let lines: std::collections::BTreeSet<String> =
        stdout_of(&out).lines().map(String::from).collect();
    for want in [
        "jaime@westeros.com... Success",
        "cersei@westeros.com... Skipped: already exists",
        "tommen@westeros.com... Failed: password: is too short (minimum is 8 characters)",
        "not-an-email... Failed: line 5: email does not appear to be valid (\"not-an-email\")",
        "joffrey@westeros.com... Success",
        "jaime2@westeros.com... Failed: line 7: duplicate of line 2 (username \"JAIME\" appears there too)",
    ] {
        assert!(lines.contains(want), "missing {want:?} in {lines:#?}");
    }
    assert_eq!(lines.len(), 6);
    let stderr = stderr_of(&out);
    assert_has(&stderr, "6 rows: 2 created, 1 skipped, 3 failed in ");
    assert_has(&stderr, "report: report.csv");
    assert!(
        stderr.contains("failed rows: failed.csv (3 rows, owner-only"),
        "{stderr}"
    );
}

#[test]
fn the_report_has_one_row_per_input_row() {
    let (_sb, ws, _out) = mixed_run(&[]);
    let mut r = csv::Reader::from_path(ws.path("report.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "line",
            "username",
            "email",
            "status",
            "attempts",
            "http_status",
            "message",
            "warning"
        ]
    );
    let rows: HashMap<String, csv::StringRecord> = r
        .records()
        .map(|x| x.unwrap())
        .map(|x| (x[0].to_owned(), x))
        .collect();
    assert_eq!(rows.len(), 6);
    let status = |line: &str| {
        (
            rows[line][3].to_owned(),
            rows[line][4].to_owned(),
            rows[line][5].to_owned(),
        )
    };
    assert_eq!(status("2"), ("created".into(), "1".into(), "200".into()));
    // Found in the user list read at start: skipped with no request.
    assert_eq!(status("3"), ("skipped".into(), "0".into(), String::new()));
    assert_eq!(status("4"), ("failed".into(), "1".into(), "422".into()));
    assert_eq!(status("5"), ("failed".into(), "0".into(), String::new()));
    assert_eq!(status("6"), ("created".into(), "1".into(), "200".into()));
    assert_eq!(status("7"), ("failed".into(), "0".into(), String::new()));
    assert_eq!(
        &rows["4"][6],
        "password: is too short (minimum is 8 characters)"
    );
}

#[test]
fn the_failed_file_reimports_as_it_is() {
    let (sb, ws, _out) = mixed_run(&[]);
    let failed_path = ws.path("failed.csv");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&failed_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the failed-rows file can hold passwords");
    }
    // Exactly the failed rows, cell for cell as in the input.
    let read = |p: &std::path::Path| -> Vec<Vec<String>> {
        csv::Reader::from_path(p)
            .unwrap()
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    };
    let input = read(&ws.path("users.csv"));
    let failed = read(&failed_path);
    let want: Vec<Vec<String>> = [2usize, 3, 5].iter().map(|i| input[*i].clone()).collect();
    let mut got = failed.clone();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted);
    assert_eq!(
        std::fs::read_to_string(&failed_path)
            .unwrap()
            .lines()
            .next(),
        Some("username,email,first_name,password")
    );

    // Fed back as it is: the same rows fail for the same reasons, nothing else is sent.
    let before = sb.post_count();
    let out = ws
        .cmd(&["-c", "1"], &failed_path)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_of(&out).lines().count(), 3);
    assert_eq!(
        sb.post_count(),
        before + 1,
        "tommen is sent; the former duplicate (now first of its name) names a user the list \
         at start holds: skipped without a request"
    );
}

#[test]
fn json_lines_parse_and_count_right() {
    let (_sb, _ws, out) = mixed_run(&["--output", "json"]);
    let stdout = stdout_of(&out);
    let objs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 6);
    let count = |s: &str| objs.iter().filter(|o| o["status"] == s).count();
    assert_eq!(
        (count("created"), count("skipped"), count("failed")),
        (2, 1, 3)
    );
    let tommen = objs.iter().find(|o| o["username"] == "tommen").unwrap();
    assert_eq!(tommen["line"], 4);
    assert_eq!(tommen["http_status"], 422);
    assert_eq!(tommen["attempts"], 1);
    assert_eq!(tommen["email"], "tommen@westeros.com");
    assert_eq!(
        tommen["message"],
        "password: is too short (minimum is 8 characters)"
    );
    let jaime = objs.iter().find(|o| o["username"] == "jaime").unwrap();
    assert_eq!(jaime["message"], serde_json::Value::Null);
}

#[test]
fn quiet_prints_no_success_line_but_failures_and_summary() {
    let (_sb, _ws, out) = mixed_run(&["-q"]);
    let stdout = stdout_of(&out);
    assert!(
        !stdout.contains("Success") && !stdout.contains("Skipped"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 3);
    assert!(stderr_of(&out).contains("6 rows: 2 created"));
}

#[test]
fn warnings_name_the_line_and_the_group() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write(
        "u.csv",
        "username,email,group\nbronn,bronn@westeros.com,Sellswords\n",
    );
    ws.cmd(&[], &csv)
        .assert()
        .success()
        .stdout("bronn@westeros.com... Success\n")
        .stderr(predicate::str::contains(
            "warning: line 2: bronn@westeros.com: group \"Sellswords\" does not exist in the enterprise; the default group was used",
        ));
}

#[test]
fn no_bar_when_stderr_is_not_a_terminal() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(50, false));
    let out = ws.cmd(&[], &csv).output().unwrap();
    let stderr = stderr_of(&out);
    for c in ['█', '░', '\r', '\u{1b}'] {
        assert!(!stderr.contains(c), "bar residue {c:?} in {stderr:?}");
    }
    assert!(!stderr.contains("50/50"));
}

/// Runs the binary under a pseudo-terminal (util-linux `script`) and reads the bar.
#[test]
fn the_bar_shows_position_and_total_on_a_terminal() {
    let sb = Sandbox::start(SandboxConfig {
        latency: std::time::Duration::from_millis(30),
        ..Default::default()
    });
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(120, false));
    let args = format!("-c 4 -r 0 -q {} {}", ws.config.display(), csv.display());
    let (code, screen) = on_a_terminal(&args, "");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("/120"), "no N/total in {screen:?}");
    assert!(screen.contains("users/s"), "{screen:?}");
    assert!(screen.contains("120 rows: 120 created"), "{screen:?}");
}

#[test]
fn a_repeated_warning_is_shown_three_times_then_counted() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let mut csv = String::from("username,email,group\n");
    for i in 1..=8 {
        writeln!(csv, "merc{i},merc{i}@westeros.com,Sellswords").unwrap();
    }
    let csv = ws.write("u.csv", csv);
    let out = ws
        .cmd(&["-c", "1", "--report", "r.csv"], &csv)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(
        stderr
            .matches("group \"Sellswords\" does not exist")
            .count(),
        4,
        "{stderr}"
    );
    assert_has(
        &stderr,
        "warning: 5 more rows with: group \"Sellswords\" does not exist in the enterprise; the default group was used (the report lists each row)",
    );
    let report = std::fs::read_to_string(ws.path("r.csv")).unwrap();
    assert_eq!(
        report.matches("Sellswords").count(),
        8,
        "every row keeps its warning in the report"
    );
}

#[test]
fn a_run_that_cannot_start_leaves_the_previous_files_alone() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    ws.edit_config(sandbox::TOKEN, "expired");
    let csv = ws.write("u.csv", users_csv(3, false));
    let failed = ws.write("failed.csv", "username,email\nkept,kept@example.com\n");
    let report = ws.write("report.csv", "the last run's report\n");
    ws.cmd(
        &[
            "--failed",
            failed.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &csv,
    )
    .assert()
    .code(2);
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        "username,email\nkept,kept@example.com\n"
    );
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "the last run's report\n"
    );
}

#[test]
fn a_dry_run_reads_the_journal_but_never_writes_it() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(4, false));
    let journal = ws.path("j.journal");
    let j = journal.to_str().unwrap();
    ws.cmd(&["--journal", j], &csv).assert().success();
    // A kill cut the last entry in half.
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"6\tuser0");
    std::fs::write(&journal, &bytes).unwrap();
    ws.cmd(&["--journal", j, "--dry-run"], &csv)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "4 rows done in an earlier run will not be sent again",
        ));
    assert_eq!(std::fs::read(&journal).unwrap(), bytes);
}
