//! `cargo run --example sandbox -- [--latency-ms N] [--rate-limit N] [--faults 0.1]`:
//! the sandbox portal on its own, to try the importer by hand. Writes a
//! config for it to `target/sandbox-config.json` and serves until Ctrl-C.

#[path = "../tests/support/sandbox.rs"]
mod sandbox;

use std::time::Duration;

use sandbox::{Fault, Sandbox, SandboxConfig};

fn main() {
    let mut cfg = SandboxConfig::default();
    let mut mode = "manual".to_owned();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--latency-ms" => cfg.latency = Duration::from_millis(value.parse().unwrap_or(0)),
            "--rate-limit" => cfg.rate_limit = value.parse().ok(),
            "--faults" => {
                cfg.fault_rate = value.parse().unwrap_or(0.0);
                cfg.faults = Fault::ALL.to_vec();
            }
            "--revoke-after" => cfg.revoke_after = value.parse().ok(),
            "--mode" => mode = value.to_owned(),
            other => {
                eprintln!(
                    "unknown option {other}; options: --latency-ms N --rate-limit N --faults RATE --revoke-after N --mode MODE"
                );
                std::process::exit(2);
            }
        }
    }
    let sb = Sandbox::start(cfg);
    let path = std::path::Path::new("target/sandbox-config.json");
    std::fs::write(path, sb.config_json(&mode)).expect("write target/sandbox-config.json");
    eprintln!(
        "sandbox portal at {} — config written to {}; Ctrl-C to stop",
        sb.url(),
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
        "sandbox: {} POSTs received, {} users created",
        sb.post_count(),
        sb.created().len()
    );
}
