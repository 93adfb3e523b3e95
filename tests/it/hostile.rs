//! A hostile world: a portal (or a proxy in front of it) that answers with
//! text meant to attack the terminal or the spreadsheet, answers without
//! end, echoes secrets; and files and paths that attack the tool. Each test
//! asserts on the bytes written to stdout, stderr and the files.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// How the hostile portal answers a POST of a user.
#[derive(Clone)]
enum Answer {
    /// 422 with this error text.
    Error(String),
    /// 200 with a body of this many bytes that never parse.
    Huge(usize),
    /// 200 with a body that never ends.
    Endless,
    /// The first attempt of each user is dropped after it was read (maybe
    /// created); the next ones are answered 401.
    LostThenRevoked,
}

struct Hostile {
    addr: SocketAddr,
    answer: Answer,
    posts: AtomicUsize,
    /// The last POST's body, to echo secrets back.
    last_body: Mutex<String>,
}

async fn handle(State(h): State<Arc<Hostile>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let json_ok = |v: serde_json::Value| {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match (method, uri.path()) {
        (Method::GET, p) if p.ends_with("/groups") => {
            json_ok(json!({"result": true, "data": {"default": 1, "groups": {"1": "Everyone"}}}))
        }
        (Method::GET, p) if p.ends_with("/fax_numbers") => {
            json_ok(json!({"result": true, "data": {"fax_numbers": {}}}))
        }
        (Method::POST, _) => {
            let n = h.posts.fetch_add(1, Ordering::SeqCst);
            let sent = String::from_utf8_lossy(&body).into_owned();
            sent.clone_into(&mut h.last_body.lock().unwrap());
            match &h.answer {
                Answer::Error(text) => {
                    // Echo the request back too: a secret in it must not show.
                    let text = text.replace("{echo}", &sent);
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        [(header::CONTENT_TYPE, "application/json")],
                        json!({"result": false, "errors": {"base": [text]}}).to_string(),
                    )
                        .into_response()
                }
                Answer::Huge(size) => {
                    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                    let chunks = size.div_ceil(chunk.len());
                    let stream = futures::stream::iter(
                        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                    );
                    Response::new(Body::from_stream(stream))
                }
                Answer::Endless => {
                    let chunk = Bytes::from(vec![b'{'; 64 * 1024]);
                    let stream = futures::stream::repeat_with(move || {
                        Ok::<_, std::io::Error>(chunk.clone())
                    });
                    Response::new(Body::from_stream(stream))
                }
                Answer::LostThenRevoked if n == 0 => {
                    let stream = futures::stream::once(async {
                        Err::<Bytes, _>(std::io::Error::other("dropped"))
                    });
                    Response::new(Body::from_stream(stream))
                }
                Answer::LostThenRevoked => (
                    StatusCode::UNAUTHORIZED,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"result":false,"errors":["Invalid access token"]}"#,
                )
                    .into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "{}").into_response(),
    }
}

/// Starts the hostile portal on its own thread; it lives as long as the test.
fn start(answer: Answer) -> Arc<Hostile> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let h = Arc::new(Hostile {
        addr: listener.local_addr().unwrap(),
        answer,
        posts: AtomicUsize::new(0),
        last_body: Mutex::default(),
    });
    let app = Router::new().fallback(handle).with_state(h.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, app).await;
        });
    });
    h
}

/// A workspace whose config points at the hostile portal.
fn workspace(h: &Hostile, mode: &str) -> Workspace {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, mode);
    ws.edit_config(&sb.url(), &format!("http://{}", h.addr));
    ws
}

fn has_control(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|b| (*b < 0x20 && *b != b'\n') || *b == 0x7f)
}

#[test]
fn terminal_escapes_from_the_portal_are_shown_not_run() {
    let h = start(Answer::Error(
        "\u{1b}]0;pwned\u{7}\u{1b}[2J bad\rFAKE: everything created successfully".into(),
    ));
    let ws = workspace(&h, "random");
    let csv = ws.write("u.csv", "username,email\njon,jon@westeros.com\n");
    let out = ws
        .cmd(&["--report", "r.csv", "--no-progress"], &csv)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!has_control(&out.stdout), "{:?}", stdout_of(&out));
    assert!(!has_control(&out.stderr), "{:?}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "jon@westeros.com... Failed: \\x1b]0;pwned\\x07\\x1b[2J bad\\rFAKE: everything created successfully\n"
    );
    let report = std::fs::read(ws.path("r.csv")).unwrap();
    assert!(!report.contains(&0x1b) && !report.contains(&b'\r'));
    assert!(String::from_utf8_lossy(&report).contains("\\x1b]0;pwned"));
}

