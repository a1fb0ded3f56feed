//! What the machine was doing while the benchmark ran: load, CPU, file descriptors.

use super::*;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Machine notes
// ---------------------------------------------------------------------------------------

pub(crate) fn machine_notes(rows: &mut Rows) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    row(
        rows,
        "machine",
        "CPU",
        format!("{cpu}, {cores} core(s) available"),
    );
    row(
        rows,
        "machine",
        "open files limit (soft/hard)",
        nofile_limit().map_or("unknown".into(), |(s, h)| format!("{s} / {h}")),
    );
}

/// Soft and hard `RLIMIT_NOFILE`, from /proc (no libc needed).
pub(crate) fn nofile_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line["Max open files".len()..]
        .split_whitespace()
        .map(|w| w.parse::<u64>().unwrap_or(u64::MAX));
    Some((nums.next()?, nums.next()?))
}

/// The 1-minute load average (other work on the machine competes with the benchmark).
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Busy and total jiffies of all CPUs, from /proc/stat.
pub(crate) fn machine_cpu() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// User + system CPU time of the whole process (all threads), from /proc/self/stat.
pub(crate) fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}
