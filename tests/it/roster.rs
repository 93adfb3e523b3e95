//! Keeping an enterprise in step with a roster (SPEC §12): `--existing
//! update|fail`, `--no-welcome-email`, `export`, and the round trip
//! import → export → import back, against the sandbox over HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::support::*;
use serde_json::{Value, json};

const EXPORT_HEADER: &str = "username,email,first_name,last_name,group,fax_number,salutation,job_title,company_name,address,city,state,country,zip_code,phone_number,mobile_number,language,time_zone";

/// The fast settings of a run that does not test pacing.
const FAST: [&str; 3] = ["-r", "0", "--no-progress"];

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// `import FILE --existing update -r 0 --no-progress -c 16`, which must exit 0.
fn update_all(ws: &Workspace, file: &std::path::Path) -> std::process::Output {
    run_code(
        ws.cmd(&["import"], file)
            .args(["--existing", "update"])
            .args(FAST)
            .args(["-c", "16"]),
        0,
    )
}

/// `(path, body)` of every PUT received.
fn puts(sb: &Sandbox) -> Vec<(String, Value)> {
    sb.received()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| (r.path, r.body.unwrap_or(Value::Null)))
        .collect()
}

fn id_of(sb: &Sandbox, username: &str) -> u64 {
    sb.user_by_username(username)
        .unwrap_or_else(|| panic!("no user {username}"))["id"]
        .as_u64()
        .unwrap()
}

fn text<'a>(u: &'a Value, key: &str) -> &'a str {
    u[key].as_str().unwrap_or("")
}

/// 300 users with every kind of cell: groups and time zones in any case,
/// fax numbers, empty cells, a comma in a city, accents.
fn rich_roster(n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let header = strs(&[
        "username",
        "email",
        "first_name",
        "last_name",
        "group",
        "fax_number",
        "job_title",
        "city",
        "language",
        "time_zone",
    ]);
    let groups = [
        "Everyone",
        "casterly rock",
        "Winterfell",
        "Night's Watch",
        "",
    ];
    let faxes = ["+15145550101", "+442071234567", ""];
    let languages = ["en", "FR", "de", ""];
    let zones = ["Paris", "eastern time (us & canada)", "", "UTC"];
    let rows = (1..=n)
        .map(|i| {
            vec![
                format!("user{i:05}"),
                format!("user{i:05}@example.com"),
                if i % 11 == 0 {
                    format!("Zoë {i}")
                } else {
                    format!("User {i}")
                },
                if i % 3 == 0 {
                    String::new()
                } else {
                    format!("Stark-{i}")
                },
                groups[i % 5].to_owned(),
                faxes[i % 3].to_owned(),
                if i % 4 == 0 {
                    String::new()
                } else {
                    format!("Ranger {}", i % 7)
                },
                if i % 6 == 0 {
                    "Castle Black, The Wall".to_owned()
                } else {
                    String::new()
                },
                languages[i % 4].to_owned(),
                zones[(i / 2) % 4].to_owned(),
            ]
        })
        .collect();
    (header, rows)
}

