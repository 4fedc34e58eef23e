//! Cluster membership: which backends and brokers the FE knows. Durable (journaled); liveness
//! is not (see `heartbeat.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRecord {
    pub id: i64,
    pub host: String,
    pub port: u16,
}

impl BackendRecord {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BrokerRecord {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl BrokerRecord {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A change to membership, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MembershipEdit {
    AddBackend(BackendRecord),
    DropBackend { id: i64 },
    AddBroker(BrokerRecord),
    DropBroker(BrokerRecord),
}

/// Bounds on membership: a statement that would exceed them is refused.
pub const MAX_BACKENDS: usize = 1024;
pub const MAX_BROKERS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The id the next backend gets. Ids are never reused, even after a drop.
    pub next_backend_id: i64,
    pub backends: BTreeMap<i64, BackendRecord>,
    pub brokers: Vec<BrokerRecord>,
}

impl Membership {
    pub fn new() -> Self {
        Membership { next_backend_id: 10_001, backends: BTreeMap::new(), brokers: Vec::new() }
    }

    pub fn backend_by_addr(&self, host: &str, port: u16) -> Option<&BackendRecord> {
        self.backends.values().find(|b| b.host == host && b.port == port)
    }

    pub fn has_broker(&self, broker: &BrokerRecord) -> bool {
        self.brokers.contains(broker)
    }

    /// Applies one journaled edit. Replay calls this with exactly the edits the live FE applied,
    /// so it must be deterministic and must accept every edit the live FE accepted.
    pub fn apply(&mut self, edit: &MembershipEdit) {
        match edit {
            MembershipEdit::AddBackend(backend) => {
                assert!(!self.backends.contains_key(&backend.id), "backend id {} added twice", backend.id);
                assert!(backend.id >= self.next_backend_id, "backend id {} reused", backend.id);
                self.next_backend_id = backend.id + 1;
                self.backends.insert(backend.id, backend.clone());
            }
            MembershipEdit::DropBackend { id } => {
                let removed = self.backends.remove(id);
                assert!(removed.is_some(), "dropped backend {id} was not a member");
            }
            MembershipEdit::AddBroker(broker) => {
                assert!(!self.has_broker(broker), "broker {broker:?} added twice");
                self.brokers.push(broker.clone());
                self.brokers.sort();
            }
            MembershipEdit::DropBroker(broker) => {
                let before = self.brokers.len();
                self.brokers.retain(|b| b != broker);
                assert_eq!(before, self.brokers.len() + 1, "dropped broker {broker:?} was not a member");
            }
        }
    }
}
