//! A child process's peak memory, for the tests and the benchmark alike.
// Shared by a test binary and the benchmark, which exports nothing.
#![allow(unreachable_pub)]

use std::time::Duration;

/// Samples the high-water mark of resident memory (`VmHWM`, in KiB) of the
/// process `pid` every `every` until it exits, and returns the largest.
/// `wait4`'s `ru_maxrss` would also count the parent's image, inherited at
/// fork, so the child's own mark is read from `/proc`. Call it before
/// reaping the child: a zombie has no memory lines, which ends the loop.
pub fn sample_peak_kib(pid: u32, every: Duration) -> u64 {
    let mut peak = 0;
    while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let Some(kib) = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        else {
            break;
        };
        peak = peak.max(kib);
        std::thread::sleep(every);
    }
    peak
}
