//! `cargo bench` (`-- --quick` for a small grid in under a minute): the real
//! release binary against the sandbox portal over a grid of latency ×
//! concurrency × rate. For each point: users/s achieved against the ceiling
//! `min(concurrency / latency, rate)`, the client's CPU time per 1,000 users
//! and its peak memory (from `wait4`, so the sandbox's own work is not
//! counted). Then the rate accuracy over 10 s, a 1,000,000-row dry run's
//! memory, and the sequential tool's behaviour side by side. `-- --adaptive`:
//! the token-bucket points and the limiter shapes of issue 20; `-- --shapes`:
//! those shapes alone (`--only=NAME` for those whose name holds NAME;
//! `--log` keeps each run's `-v` log in `target/shape-*.log`).

// Measured durations and rates become counts of users and process ids: all
// small and positive.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

#[path = "../tests/it/support/peak.rs"]
mod peak;
#[path = "../tests/it/support/sandbox.rs"]
mod sandbox;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::{Advertise, Fault, RateLimit, Sandbox, SandboxConfig, Window};

const BIN: &str = env!("CARGO_BIN_EXE_xmc-user-importer");

struct Measured {
    wall: f64,
    cpu: f64,
    max_rss_mb: f64,
    code: i32,
}

/// Runs the binary and measures it with `wait4`.
fn run(args: &[String], config: &Path, csv: &Path) -> Measured {
    run_with(args, config, csv, Stdio::null())
}

/// As [`run`], and what the importer wrote on stderr (its summary).
fn run_capturing(args: &[String], config: &Path, csv: &Path) -> (Measured, String) {
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let m = run_with(args, config, csv, log.reopen().expect("reopen").into());
    (m, std::fs::read_to_string(log.path()).unwrap_or_default())
}

#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn run_with(args: &[String], config: &Path, csv: &Path, stderr: Stdio) -> Measured {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(args)
        .arg(config)
        .arg(csv)
        .env_remove("XMC_RATE")
        .env_remove("XMC_CONCURRENCY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start the importer");
    let pid = child.id();
    let sampler = std::thread::spawn(move || peak::sample_peak_kib(pid, Duration::from_millis(10)));
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and usage are valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &raw mut status, 0, &raw mut usage) };
    assert!(pid > 0, "wait4 failed");
    let peak_kb = sampler.join().unwrap_or(0);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        wall: started.elapsed().as_secs_f64(),
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        max_rss_mb: peak_kb as f64 / 1024.0,
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

fn write_users(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create CSV"));
    writeln!(f, "username,email,first_name").unwrap();
    for i in 0..n {
        writeln!(f, "bench{i:07},bench{i:07}@example.com,Bench {i}").unwrap();
    }
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// `--dry-run --offline -q` of `input`, with a config whose endpoint
    /// nothing answers (an offline run never calls it).
    fn dry_run_offline(&self, input: &Path) -> Measured {
        let config = self.dir.path().join("offline.json");
        std::fs::write(
            &config,
            r#"{"endpoint":"http://127.0.0.1:9","enterprise_account":"bench","access_token":"x","password_setup_mode":"random"}"#,
        )
        .unwrap();
        run(
            &["--dry-run".into(), "--offline".into(), "-q".into()],
            &config,
            input,
        )
    }

    fn files(&self, sb: &Sandbox, users: usize) -> (PathBuf, PathBuf) {
        let config = self.dir.path().join("config.json");
        std::fs::write(&config, sb.config_json("random")).unwrap();
        let csv = self.dir.path().join(format!("users-{users}.csv"));
        if !csv.exists() {
            write_users(&csv, users);
        }
        (config, csv)
    }
}

/// The sandbox's mean time from arrival to answer, in seconds.
fn service_time(sb: &Sandbox) -> f64 {
    let took: Vec<f64> = sb
        .received()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.took.as_secs_f64())
        .collect();
    took.iter().sum::<f64>() / took.len().max(1) as f64
}