/// Done when (1): import 300, export, import the export back with
/// `--existing update` (all unchanged, no write), 30 one-field edits (30
/// PUTs of one field each), then a re-run (all unchanged).
#[test]
fn round_trip_export_import_back_is_unchanged_and_edits_are_one_field_puts() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let (header, rows) = rich_roster(300);
    let source = write_csv(&ws, "hr.csv", &header, &rows);
    ws.cmd(&FAST, &source).args(["-c", "16"]).assert().success();
    assert_eq!(sb.users().len(), 300);
    assert_eq!(sb.count_method("POST"), 300);

    // Export: every user, the import's columns, sorted, names not ids.
    let export = ws.path("export.csv");
    let out = run_code(
        importer()
            .arg("export")
            .arg(&ws.config)
            .arg(&export)
            .args(FAST)
            .args(["-c", "16"]),
        0,
    );
    assert_has(
        &stderr_of(&out),
        &format!("300 users exported to {} in ", export.display()),
    );
    let (eheader, erows) = read_csv(&export);
    assert_eq!(eheader.join(","), EXPORT_HEADER);
    assert_eq!(erows.len(), 300);
    let usernames: Vec<&str> = erows.iter().map(|r| r[0].as_str()).collect();
    let mut sorted = usernames.clone();
    sorted.sort_unstable();
    assert_eq!(usernames, sorted);
    let col = |name: &str| eheader.iter().position(|h| h == name).unwrap();
    let by_name: HashMap<&str, &Vec<String>> = erows.iter().map(|r| (r[0].as_str(), r)).collect();
    // user00006: casterly rock, a fax number, a comma in the city, UTC.
    let r = by_name["user00006"];
    assert_eq!(r[col("group")], "Casterly Rock");
    assert_eq!(r[col("fax_number")], "+15145550101");
    assert_eq!(r[col("city")], "Castle Black, The Wall");
    assert_eq!(r[col("language")], "de");
    assert_eq!(r[col("time_zone")], "UTC");
    assert_eq!(r[col("last_name")], "");
    // user00004: the empty group is the default one.
    assert_eq!(by_name["user00004"][col("group")], "Everyone");
    // user00005: no fax number (the enterprise's), FR as fr.
    let r = by_name["user00005"];
    assert_eq!(r[col("fax_number")], "");
    assert_eq!(r[col("language")], "fr");
    // user00010: fax by its number, the time zone in its canonical form.
    let r = by_name["user00010"];
    assert_eq!(r[col("fax_number")], "+442071234567");
    assert_eq!(r[col("time_zone")], "Eastern Time (US & Canada)");
    assert_eq!(by_name["user00011"][col("first_name")], "Zoë 11");

    // The export imported back: all unchanged, one GET /users, no write.
    let get_users = |sb: &Sandbox| {
        sb.paths("GET")
            .iter()
            .filter(|p| p.ends_with("/users"))
            .count()
    };
    let writes = write_requests(&sb);
    let gets = get_users(&sb);
    let out = update_all(&ws, &export);
    assert_eq!(lines_of(&out).len(), 300);
    let lines: BTreeSet<String> = lines_of(&out).into_iter().collect();
    let want: BTreeSet<String> = erows
        .iter()
        .map(|row| format!("{}... Unchanged", row[1]))
        .collect();
    assert_eq!(lines, want);
    assert_has(
        &stderr_of(&out),
        "300 rows: 0 created, 0 updated, 300 unchanged, 0 failed in ",
    );
    assert_eq!(write_requests(&sb), writes, "a write for an unchanged row");
    assert_eq!(get_users(&sb), gets + 1, "one GET /users per run");

    // 30 edits, one field each: 10 languages, 10 groups, 10 job titles.
    let mut edited = erows.clone();
    let mut want_puts = BTreeMap::new();
    let mut want_lines = BTreeSet::new();
    let old_or_empty = |s: &str| {
        if s.is_empty() {
            "(empty)".to_owned()
        } else {
            s.to_owned()
        }
    };
    for (k, row) in edited.iter_mut().enumerate().take(30) {
        let path = format!("/enterprises/westeros/users/{}", id_of(&sb, &row[0]));
        let (body, change) = match k / 10 {
            0 => {
                let c = col("language");
                let new = if row[c] == "fr" { "de" } else { "fr" };
                let change = format!("language: {} → {new}", old_or_empty(&row[c]));
                row[c] = new.into();
                (json!({"user": {"language": new}}), change)
            }
            1 => {
                let c = col("group");
                let (new, id) = if row[c] == "Winterfell" {
                    ("Night's Watch", "14")
                } else {
                    ("Winterfell", "13")
                };
                let change = format!("group: {} → {new}", row[c]);
                row[c] = new.into();
                (json!({"user": {"group_id": id}}), change)
            }
            _ => {
                let c = col("job_title");
                let new = format!("Maester {k}");
                let change = format!("job_title: {} → {new}", old_or_empty(&row[c]));
                row[c].clone_from(&new);
                (json!({"user": {"job_title": new}}), change)
            }
        };
        want_puts.insert(path, body);
        want_lines.insert(format!("{}... Updated: {change}", row[1]));
    }
    let edits = write_csv(&ws, "edits.csv", &eheader, &edited);
    let out = update_all(&ws, &edits);
    assert_has(
        &stderr_of(&out),
        "300 rows: 0 created, 30 updated, 270 unchanged, 0 failed in ",
    );
    let got_puts = puts(&sb);
    assert_eq!(got_puts.len(), 30, "{got_puts:?}");
    let got_puts: BTreeMap<String, Value> = got_puts.into_iter().collect();
    assert_eq!(got_puts, want_puts);
    let lines = lines_of(&out);
    let updated: BTreeSet<String> = lines
        .iter()
        .filter(|l| l.contains("... Updated: "))
        .cloned()
        .collect();
    assert_eq!(updated, want_lines);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with("... Unchanged"))
            .count(),
        270
    );
    assert_eq!(sb.count_method("POST"), 300);
    assert_eq!(sb.count_method("DELETE"), 0);
    // The portal holds the edits.
    for row in edited.iter().take(30) {
        let u = sb.user_by_username(&row[0]).unwrap();
        assert_eq!(text(&u, "language"), row[col("language")], "{u}");
        assert_eq!(text(&u, "job_title"), row[col("job_title")], "{u}");
    }

    // Again: nothing left to do.
    let writes = write_requests(&sb);
    let out = update_all(&ws, &edits);
    assert_has(
        &stderr_of(&out),
        "300 rows: 0 created, 0 updated, 300 unchanged, 0 failed in ",
    );
    assert_eq!(write_requests(&sb), writes);
}

