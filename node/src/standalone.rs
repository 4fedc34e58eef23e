//! `palo-node standalone`: an FE, three BEs and a broker in one process on loopback, registered
//! with each other: the embedded default a newcomer runs first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::be::{self, BeConfig};
use crate::broker::{self, BrokerConfig};
use crate::disk::{Disk, RealDisk};
use crate::error::NodeError;
use crate::fe::{self, Fe, FeConfig, Session};
use crate::shutdown::Shutdown;
use crate::sql::Statement;
use crate::sql::ast::HostPort;

/// The broker name standalone registers.
pub const BROKER_NAME: &str = "local_broker";

#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    pub data_dir: PathBuf,
    /// Added to every default port (FE gRPC 9020, MySQL 9030, BEs 9060.., broker 8000), so
    /// clusters can coexist.
    pub port_offset: u16,
    pub host: String,
    pub backends: u16,
    /// Milliseconds between two background compaction passes on every BE (the BE's
    /// `compaction_interval_ms`; benchmarks raise it so compaction stays out of the way).
    pub compaction_interval_ms: u64,
    /// Seconds a dropped tablet stays in a backend's trash (the BE's `trash_expire_s`).
    pub trash_expire_s: u64,
}

impl StandaloneConfig {
    pub fn fe_config(&self) -> FeConfig {
        FeConfig {
            listen_host: self.host.clone(),
            advertise_host: self.host.clone(),
            grpc_port: 9020 + self.port_offset,
            query_port: 9030 + self.port_offset,
            meta_dir: self.data_dir.join("fe").join("meta"),
            ..FeConfig::default()
        }
    }

    pub fn be_configs(&self) -> Vec<BeConfig> {
        (0..self.backends)
            .map(|i| BeConfig {
                listen_host: self.host.clone(),
                port: 9060 + self.port_offset + i,
                storage_root: self.data_dir.join(format!("be{i}")),
                compaction_interval_ms: self.compaction_interval_ms,
                advertise_host: self.host.clone(),
                trash_expire_s: self.trash_expire_s,
                fe_addr: self.fe_config().advertise_addr(),
            })
            .collect()
    }

    pub fn broker_config(&self) -> BrokerConfig {
        BrokerConfig { listen_host: self.host.clone(), port: 8000 + self.port_offset }
    }

    fn validate(&self) -> Result<(), NodeError> {
        if !(1..=16).contains(&self.backends) {
            return Err(NodeError::Config("standalone runs from 1 to 16 backends".into()));
        }
        if self.port_offset > 50_000 {
            return Err(NodeError::Config("port offset must be at most 50000".into()));
        }
        for be in self.be_configs() {
            be.validate()?;
        }
        Ok(())
    }
}

/// How long standalone waits for one of its own backends to answer at start: a backend opens
/// every tablet it holds before it serves (tens of thousands take minutes on a slow disk). A
/// backend that fails to start ends the wait at once (see [`run`]).
const BACKEND_START_WAIT: Duration = Duration::from_secs(900);

/// How often the wait for a backend says it is still waiting.
const BACKEND_WAIT_NOTE_EVERY: Duration = Duration::from_secs(15);

