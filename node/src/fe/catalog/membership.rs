//! Cluster membership: which backends and brokers the FE knows. Durable (journaled); liveness
//! is not (see `heartbeat.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRecord {
    pub id: i64,
    /// Where the backend listens now (it may move: see [`MembershipEdit::MoveBackend`]). An
    /// empty host and port 0: another backend reported this address, and this one has not yet
    /// said where it went.
    pub host: String,
    pub port: u16,
    /// The random token the backend keeps in its storage root, learned when it was added or at
    /// its first heartbeat ("" until then): who the backend is, whatever its address.
    #[serde(default)]
    pub token: String,
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
    DropBackend {
        id: i64,
    },
    AddBroker(BrokerRecord),
    DropBroker(BrokerRecord),
    /// The backend's token, learned from a heartbeat.
    SetBackendToken {
        id: i64,
        token: String,
    },
    /// The backend reported that it listens at another address now. `displaced`: a backend
    /// recorded at that address, which evidently is no longer there (its address is forgotten
    /// until it reports where it went).
    MoveBackend {
        id: i64,
        host: String,
        port: u16,
        token: String,
        displaced: Option<i64>,
    },
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

    /// The backend whose storage holds `token`.
    pub fn backend_by_token(&self, token: &str) -> Option<&BackendRecord> {
        if token.is_empty() {
            return None;
        }
        self.backends.values().find(|b| b.token == token)
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
            MembershipEdit::SetBackendToken { id, token } => {
                let backend = self.backends.get_mut(id).unwrap_or_else(|| panic!("token of non-member {id}"));
                backend.token = token.clone();
            }
            MembershipEdit::MoveBackend { id, host, port, token, displaced } => {
                if let Some(other) = displaced {
                    assert_ne!(other, id, "backend {id} displaces itself");
                    let other = self.backends.get_mut(other).unwrap_or_else(|| panic!("displaced non-member {other}"));
                    assert!(other.host == *host && other.port == *port, "displaced backend is elsewhere");
                    other.host.clear();
                    other.port = 0;
                }
                assert!(
                    self.backends.values().all(|b| b.id == *id || b.host != *host || b.port != *port),
                    "two backends at {host}:{port}"
                );
                let backend = self.backends.get_mut(id).unwrap_or_else(|| panic!("moved non-member {id}"));
                backend.host = host.clone();
                backend.port = *port;
                backend.token = token.clone();
            }
        }
    }
}