/// The portal's tirion and arya, with fields to compare against.
fn two_users(sb: &Sandbox) -> (u64, u64) {
    let tirion = sb.add_user_with(
        "user",
        json!({"username": "tirion", "email": "tirion@westeros.com", "first_name": "Tirion",
               "language": "en", "group_id": 12, "job_title": "Hand", "main_fax_number_id": 501}),
    );
    let arya = sb.add_user_with(
        "user",
        json!({"username": "arya", "email": "arya@westeros.com", "first_name": "Arya",
               "language": "en", "city": "Winterfell"}),
    );
    (tirion, arya)
}

/// A sandbox holding tirion and arya, a workspace on it, and `csv` as `u.csv`.
fn with_two_users(csv: &str) -> (Sandbox, Workspace, std::path::PathBuf) {
    let sb = Sandbox::start(SandboxConfig::default());
    two_users(&sb);
    let ws = Workspace::new(&sb, "random");
    let path = ws.write("u.csv", csv);
    (sb, ws, path)
}

#[test]
fn update_sends_only_the_differing_fields_and_names_each_change() {
    let sb = Sandbox::start(SandboxConfig::default());
    let (tirion, arya) = two_users(&sb);
    sb.add_user_with(
        "user",
        json!({"username": "bran", "email": "bran@westeros.com", "first_name": "Bran"}),
    );
    let ws = Workspace::new(&sb, "random");
    // tirion by username (any case), an empty job title left alone; arya by
    // e-mail (any case) under another username; bran as the portal has him; a new one.
    let csv = ws.write(
        "u.csv",
        "username,email,first_name,group,fax_number,job_title,language,city\n\
         TIRION,Tirion@Westeros.com,Tirion,winterfell,+442071234567,,FR,\n\
         arya.stark,ARYA@westeros.com,Arya,,,Faceless,,Braavos\n\
         bran,bran@westeros.com,Bran,Everyone,,,,\n\
         sansa,sansa@westeros.com,Sansa,,,,,\n",
    );
    let out = run_code(
        ws.cmd(&FAST, &csv)
            .args(["-c", "1", "--existing", "update"]),
        0,
    );
    // Rows finish in any order: an unchanged row needs no request.
    let mut lines = lines_of(&out);
    lines.sort();
    assert_eq!(
        lines,
        [
            "ARYA@westeros.com... Updated: job_title: (empty) → Faceless; city: Winterfell → Braavos",
            "Tirion@Westeros.com... Updated: group: Casterly Rock → Winterfell; fax_number: +15145550101 → +442071234567; language: en → fr",
            "bran@westeros.com... Unchanged",
            "sansa@westeros.com... Success",
        ]
    );
    assert_has(
        &stderr_of(&out),
        "4 rows: 1 created, 2 updated, 1 unchanged, 0 failed in ",
    );
    assert_eq!(
        puts(&sb),
        [
            (
                format!("/enterprises/westeros/users/{tirion}"),
                json!({"user": {"group_id": "13", "selected_fax_number": "502",
                                "fax_number_type": "selected", "language": "fr"}})
            ),
            (
                format!("/enterprises/westeros/users/{arya}"),
                json!({"user": {"job_title": "Faceless", "city": "Braavos"}})
            ),
        ]
    );
    assert_eq!(sb.count_method("POST"), 1);
    let t = sb.user(tirion).unwrap();
    assert_eq!(t["job_title"], "Hand", "an empty cell clears nothing");
    assert_eq!(t["main_fax_number"], "+442071234567");
    assert_eq!(sb.user(arya).unwrap()["username"], "arya");

    // The same file again, as JSON lines: nothing differs any more.
    let out = run_code(
        ws.cmd(&FAST, &csv)
            .args(["-c", "1", "--existing", "update", "--output", "json"]),
        0,
    );
    let statuses: Vec<String> = lines_of(&out)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["status"].to_string())
        .collect();
    assert_eq!(
        statuses,
        [
            "\"unchanged\"",
            "\"unchanged\"",
            "\"unchanged\"",
            "\"unchanged\""
        ]
    );
    assert_eq!(sb.count_method("PUT"), 2);
}

