//! A simulated Palo cluster: one FE, N BEs, a broker and a client node, each with a name and an
//! IP. Every node's `init` runs the real `palo-node` entry point on its own [`SimDisk`], which the
//! harness keeps outside the node so it survives restarts; a kill is a power loss for that disk.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use palo_node::be::BeConfig;
use palo_node::broker::BrokerConfig;
use palo_node::fe::FeConfig;
use palo_node::shutdown::Shutdown;

use crate::sim_disk::{SimDisk, SimDiskFaults};
use crate::trace::Recorder;

pub const FE_PORT: u16 = 9020;
pub const BE_PORT: u16 = 9060;
pub const BROKER_PORT: u16 = 8000;
pub const BROKER_NAME: &str = "sim_broker";
/// How often a node is started again after its entry point returned an error (a failed start,
/// or a fail-stop such as an FE whose journal is poisoned): a process supervisor's job.
const START_ATTEMPTS: u32 = 1_000;
/// The longest pause between two starts.
const MAX_START_BACKOFF_S: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Fe,
    Be(usize),
    Broker,
}

pub struct SimNode {
    pub role: Role,
    pub name: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub handle: NodeHandle,
    pub disk: Option<Arc<SimDisk>>,
    pub up: bool,
    /// The port the node listens on at its next start (a backend can come back on another).
    next_port: Arc<AtomicU16>,
}

impl SimNode {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// The FE journal's piece size in the simulator: a job's records (a few KiB) are split into
/// several frames, so a crash in the middle of one exercises a group torn between its pieces.
pub const SIM_JOURNAL_PIECE_BYTES: usize = 1_024;

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub backends: usize,
    /// FE journal records between checkpoints (small, so checkpoints happen in every run).
    pub checkpoint_every_records: u64,
    /// Disk faults every node's disk starts with.
    pub disk_faults: SimDiskFaults,
    /// The second octet of every node's address (10.<network>.x.y), so two clusters can share
    /// one world (and one `mem://` repository); 0 for the first.
    pub network: u8,
    /// Put before every node's name (`b.` names the second cluster's `b.fe`, `b.be1`, ...).
    pub name_prefix: String,
    /// Every backend's compaction (and trash, stray directory, snapshot expiry) pass interval.
    pub compaction_interval_ms: u64,
}

impl ClusterSpec {
    /// One cluster of `backends` backends in network 0.
    pub fn new(backends: usize, checkpoint_every_records: u64, disk_faults: SimDiskFaults) -> ClusterSpec {
        ClusterSpec {
            backends,
            checkpoint_every_records,
            disk_faults,
            network: 0,
            name_prefix: String::new(),
            compaction_interval_ms: BeConfig::default().compaction_interval_ms,
        }
    }
}

pub struct SimCluster {
    pub nodes: Vec<SimNode>,
    pub client: NodeHandle,
    pub recorder: Recorder,
}

