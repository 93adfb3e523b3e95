//! Importing an HR system's export as it is (SPEC §13, issue 21): its
//! headers mapped to the import's columns (config and command line),
//! usernames derived and slugged, passwords generated and written only to
//! their file — run through the real binary against the sandbox over HTTP.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::support::*;
use serde_json::{Value, json};

/// The fast settings of a run that does not test pacing.
const FAST: [&str; 5] = ["-r", "0", "--no-progress", "-c", "16"];

/// First names as HR writes them, and their slug.
const FIRST: [(&str, &str); 20] = [
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Ann Marie", "annmarie"),
    ("José", "jose"),
    ("François", "francois"),
    ("Björn", "bjorn"),
    ("Søren", "soren"),
    ("Chloé", "chloe"),
    ("Mary Kate", "marykate"),
    ("Jürgen", "jurgen"),
    ("Noémie", "noemie"),
    ("Ådne", "adne"),
    ("Siobhán", "siobhan"),
    ("Dário", "dario"),
    ("Renée", "renee"),
    ("Zoltán", "zoltan"),
    ("Ines", "ines"),
    ("Mateo", "mateo"),
    ("Jean-Luc", "jean-luc"),
    ("Ørjan", "orjan"),
];

/// Last names, and their slug.
const LAST: [(&str, &str); 10] = [
    ("Núñez", "nunez"),
    ("O'Brien", "obrien"),
    ("Åberg", "aberg"),
    ("D'Arcy", "darcy"),
    ("Müller", "muller"),
    ("van der Berg", "vanderberg"),
    ("Łęcka", "lecka"),
    ("Schäfer", "schafer"),
    ("Ní Bhriain", "nibhriain"),
    ("García", "garcia"),
];

const HR_HEADER: &str =
    "Employee ID,Work Email,Legal First Name,Last Name,Job Title,Preferred Language,Mobile Phone";

/// One HR employee: what the file says, and the username it should give.
struct Employee {
    email: String,
    first: &'static str,
    last: &'static str,
    language: &'static str,
    username: String,
}

fn employees() -> Vec<Employee> {
    (0..200)
        .map(|i| {
            let (first, f) = FIRST[i % 20];
            let (last, l) = LAST[i / 20];
            Employee {
                email: format!("emp{i:03}@acme.example"),
                first,
                last,
                language: ["EN", "FR", "DE"][i % 3],
                username: format!("{f}.{l}"),
            }
        })
        .collect()
}

/// The HR export: 200 rows, its own headers, no username, no password.
fn hr_csv(ws: &Workspace, name: &str) -> PathBuf {
    let mut w = csv::Writer::from_path(ws.path(name)).unwrap();
    w.write_record(HR_HEADER.split(',')).unwrap();
    for (i, e) in employees().iter().enumerate() {
        let id = format!("E{:05}", 1000 + i);
        let mobile = format!("+1514555{i:04}");
        w.write_record([
            id.as_str(),
            &e.email,
            e.first,
            e.last,
            "Analyst",
            e.language,
            &mobile,
        ])
        .unwrap();
    }
    w.flush().unwrap();
    ws.path(name)
}

/// The config of the README's example: the sandbox, manual mode, the
/// mapping and the username's template.
fn hr_config(sb: &Sandbox, ws: &Workspace) {
    let mut config: Value = serde_json::from_str(&sb.config_json("manual")).unwrap();
    config["columns"] = json!({
        "email": "Work Email",
        "first_name": "Legal First Name",
        "last_name": "Last Name",
        "job_title": "Job Title",
        "language": "Preferred Language",
        "mobile_number": "Mobile Phone",
    });
    config["derive"] = json!({ "username": "{first_name}.{last_name}|slug" });
    std::fs::write(&ws.config, config.to_string()).unwrap();
}

/// The passwords file's lines after its header, by username.
fn passwords(path: &Path) -> HashMap<String, (String, String)> {
    let (header, rows) = read_csv(path);
    assert_eq!(header, ["username", "email", "password"]);
    let n = rows.len();
    let map: HashMap<_, _> = rows
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect();
    assert_eq!(map.len(), n, "one line per user");
    map
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> u32 {
    0o600
}

fn is_strong(p: &str) -> bool {
    p.len() >= 16
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_ascii_alphanumeric())
}

