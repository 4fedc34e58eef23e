//! A shutdown signal every long-running loop and server of a node watches.

use crate::signal::Signal;

/// The receiving side: cheap to clone, one per task.
#[derive(Debug, Clone)]
pub struct Shutdown {
    triggered: Signal<bool>,
}

/// The sending side: `trigger` asks every holder of a [`Shutdown`] to stop.
#[derive(Debug)]
pub struct ShutdownTrigger {
    triggered: Signal<bool>,
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.triggered.set(true);
    }
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let triggered = Signal::new(false);
        (ShutdownTrigger { triggered: triggered.clone() }, Shutdown { triggered })
    }

    /// A signal that never fires: for nodes the simulator stops by killing them.
    pub fn never() -> Shutdown {
        Shutdown { triggered: Signal::new(false) }
    }

    pub fn is_triggered(&self) -> bool {
        self.triggered.get()
    }

    /// Resolves once shutdown is triggered (never, if it is not).
    pub async fn wait(&mut self) {
        self.triggered.wait_for(|t| *t).await;
    }
}
