//! The FE's view of the nodes it works with: calls to backends (`agent`), liveness and tablet
//! reports (`heartbeat`), what each replica holds (`replicas`), backend membership statements
//! (`backends`), re-replication (`repair`), and how a repository's store is reached
//! (`repository`).

pub mod agent;
pub mod backends;
pub mod brokers;
pub mod heartbeat;
pub mod repair;
pub mod replicas;
pub mod repository;
