//! The event trace of one simulated run: what the nemesis did, what the workload sent and got
//! back, what the checks saw, each stamped with simulated time. Two runs of one seed must produce
//! the same trace; its hash is what `--check-determinism` compares.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bound on kept lines: a run that says more keeps the first ones and counts the rest.
pub const MAX_TRACE_LINES: usize = 100_000;

#[derive(Debug, Default)]
struct Lines {
    lines: Vec<String>,
    dropped: u64,
    /// FNV-1a over every line, including dropped ones.
    hash: u64,
}

#[derive(Debug, Clone)]
pub struct Trace {
    inner: Arc<Mutex<Lines>>,
    echo: bool,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Trace {
    /// `echo` also prints each line to stderr as it happens (`--verbose`).
    pub fn new(echo: bool) -> Self {
        Trace { inner: Arc::new(Mutex::new(Lines { hash: FNV_OFFSET, ..Lines::default() })), echo }
    }

    /// Records one event at simulated time `at` (time since the run started).
    pub fn event(&self, at: Duration, what: impl AsRef<str>) {
        let line = format!("[{:>9.3}s] {}", at.as_secs_f64(), what.as_ref());
        if self.echo {
            eprintln!("{line}");
        }
        let mut lines = match self.inner.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            lines.hash = (lines.hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        if lines.lines.len() < MAX_TRACE_LINES {
            lines.lines.push(line);
        } else {
            lines.dropped += 1;
        }
    }

    pub fn hash(&self) -> u64 {
        self.lock().hash
    }

    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// The last `n` lines, for a failure report.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.lock();
        let start = lines.lines.len().saturating_sub(n);
        lines.lines[start..].to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        match self.inner.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_events_same_hash_different_events_different_hash() {
        let (a, b, c) = (Trace::new(false), Trace::new(false), Trace::new(false));
        for t in [&a, &b] {
            t.event(Duration::from_millis(1500), "kill be1");
            t.event(Duration::from_millis(2500), "restart be1");
        }
        c.event(Duration::from_millis(1500), "kill be2");
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.lines()[0], "[    1.500s] kill be1");
    }
}

/// A [`Trace`] plus the instant the run started: what tasks on any node use to record events.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub trace: Trace,
    started: tokio::time::Instant,
}

impl Recorder {
    /// Starts the run's clock now.
    pub fn start(trace: Trace) -> Self {
        Recorder { trace, started: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.started)
    }

    pub fn event(&self, what: impl AsRef<str>) {
        self.trace.event(self.now(), what);
    }
}