#[test]
fn json_lines_say_updated_and_the_report_lists_the_changes() {
    let (_sb, ws, csv) = with_two_users(
        "username,email,language\ntirion,tirion@westeros.com,de\narya,arya@westeros.com,en\n",
    );
    let report = ws.path("report.csv");
    let out = run_code(
        ws.cmd(&["-c", "1", "-r", "0"], &csv)
            .args(["--existing", "update", "--output", "json", "--report"])
            .arg(&report),
        0,
    );
    let mut json: Vec<Value> = lines_of(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    json.sort_by_key(|j| j["line"].as_u64());
    assert_eq!(json[0]["status"], "updated");
    assert_eq!(json[0]["line"], 2);
    assert_eq!(json[1]["status"], "unchanged");
    let mut rows = csv_maps(&report);
    rows.sort_by(|a, b| a["line"].cmp(&b["line"]));
    assert_eq!(rows[0]["status"], "updated");
    assert_eq!(rows[0]["message"], "language: en → de");
    assert_eq!(rows[1]["status"], "unchanged");
}

#[test]
fn a_row_with_one_users_username_and_anothers_email_is_a_conflict() {
    let (sb, ws, csv) =
        with_two_users("username,email,job_title\ntirion,arya@westeros.com,Queen\n");
    let before = sb.users();
    let out = run_code(ws.cmd(&FAST, &csv).args(["--existing", "update"]), 1);
    let stdout = stdout_of(&out);
    assert_eq!(
        stdout,
        "arya@westeros.com... Failed: line 2: conflict: the username is the portal's user \"tirion\" \
         and the e-mail is the portal's user \"arya\"; nothing was changed: fix the row\n"
    );
    assert_has(
        &stderr_of(&out),
        "1 row: 0 created, 0 updated, 0 unchanged, 1 failed in ",
    );
    assert_eq!(write_requests(&sb), 0);
    assert_eq!(sb.users(), before);
}

#[test]
fn existing_fail_makes_an_existing_user_a_failed_row() {
    let (sb, ws, csv) = with_two_users(
        "username,email,job_title\ntirion,tirion@westeros.com,King\nsansa,sansa@westeros.com,Lady\n",
    );
    let before = sb.user_by_username("tirion");
    let out = run_code(
        ws.cmd(&["import"], &csv)
            .args(["--existing", "fail", "-c", "1", "-r", "0"]),
        1,
    );
    let lines = lines_of(&out);
    assert!(
        lines.contains(
            &"tirion@westeros.com... Failed: line 2: already exists (--existing fail)".into()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"sansa@westeros.com... Success".into()),
        "{lines:?}"
    );
    assert_eq!(sb.user_by_username("tirion"), before);
    assert_eq!(sb.count_method("PUT"), 0);
    assert_eq!(
        sb.count_method("POST"),
        1,
        "tirion is known from the list: not sent"
    );
    assert_eq!(sb.users().len(), 3);
}

#[test]
fn no_welcome_email_is_sent_on_every_create() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(5, false));
    ws.cmd(&["import"], &csv)
        .args(["--no-welcome-email", "-r", "0"])
        .assert()
        .success();
    let bodies = sb.post_bodies();
    assert_eq!(bodies.len(), 5);
    for b in &bodies {
        assert_eq!(b["user"]["disable_welcome_email"], json!(true), "{b}");
    }
    // Without the flag (the bare form, too), the key is not sent.
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(3, false));
    ws.cmd(&["-r", "0"], &csv).assert().success();
    for b in sb.post_bodies() {
        assert!(b["user"].get("disable_welcome_email").is_none(), "{b}");
    }
    // The bare form takes the flag after the arguments too.
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(3, false));
    ws.cmd(&["-r", "0"], &csv)
        .arg("--no-welcome-email")
        .assert()
        .success();
    for b in sb.post_bodies() {
        assert_eq!(b["user"]["disable_welcome_email"], json!(true), "{b}");
    }
}

