//! Fault points in production code that fire only inside the simulator (FoundationDB's
//! BUGGIFY). In a normal build every function here returns "no fault" and compiles to nothing;
//! under `--cfg madsim` the decision comes from the seeded simulation RNG, so a seed chooses
//! which fault points fire and a failure replays exactly.
//!
//! Architecture invariant: this is the only crate of the production tree that names madsim.

/// True with 25% probability when the simulator has enabled buggify; always false otherwise.
#[inline]
pub fn buggify() -> bool {
    #[cfg(madsim)]
    {
        madsim::buggify::buggify()
    }
    #[cfg(not(madsim))]
    {
        false
    }
}

/// True with probability `probability` (0.0..=1.0) when the simulator has enabled buggify.
#[inline]
pub fn buggify_with_prob(probability: f64) -> bool {
    debug_assert!((0.0..=1.0).contains(&probability), "probability out of range: {probability}");
    #[cfg(madsim)]
    {
        madsim::buggify::buggify_with_prob(probability)
    }
    #[cfg(not(madsim))]
    {
        let _ = probability;
        false
    }
}

/// Whether this build runs inside the simulator (for start-up logs only; never for behaviour).
pub const IN_SIMULATION: bool = cfg!(madsim);

/// Whether the simulator told this node to fail its next `task` (an agent task name such as
/// `write_rows` or `publish_version`): scenario files' `fail-next-task` step. Consumes one
/// injected failure. Always false outside the simulator.
pub fn fail_task(task: &str) -> bool {
    #[cfg(madsim)]
    {
        let node = madsim::plugin::node();
        injected::take(node, task)
    }
    #[cfg(not(madsim))]
    {
        let _ = task;
        false
    }
}

/// Makes `node`'s next `times` calls of `task` fail (simulation only).
#[cfg(madsim)]
pub fn inject_task_failure(node: madsim::task::NodeId, task: &str, times: u32) {
    injected::add(node, task, times);
}

#[cfg(madsim)]
mod injected {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    // One simulated world per thread (the runner gives every seed its own thread), so a
    // thread-local is the world's.
    thread_local! {
        static FAILURES: RefCell<BTreeMap<(String, String), u32>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn add(node: madsim::task::NodeId, task: &str, times: u32) {
        FAILURES.with(|f| *f.borrow_mut().entry((node.to_string(), task.to_string())).or_default() += times);
    }

    pub fn take(node: madsim::task::NodeId, task: &str) -> bool {
        FAILURES.with(|f| {
            let mut map = f.borrow_mut();
            let key = (node.to_string(), task.to_string());
            match map.get_mut(&key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        })
    }
}

/// Whether the simulator switched on the deliberate bug `name` (`cargo xtask simulate --fault`),
/// to show that the checks catch it. Always false outside the simulator.
pub fn injected_bug(name: &str) -> bool {
    #[cfg(madsim)]
    {
        bugs::enabled(name)
    }
    #[cfg(not(madsim))]
    {
        let _ = name;
        false
    }
}

/// Switches on the deliberate bug `name` for this simulated world (simulation only).
#[cfg(madsim)]
pub fn inject_bug(name: &str) {
    bugs::enable(name);
}

#[cfg(madsim)]
mod bugs {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        static ON: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    pub fn enable(name: &str) {
        ON.with(|on| on.borrow_mut().insert(name.to_string()));
    }

    pub fn enabled(name: &str) -> bool {
        ON.with(|on| on.borrow().contains(name))
    }
}

/// Runs a server's handler as a real gRPC server does when its caller gives up (a deadline
/// passed, the connection dropped): now and then, under buggify, the handler's future is
/// dropped at whatever await it reached, and `None` comes back. madsim's servers never do this
/// by themselves, so without this point the simulator could not find work that a cut leaves half
/// done. Outside the simulator it just runs `handler`.
pub async fn cut_by_caller<F: std::future::Future>(handler: F) -> Option<F::Output> {
    #[cfg(madsim)]
    {
        use madsim::rand::Rng;
        use std::task::Poll;
        if !buggify_with_prob(0.02) {
            return Some(handler.await);
        }
        let after_ms = madsim::rand::thread_rng().gen_range(0..=40u64);
        let mut handler = std::pin::pin!(handler);
        let mut timer = std::pin::pin!(madsim::time::sleep(std::time::Duration::from_millis(after_ms)));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = handler.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
    #[cfg(not(madsim))]
    {
        Some(handler.await)
    }
}

/// 64 random bits: from the seed in the simulator (so a run replays), from the operating
/// system's randomness elsewhere. The one source of randomness of the production tree.
pub fn random_u64() -> u64 {
    #[cfg(madsim)]
    {
        madsim::rand::random()
    }
    #[cfg(not(madsim))]
    {
        use std::hash::{BuildHasher, Hasher};
        // Each RandomState is keyed from the OS's random source (and a per-process counter).
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish()
    }
}