#[test]
fn an_hr_export_mapped_in_the_config_creates_every_user_with_a_generated_password() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = hr_csv(&ws, "hr.csv");
    let pw = ws.path("passwords.csv");
    let report = ws.path("report.csv");
    let out = run_code(
        ws.cmd(&[], &file)
            .arg("--generate-passwords")
            .arg(&pw)
            .args(["--report"])
            .arg(&report)
            // Debug diagnostics: no password in them either.
            .arg("-vv")
            .args(FAST),
        0,
    );
    let stderr = stderr_of(&out);
    assert_has(&stderr, "DEBUG");
    assert_has(&stderr, "200 rows: 200 created, 0 skipped, 0 failed");
    assert_has(&stderr, "unknown column \"Employee ID\" is ignored");
    assert_has(
        &stderr,
        &format!(
            "passwords: 200 generated, one per user created, in {}",
            pw.display()
        ),
    );

    // What the portal received: derived, slugged usernames; names intact.
    let created = created_by_username(&sb);
    let people = employees();
    assert_eq!(created.len(), 200);
    for e in &people {
        let u = created
            .get(&e.username)
            .unwrap_or_else(|| panic!("{} not created", e.username));
        assert_eq!(u["email"], e.email.as_str());
        assert_eq!(u["first_name"], e.first);
        assert_eq!(u["last_name"], e.last);
        assert_eq!(u["language"], e.language.to_lowercase());
        assert_eq!(u["job_title"], "Analyst");
        assert!(u["mobile_number"].as_str().unwrap().starts_with("+1514555"));
        assert_eq!(u["password_setup_type"], "force");
    }

    // The passwords file: owner-only, one line per user created, each the
    // password the portal received, all different.
    assert_eq!(mode_of(&pw), 0o600);
    let lines = passwords(&pw);
    assert_eq!(lines.len(), 200);
    let mut distinct = HashSet::new();
    for (username, (email, password)) in &lines {
        let u = &created[username];
        assert_eq!(u["email"], email.as_str());
        assert_eq!(u["password"], password.as_str(), "{username}");
        assert_eq!(u["password_confirmation"], password.as_str());
        assert!(is_strong(password), "{password}");
        assert!(distinct.insert(password.clone()), "a password came twice");
    }

    // Never printed, never reported.
    let report_text = std::fs::read_to_string(&report).unwrap();
    let stdout = stdout_of(&out);
    for password in &distinct {
        for (what, text) in [
            ("stdout", &stdout),
            ("stderr", &stderr),
            ("report", &report_text),
        ] {
            assert!(
                !text.contains(password.as_str()),
                "a password is in the {what}"
            );
        }
    }
    let rows = csv_maps(&report);
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|r| r["message"] == "password generated"));

    // The second night: the same export, the same mapping. Nothing differs:
    // nothing is sent, no password is generated.
    let pw2 = ws.path("passwords-2.csv");
    let before = write_requests(&sb);
    let out = run_code(
        ws.cmd(&["sync"], &file)
            .arg("--generate-passwords")
            .arg(&pw2)
            .args(FAST),
        0,
    );
    assert_has(
        &stderr_of(&out),
        "200 rows: 0 created, 0 updated, 200 unchanged",
    );
    assert_has(&stderr_of(&out), "passwords: none generated");
    assert_eq!(write_requests(&sb), before, "the second night sent nothing");
    assert!(passwords(&pw2).is_empty());
}

#[test]
fn the_command_line_maps_and_derives_and_wins_over_the_config() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    // The config derives `first.last`; the command line's e-mail local part wins.
    let mut config: Value = serde_json::from_str(&sb.config_json("manual")).unwrap();
    config["columns"] = json!({ "email": "Personal Email" });
    config["derive"] = json!({ "username": "{first_name}.{last_name}|slug" });
    std::fs::write(&ws.config, config.to_string()).unwrap();
    let file = hr_csv(&ws, "hr.csv");
    let pw = ws.path("passwords.csv");
    let out = run_code(
        ws.cmd(&[], &file)
            .args([
                "--column",
                "email=Work Email",
                "--column",
                "first_name=legal first name",
                "--column",
                " last_name = LAST NAME ",
                "--column",
                "language=Preferred Language",
                "--derive",
                "username=hr-{email.local}|upper",
                "--generate-passwords",
            ])
            .arg(&pw)
            .args(FAST),
        0,
    );
    assert_has(&stderr_of(&out), "200 created");
    let created = created_by_username(&sb);
    for e in employees() {
        let local = e.email.split('@').next().unwrap().to_uppercase();
        let u = &created[&format!("HR-{local}")];
        assert_eq!(u["first_name"], e.first);
        assert_eq!(u["language"], e.language.to_lowercase());
        assert!(u.get("job_title").is_none(), "not mapped: not sent");
    }
    assert_eq!(passwords(&pw).len(), 200);
}

