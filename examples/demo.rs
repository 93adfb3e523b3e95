//! `cargo run --release --example demo`: the whole experience in ~15 s, with
//! nothing to set up. Starts the sandbox portal in-process (60 ms latency),
//! generates 3,000 users (a few invalid, a few already existing), and imports
//! them through the real importer: progress bar, per-row lines, summary,
//! report and failed-rows files.

#[path = "../tests/it/support/sandbox.rs"]
mod sandbox;

use std::io::Write;
use std::time::Duration;

use sandbox::{Sandbox, SandboxConfig};
use xmc_user_importer::{Options, cli, run};

const USERS: usize = 3000;

fn main() -> std::process::ExitCode {
    let sb = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(60),
        ..Default::default()
    });
    let dir = std::path::Path::new("target/demo");
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return std::process::ExitCode::from(2);
    }
    let config = dir.join("config.json");
    let csv = dir.join("users.csv");
    std::fs::write(&config, sb.config_json("manual")).expect("write the demo config");
    // A config holding a token is the owner's alone.
    #[cfg(unix)]
    let _ = std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).expect("create the demo CSV"));
    writeln!(
        f,
        "username,email,first_name,last_name,group,password,language,time_zone"
    )
    .unwrap();
    let groups = ["Casterly Rock", "Winterfell", "Night's Watch", ""];
    // The rows that fail on purpose, and the users that exist already.
    let (mut planted_failures, mut planted_existing) = (0u64, 0u64);
    let zones = ["Paris", "Eastern Time (US & Canada)", "London", ""];
    for i in 1..=USERS {
        let (user, email) = (
            format!("user{i:05}"),
            format!("user{i:05}@westeros.example"),
        );
        let deliberate = i % 500 == 7 || i % 500 == 99 || i % 700 == 3;
        planted_failures += u64::from(deliberate);
        match i {
            // A few mistakes of the kind spreadsheets hold.
            _ if i % 500 == 7 => writeln!(
                f,
                "{user},{user}-at-westeros.example,Bad,Email,,Passw0rd-{i},en,"
            )
            .unwrap(),
            _ if i % 500 == 99 => writeln!(f, "{user},{email},No,Password,,,fr,").unwrap(),
            _ if i % 700 == 3 => {
                writeln!(f, "{user} x,{email},Space,InName,,Passw0rd-{i},de,").unwrap();
            }
            _ => writeln!(
                f,
                "{user},{email},First{i},Last{i},{},Passw0rd-{i},{},{}",
                groups[i % 4],
                ["en", "fr", "de"][i % 3],
                zones[i % 4]
            )
            .unwrap(),
        }
        // Some users the portal already has: re-importing is safe.
        if i % 250 == 0 {
            sb.add_user(&user, &email);
            planted_existing += u64::from(!deliberate);
        }
    }
    drop(f);

    eprintln!(
        "demo: sandbox portal at {} (60 ms per request); importing {USERS} users from {}\n",
        sb.url(),
        csv.display()
    );
    let mut opts = Options::new(&config, &csv);
    opts.concurrency = 32;
    opts.rate = 300.0;
    opts.burst = 10;
    opts.quiet = true;
    opts.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    opts.report = Some(dir.join("report.csv"));
    opts.failed = Some(dir.join("failed.csv"));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(run(opts, &mut |w| eprintln!("warning: {w}")));
    let code = cli::conclude(&result);
    eprintln!(
        "\ndemo: the sandbox received {} POSTs and holds {} new users; see {} for every row",
        sb.post_count(),
        sb.created().len(),
        dir.join("report.csv").display()
    );
    // The demo succeeds when it showed what it meant to: every planted
    // mistake failed, the users that existed were skipped, all else created.
    let shown = result.as_ref().is_ok_and(|s| {
        s.failed == planted_failures
            && s.skipped == planted_existing
            && s.created == s.rows - planted_failures - planted_existing
    });
    if shown {
        eprintln!(
            "demo: as planned. The importer itself exits {code} here: {planted_failures} rows \
             fail on purpose (a bad e-mail, a missing password, a space in a username), and any \
             failed row makes a run exit 1 so that a script notices"
        );
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("demo: the run did not go as planned (the importer's exit code is {code})");
        std::process::ExitCode::from(code.max(1))
    }
}
