//! The command line's surface: `--help` (snapshot), `--version`, usage errors.

use assert_cmd::Command;
use predicates::prelude::*;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xmc-user-importer"));
    c.env("COLUMNS", "100")
        .env_remove("XMC_CONCURRENCY")
        .env_remove("XMC_RATE");
    c
}

#[test]
fn help_shows_every_flag_and_examples() {
    let out = bin()
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
    bin()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("xmc-user-importer {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    bin()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<CONFIG>"));
    bin()
        .args(["-c", "0", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--concurrency"));
    bin()
        .args(["--rate", "fast", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a number"));
    bin()
        .args(["--offline", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run"));
    bin()
        .args(["--output", "xml", "c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("text, json"));
}

#[test]
fn env_defaults_for_concurrency_and_rate() {
    // A bad value from the environment is reported like a bad flag.
    bin()
        .env("XMC_CONCURRENCY", "0")
        .args(["c.json", "u.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--concurrency"));
    bin()
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
    bin()
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