#[test]
fn a_token_without_the_directory_permission_stops_update_and_export_before_anything() {
    let (sb, ws, csv) = with_two_users(
        "username,email,language\ntirion,tirion@westeros.com,fr\nsansa,sansa@westeros.com,fr\n",
    );
    ws.edit_config(sandbox::TOKEN, sandbox::LIMITED_TOKEN);
    let out = run_code(ws.cmd(&["import"], &csv).args(["--existing", "update"]), 2);
    assert_has(&stderr_of(&out), "Query user directory");
    assert_eq!(stdout_of(&out), "");
    let out = run_code(
        importer()
            .arg("export")
            .arg(&ws.config)
            .arg(ws.path("out.csv")),
        2,
    );
    assert_has(&stderr_of(&out), "Query user directory");
    assert!(!ws.path("out.csv").exists());
    assert_eq!(write_requests(&sb), 0);
    // The same token still imports with the default --existing skip.
    ws.cmd(&["-r", "0"], &csv).assert().success();
    assert_eq!(sb.count_method("POST"), 2);
}

#[test]
fn export_writes_names_and_numbers_sorted_without_passwords() {
    let sb = Sandbox::start(SandboxConfig::default());
    sb.add_user_with(
        "admin",
        json!({"username": "tirion", "email": "tirion@westeros.com", "first_name": "Tirion",
               "last_name": "Lannister", "group_id": "12", "main_fax_number_id": 502,
               "salutation": "Lord", "job_title": "Hand of the King", "company_name": "House Lannister",
               "address": "Tower of the Hand, Red Keep", "city": "King's Landing", "state": "Crownlands",
               "country": "Westeros", "zip_code": "KL-1", "phone_number": "+15145550000",
               "mobile_number": "+15145559999", "language": "fr", "time_zone": "Paris"}),
    );
    sb.add_user("bran", "bran@westeros.com");
    sb.add_user_with(
        "user",
        json!({"username": "Arya", "email": "arya@westeros.com", "group_id": 13, "language": "de",
               "job_title": "\"No One\""}),
    );
    sb.add_user_with(
        "user",
        json!({"username": "hodor", "email": "hodor@westeros.com", "group_id": 99}),
    );
    let ws = Workspace::new(&sb, "manual");
    let want = format!(
        "{EXPORT_HEADER}\n\
         Arya,arya@westeros.com,,,Winterfell,,,\"\"\"No One\"\"\",,,,,,,,,de,\n\
         bran,bran@westeros.com,,,Everyone,,,,,,,,,,,,,\n\
         hodor,hodor@westeros.com,,,,,,,,,,,,,,,,\n\
         tirion,tirion@westeros.com,Tirion,Lannister,Casterly Rock,+442071234567,Lord,Hand of the King,House Lannister,\"Tower of the Hand, Red Keep\",King's Landing,Crownlands,Westeros,KL-1,+15145550000,+15145559999,fr,Paris\n"
    );
    for out_arg in [None, Some("-")] {
        let mut cmd = importer();
        cmd.arg("export").arg(&ws.config).args(out_arg);
        let out = run_code(&mut cmd, 0);
        assert_eq!(stdout_of(&out), want);
        let stderr = stderr_of(&out);
        assert_has(&stderr, "4 users exported to standard output in ");
        assert_has(&stderr, "1 user in a group the groups lookup does not list");
    }
    // To a file: the old one replaced whole, nothing left beside it.
    let path = ws.write("users.csv", "old,content\n".repeat(1000));
    let out = run_code(
        importer()
            .arg("export")
            .arg(&ws.config)
            .arg(&path)
            .arg("-q"),
        0,
    );
    assert_eq!(stdout_of(&out), "");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
    assert_has(
        &stderr_of(&out),
        &format!("4 users exported to {} in ", path.display()),
    );
    let mut names: Vec<String> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["config.json", "users.csv"]);
    assert_eq!(write_requests(&sb), 0);
}

