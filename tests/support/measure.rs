//! Measuring helpers shared by the tests and the benches (`#[path]`): free disk space, a
//! process's peak memory, the median of timings.
#![allow(dead_code)]

/// Free space in `dir`, in bytes, from `df` (None when it cannot tell).
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB (Linux).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The median of `values` (the mean of the middle two for an even count); sorts them.
///
/// # Panics
///
/// When `values` is empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