/// Users per second at the sandbox: POSTs from the first arrival to the last answer.
fn arrival_rate(sb: &Sandbox) -> f64 {
    let posts: Vec<(f64, f64)> = sb
        .received()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.at.as_secs_f64(), (r.at + r.took).as_secs_f64()))
        .collect();
    let first = posts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let last = posts.iter().map(|p| p.1).fold(0.0, f64::max);
    if last > first {
        posts.len() as f64 / (last - first)
    } else {
        0.0
    }
}

fn flags(concurrency: u32, rate: f64) -> Vec<String> {
    vec![
        "--no-progress".into(),
        "-q".into(),
        "-c".into(),
        concurrency.to_string(),
        "-r".into(),
        rate.to_string(),
    ]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let env = Env {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    if std::env::args().any(|a| a == "--shapes") {
        limiter_shapes(&env, quick);
        return;
    }
    if std::env::args().any(|a| a == "--adaptive") {
        adaptive_pacing(&env, quick);
        limiter_shapes(&env, quick);
        return;
    }
    if std::env::args().any(|a| a == "--roster") {
        roster_and_workbooks(&env, quick);
        known_users(&env, quick);
        return;
    }
    let (latencies, concurrencies, max_users): (&[u64], &[u32], usize) = if quick {
        (&[0, 20], &[1, 32], 3_000)
    } else {
        (&[0, 20, 100], &[1, 8, 32, 128], 20_000)
    };
    let rates = [0.0, 100.0];
    let target_secs = if quick { 1.5 } else { 4.0 };

    println!(
        "xmc-user-importer throughput ({} grid; {} cores)",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!(
        "{:>7} {:>5} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>11} {:>8}",
        "latency",
        "conc",
        "rate",
        "users",
        "secs",
        "served ms",
        "users/s",
        "ceiling",
        "%ceil",
        "cpu ms/1k",
        "rss MB"
    );
    let mut misses = Vec::new();
    for &latency in latencies {
        for &c in concurrencies {
            for &rate in &rates {
                let by_latency = if latency == 0 {
                    f64::INFINITY
                } else {
                    f64::from(c) * 1000.0 / latency as f64
                };
                let ceiling = if rate > 0.0 {
                    by_latency.min(rate)
                } else {
                    by_latency
                };
                let users = if ceiling.is_finite() {
                    ((ceiling * target_secs) as usize).clamp(20, max_users)
                } else {
                    max_users
                };
                let sb = Sandbox::start(SandboxConfig {
                    latency: Duration::from_millis(latency),
                    ..Default::default()
                });
                let (config, csv) = env.files(&sb, users);
                let m = run(&flags(c, rate), &config, &csv);
                assert_eq!(
                    m.code, 0,
                    "the import failed at {latency} ms, -c {c}, -r {rate}"
                );
                let achieved = arrival_rate(&sb);
                // The ceiling the client can reach is set by how long the
                // portal really takes (a 20 ms sleep answers in ~20.6 ms).
                let served = service_time(&sb);
                let ceiling = if latency == 0 {
                    ceiling
                } else {
                    let by_service = f64::from(c) / served;
                    if rate > 0.0 {
                        by_service.min(rate)
                    } else {
                        by_service
                    }
                };
                let pct = achieved / ceiling * 100.0;
                // No latency, no limit: the client's own speed is the ceiling.
                let (ceiling_text, pct_text) = if ceiling.is_finite() {
                    (format!("{ceiling:.0}"), format!("{pct:.1}%"))
                } else {
                    ("cpu".into(), "-".into())
                };
                let mark = if ceiling.is_finite() && ceiling <= 2000.0 && pct < 95.0 {
                    misses.push(format!("{latency} ms, -c {c}, -r {rate}: {pct:.1}%"));
                    " <95%"
                } else {
                    ""
                };
                println!(
                    "{:>5}ms {:>5} {:>7} {:>7} {:>7.2} {:>9.2} {:>9.1} {:>9} {:>7} {:>11.1} {:>8.1}{mark}",
                    latency,
                    c,
                    if rate > 0.0 {
                        format!("{rate}")
                    } else {
                        "unlim".into()
                    },
                    users,
                    m.wall,
                    served * 1e3,
                    achieved,
                    ceiling_text,
                    pct_text,
                    m.cpu / users as f64 * 1e6,
                    m.max_rss_mb,
                );
            }
        }
    }

    // The rate held over a 10 s window, and never more than rate + burst in any second.
    let (rate, secs) = (100.0, if quick { 3.0 } else { 10.0 });
    let sb = Sandbox::start(SandboxConfig::default());
    let users = (rate * (secs + 0.5)) as usize;
    let (config, csv) = env.files(&sb, users);
    run(&flags(32, rate), &config, &csv);
    let at = sb.post_times();
    let first = at.first().copied().unwrap_or(0.0);
    let in_window = at.iter().filter(|t| **t < first + secs).count();
    let max_1s = sb.busiest_second();
    let window_rate = in_window as f64 / secs;
    println!(
        "\nrate accuracy: --rate {rate} -c 32 over {secs} s: {window_rate:.1}/s ({:+.2}%); busiest 1 s window: {max_1s} POSTs (limit {})",
        (window_rate / rate - 1.0) * 100.0,
        rate as usize + 1
    );

    // Memory: a large file, validated offline.
    let rows = if quick { 100_000 } else { 1_000_000 };
    let big = env.dir.path().join("big.csv");
    write_users(&big, rows);
    let m = env.dry_run_offline(&big);
    println!(
        "dry run --offline of {rows} rows: {:.2} s ({:.0} rows/s), peak RSS {:.1} MB, cpu {:.3} ms/row",
        m.wall,
        rows as f64 / m.wall,
        m.max_rss_mb,
        m.cpu / rows as f64 * 1e3
    );

    // Side by side: the original tool's one-at-a-time behaviour against the defaults and a wide pool.
    let users = if quick { 200 } else { 2000 };
    println!("\n{users} users at 20 ms latency:");
    let mut sequential = 0.0;
    for (label, args) in [
        (
            "--concurrency 1 --rate 0 (sequential, like the old script)",
            vec!["-c", "1", "-r", "0"],
        ),
        ("defaults (--concurrency 8 --rate 10)", vec![]),
        ("--concurrency 32 --rate 0", vec!["-c", "32", "-r", "0"]),
    ] {
        let sb = Sandbox::start(SandboxConfig {
            latency: Duration::from_millis(20),
            ..Default::default()
        });
        let (config, csv) = env.files(&sb, users);
        let mut all: Vec<String> = vec!["--no-progress".into(), "-q".into()];
        all.extend(args.iter().map(std::string::ToString::to_string));
        let m = run(&all, &config, &csv);
        if sequential == 0.0 {
            sequential = m.wall;
        }
        println!(
            "  {label:<58} {:>7.2} s  {:>7.1} users/s  x{:.1}",
            m.wall,
            users as f64 / m.wall,
            sequential / m.wall
        );
    }

    if misses.is_empty() {
        println!("\nevery grid point with a ceiling up to 2,000/s reached at least 95% of it");
    } else {
        println!("\nunder 95% of the ceiling: {}", misses.join("; "));
    }
    adaptive_pacing(&env, quick);
    limiter_shapes(&env, quick);
    roster_and_workbooks(&env, quick);
    known_users(&env, quick);
}

/// The portal's own limit, unknown to the importer: a token bucket of `L`
/// per second and burst `B` (integer `Retry-After`, at least 1 s), 20 ms per
/// answer. From `-r 0` and from `-r 2L`: the share of `L` achieved over the
/// whole run (first arrival to last answer), and the 429s against the budget
/// of `--concurrency` + 1% of the rows.
fn adaptive_pacing(env: &Env, quick: bool) {
    let points: &[(f64, u32, usize, u32)] = if quick {
        &[(40.0, 5, 600, 32)]
    } else {
        &[
            (5.0, 1, 300, 8),
            (40.0, 5, 2_000, 32),
            (200.0, 10, 12_000, 64),
        ]
    };
    println!("\nadaptive pacing (portal limit L/s with burst B, 20 ms per answer)");
    println!(
        "{:>6} {:>5} {:>6} {:>5} {:>6} {:>8} {:>9} {:>7} {:>9} {:>11}",
        "L", "burst", "rows", "conc", "-r", "secs", "users/s", "% of L", "429s", "learned"
    );
    let mut misses = Vec::new();
    for &(limit, burst, rows, c) in points {
        for rate in [0.0, 2.0 * limit] {
            let sb = Sandbox::start(SandboxConfig {
                latency: Duration::from_millis(20),
                rate_limit: Some(RateLimit::new(limit, burst)),
                ..Default::default()
            });
            let (config, csv) = env.files(&sb, rows);
            let (m, stderr) = run_capturing(&flags(c, rate), &config, &csv);
            assert_eq!(m.code, 0, "the import failed at L={limit}, -r {rate}");
            let achieved = arrival_rate(&sb);
            let throttled = sb.count_status(429);
            let budget = c as usize + rows / 100;
            let pct = achieved / limit * 100.0;
            let learned = stderr
                .split("accepted about ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .unwrap_or("-")
                .to_owned();
            let mark = if pct < 90.0 || throttled > budget {
                misses.push(format!("L={limit} -r {rate}: {pct:.1}%, {throttled} 429s"));
                "  <- miss"
            } else {
                ""
            };
            println!(
                "{:>6} {:>5} {:>6} {:>5} {:>6} {:>8.1} {:>9.1} {:>6.1}% {:>4}/{:<4} {:>11}{mark}",
                limit,
                burst,
                rows,
                c,
                if rate > 0.0 {
                    format!("{rate}")
                } else {
                    "0".into()
                },
                m.wall,
                achieved,
                pct,
                throttled,
                budget,
                learned
            );
        }
    }
    if misses.is_empty() {
        println!("every point reached 90% of the portal's limit within the 429 budget");
    } else {
        println!("missed: {}", misses.join("; "));
    }
}

/// One row of the limiter-shapes table: a portal, how the importer is run,
/// and what the run should reach.
struct Shape {
    name: &'static str,
    config: SandboxConfig,
    rows: usize,
    conc: u32,
    extra: &'static [&'static str],
    /// The rate the portal allows (users/s), or `None`: the pause-bound
    /// of the same portal without its 429s, measured first.
    allows: Option<f64>,
    /// The share of it to reach, and the most 429s (`None`: the budget of
    /// `--concurrency` + 1% of the rows).
    target: f64,
    most_429s: Option<usize>,
    /// `(after, limit)`: the token bucket changes to this mid-run.
    change: Option<(Duration, RateLimit)>,
}

fn faulty(latency: u64, fault_rate: f64, faults: Vec<Fault>) -> SandboxConfig {
    SandboxConfig {
        latency: Duration::from_millis(latency),
        fault_rate,
        faults,
        throttle_retry_after: Some("1".into()),
        slow: Duration::from_millis(2500),
        ..Default::default()
    }
}

fn fixed(limit: u32, secs: u64, retry_after: bool) -> SandboxConfig {
    SandboxConfig {
        latency: Duration::from_millis(20),
        window: Some(Window::Fixed {
            limit,
            period: Duration::from_secs(secs),
            retry_after,
        }),
        ..Default::default()
    }
}

fn bucket(rate: f64, burst: u32, advertise: Advertise) -> SandboxConfig {
    SandboxConfig {
        latency: Duration::from_millis(20),
        rate_limit: Some(RateLimit::new(rate, burst)),
        advertise,
        ..Default::default()
    }
}

/// The 15% fault mix: 5xx, resets, HTML pages, answers 2.5 s late, and a
/// 429 (`Retry-After: 1`) for 0.5% of the writes.
fn fault_mix() -> Vec<Fault> {
    let mut mix = Vec::new();
    for f in [
        Fault::Reset,
        Fault::Error500,
        Fault::BadGatewayHtml,
        Fault::Unavailable,
        Fault::GatewayTimeout,
        Fault::NotJson,
    ] {
        mix.extend([f; 4]);
    }
    mix.extend([Fault::CreateThenSlow; 5]);
    mix.push(Fault::Throttle);
    mix
}

impl Shape {
    fn new(
        name: &'static str,
        config: SandboxConfig,
        (rows, conc): (usize, u32),
        allows: Option<f64>,
        target: f64,
    ) -> Shape {
        Shape {
            name,
            config,
            rows,
            conc,
            extra: &[],
            allows,
            target,
            most_429s: None,
            change: None,
        }
    }
}

fn sliding(limit: u32, secs: u64) -> SandboxConfig {
    SandboxConfig {
        latency: Duration::from_millis(20),
        window: Some(Window::Sliding {
            limit,
            period: Duration::from_secs(secs),
        }),
        ..Default::default()
    }
}

fn shapes(quick: bool) -> Vec<Shape> {
    let n = |rows: usize, conc: u32| (if quick { rows / 3 } else { rows }, conc);
    // A fixed window as `Rack::Attack` runs it (emulated: no Ruby here),
    // with its `Retry-After` to the boundary and with its default of none.
    let mut v = vec![
        Shape::new(
            "fixed 100/5s (Rack::Attack, R-A)",
            fixed(100, 5, true),
            n(1_500, 32),
            Some(20.0),
            0.9,
        ),
        Shape::new(
            "fixed 100/5s (Rack::Attack, none)",
            fixed(100, 5, false),
            n(1_500, 32),
            Some(20.0),
            0.9,
        ),
        Shape::new(
            "sliding window 100/5s",
            sliding(100, 5),
            n(1_500, 32),
            Some(20.0),
            0.9,
        ),
    ];
    for (name, advertise) in [
        ("bucket 40/s B5, RateLimit-*", Advertise::Fields),
        ("bucket 40/s B5, structured", Advertise::Structured),
    ] {
        let mut s = Shape::new(
            name,
            bucket(40.0, 5, advertise),
            n(2_000, 32),
            Some(40.0),
            0.95,
        );
        s.most_429s = Some(3);
        v.push(s);
    }
    let noise = faulty(10, 0.005, vec![Fault::Throttle]);
    v.push(Shape::new(
        "no limit, 0.5% 429s",
        noise,
        n(3_000, 16),
        None,
        0.75,
    ));
    let mix = faulty(10, 0.15, fault_mix());
    let mut mix = Shape::new("15% fault mix", mix, n(2_000, 16), Some(30.0), 1.0);
    mix.extra = &["--timeout", "1", "--retries", "8"];
    v.push(mix);
    if !quick {
        for (name, from, to, rows, ideal, target) in [
            (
                "bucket 100/s -> 30/s at 15 s",
                100.0,
                30.0,
                3_000,
                65.0,
                0.85,
            ),
            (
                "bucket 30/s -> 100/s at 15 s",
                30.0,
                100.0,
                4_000,
                50.5,
                0.75,
            ),
        ] {
            let config = bucket(from, 5, Advertise::Nothing);
            let mut s = Shape::new(name, config, (rows, 32), Some(rows as f64 / ideal), target);
            s.change = Some((Duration::from_secs(15), RateLimit::new(to, 5)));
            v.push(s);
        }
    }
    v
}

/// The portals real ones are: windows (`Rack::Attack`'s among them, emulated
/// by the sandbox: no Ruby here), advertised limits, 429s no limit
/// explains, a fault mix, a limit that moves. `-r 0`; users/s at the portal
/// over the whole run against what it allows; 429s against the budget.
fn limiter_shapes(env: &Env, quick: bool) {
    println!(
        "\npacing for the limiters real portals run (-r 0; 20 ms per answer, 10 ms for the noisy ones)"
    );
    println!(
        "{:<33} {:>5} {:>4} {:>7} {:>8} {:>8} {:>7} {:>9} {:>8}",
        "portal", "rows", "conc", "secs", "users/s", "allows", "%", "429s", "advice"
    );
    let mut misses = Vec::new();
    let only: Vec<String> = std::env::args()
        .filter_map(|a| a.strip_prefix("--only=").map(str::to_owned))
        .collect();
    let chosen = shapes(quick)
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.name.contains(o.as_str())));
    for shape in chosen {
        let allows = shape.allows.unwrap_or_else(|| pause_bound(env, &shape));
        let (m, sb, advice) = run_shape(env, &shape);
        let achieved = arrival_rate(&sb);
        let throttled = sb.count_status(429);
        let budget = shape
            .most_429s
            .unwrap_or(shape.conc as usize + shape.rows / 100);
        let pct = achieved / allows * 100.0;
        let advice_low = advice.is_some_and(|a| a < achieved * 0.95 - 0.5);
        let mark = if pct < shape.target * 100.0 || throttled > budget || advice_low {
            misses.push(format!("{}: {pct:.0}%, {throttled} × 429", shape.name));
            "  <- miss"
        } else {
            ""
        };
        println!(
            "{:<33} {:>5} {:>4} {:>7.1} {:>8.1} {:>8.1} {:>6.0}% {:>4}/{:<4} {:>8}{mark}",
            shape.name,
            shape.rows,
            shape.conc,
            m.wall,
            achieved,
            allows,
            pct,
            throttled,
            budget,
            advice.map_or_else(|| "-".to_owned(), |a| format!("-r {a}")),
        );
    }
    if misses.is_empty() {
        println!("every shape reached its target");
    } else {
        println!("missed: {}", misses.join("; "));
    }
}

