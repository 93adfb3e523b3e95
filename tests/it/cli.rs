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

/// What bash offers after `words` (the last one being completed), through
/// the function the generated script registers for the command.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\n\
         fn=$(complete -p xmc-user-importer | sed 's/.*-F \\([^ ]*\\) .*/\\1/')\n\
         COMP_WORDS=({})\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMPREPLY=()\n\
         \"$fn\" xmc-user-importer \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" ")
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_every_subcommand_and_value() {
    let out = importer().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("xmc-user-importer.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &[&str]| bash_completes(&script, words);
    let de = complete(&["xmc-user-importer", "sync", "--de"]);
    assert!(de.contains(&"--delete-missing".to_owned()), "{de:?}");
    assert!(de.iter().all(|w| w.starts_with("--de")), "{de:?}");
    assert_eq!(
        complete(&["xmc-user-importer", "import", "--existing", ""]),
        ["skip", "update", "fail"]
    );
    let shells = complete(&["xmc-user-importer", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_owned()), "{shells:?}");
    }
    assert!(!shells.contains(&"--rate".to_owned()), "{shells:?}");
    assert_eq!(
        complete(&[
            "xmc-user-importer",
            "-c",
            "4",
            "sync",
            "c.json",
            "u.csv",
            "--max"
        ]),
        ["--max-deletes"]
    );
    assert_eq!(
        complete(&["xmc-user-importer", "--output", ""]),
        ["text", "json"]
    );
    // A subcommand offers only the shared options it accepts.
    let export = complete(&["xmc-user-importer", "export", "--"]);
    assert!(export.contains(&"--rate".to_owned()), "{export:?}");
    for refused in ["--report", "--journal", "--strict", "--sheet", "--dry-run"] {
        assert!(!export.contains(&refused.to_owned()), "{export:?}");
    }
    let delete = complete(&["xmc-user-importer", "delete", "--"]);
    assert!(delete.contains(&"--yes".to_owned()), "{delete:?}");
    assert!(!delete.contains(&"--journal".to_owned()), "{delete:?}");
}

#[test]
fn zsh_and_fish_scripts_name_each_subcommands_options() {
    let script = |shell| {
        let out = importer().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        String::from_utf8(out.stdout).unwrap()
    };
    let fish = script("fish");
    assert!(
        fish.contains(
            "complete -c xmc-user-importer -n \"__fish_xmc_user_importer_using_subcommand sync\" \
             -l delete-missing"
        ),
        "{fish}"
    );
    assert!(
        !fish
            .lines()
            .any(|l| l.contains("using_subcommand export") && l.contains("-l journal")),
        "{fish}"
    );
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef xmc-user-importer\n"), "{zsh}");
    assert!(zsh.contains("'--delete-missing[Delete the"), "{zsh}");
    for shell in ["powershell", "elvish"] {
        assert!(!script(shell).is_empty(), "{shell}");
    }
}

#[test]
fn each_subcommands_help_shows_only_the_options_it_accepts() {
    let help = |sub: &str| {
        let out = importer()
            .env("COLUMNS", "80")
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub}");
        String::from_utf8(out.stdout).unwrap()
    };
    let has = |text: &str, flag: &str| {
        text.split_whitespace()
            .any(|w| w.trim_end_matches(',') == flag)
    };
    for (sub, shown, hidden) in [
        (
            "export",
            &["--rate", "--concurrency", "--timeout"][..],
            &[
                "--report",
                "--failed",
                "--journal",
                "--strict",
                "--sheet",
                "--dry-run",
                "--offline",
                "--column",
                "--generate-passwords",
            ][..],
        ),
        (
            "delete",
            &[
                "--yes",
                "--include-admins",
                "--report",
                "--dry-run",
                "--column",
            ],
            &["--strict", "--journal", "--offline", "--generate-passwords"],
        ),
        (
            "sync",
            &["--delete-missing", "--strict", "--report"],
            &["--journal", "--offline"],
        ),
        (
            "import",
            &["--existing", "--journal", "--strict", "--offline"],
            &[],
        ),
        ("completions", &[], &["--rate", "--report"]),
    ] {
        let text = help(sub);
        for flag in shown {
            assert!(has(&text, flag), "{sub} --help lacks {flag}:\n{text}");
        }
        for flag in hidden {
            assert!(!has(&text, flag), "{sub} --help shows {flag}:\n{text}");
        }
    }
}

#[test]
fn the_examples_fit_80_columns() {
    let out = importer()
        .env("COLUMNS", "80")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let examples = help.split_once("Examples:").unwrap().1;
    for line in examples.lines() {
        assert!(line.chars().count() <= 80, "{line:?} is wider than 80");
    }
    // Re-wrapped text would start a line at the margin.
    let examples = examples.split_once("Exit codes:").unwrap().0;
    for line in examples.lines().filter(|l| !l.is_empty()) {
        assert!(line.starts_with("  "), "{line:?} was re-wrapped");
    }
    // Not re-wrapped: a command goes on only after a `\`.
    let lines: Vec<&str> = examples.lines().collect();
    for pair in lines.windows(2) {
        if pair[1].starts_with("        ") {
            assert!(pair[0].ends_with('\\'), "{pair:?}");
        }
    }
}

#[test]
fn the_man_page_names_every_flag_refers_to_no_other_page_and_keeps_its_examples() {
    let dir = tempfile::tempdir().unwrap();
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
    assert!(
        !plain.contains("(1)"),
        "a page that does not exist is named"
    );
    assert!(!plain.contains(".SH EXTRA"), "{plain}");
    // It renders, where man is installed, with its examples as typed.
    let manpage = dir.path().join("xmc-user-importer.1");
    std::fs::write(&manpage, &man.stdout).unwrap();
    if let Ok(out) = std::process::Command::new("man")
        .arg("-l")
        .arg(&manpage)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for example in [
            "xmc-user-importer sync config.json hr.csv --delete-missing \\",
            "--max-deletes 20 --yes",
            "xmc-user-importer -c 16 -r 25 --journal users.journal \\",
        ] {
            assert!(
                text.lines().any(|l| l.trim() == example),
                "{example:?} not as typed in:\n{text}"
            );
        }
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
