//! A value that tasks wait on: the shutdown flag, the FE's fatal error, the count of submitted
//! jobs, the backends a job driver saw die.
//!
//! Why not `tokio::sync::watch`: its receivers wait on one of eight shards chosen by tokio's
//! thread-local RNG, which is seeded from a process-wide counter. Under the simulator, two runs
//! of one seed in one process (`--check-determinism`, `--jobs 2`) then wake waiters in different
//! orders and their traces differ. A [`Signal`] wakes its waiters in the order they started
//! waiting, so the order is a function of the seed alone.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Waiters one signal holds at most (a bug that leaks waiters shows here, not as slow wakes).
const MAX_WAITERS: usize = 100_000;

/// A shared value with waiters. Clones share the value.
#[derive(Debug)]
pub struct Signal<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal { inner: self.inner.clone() }
    }
}

#[derive(Debug)]
struct Inner<T> {
    value: T,
    /// Bumped by every change.
    version: u64,
    /// In the order they began to wait.
    waiters: Vec<oneshot::Sender<()>>,
}

impl<T: Clone + PartialEq> Signal<T> {
    pub fn new(value: T) -> Signal<T> {
        Signal { inner: Arc::new(Mutex::new(Inner { value, version: 0, waiters: Vec::new() })) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self) -> T {
        self.lock().value.clone()
    }

    /// The number of changes so far; see [`Signal::changed_since`].
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Replaces the value; waiters wake (in the order they began to wait) if it differs.
    pub fn set(&self, value: T) {
        self.modify(|v| *v = value);
    }

    /// Changes the value in place; waiters wake if it differs afterwards.
    pub fn modify(&self, change: impl FnOnce(&mut T)) {
        let waiters = {
            let mut inner = self.lock();
            let before = inner.value.clone();
            change(&mut inner.value);
            if inner.value == before {
                return;
            }
            inner.version += 1;
            std::mem::take(&mut inner.waiters)
        };
        for waiter in waiters {
            // A waiter that gave up (its future was dropped) has nothing to wake.
            let _ = waiter.send(());
        }
    }

    /// Resolves with the value once `holds` is true of it (at once if it already is).
    pub async fn wait_for(&self, holds: impl Fn(&T) -> bool) -> T {
        loop {
            let woken = {
                let mut inner = self.lock();
                if holds(&inner.value) {
                    return inner.value.clone();
                }
                self.register(&mut inner)
            };
            // The sender lives in `inner` until a change sends on it, and `self` keeps `inner`.
            let _ = woken.await;
        }
    }

    /// Resolves with the new version once the value has changed after `version`.
    pub async fn changed_since(&self, version: u64) -> u64 {
        loop {
            let woken = {
                let mut inner = self.lock();
                if inner.version != version {
                    return inner.version;
                }
                self.register(&mut inner)
            };
            let _ = woken.await;
        }
    }

    fn register(&self, inner: &mut Inner<T>) -> oneshot::Receiver<()> {
        inner.waiters.retain(|w| !w.is_closed());
        assert!(inner.waiters.len() < MAX_WAITERS, "a signal holds {} waiters", inner.waiters.len());
        let (tx, rx) = oneshot::channel();
        inner.waiters.push(tx);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_a_change_that_makes_their_condition_true() {
        let signal = Signal::new(0u32);
        let waiter = {
            let signal = signal.clone();
            tokio::spawn(async move { signal.wait_for(|v| *v >= 2).await })
        };
        tokio::task::yield_now().await;
        signal.set(1);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "woken before its condition held");
        signal.set(2);
        assert_eq!(waiter.await.ok(), Some(2));
    }

    #[tokio::test]
    async fn a_change_is_seen_by_version_and_an_unchanged_set_is_no_change() {
        let signal = Signal::new(String::from("a"));
        let seen = signal.version();
        signal.set(String::from("a"));
        assert_eq!(signal.version(), seen, "setting the same value is no change");
        signal.modify(|v| v.push('b'));
        assert_eq!(signal.changed_since(seen).await, seen + 1);
        assert_eq!(signal.get(), "ab");
    }

    #[tokio::test]
    async fn dropped_waiters_do_not_pile_up() {
        let signal = Signal::new(false);
        for _ in 0..1000 {
            let wait = signal.wait_for(|v| *v);
            // Polled once (registers), then dropped.
            let _ = futures_util::FutureExt::now_or_never(wait);
        }
        assert!(signal.lock().waiters.len() <= 1, "{} waiters left", signal.lock().waiters.len());
    }
}