#[test]
fn formulas_are_defused_in_the_report_but_the_failed_file_keeps_the_cells() {
    let h = start(Answer::Error("=HYPERLINK(\"http://x\",\"y\")".into()));
    let ws = workspace(&h, "random");
    let csv = ws.write("u.csv", "username,email\njon,=cmd@westeros.com\n");
    ws.cmd(&["--report", "r.csv", "--failed", "f.csv"], &csv)
        .current_dir(ws.dir.path())
        .assert()
        .code(1);
    let report = std::fs::read_to_string(ws.path("r.csv")).unwrap();
    assert_has(&report, "'=cmd@westeros.com");
    assert_has(&report, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    let failed = std::fs::read_to_string(ws.path("f.csv")).unwrap();
    assert_eq!(
        failed, "username,email\njon,=cmd@westeros.com\n",
        "byte for byte, no portal text"
    );
}

#[test]
fn secrets_echoed_by_the_portal_are_blanked() {
    let h = start(Answer::Error("you sent {echo}".into()));
    let ws = workspace(&h, "manual");
    let csv = ws.write(
        "u.csv",
        "username,email,password\njon,jon@westeros.com,Ghost-Direwolf-9\n",
    );
    let out = ws
        .cmd(&["--report", "r.csv", "--output", "json"], &csv)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    let all = format!(
        "{}{}{}",
        stdout_of(&out),
        stderr_of(&out),
        std::fs::read_to_string(ws.path("r.csv")).unwrap()
    );
    assert_has(&all, "[redacted]");
    assert!(!all.contains("Ghost-Direwolf-9"), "{all}");
    assert!(!all.contains(crate::support::sandbox::TOKEN), "{all}");
}

#[test]
fn a_row_with_too_few_cells_is_named_by_its_line_only() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "manual");
    // The e-mail cell is missing: the password stands where the e-mail goes.
    let csv = ws.write("u.csv", "username,email,password\njon,Secret-Pass-9\n");
    let out = ws
        .cmd(&["--report", "r.csv"], &csv)
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    let report = std::fs::read_to_string(ws.path("r.csv")).unwrap();
    assert_eq!(
        stdout_of(&out),
        "line 2... Failed: has 2 cells but the header has 3 columns (a missing or extra delimiter, or an unclosed quote?)\n"
    );
    assert!(!report.contains("Secret-Pass-9") && !stderr_of(&out).contains("Secret-Pass-9"));
}

#[test]
fn huge_and_endless_answers_cost_no_memory() {
    for answer in [Answer::Huge(500 << 20), Answer::Endless] {
        let h = start(answer);
        let ws = workspace(&h, "random");
        let csv = ws.write("u.csv", users_csv(16, false));
        let child = importer_std()
            .args([
                "-c",
                "8",
                "-r",
                "0",
                "--retries",
                "1",
                "--timeout",
                "5",
                "-q",
            ])
            .arg(&ws.config)
            .arg(&csv)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let peak_kb = crate::support::peak::sample_peak_kib(pid, Duration::from_millis(20));
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert!(peak_kb < 100 * 1024, "peak memory {} MB", peak_kb / 1024);
        assert!(
            stdout_of(&out).contains("longer than 1 MiB (not read)")
                || stdout_of(&out).contains("no answer within the timeout"),
            "{}",
            stdout_of(&out)
        );
    }
}

#[test]
fn a_password_in_the_endpoint_is_refused_and_never_shown() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let url = sb.url();
    ws.edit_config(&url, &url.replace("http://", "http://admin:S3cretPW@"));
    let csv = ws.write("u.csv", users_csv(1, false));
    let out = ws.cmd(&[], &csv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("user name or password"));
    assert!(!stderr_of(&out).contains("S3cretPW") && !stdout_of(&out).contains("S3cretPW"));
    assert!(sb.received().is_empty());
}

#[test]
fn a_lost_answer_keeps_its_caveat_whatever_ends_the_row() {
    let h = start(Answer::LostThenRevoked);
    let ws = workspace(&h, "random");
    let csv = ws.write("u.csv", users_csv(1, false));
    let out = ws.cmd(&["-c", "1"], &csv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains("refused the access token")
            && stdout.contains("it may or may not exist now"),
        "{stdout}"
    );
}

#[test]
fn a_report_hard_linked_to_the_input_is_refused() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let content = users_csv(3, false);
    let csv = ws.write("u.csv", &content);
    std::fs::hard_link(&csv, ws.path("link.csv")).unwrap();
    ws.cmd(&["--report", "link.csv"], &csv)
        .current_dir(ws.dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is also the CSV file"));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), content);
}