/// Done when (3): updates under 15% faults (some applied before the
/// answer was lost) end with the portal matching the file.
#[test]
fn updates_under_faults_leave_the_portal_matching_the_file() {
    let sb = Sandbox::start(SandboxConfig {
        fault_rate: 0.15,
        faults: vec![
            Fault::CreateThenReset,
            Fault::CreateThenError500,
            Fault::Reset,
            Fault::Error500,
        ],
        ..Default::default()
    });
    for i in 1..=120 {
        sb.add_user_with(
            "user",
            json!({"username": format!("user{i:05}"), "email": format!("user{i:05}@example.com"),
                   "first_name": format!("User {i}"), "language": "en", "job_title": "Ranger"}),
        );
    }
    let ws = Workspace::new(&sb, "random");
    let header = strs(&["username", "email", "language", "group", "job_title"]);
    // 100 rows change (two fields each), 20 do not.
    let rows: Vec<Vec<String>> = (1..=120)
        .map(|i| {
            let changed = i <= 100;
            vec![
                format!("user{i:05}"),
                format!("user{i:05}@example.com"),
                (if changed { ["fr", "de"][i % 2] } else { "en" }).to_owned(),
                (if changed { "Winterfell" } else { "Everyone" }).to_owned(),
                if changed {
                    format!("Maester {i}")
                } else {
                    "Ranger".into()
                },
            ]
        })
        .collect();
    let csv = write_csv(&ws, "u.csv", &header, &rows);
    let out = run_code(
        ws.cmd(&FAST, &csv).args([
            "-c",
            "16",
            "--existing",
            "update",
            "--retries",
            "8",
            "--timeout",
            "2",
        ]),
        0,
    );
    assert_has(
        &stderr_of(&out),
        "120 rows: 0 created, 100 updated, 20 unchanged, 0 failed in ",
    );
    let faults: usize = sb.fault_counts().values().sum();
    assert!(faults >= 5, "too few faults to mean anything: {faults}");
    assert!(sb.count_method("PUT") > 100);
    assert_eq!(sb.count_method("POST"), 0);
    let users = sb.users();
    assert_eq!(users.len(), 120);
    for row in &rows {
        let u = sb.user_by_username(&row[0]).unwrap();
        assert_eq!(text(&u, "language"), row[2], "{u}");
        let group = if row[3] == "Winterfell" { 13 } else { 1 };
        assert_eq!(u["group_id"], json!(group), "{u}");
        assert_eq!(text(&u, "job_title"), row[4], "{u}");
    }
    // Then nothing differs.
    sb.set_fault_rate(0.0);
    let writes = write_requests(&sb);
    let out = run_code(ws.cmd(&FAST, &csv).args(["--existing", "update"]), 0);
    assert_has(
        &stderr_of(&out),
        "120 rows: 0 created, 0 updated, 120 unchanged, 0 failed",
    );
    assert_eq!(write_requests(&sb), writes);
}