/// The same portal without its 429s: the clean rate X, and what the pauses
/// leave of it, X/(1 + p·Retry-After·X).
fn pause_bound(env: &Env, shape: &Shape) -> f64 {
    let clean = Shape {
        config: SandboxConfig {
            fault_rate: 0.0,
            ..shape.config.clone()
        },
        ..*shape
    };
    let (_, sb, _) = run_shape(env, &clean);
    let x = arrival_rate(&sb);
    x / (1.0 + shape.config.fault_rate * x)
}

fn run_shape(env: &Env, shape: &Shape) -> (Measured, Sandbox, Option<f64>) {
    let sb = Sandbox::start(shape.config.clone());
    let (config, csv) = env.files(&sb, shape.rows);
    let mut args = flags(shape.conc, 0.0);
    args.extend(shape.extra.iter().map(|a| (*a).to_owned()));
    // `-- --log`: the pace's decisions, kept in target/shape-<name>.log.
    let log = std::env::args().any(|a| a == "--log");
    if log {
        args.push("-v".into());
    }
    let (m, stderr) = std::thread::scope(|scope| {
        if let Some((after, limit)) = shape.change {
            let sb = &sb;
            scope.spawn(move || {
                std::thread::sleep(after);
                sb.set_rate_limit(Some(limit));
            });
        }
        run_capturing(&args, &config, &csv)
    });
    if log {
        let name: String = shape
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/shape-{name}.log"));
        std::fs::write(path, &stderr).expect("write the shape's log");
    }
    assert!(
        m.code == 0 || shape.config.fault_rate > 0.0,
        "the import failed: {}",
        shape.name
    );
    let advice = stderr
        .split("-r ")
        .nth(1)
        .filter(|_| stderr.contains("avoids throttling"))
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok());
    (m, sb, advice)
}