thread_local! {
    /// Every node this world created (one world per thread), for [`stop_world`].
    static NODES: std::cell::RefCell<Vec<madsim::task::NodeId>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn remember(node: &NodeHandle) {
    NODES.with(|nodes| nodes.borrow_mut().push(node.id()));
}

/// Kills every node of this world and lets their tasks drop. A task that waits on a channel or
/// timer holding its own waker is a reference cycle that outlives the runtime; without this,
/// every seed's world (disks included) stayed in memory until the process ended.
pub async fn stop_world() {
    let handle = Handle::current();
    for id in NODES.with(|nodes| std::mem::take(&mut *nodes.borrow_mut())) {
        handle.kill(id);
    }
    // Killed tasks are dropped when next polled.
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Runs a role's entry point, retrying start-up errors like a supervisor would.
async fn supervise<F, Fut>(name: String, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), palo_node::error::NodeError>>,
{
    for attempt in 1..=START_ATTEMPTS {
        match start().await {
            Ok(()) => return,
            Err(e) => {
                let pause_s = u64::from(attempt).min(MAX_START_BACKOFF_S);
                tracing::warn!(node = %name, attempt, error = %e, "stopped with an error; starting again in {pause_s} s");
                tokio::time::sleep(Duration::from_secs(pause_s)).await;
            }
        }
    }
    tracing::error!(node = %name, "start failed {START_ATTEMPTS} times; giving up");
}

impl SimCluster {
    pub fn start(spec: &ClusterSpec, recorder: Recorder) -> SimCluster {
        let handle = Handle::current();
        let mut nodes = Vec::new();

        let net = spec.network;
        let named = |name: &str| format!("{}{name}", spec.name_prefix);
        let fe_ip = Ipv4Addr::new(10, net, 0, 1);
        let fe_disk = Arc::new(SimDisk::with_faults(madsim::rand::random(), spec.disk_faults));
        let fe_config = fe_config(spec, fe_ip);
        let disk = fe_disk.clone();
        let fe_name = named("fe");
        let supervised = fe_name.clone();
        let fe = handle
            .create_node()
            .name(fe_name.clone())
            .ip(IpAddr::V4(fe_ip))
            .init(move || {
                let (config, disk) = (fe_config.clone(), disk.clone());
                supervise(supervised.clone(), move || {
                    palo_node::fe::run(config.clone(), disk.clone(), Shutdown::never())
                })
            })
            .build();
        remember(&fe);
        let (traced, name) = (recorder.clone(), fe_name.clone());
        palo_buggify::trace_jobs_of(fe.id(), Box::new(move |line| traced.event(format!("{name}: {line}"))));
        nodes.push(SimNode {
            role: Role::Fe,
            name: fe_name,
            ip: fe_ip,
            port: FE_PORT,
            handle: fe,
            disk: Some(fe_disk),
            up: true,
            next_port: Arc::new(AtomicU16::new(FE_PORT)),
        });

        for i in 0..spec.backends {
            let ip = Ipv4Addr::new(10, net, 1, (i + 1) as u8);
            let name = named(&format!("be{}", i + 1));
            let be_disk = Arc::new(SimDisk::with_faults(madsim::rand::random(), spec.disk_faults));
            let config = BeConfig {
                listen_host: "0.0.0.0".into(),
                port: BE_PORT,
                storage_root: "/be".into(),
                compaction_interval_ms: spec.compaction_interval_ms,
                ..BeConfig::default()
            };
            let disk = be_disk.clone();
            let node_name = name.clone();
            let next_port = Arc::new(AtomicU16::new(BE_PORT));
            let port = next_port.clone();
            let be = handle
                .create_node()
                .name(name.clone())
                .ip(IpAddr::V4(ip))
                .init(move || {
                    let config = BeConfig { port: port.load(Ordering::Relaxed), ..config.clone() };
                    let disk = disk.clone();
                    supervise(node_name.clone(), move || {
                        palo_node::be::run(config.clone(), disk.clone(), Shutdown::never())
                    })
                })
                .build();
            remember(&be);
            nodes.push(SimNode {
                role: Role::Be(i),
                name,
                ip,
                port: BE_PORT,
                handle: be,
                disk: Some(be_disk),
                up: true,
                next_port,
            });
        }

        let broker_ip = Ipv4Addr::new(10, net, 2, 1);
        let broker_name = named("broker");
        let supervised = broker_name.clone();
        let broker = handle
            .create_node()
            .name(broker_name.clone())
            .ip(IpAddr::V4(broker_ip))
            .init(move || {
                supervise(supervised.clone(), || {
                    palo_node::broker::run(
                        BrokerConfig { listen_host: "0.0.0.0".into(), port: BROKER_PORT },
                        Shutdown::never(),
                    )
                })
            })
            .build();
        remember(&broker);
        nodes.push(SimNode {
            role: Role::Broker,
            name: broker_name,
            ip: broker_ip,
            port: BROKER_PORT,
            handle: broker,
            disk: None,
            up: true,
            next_port: Arc::new(AtomicU16::new(BROKER_PORT)),
        });

        let client = handle.create_node().name(named("client")).ip(IpAddr::V4(Ipv4Addr::new(10, net, 3, 1))).build();
        remember(&client);
        SimCluster { nodes, client, recorder }
    }

    /// Simulated time since the run started.
    pub fn now(&self) -> Duration {
        self.recorder.now()
    }

    pub fn event(&self, what: impl AsRef<str>) {
        self.recorder.event(what);
    }

    pub fn node(&self, role: Role) -> &SimNode {
        self.nodes.iter().find(|n| n.role == role).expect("every role asked for exists in the cluster")
    }

    fn node_mut(&mut self, role: Role) -> &mut SimNode {
        self.nodes.iter_mut().find(|n| n.role == role).expect("every role asked for exists in the cluster")
    }

    pub fn fe_addr(&self) -> String {
        self.node(Role::Fe).addr()
    }

    pub fn backend_roles(&self) -> Vec<Role> {
        self.nodes.iter().map(|n| n.role).filter(|r| matches!(r, Role::Be(_))).collect()
    }

    /// Power loss: the node's tasks vanish and its disk keeps only what was synced.
    pub fn kill(&mut self, role: Role) {
        let node = self.node_mut(role);
        if !node.up {
            return;
        }
        Handle::current().kill(node.handle.id());
        if let Some(disk) = &node.disk {
            disk.crash();
        }
        node.up = false;
        let name = node.name.clone();
        self.event(format!("nemesis: kill {name} (power loss)"));
    }

    /// Starts a killed node again: it re-runs the real entry point on its disk.
    pub fn restart(&mut self, role: Role) {
        let node = self.node_mut(role);
        if node.up {
            return;
        }
        Handle::current().restart(node.handle.id());
        node.up = true;
        let name = node.name.clone();
        self.event(format!("nemesis: restart {name}"));
    }

    /// Power loss of a backend, which then starts again listening on `port` (an operator who
    /// restarted it on another port, or a machine that came back under another address): its
    /// storage is the same, its address is not.
    pub fn move_backend(&mut self, role: Role, port: u16) {
        assert!(matches!(role, Role::Be(_)), "only backends move");
        self.kill(role);
        let node = self.node_mut(role);
        let from = node.addr();
        node.next_port.store(port, Ordering::Relaxed);
        node.port = port;
        let to = node.addr();
        self.event(format!("nemesis: {from} comes back on port {port} ({to})"));
        self.restart(role);
    }

    /// The port `role` listens on now (it changes when the node moves).
    pub fn port_of(&self, role: Role) -> Arc<AtomicU16> {
        self.node(role).next_port.clone()
    }

    /// Cuts the link between two nodes in both directions.
    pub fn partition(&self, a: Role, b: Role) {
        let (ida, idb) = (self.node(a).handle.id(), self.node(b).handle.id());
        let net = NetSim::current();
        net.clog_link(ida, idb);
        net.clog_link(idb, ida);
        self.event(format!("nemesis: partition {} <-> {}", self.node(a).name, self.node(b).name));
    }

    pub fn heal_partition(&self, a: Role, b: Role) {
        let (ida, idb) = (self.node(a).handle.id(), self.node(b).handle.id());
        let net = NetSim::current();
        net.unclog_link(ida, idb);
        net.unclog_link(idb, ida);
        self.event(format!("nemesis: heal {} <-> {}", self.node(a).name, self.node(b).name));
    }

    pub fn set_packet_loss(&self, rate: f64) {
        NetSim::current().update_config(|c| c.packet_loss_rate = rate);
        self.event(format!("nemesis: packet loss {:.0}%", rate * 100.0));
    }

    pub fn set_disk_faults(&self, role: Role, faults: SimDiskFaults) {
        let node = self.node(role);
        if let Some(disk) = &node.disk {
            disk.set_faults(faults);
            let full = if faults.capacity_bytes != SimDiskFaults::default().capacity_bytes {
                format!(", full at {} bytes ({} used)", faults.capacity_bytes, disk.used_bytes())
            } else {
                String::new()
            };
            self.event(format!(
                "nemesis: disk of {}: eio {}ppm, slow {}ppm ({} ms){full}",
                node.name, faults.eio_per_million, faults.slow_per_million, faults.slow_ms
            ));
        }
    }

    /// Ends every fault: links healed, no loss, clean disks, every node up.
    pub fn heal_all(&mut self, clean_disks: &SimDiskFaults) {
        let roles: Vec<Role> = self.nodes.iter().map(|n| n.role).collect();
        let net = NetSim::current();
        for &a in &roles {
            for &b in &roles {
                if a != b {
                    net.unclog_link(self.node(a).handle.id(), self.node(b).handle.id());
                }
            }
            net.unclog_link(self.node(a).handle.id(), self.client.id());
            net.unclog_link(self.client.id(), self.node(a).handle.id());
        }
        net.update_config(|c| c.packet_loss_rate = 0.0);
        for node in &self.nodes {
            if let Some(disk) = &node.disk {
                disk.set_faults(*clean_disks);
            }
        }
        self.event("nemesis: heal everything (links, loss, disks)");
        for role in roles {
            self.restart(role);
        }
    }
}

/// Every snapshot directory a backend holds: (node, directory name).
pub fn snapshot_dirs(cluster: &SimCluster) -> Vec<(String, String)> {
    let mut held = Vec::new();
    for role in cluster.backend_roles() {
        let node = cluster.node(role);
        let Some(disk) = &node.disk else { continue };
        for (name, is_dir) in disk.list_dir(std::path::Path::new("/be/snapshot")) {
            if is_dir {
                held.push((node.name.clone(), name));
            }
        }
    }
    held
}

/// The simulated FE's configuration, at `fe_ip`.
fn fe_config(spec: &ClusterSpec, fe_ip: Ipv4Addr) -> FeConfig {
    FeConfig {
        listen_host: "0.0.0.0".into(),
        advertise_host: fe_ip.to_string(),
        grpc_port: FE_PORT,
        query_port: 9030,
        meta_dir: PathBuf::from("/fe/meta"),
        heartbeat_interval_ms: 1_000,
        heartbeat_max_failures: 3,
        checkpoint_every_records: spec.checkpoint_every_records,
        repair_interval_ms: 1_000,
        repository_check_interval_ms: 5_000,
        // Small pieces: a job's record is split into several frames, which crashes tear.
        journal_piece_bytes: SIM_JOURNAL_PIECE_BYTES,
    }
}