#[test]
fn global_options_go_before_or_after_the_subcommand() {
    let (sb, ws, csv) = with_two_users("username,email,language\ntirion,TIRION@westeros.com,de\n");
    // Before the subcommand.
    let out = run_code(
        importer()
            .args(["-q", "-r", "0", "import"])
            .arg(&ws.config)
            .arg(&csv)
            .args(["--existing", "update"]),
        0,
    );
    assert_eq!(stdout_of(&out), "", "-q before the subcommand");
    assert_eq!(sb.count_method("PUT"), 1);
    // After it, with the bare form: the report is written.
    let csv = ws.write(
        "u.csv",
        "username,email,language\ntirion,TIRION@westeros.com,en\n",
    );
    let report = ws.path("r.csv");
    let out = run_code(
        importer()
            .arg(&ws.config)
            .arg(&csv)
            .args(["--existing", "update", "-r", "0", "--report"])
            .arg(&report),
        0,
    );
    assert_eq!(
        stdout_of(&out),
        "TIRION@westeros.com... Updated: language: de → en\n"
    );
    assert_eq!(csv_maps(&report)[0]["status"], "updated");
    assert_eq!(sb.count_method("PUT"), 2);
}

/// A portal that formats its fax numbers (`+1 (514) 555-0101`): the export
/// writes them as a file gives them (E.164), and imports back unchanged.
#[test]
fn formatted_fax_numbers_export_as_e164_and_import_back_unchanged() {
    let sb = Sandbox::start(SandboxConfig {
        fax_numbers: vec![
            (501, "+1 (514) 555-0101".into()),
            (502, "+44 20 7123 4567".into()),
        ],
        ..Default::default()
    });
    sb.add_user_with(
        "user",
        json!({"username": "tirion", "email": "tirion@westeros.com", "main_fax_number_id": 502}),
    );
    let ws = Workspace::new(&sb, "random");
    let export = ws.path("export.csv");
    run_code(
        importer()
            .arg("export")
            .arg(&ws.config)
            .arg(&export)
            .arg("-q"),
        0,
    );
    let (header, rows) = read_csv(&export);
    let fax = header.iter().position(|h| h == "fax_number").unwrap();
    assert_eq!(rows[0][fax], "+442071234567");
    let out = run_code(ws.cmd(&FAST, &export).args(["--existing", "update"]), 0);
    assert_eq!(stdout_of(&out), "tirion@westeros.com... Unchanged\n");
    assert_eq!(write_requests(&sb), 0);
}
