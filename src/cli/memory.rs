//! The memory guard: a run that would outgrow the machine stops with a clear message and its
//! partial results instead of dying in an allocation failure. A watcher thread reads the process's
//! resident memory every 50 ms; past the limit it cancels the runs (`engine::run::Cancel`), which
//! stop at their next check (every 65,536 events) and are summed up where they stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tessera_engine::run::Cancel;

/// Share of the machine's memory a run may use by default.
pub const DEFAULT_SHARE: f64 = 0.8;

/// The memory this process may use [bytes]: the machine's (`MemTotal`), or its cgroup's limit
/// when that is lower (containers).
pub fn machine_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    let total = kb * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// The process's resident memory now [bytes] (Linux: VmRSS).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Reads `--max-memory`: `"8GB"`, `"512MiB"`, `"75%"` (of the machine's memory) or a number of bytes.
pub fn parse_limit(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("expected a memory size such as \"8GB\", \"512MB\" or \"75%\" (of this machine's memory), found {text:?}");
    if let Some(p) = t.strip_suffix('%') {
        let share: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(share > 0.0 && share <= 100.0) {
            return Err(format!("expected a share of memory between 0% and 100%, found {text:?}"));
        }
        let machine = machine_memory_bytes().ok_or("cannot read this machine's memory size (/proc/meminfo); give --max-memory in bytes, e.g. 8GB")?;
        return Ok((machine as f64 * share / 100.0) as u64);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !(bytes >= 1e6 && bytes.is_finite() && bytes < 1e18) {
        return Err(format!("expected at least 1MB of memory, found {text:?}"));
    }
    Ok(bytes as u64)
}

/// Watches the process's memory until dropped.
pub struct Guard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Guard {
    /// Starts watching: past `limit` bytes, `cancel` is set with a message naming the limit.
    pub fn start(limit: u64, cancel: Arc<Cancel>) -> Guard {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("memory-guard".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    if let Some(rss) = resident_bytes() {
                        if rss > limit {
                            cancel.cancel(format!(
                                "memory limit reached: the process used {:.1} MB of the {:.1} MB allowed (--max-memory; default {:.0}% of this machine's memory). Memory follows the tasks in the system: an overloaded scenario's backlog grows with its horizon",
                                rss as f64 / 1e6,
                                limit as f64 / 1e6,
                                DEFAULT_SHARE * 100.0
                            ));
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .ok();
        Guard { stop, thread }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reads_sizes_and_shares() {
        assert_eq!(parse_limit("8GB").unwrap(), 8_000_000_000);
        assert_eq!(parse_limit("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_limit("2000000").unwrap(), 2_000_000);
        assert!(parse_limit("12 parsecs").unwrap_err().contains("memory size"));
        assert!(parse_limit("0%").unwrap_err().contains("between 0% and 100%"));
        assert!(parse_limit("10").unwrap_err().contains("at least 1MB"));
        if let Some(m) = machine_memory_bytes() {
            assert_eq!(parse_limit("50%").unwrap(), m / 2);
        }
    }
}
