//! The command line's surface: `--help` (snapshot), `--version`, usage errors.

use crate::support::importer;
use predicates::prelude::*;

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

#[test]
fn completions_load_in_bash_and_the_man_page_names_every_flag() {
    let out = importer().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("xmc-user-importer.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = importer().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }

    let man = importer().arg("man").output().unwrap();
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH"), "not roff");
    // Every long flag of --help is in the man page (roff escapes its dashes).
    let mut help = String::new();
    for sub in [&[][..], &["import"], &["export"], &["delete"], &["sync"]] {
        let out = importer().args(sub).arg("--help").output().unwrap();
        help.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        .collect();
    assert!(flags.len() > 15, "{flags:?}");
    let plain = page.replace("\\-", "-");
    for flag in flags {
        assert!(plain.contains(flag), "the man page lacks {flag}");
    }
    // It renders, where man is installed.
    let manpage = dir.path().join("xmc-user-importer.1");
    std::fs::write(&manpage, &man.stdout).unwrap();
    if let Ok(out) = std::process::Command::new("man")
        .arg("-l")
        .arg(&manpage)
        .env("MANPAGER", "cat")
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An option the operation would ignore is refused, before any file is
/// opened: the operator would believe it did something.
#[test]
fn options_an_operation_would_ignore_are_refused() {
    for (args, said) in [
        (
            &["export", "c.json", "out.csv", "--report", "r.csv"][..],
            "--report does not apply to export",
        ),
        (
            &["export", "c.json", "--dry-run"][..],
            "--dry-run does not apply to export",
        ),
        (
            &["export", "c.json", "c.json"][..],
            "the export's file c.json is also the config file",
        ),
        (
            &["--existing", "update", "export", "c.json"][..],
            "--existing does not apply to export",
        ),
        (
            &["--no-welcome-email", "delete", "c.json", "u.csv"][..],
            "--no-welcome-email does not apply to delete",
        ),
        (
            &["--existing", "skip", "sync", "c.json", "u.csv"][..],
            "--existing does not apply to sync",
        ),
        (
            &["delete", "c.json", "u.csv", "--strict"][..],
            "--strict does not apply to delete",
        ),
        (
            &["sync", "c.json", "u.csv", "--journal", "j"][..],
            "--journal resumes a create-only import",
        ),
        (
            &["delete", "c.json", "u.csv", "--journal", "j"][..],
            "--journal resumes a create-only import",
        ),
        (
            &["c.json", "u.csv", "--existing", "update", "--journal", "j"][..],
            "--journal resumes a create-only import",
        ),
        (
            &["sync", "c.json", "u.csv", "--include-admins"][..],
            "unexpected argument '--include-admins'",
        ),
        (
            &["sync", "c.json", "u.csv", "--dry-run", "--offline"][..],
            "--offline cannot plan a deletion or a sync",
        ),
    ] {
        importer()
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(said));
    }
}
