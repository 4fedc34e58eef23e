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