#[test]
fn a_file_that_shrinks_while_read_fails_the_run() {
    let sb = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(30),
        ..Default::default()
    });
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(20_000, false));
    let child = importer_std()
        .args(["-c", "1", "-r", "0", "-q", "--no-progress"])
        .arg(&ws.config)
        .arg(&csv)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while sb.post_count() < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Cut the file to its first 100 users while it is being read.
    let all = users_csv(20_000, false);
    let cut_at = all
        .match_indices('\n')
        .nth(100)
        .map_or(all.len(), |(i, _)| i + 1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&csv)
        .unwrap()
        .set_len(cut_at as u64)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_has(
        &stderr_of(&out),
        "changed while it was read: 20000 rows were counted at start",
    );
}

#[test]
fn a_config_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    std::fs::set_permissions(&ws.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let csv = ws.write("u.csv", users_csv(1, false));
    ws.cmd(&[], &csv)
        .assert()
        .success()
        .stderr(predicates::str::contains("readable by others (mode 0644)"))
        .stderr(predicates::str::contains("chmod 600"));
}

#[test]
fn a_report_on_a_full_disk_fails_the_run() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    let csv = ws.write("u.csv", users_csv(3, false));
    ws.cmd(&["--report", "/dev/full"], &csv)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("the file is incomplete"));
}

#[test]
fn odd_files_are_reported_not_swallowed() {
    let sb = Sandbox::start(SandboxConfig::default());
    let ws = Workspace::new(&sb, "random");
    // A row of NUL bytes is reported, not skipped.
    let csv = ws.write("nul.csv", b"username,email\n\0\0\0\njon,jon@westeros.com\n");
    let out = ws.cmd(&["--no-progress"], &csv).output().unwrap();
    assert_has(&stdout_of(&out), "line 2... Failed");
    assert_has(&stderr_of(&out), "2 rows: 1 created");
    // 10,000 unknown columns: a few warnings, then one count.
    let mut header = String::from("username,email");
    for i in 0..10_000 {
        write!(header, ",extra{i}").unwrap();
    }
    let csv = ws.write("wide.csv", format!("{header}\n"));
    let out = ws.cmd(&[], &csv).output().unwrap();
    let warnings = stderr_of(&out)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .count();
    assert!(warnings <= 6, "{warnings} warnings");
    assert!(stderr_of(&out).contains("9995 more unknown or unnamed columns are ignored"));
    // Binary data is named as such, and not echoed.
    let csv = ws.write("data.csv", b"\x1f\x8b\x08\0garbage\x01\x02");
    let out = ws.cmd(&[], &csv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("is not a CSV file: it is a gzip archive"));
    // Diagnostics are not coloured when stderr is a file.
    let csv = ws.write("ok.csv", users_csv(1, false));
    let out = ws.cmd(&["-v"], &csv).output().unwrap();
    assert!(!out.stderr.contains(&0x1b), "{}", stderr_of(&out));
}

#[test]
fn a_long_portal_error_is_cut() {
    let h = start(Answer::Error("x".repeat(600 << 10)));
    let ws = workspace(&h, "random");
    let csv = ws.write("u.csv", users_csv(1, false));
    let out = ws.cmd(&[], &csv).output().unwrap();
    let line = stdout_of(&out);
    assert!(line.len() < 700, "{} bytes", line.len());
    assert!(line.trim_end().ends_with('…'));
}

/// The portal's text exported to a terminal is shown, not obeyed; to a
/// file it is written exactly (an export imports back unchanged).
#[test]
fn an_export_to_a_terminal_escapes_the_portals_text() {
    let sb = Sandbox::start(SandboxConfig::default());
    let title = "Hand\u{1b}]0;pwned\u{7}\u{1b}[2J";
    sb.add_user_with(
        "user",
        json!({"username": "tirion", "email": "tirion@westeros.com", "job_title": title}),
    );
    let ws = Workspace::new(&sb, "random");
    let (code, screen) = on_a_terminal(&format!("export {} -q", ws.config.display()), "");
    assert_eq!(code, Some(0), "{screen}");
    assert_has(&screen, r"Hand\x1b]0;pwned\x07\x1b[2J");
    assert!(!screen.contains('\u{1b}'), "{screen:?}");
    let file = ws.path("users.csv");
    run_code(
        importer()
            .arg("export")
            .arg(&ws.config)
            .arg(&file)
            .arg("-q"),
        0,
    );
    let (header, rows) = read_csv(&file);
    let c = header.iter().position(|h| h == "job_title").unwrap();
    assert_eq!(rows[0][c], title);
}
