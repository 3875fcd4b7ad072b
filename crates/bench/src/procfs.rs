//! What the kernel reports in `/proc`: memory and CPU time of a process (or of its threads
//! of one name), busy time of the whole machine.

use anyhow::Context as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Milliseconds per clock tick in `/proc`: USER_HZ is 100 on every Linux architecture.
const TICK_MS: u64 = 10;

/// A memory figure of `pid` from `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn memory_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_kib(&status, field).with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The value of `field` in the text of `/proc/<pid>/status` (`VmRSS:   1234 kB`).
fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (user + system, all threads) of `pid` so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("bad /proc/{pid}/stat"))?;
    Ok(Duration::from_millis(ticks.saturating_mul(TICK_MS)))
}

/// CPU time used so far by the threads of `pid` named `name` (the name a thread gave
/// itself, as in `/proc/<pid>/task/<tid>/comm`).
pub fn threads_cpu_time(pid: u32, name: &str) -> anyhow::Result<Duration> {
    let mut ticks = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
            continue;
        };
        if thread_name(&stat) == Some(name) {
            ticks += parse_cpu_ticks(&stat).context("bad /proc/<pid>/task/<tid>/stat")?;
        }
    }
    Ok(Duration::from_millis(ticks * TICK_MS))
}

/// The command name (field 2) of a `/proc/.../stat` line, without its parentheses.
fn thread_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in clock ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let mut fields = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU time all processes of the machine have used so far (every core; idle, I/O wait
/// and time stolen by the hypervisor not counted), from `/proc/stat`.
pub fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks = parse_busy_ticks(&stat).context("bad /proc/stat")?;
    Ok(Duration::from_millis(ticks.saturating_mul(TICK_MS)))
}

/// user + nice + system + irq + softirq of the `cpu` line of `/proc/stat`, in ticks.
fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal …
    Some(ticks.get(..3)?.iter().sum::<u64>() + ticks.get(5..7)?.iter().sum::<u64>())
}

/// Resets `VmHWM` of `pid` to its current RSS, so the next reading is the peak since now.
pub fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak RSS of {pid}"))
}

/// Reads `VmRSS` of a process every 50 ms on a thread of its own, keeping the largest.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !stopped.load(Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid, "VmRSS").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        Self { stop, thread }
    }

    /// Stops sampling; the largest `VmRSS` seen, in KiB.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the RSS sampler failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_busy_ticks, parse_cpu_ticks, parse_kib, thread_name};

    const STATUS: &str = "Name:\tauthd\nVmPeak:\t  812345 kB\nVmHWM:\t   23456 kB\n\
                          VmRSS:\t   12345 kB\nRssAnon:\t    8000 kB\n";

    #[test]
    fn reads_the_named_field_in_kib() {
        assert_eq!(parse_kib(STATUS, "VmRSS"), Some(12_345));
        assert_eq!(parse_kib(STATUS, "VmHWM"), Some(23_456));
        assert_eq!(parse_kib(STATUS, "VmSwap"), None);
    }

    #[test]
    fn a_field_is_matched_whole() {
        assert_eq!(parse_kib("VmRSSx:\t1 kB\nVmRSS:\t2 kB\n", "VmRSS"), Some(2));
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_after_the_command_name() {
        let stat = "4242 (authd (x) y) S 1 4242 4242 0 -1 4194304 102 0 0 0 250 31 0 0 20 0 \
                    5 0 435177 3133440 388 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("4242 (authd) S 1"), None);
        assert_eq!(thread_name(stat), Some("authd (x) y"));
        assert_eq!(thread_name("4243 (authd-hash) R 1"), Some("authd-hash"));
    }

    #[test]
    fn machine_busy_ticks_leave_out_idle_wait_and_steal() {
        let stat = "cpu  100 2 30 5000 40 5 6 70 0 0\ncpu0 50 1 15 2500 20 2 3 35 0 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(100 + 2 + 30 + 5 + 6));
        assert_eq!(parse_busy_ticks("cpu  1 2\n"), None);
    }
}