#[test]
fn a_mapping_to_a_header_the_file_lacks_exits_2_naming_it() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = hr_csv(&ws, "hr.csv");
    let out = run_code(
        ws.cmd(&["--column", "email=Work E-mail"], &file)
            .arg("--generate-passwords")
            .arg(ws.path("pw.csv"))
            .args(FAST),
        2,
    );
    assert_has(
        &stderr_of(&out),
        "line 1: the header row has no column \"Work E-mail\" (mapped to \"email\" by --column); \
         the closest header is \"Work Email\"",
    );
    assert_eq!(write_requests(&sb), 0);
    assert!(
        !ws.path("pw.csv").exists(),
        "a run that did not start leaves no file"
    );

    // Mistakes in the mapping itself, before the file is read.
    for (args, said) in [
        (
            &["--column", "emial=Work Email"][..],
            "--column: \"emial\" is not an import column (did you mean \"email\"?)",
        ),
        (
            &["--column", "username=Work Email"],
            "the header \"Work Email\" is mapped to both \"email\" and \"username\"",
        ),
        (
            &["--column", "email=first_name"],
            "\"email\" is mapped to the header \"first_name\", which is the name of the import \
             column \"first_name\"",
        ),
        (
            &["--derive", "username={first_name}|slugify"],
            "--derive \"username={first_name}|slugify\": the template \"slugify\" is not a filter",
        ),
    ] {
        let out = run_code(ws.cmd(args, &file).args(FAST), 2);
        assert_has(&stderr_of(&out), said);
    }
    // Without any mapping, the error says how to map.
    let plain = Workspace::new(&sb, "manual");
    let out = run_code(plain.cmd(&[], &file).args(FAST), 2);
    assert_has(&stderr_of(&out), "--column 'username=HEADER'");
    assert_eq!(write_requests(&sb), 0);
}

#[test]
fn generated_passwords_need_manual_mode_and_a_new_file() {
    let sb = Sandbox::start(SandboxConfig::default());
    for mode in ["user_choice", "random"] {
        let ws = Workspace::new(&sb, mode);
        let file = ws.write("u.csv", users_csv(3, false));
        let out = run_code(
            ws.cmd(&[], &file)
                .arg("--generate-passwords")
                .arg(ws.path("pw.csv"))
                .args(FAST),
            2,
        );
        assert_has(
            &stderr_of(&out),
            &format!(
                "--generate-passwords needs \"password_setup_mode\": \"manual\" in the config; it is \"{mode}\""
            ),
        );
    }
    let ws = Workspace::new(&sb, "manual");
    let file = ws.write("u.csv", "username,email\na,a@x.io\n");
    let used = ws.write("pw.csv", "username,email,password\nold,old@x.io,Secret-1\n");
    let out = run_code(
        ws.cmd(&[], &file)
            .arg("--generate-passwords")
            .arg(&used)
            .args(FAST),
        2,
    );
    assert_has(&stderr_of(&out), "exists and is not empty");
    assert_eq!(
        std::fs::read_to_string(&used).unwrap(),
        "username,email,password\nold,old@x.io,Secret-1\n"
    );
    let out = run_code(
        ws.cmd(&[], &file)
            .arg("--generate-passwords")
            .arg(&file)
            .args(FAST),
        2,
    );
    assert_has(&stderr_of(&out), "is also the CSV file");
    assert_eq!(write_requests(&sb), 0);
}

#[test]
fn a_dry_run_generates_nothing_and_says_how_many_it_would() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = hr_csv(&ws, "hr.csv");
    let pw = ws.path("pw.csv");
    let out = run_code(
        ws.cmd(&["--dry-run", "--output", "json"], &file)
            .arg("--generate-passwords")
            .arg(&pw)
            .args(FAST),
        0,
    );
    assert_has(
        &stderr_of(&out),
        "passwords: 200 would be generated (a dry run generates none)",
    );
    let first: Value = serde_json::from_str(&lines_of(&out)[0]).unwrap();
    assert_eq!(first["status"], "valid");
    assert_eq!(first["message"], "a password would be generated");
    assert!(!pw.exists());
    assert_eq!(write_requests(&sb), 0);
}

