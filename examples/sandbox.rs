//! `cargo run --example sandbox -- [--latency-ms N] [--rate-limit RATE] [--burst B]
//! [--faults 0.1] [--revoke-after N] [--users N] [--admins N] [--mode MODE]`:
//! the sandbox portal on its own, to try the importer by hand. Writes a
//! config for it to `target/sandbox-config.json` and serves until Ctrl-C.

#[path = "../tests/it/support/sandbox.rs"]
mod sandbox;

use std::time::Duration;

use sandbox::{Fault, RateLimit, Sandbox, SandboxConfig};
use serde_json::json;

const USAGE: &str = "options: --latency-ms N --rate-limit RATE --burst B --faults RATE \
                     --revoke-after N --users N --admins N --mode MODE --messy 1";

fn main() {
    let mut cfg = SandboxConfig::default();
    let mut mode = "manual".to_owned();
    let (mut rate, mut burst) = (None::<f64>, 1u32);
    let (mut users, mut admins) = (0usize, 0usize);
    let mut messy = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map_or("", String::as_str);
        match pair[0].as_str() {
            "--latency-ms" => cfg.latency = Duration::from_millis(value.parse().unwrap_or(0)),
            "--rate-limit" => rate = value.parse().ok().filter(|r| *r > 0.0),
            "--burst" => burst = value.parse().unwrap_or(1).max(1),
            "--faults" => {
                cfg.fault_rate = value.parse().unwrap_or(0.0);
                cfg.faults = Fault::ALL.to_vec();
            }
            "--revoke-after" => cfg.revoke_after = value.parse().ok(),
            "--users" => users = value.parse().unwrap_or(0),
            "--admins" => admins = value.parse().unwrap_or(0),
            "--mode" => value.clone_into(&mut mode),
            "--messy" => messy = value == "1",
            other => {
                eprintln!("unknown option {other}; {USAGE}");
                std::process::exit(2);
            }
        }
    }
    cfg.rate_limit = rate.map(|r| RateLimit::new(r, burst));
    let groups: Vec<u64> = cfg.groups.iter().map(|g| g.0).collect();
    let sb = Sandbox::start(cfg);
    for i in 1..=users {
        sb.add_user_with(
            "user",
            json!({
                "username": format!("user{i:05}"),
                "email": format!("user{i:05}@westeros.example"),
                "first_name": format!("First{i}"),
                "last_name": format!("Last{i}"),
                "language": (["en", "fr", "de"][i % 3]),
                "time_zone": (["Eastern Time (US & Canada)", "Paris", "London"][i % 3]),
                "group_id": (groups[i % groups.len()]),
            }),
        );
    }
    for i in 1..=admins {
        sb.add_user_with(
            "admin",
            json!({"username": format!("admin{i:03}"), "email": format!("admin{i:03}@westeros.example")}),
        );
    }
    if messy {
        plant_mess(&sb);
    }
    let path = std::path::Path::new("target/sandbox-config.json");
    std::fs::write(path, sb.config_json(&mode)).expect("write target/sandbox-config.json");
    // A config holding a token is the owner's alone.
    #[cfg(unix)]
    let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600));
    eprintln!(
        "sandbox portal at {} holding {} users — config written to {}; Ctrl-C to stop",
        sb.url(),
        sb.users().len(),
        path.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    eprintln!(
        "sandbox: {} POSTs, {} PUTs, {} DELETEs received; {} users created, {} now",
        sb.post_count(),
        sb.count_method("PUT"),
        sb.count_method("DELETE"),
        sb.created().len(),
        sb.users().len()
    );
}

/// What real directories hold (issue 18): a role that is not a string, one
/// user listed twice, two users sharing an id or differing only in case,
/// padded and decomposed names, an invisible character, ids no request can
/// name, a user without a username.
fn plant_mess(sb: &Sandbox) {
    let entries = [
        json!({"id": 900, "username": "nullrole", "email": "nullrole@westeros.example", "role": null}),
        json!({"id": 901, "username": "listrole", "email": "listrole@westeros.example", "role": ["admin"]}),
        json!({"id": 902, "username": "twice", "email": "twice@westeros.example", "role": "user"}),
        json!({"id": 902, "username": "twice", "email": "twice@westeros.example", "role": "user"}),
        json!({"id": 903, "username": "alice", "email": "alice@westeros.example", "role": "user"}),
        json!({"id": 903, "username": "bob", "email": "bob@westeros.example", "role": "user"}),
        json!({"id": 904, "username": "Case", "email": "case1@westeros.example", "role": "user"}),
        json!({"id": 905, "username": "case", "email": "case2@westeros.example", "role": "user"}),
        json!({"id": 906, "username": "trail ", "email": "trail@westeros.example", "role": "user"}),
        json!({"id": 907, "username": "zoe", "email": "zoe\u{301}@westeros.example", "role": "user"}),
        json!({"id": 908, "username": "fr\u{200b}ank", "email": "frank@westeros.example", "role": "user"}),
        json!({"id": 2.5, "username": "half", "email": "half@westeros.example", "role": "user"}),
        json!({"id": "..", "username": "climber", "email": "climber@westeros.example", "role": "user"}),
        json!({"id": 909, "username": null, "email": "nameless@westeros.example", "role": "user"}),
    ];
    for e in entries {
        sb.plant(e);
    }
}
