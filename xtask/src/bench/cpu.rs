//! CPU time from /proc (Linux): a running process's (every thread, user + system), and that of
//! this process's waited-for children (the `cp`s), to tell whether a step was bound by the CPU.

use std::time::Duration;

/// User + system CPU time of process `pid` so far, or `None` off Linux.
pub fn of_process(pid: u32) -> Option<Duration> {
    let fields = stat_fields(&format!("/proc/{pid}/stat"))?;
    // utime and stime: the 14th and 15th fields, the 12th and 13th after the command name.
    ticks(&fields, 11, 12)
}

/// User + system CPU time of this process's children that have ended and been waited for.
pub fn of_children() -> Option<Duration> {
    let fields = stat_fields("/proc/self/stat")?;
    // cutime and cstime: the 16th and 17th fields.
    ticks(&fields, 13, 14)
}

/// The fields of a stat file after `(command name)`, which may hold spaces.
fn stat_fields(path: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn ticks(fields: &[String], a: usize, b: usize) -> Option<Duration> {
    let sum = fields.get(a)?.parse::<u64>().ok()? + fields.get(b)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(sum as f64 / ticks_per_second()))
}

/// `getconf CLK_TCK` (100 nearly everywhere).
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(of_process(std::process::id()).is_some());
            assert!(of_children().is_some());
        }
    }
}