#[test]
fn a_retried_row_sends_the_same_password_and_existing_or_failed_rows_get_none() {
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 0.3,
        faults: vec![
            Fault::Unavailable,
            Fault::CreateThenReset,
            Fault::CreateThenError500,
        ],
        ..SandboxConfig::default()
    });
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let people = employees();
    sb.add_user(&people[0].username, &people[0].email);
    let file = hr_csv(&ws, "hr.csv");
    // One row whose template gives nothing: it fails, gets no password, and
    // goes to --failed in the file's own columns, unchanged.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("E09999,nobody@acme.example,,Núñez,Analyst,EN,\n");
    std::fs::write(&file, &text).unwrap();
    let pw = ws.path("pw.csv");
    let failed = ws.path("failed.csv");
    let out = run_code(
        // `--existing update` reads the user list first: a lost answer
        // then "already taken" is known to be this run's creation.
        ws.cmd(
            &["import", "--existing", "update", "--retries", "10"],
            &file,
        )
        .arg("--generate-passwords")
        .arg(&pw)
        .arg("--failed")
        .arg(&failed)
        .args(FAST),
        1,
    );
    let stdout = stdout_of(&out);
    assert_has(
        &stdout,
        "nobody@acme.example... Failed: line 202: username cannot be derived by \
         \"{first_name}.{last_name}|slug\": first_name is empty",
    );
    assert_has(
        &stderr_of(&out),
        "199 created, 1 updated, 0 unchanged, 1 failed",
    );
    let lines = passwords(&pw);
    assert_eq!(lines.len(), 199);
    assert!(!lines.contains_key(&people[0].username), "it existed");
    let created = created_by_username(&sb);
    for (username, (_, password)) in &lines {
        assert_eq!(created[username]["password"], password.as_str());
    }
    // Every POST of a user carried the one password the file holds.
    let mut posts = 0;
    for body in sb.post_bodies() {
        let u = &body["user"];
        let username = u["username"].as_str().unwrap();
        if username == people[0].username {
            continue;
        }
        posts += 1;
        assert_eq!(u["password"], lines[username].1.as_str(), "{username}");
    }
    assert!(posts > 210, "faults made retries: {posts} POSTs");
    let (header, rows) = read_csv(&failed);
    assert_eq!(header, HR_HEADER.split(',').collect::<Vec<_>>());
    assert_eq!(
        rows,
        [[
            "E09999",
            "nobody@acme.example",
            "",
            "Núñez",
            "Analyst",
            "EN",
            ""
        ]]
    );
}

#[test]
fn a_leavers_export_deletes_by_the_mapped_email_or_the_derived_username() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    sb.add_user("zoe.nunez", "zoe@acme.example");
    sb.add_user("annmarie.obrien", "ann@acme.example");
    sb.add_user("stays", "stays@acme.example");
    let leavers = ws.write(
        "leavers.csv",
        "Employee ID,Work Email,Legal First Name,Last Name\n\
         E1,zoe@acme.example,,\n\
         E2,,Ann Marie,O'Brien\n",
    );
    let out = run_code(
        ws.cmd(
            &[
                "delete",
                "--column",
                "email=Work Email",
                "--column",
                "first_name=Legal First Name",
                "--column",
                "last_name=Last Name",
                "--derive",
                "username={first_name}.{last_name}|slug",
                "--yes",
            ],
            &leavers,
        )
        .args(FAST),
        0,
    );
    assert_has(&stderr_of(&out), "2 deleted");
    let left: Vec<String> = sb
        .users()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["stays"]);
}

#[test]
fn a_workbook_export_is_mapped_and_derived_like_its_csv() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let path = ws.path("hr.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let people = employees();
    for (c, name) in HR_HEADER.split(',').enumerate() {
        sheet
            .write_string(0, u16::try_from(c).unwrap(), name)
            .unwrap();
    }
    for (r, e) in people.iter().take(20).enumerate() {
        let r = u32::try_from(r).unwrap() + 1;
        sheet.write_number(r, 0, f64::from(r)).unwrap();
        for (c, v) in [
            (1, e.email.as_str()),
            (2, e.first),
            (3, e.last),
            (5, e.language),
        ] {
            sheet.write_string(r, c, v).unwrap();
        }
    }
    book.save(&path).unwrap();
    let pw = ws.path("pw.csv");
    run_code(
        ws.cmd(&[], &path)
            .arg("--generate-passwords")
            .arg(&pw)
            .args(FAST),
        0,
    );
    let created = created_by_username(&sb);
    let lines = passwords(&pw);
    assert_eq!(created.len(), 20);
    for e in people.iter().take(20) {
        assert_eq!(created[&e.username]["first_name"], e.first);
        assert_eq!(
            created[&e.username]["password"],
            lines[&e.username].1.as_str()
        );
    }
}