/// Registers the local backends and broker that the FE does not know yet. A backend that
/// already is a member (the cluster was started before, maybe on other ports) is not added
/// again: it reports its address itself, and this waits until the FE shows it there.
async fn register(fe: &Fe, config: &StandaloneConfig) -> Result<(), NodeError> {
    let mut missing = Vec::new();
    for be in config.be_configs() {
        let addr = HostPort { host: config.host.clone(), port: be.port };
        let started = crate::clock::monotonic();
        let mut noted = Duration::ZERO;
        let who = loop {
            match fe.identify_backend(&addr.to_string()).await {
                Ok(who) => break who,
                Err(e) if crate::clock::elapsed(started) > BACKEND_START_WAIT => {
                    return Err(NodeError::Other(format!(
                        "backend {addr} did not start within {} s: {e}",
                        BACKEND_START_WAIT.as_secs()
                    )));
                }
                Err(_) => {
                    if crate::clock::elapsed(started) >= noted + BACKEND_WAIT_NOTE_EVERY {
                        noted += BACKEND_WAIT_NOTE_EVERY;
                        tracing::info!(%addr, waited_s = noted.as_secs(), "standalone: waiting for a backend to open its tablets");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let state = fe.state().await;
        if state.membership.backend_by_addr(&addr.host, addr.port).is_some() {
            continue;
        }
        let member = who.cluster_id == state.cluster_id && state.membership.backends.contains_key(&who.backend_id);
        if !member {
            missing.push(addr);
            continue;
        }
        // It moved (another --port-offset): it reports itself; wait until the FE has it.
        loop {
            let state = fe.state().await;
            let members = &state.membership;
            if members.backends.get(&who.backend_id).is_some_and(|b| b.host == addr.host && b.port == addr.port) {
                tracing::info!(backend_id = who.backend_id, %addr, "standalone: a backend came back on a new port");
                break;
            }
            if crate::clock::elapsed(started) > BACKEND_START_WAIT {
                return Err(NodeError::Other(format!(
                    "backend {} (at {addr} now) did not report its new address to the FE",
                    who.backend_id
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if !missing.is_empty() {
        fe.execute_statement(&mut Session::root(), Statement::AddBackends(missing))
            .await
            .map_err(|e| NodeError::Other(format!("registering backends: {}", e.message)))?;
    }
    let state = fe.state().await;
    let members = &state.membership;
    let broker_port = config.broker_config().port;
    if !members.brokers.iter().any(|b| b.name == BROKER_NAME && b.port == broker_port) {
        // A broker is stateless: one left on an old port is replaced.
        let old: Vec<_> = members.brokers.iter().filter(|b| b.name == BROKER_NAME).cloned().collect();
        for b in old {
            let addrs = vec![HostPort { host: b.host.clone(), port: b.port }];
            fe.execute_statement(&mut Session::root(), Statement::DropBrokers { name: BROKER_NAME.into(), addrs })
                .await
                .map_err(|e| NodeError::Other(format!("replacing the broker: {}", e.message)))?;
        }
        let addrs = vec![HostPort { host: config.host.clone(), port: broker_port }];
        fe.execute_statement(&mut Session::root(), Statement::AddBrokers { name: BROKER_NAME.into(), addrs })
            .await
            .map_err(|e| NodeError::Other(format!("registering the broker: {}", e.message)))?;
    }
    Ok(())
}

/// Runs the whole local cluster until `shutdown` fires or a role fails.
pub async fn run(config: StandaloneConfig, mut shutdown: Shutdown) -> Result<(), NodeError> {
    config.validate()?;
    // Paths below already start with data_dir, so the disk is rooted at the working directory.
    let disk: Arc<dyn Disk> = Arc::new(RealDisk::new("."));
    crate::disk::create_dir_all_durable(disk.as_ref(), &config.data_dir)
        .await
        .map_err(|source| NodeError::Disk { context: "creating the data directory".into(), source })?;
    // Before any role reads it: a second standalone on this directory would destroy its data.
    let _lock = disk
        .lock_dir(&config.data_dir)
        .await
        .map_err(|source| NodeError::Disk { context: "taking the data directory".into(), source })?;

    // The roles stop on their own signal, fired on Ctrl-C or when any role fails.
    let (stop_roles, roles) = Shutdown::new();
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::channel::<(String, Result<(), NodeError>)>(16);
    let mut tasks = Vec::new();
    for be_config in config.be_configs() {
        let name = format!("be:{}", be_config.port);
        let (disk, stop, ended) = (disk.clone(), roles.clone(), ended_tx.clone());
        tasks.push(tokio::spawn(async move {
            let result = be::run(be_config, disk, stop).await;
            let _ = ended.send((name, result)).await;
        }));
    }
    {
        let broker_config = config.broker_config();
        let (stop, ended) = (roles.clone(), ended_tx.clone());
        tasks.push(tokio::spawn(async move {
            let result = broker::run(broker_config, stop).await;
            let _ = ended.send(("broker".into(), result)).await;
        }));
    }
    let fe_config = config.fe_config();
    let fe_addr = fe_config.advertise_addr();
    let fe = Fe::open(fe_config, disk.clone()).await?;
    {
        let (fe, stop, ended) = (fe.clone(), roles.clone(), ended_tx.clone());
        tasks.push(tokio::spawn(async move {
            let result = fe::serve(fe, stop).await;
            let _ = ended.send(("fe".into(), result)).await;
        }));
    }
    drop(ended_tx);
    // A role that stops while the backends are awaited (a backend that cannot open its data)
    // ends the start at once, with its error.
    tokio::select! {
        biased;
        ended = ended_rx.recv() => return Err(role_ended(ended)),
        registered = register(&fe, &config) => registered?,
    }
    tracing::info!(fe = %fe_addr, data = %config.data_dir.display(), "standalone: cluster is up");
    eprintln!(
        "Palo standalone is up: FE at {fe_addr} (MySQL protocol on {host}:{query_port}), {} backends, \
         broker {BROKER_NAME}; data in {}.\n\
         Try: palo sql --fe {fe_addr} -e \"SHOW BACKENDS\"\n\
         or:  mysql -h {host} -P {query_port} -uroot -e \"SHOW BACKENDS\"   (Ctrl-C stops the cluster)",
        config.backends,
        config.data_dir.display(),
        host = config.host,
        query_port = 9030 + config.port_offset,
    );

    let outcome = tokio::select! {
        biased;
        _ = shutdown.wait() => Ok(()),
        ended = ended_rx.recv() => Err(role_ended(ended)),
    };
    stop_roles.trigger();
    // Give every role a bounded time to finish.
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
            tracing::warn!("standalone: a role did not stop within 5 s");
        }
    }
    outcome
}

/// The error of a role that stopped (`None`: every role did).
fn role_ended(ended: Option<(String, Result<(), NodeError>)>) -> NodeError {
    match ended {
        Some((name, Err(e))) => NodeError::Other(format!("{name} stopped: {e}")),
        Some((name, Ok(()))) => NodeError::Other(format!("{name} stopped unexpectedly")),
        None => NodeError::Other("every role stopped".into()),
    }
}
