//! The command line's surface: `--help` (snapshot), `--version`, usage errors.

mod support;

use predicates::prelude::*;
use support::importer;

#[test]
fn help_shows_every_flag_and_examples() {
    let out = importer()
        .env("COLUMNS", "100") // the width the snapshot was taken at
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    insta::assert_snapshot!("help", String::from_utf8_lossy(&out));
}

#[test]
fn version() {
    importer()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("xmc-user-importer {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    importer()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<CONFIG>"));
    importer()
        .args(["-c", "0", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--concurrency"));
    importer()
        .args(["--rate", "fast", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a number"));
    importer()
        .args(["--offline", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run"));
    importer()
        .args(["--output", "xml", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("text, json"));
}

#[test]
fn env_defaults_for_concurrency_and_rate() {
    // A bad value from the environment is reported like a bad flag.
    importer()
        .env("XMC_CONCURRENCY", "0")
        .args(["c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--concurrency"));
    importer()
        .env("XMC_RATE", "-2")
        .args(["c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("rate"));
}

#[test]
fn an_output_file_may_not_overwrite_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "username,email\na,a@b.co\n").unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        r#"{"enterprise_account":"a","access_token":"t","password_setup_mode":"random"}"#,
    )
    .unwrap();
    importer()
        .arg("--failed")
        .arg(&csv)
        .arg(&cfg)
        .arg(&csv)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is also the CSV file"));
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "username,email\na,a@b.co\n"
    );
}