#[test]
fn the_journal_keeps_derived_usernames_and_a_resumed_run_generates_nothing() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = hr_csv(&ws, "hr.csv");
    let journal = ws.path("hr.journal");
    run_code(
        ws.cmd(&[], &file)
            .arg("--journal")
            .arg(&journal)
            .arg("--generate-passwords")
            .arg(ws.path("pw-1.csv"))
            .args(FAST),
        0,
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_has(&text, "zoe.nunez");
    assert_has(&text, "annmarie.obrien");
    let posts = sb.post_count();
    let pw = ws.path("pw-2.csv");
    let out = run_code(
        ws.cmd(&[], &file)
            .arg("--journal")
            .arg(&journal)
            .arg("--generate-passwords")
            .arg(&pw)
            .args(FAST),
        0,
    );
    assert_has(&stderr_of(&out), "0 created, 200 skipped");
    assert_eq!(sb.post_count(), posts, "nothing sent again");
    assert!(passwords(&pw).is_empty(), "nothing generated");
}

#[test]
fn a_lost_answer_then_already_taken_says_the_password_was_not_kept() {
    // A token that may not read the user list: nothing tells whether the
    // attempt whose answer was lost created the user.
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 0.4,
        faults: vec![Fault::CreateThenReset],
        ..SandboxConfig::default()
    });
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    ws.edit_config(
        crate::support::sandbox::TOKEN,
        crate::support::sandbox::LIMITED_TOKEN,
    );
    let file = hr_csv(&ws, "hr.csv");
    let pw = ws.path("pw.csv");
    let report = ws.path("report.csv");
    run_code(
        ws.cmd(&["--retries", "10"], &file)
            .arg("--generate-passwords")
            .arg(&pw)
            .arg("--report")
            .arg(&report)
            .args(FAST),
        0,
    );
    let lines = passwords(&pw);
    let rows = csv_maps(&report);
    let unsure: Vec<_> = rows.iter().filter(|r| r["status"] == "skipped").collect();
    assert!(!unsure.is_empty(), "the faults made some");
    for r in &unsure {
        assert!(
            r["message"].ends_with(
                "its generated password is not in the passwords file: if this run created the \
                 user, set a password for it in the portal"
            ),
            "{r:?}"
        );
        assert!(!lines.contains_key(&r["username"]));
    }
    assert_eq!(lines.len() + unsure.len(), 200);
}

#[test]
fn a_sync_deletes_the_leaver_the_export_no_longer_names_and_reports_its_username() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = hr_csv(&ws, "hr.csv");
    run_code(
        ws.cmd(&[], &file)
            .arg("--generate-passwords")
            .arg(ws.path("pw.csv"))
            .args(FAST),
        0,
    );
    // The next export lacks the last employee.
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().take(200).collect();
    let next = ws.write("hr-2.csv", kept.join("\n") + "\n");
    let report = ws.path("report.csv");
    let out = run_code(
        ws.cmd(&["sync", "--delete-missing", "--yes"], &next)
            .arg("--generate-passwords")
            .arg(ws.path("pw-2.csv"))
            .arg("--report")
            .arg(&report)
            .args(FAST),
        0,
    );
    assert_has(&stderr_of(&out), "199 unchanged, 1 deleted");
    let gone = &employees()[199];
    let rows = csv_maps(&report);
    let deleted: Vec<_> = rows.iter().filter(|r| r["status"] == "deleted").collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["username"], gone.username);
    assert_eq!(deleted[0]["email"], gone.email);
    assert!(sb.user_by_username(&gone.username).is_none());
}

#[test]
fn two_rows_deriving_one_username_fail_as_duplicates() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    hr_config(&sb, &ws);
    let file = ws.write(
        "hr.csv",
        "Work Email,Legal First Name,Last Name,Job Title,Preferred Language,Mobile Phone\n\
         ann1@acme.example,Ann Marie,O'Brien,,,\n\
         ann2@acme.example,ANNMARIE,OBrien,,,\n",
    );
    let out = run_code(
        ws.cmd(&["--dry-run", "--offline"], &file)
            .arg("--generate-passwords")
            .arg(ws.path("pw.csv"))
            .args(FAST),
        1,
    );
    assert_has(
        &stdout_of(&out),
        "ann2@acme.example... Failed: line 3: duplicate of line 2 (username \"annmarie.obrien\" \
         appears there too)",
    );
}
