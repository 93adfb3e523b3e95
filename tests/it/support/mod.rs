//! What the integration tests share: the sandbox portal and small helpers.
// Shared by several test binaries: not every one uses every item, and none
// exports them.
#![allow(dead_code, unreachable_pub)]

pub mod peak;
pub mod sandbox;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
#[allow(unused_imports)]
pub use sandbox::{Fault, Sandbox, SandboxConfig};

/// Keeps the developer's environment out of a test: removes from what `c`
/// passes on to its child every variable whose name starts with `XMC_`
/// (`XMC_ACCESS_TOKEN`, `XMC_RATE`, `XMC_CONCURRENCY`, and any added later)
/// and `RUST_LOG`. A test that wants one sets it on the command afterwards.
pub fn scrub_env(c: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"XMC_") {
            c.env_remove(&name);
        }
    }
    c.env_remove("RUST_LOG")
}

/// The importer binary, environment scrubbed ([`scrub_env`]), nothing else
/// set: the one place every integration test gets its command from. A
/// `std::process::Command`, for children to spawn and signal.
pub fn importer_std() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xmc-user-importer"));
    scrub_env(&mut c);
    c
}

/// [`importer_std`] as an `assert_cmd::Command`, to run and assert on.
pub fn importer() -> Command {
    Command::from_std(importer_std())
}

/// A folder with a config pointing at `sb` and room for CSV files.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Workspace {
    pub fn new(sb: &Sandbox, mode: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.json");
        std::fs::write(&config, sb.config_json(mode)).expect("write config");
        // The owner's alone, as a config holding a token should be.
        #[cfg(unix)]
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod config");
        Workspace { dir, config }
    }

    /// Rewrites the config with `from` replaced by `to` (another token, another endpoint).
    pub fn edit_config(&self, from: &str, to: &str) {
        let config = std::fs::read_to_string(&self.config).expect("read config");
        std::fs::write(&self.config, config.replace(from, to)).expect("write config");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// The binary with the config and `csv`, after `args`.
    pub fn cmd(&self, args: &[&str], csv: &Path) -> Command {
        let mut c = importer();
        c.args(args)
            .arg(&self.config)
            .arg(csv)
            .timeout(std::time::Duration::from_secs(120));
        c
    }
}

/// `n` valid users, `user0001,user0001@example.com,…` with a header for `mode`.
pub fn users_csv(n: usize, manual: bool) -> String {
    let mut s = String::from(if manual {
        "username,email,first_name,password\n"
    } else {
        "username,email,first_name\n"
    });
    for i in 1..=n {
        if manual {
            writeln!(s, "user{i:05},user{i:05}@example.com,User {i},Passw0rd-{i}").unwrap();
        } else {
            writeln!(s, "user{i:05},user{i:05}@example.com,User {i}").unwrap();
        }
    }
    s
}

/// The users the sandbox created, by username.
pub fn created_by_username(sb: &Sandbox) -> HashMap<String, serde_json::Value> {
    sb.created()
        .into_iter()
        .map(|u| (u["username"].as_str().unwrap_or_default().to_owned(), u))
        .collect()
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What the importer wrote on stdout, a line each.
pub fn lines_of(out: &std::process::Output) -> Vec<String> {
    stdout_of(out).lines().map(str::to_owned).collect()
}

/// Runs `cmd` and checks that it exits with `code`; its stderr is shown
/// when it does not.
#[track_caller]
pub fn run_code(cmd: &mut Command, code: i32) -> std::process::Output {
    let out = cmd.output().expect("run the importer");
    assert_eq!(out.status.code(), Some(code), "{}", stderr_of(&out));
    out
}

/// Checks that `text` (a stdout or stderr) contains `part`, showing the
/// whole text when it does not.
#[track_caller]
pub fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} is not in:\n{text}");
}

/// A CSV file's header and rows, as strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).expect("open csv");
    let header = r
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("csv row").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// A CSV file's rows as maps from column name to cell (a `--report`, say).
pub fn csv_maps(path: &Path) -> Vec<HashMap<String, String>> {
    let (header, rows) = read_csv(path);
    rows.into_iter()
        .map(|row| header.iter().cloned().zip(row).collect())
        .collect()
}

/// Writes `header` and `rows` as a CSV file named `name` in `ws`.
pub fn write_csv(ws: &Workspace, name: &str, header: &[String], rows: &[Vec<String>]) -> PathBuf {
    let path = ws.path(name);
    let mut w = csv::Writer::from_path(&path).expect("create csv");
    w.write_record(header).expect("write header");
    for row in rows {
        w.write_record(row).expect("write row");
    }
    w.flush().expect("flush csv");
    path
}

/// The POSTs, PUTs and DELETEs the sandbox received.
pub fn write_requests(sb: &Sandbox) -> usize {
    ["POST", "PUT", "DELETE"]
        .iter()
        .map(|m| sb.count_method(m))
        .sum()
}

/// Runs the importer with `args` (shell words after its path) on a
/// pseudo-terminal (util-linux `script`), `typed` on its keyboard, `TERM`
/// xterm and `COLUMNS` 120. Returns the exit code and the screen (stdout and
/// stderr as the terminal showed them).
pub fn on_a_terminal(args: &str, typed: &str) -> (Option<i32>, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "this test needs util-linux `script` to make a pseudo-terminal"
    );
    // `script` runs the binary through a shell: the importer's path comes
    // from the one builder, and the environment is scrubbed the same way.
    let cmd = format!("{} {args}", importer_std().get_program().display());
    let mut child = scrub_env(&mut std::process::Command::new("script"))
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start script");
    child
        .stdin
        .take()
        .expect("script's stdin")
        .write_all(typed.as_bytes())
        .expect("type on the terminal");
    let out = child.wait_with_output().expect("wait for script");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