/// `--existing update` of a file the portal already matches: the user list
/// and the diff against a dry run of the same file (which reads and checks
/// every row and sends nothing); and a workbook's dry run.
fn roster_and_workbooks(env: &Env, quick: bool) {
    let users = if quick { 2_000 } else { 10_000 };
    let sb = Sandbox::start(SandboxConfig::default());
    let (config, csv) = env.files(&sb, users);
    let fast = flags(32, 0.0);
    assert_eq!(run(&fast, &config, &csv).code, 0, "the import failed");
    let mut dry = fast.clone();
    dry.push("--dry-run".into());
    let base = run(&dry, &config, &csv);
    let mut update = fast.clone();
    update.extend(["--existing".into(), "update".into()]);
    let before = sb.received().len();
    let m = run(&update, &config, &csv);
    assert_eq!(m.code, 0, "the update failed");
    let writes = sb.received()[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    println!(
        "\n--existing update of {users} rows the portal matches: {:.2} s, peak RSS {:.1} MB, {writes} \
         writes; a dry run of the same file: {:.2} s, {:.1} MB; the user list and the diff add \
         {:+.2} s and {:+.1} MB",
        m.wall,
        m.max_rss_mb,
        base.wall,
        base.max_rss_mb,
        m.wall - base.wall,
        m.max_rss_mb - base.max_rss_mb
    );

    let rows = if quick { 10_000 } else { 100_000 };
    let path = env.dir.path().join(format!("users-{rows}.xlsx"));
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["username", "email", "first_name"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for i in 1..=rows as u32 {
        sheet.write_string(i, 0, format!("bench{i:07}")).unwrap();
        sheet
            .write_string(i, 1, format!("bench{i:07}@example.com"))
            .unwrap();
        sheet.write_string(i, 2, format!("Bench {i}")).unwrap();
    }
    book.save(&path).unwrap();
    let m = env.dry_run_offline(&path);
    assert_eq!(m.code, 0, "the workbook dry run failed");
    println!(
        "dry run --offline of a {rows}-row .xlsx: {:.2} s, peak RSS {:.1} MB",
        m.wall, m.max_rss_mb
    );
}

/// Every import reads the user list (issue 19): a re-run of existing users
/// at the defaults, and what the list costs in a large enterprise (an import
/// of 10 rows, an export).
fn known_users(env: &Env, quick: bool) {
    let users = if quick { 2_000 } else { 10_000 };
    let sb = Sandbox::start(SandboxConfig {
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    });
    for i in 0..users {
        sb.add_user(&format!("bench{i:07}"), &format!("bench{i:07}@example.com"));
    }
    let (config, csv) = env.files(&sb, users);
    let before = sb.received().len();
    let m = run(&["-q".into()], &config, &csv);
    assert_eq!(m.code, 0, "the re-run failed");
    let sent = sb.received().len() - before;
    println!(
        "\nre-run of {users} existing users at the defaults (-c 8 -r 10, 20 ms per request): \
         {:.2} s, {sent} requests sent ({} POSTs), peak RSS {:.1} MB",
        m.wall,
        sb.post_count(),
        m.max_rss_mb
    );
    drop(sb);

    let enterprise = if quick { 10_000 } else { 50_000 };
    let sb = Sandbox::start(SandboxConfig::default());
    for i in 0..enterprise {
        sb.add_user_with(
            "user",
            serde_json::json!({
                "username": format!("member{i:07}"),
                "email": format!("member{i:07}@westeros.example"),
                "first_name": format!("First{i}"), "last_name": format!("Last{i}"),
                "job_title": "Ranger", "company_name": "Night's Watch", "city": "Castle Black",
                "language": "fr", "time_zone": "Paris", "group_id": 13,
            }),
        );
    }
    let list_mb = serde_json::to_vec(&sb.users()).map_or(0, |v| v.len()) as f64 / 1e6;
    let (config, _) = env.files(&sb, 0);
    let ten = env.dir.path().join("ten.csv");
    write_users(&ten, 10);
    let m = run(&flags(8, 0.0), &config, &ten);
    assert_eq!(m.code, 0, "the import of 10 rows failed");
    println!(
        "an import of 10 rows into an enterprise of {enterprise} users (a {list_mb:.0} MB list): \
         {:.2} s, peak RSS {:.1} MB",
        m.wall, m.max_rss_mb
    );
    let out = env.dir.path().join("export.csv");
    let m = run(&["export".into()], &config, &out);
    assert_eq!(m.code, 0, "the export failed");
    println!(
        "an export of {enterprise} users: {:.2} s, peak RSS {:.1} MB",
        m.wall, m.max_rss_mb
    );
}
