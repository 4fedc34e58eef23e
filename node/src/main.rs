//! `palo-node`: the production entry point. One binary, four roles.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use palo_node::be::BeConfig;
use palo_node::broker::BrokerConfig;
use palo_node::disk::{Disk, RealDisk};
use palo_node::error::NodeError;
use palo_node::fe::FeConfig;
use palo_node::shutdown::Shutdown;
use palo_node::standalone::StandaloneConfig;

/// Palo node: the frontend (FE), a backend (BE), a broker, or all of them in one process.
///
/// Every role reads an optional TOML config file (`--config`); flags override the file, and
/// every key not given keeps the default shown here. Logs go to stderr; set RUST_LOG (for
/// example RUST_LOG=debug) for more detail. Ctrl-C stops a node cleanly.
#[derive(Parser, Debug)]
#[command(name = "palo-node", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Run the frontend: catalog, journal, SQL endpoint, heartbeats.
    Fe(FeArgs),
    /// Run a backend: tablet storage on this machine.
    Be(BeArgs),
    /// Run a broker: the gateway to remote repositories.
    Broker(BrokerArgs),
    /// Run an FE, three BEs and a broker on loopback in one process, registered with each
    /// other. Ports: FE gRPC 9020, FE MySQL 9030, BEs 9060-9062, broker 8000 (plus
    /// --port-offset).
    Standalone(StandaloneArgs),
}

#[derive(Args, Debug)]
struct FeArgs {
    /// TOML file with any of: listen_host, advertise_host, grpc_port, query_port, meta_dir,
    /// heartbeat_interval_ms, heartbeat_max_failures, checkpoint_every_records, repair_interval_ms,
    /// repository_check_interval_ms, journal_piece_bytes.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to bind the gRPC server to [default: 0.0.0.0].
    #[arg(long)]
    listen_host: Option<String>,
    /// Address BEs and brokers use to reach this FE [default: 127.0.0.1].
    #[arg(long)]
    advertise_host: Option<String>,
    /// gRPC port: SQL endpoint and task reports [default: 9020].
    #[arg(long)]
    grpc_port: Option<u16>,
    /// MySQL protocol port for mysql clients and drivers [default: 9030].
    #[arg(long)]
    query_port: Option<u16>,
    /// Directory of the journal (edit log and image checkpoints) [default: fe-meta].
    #[arg(long, value_name = "DIR")]
    meta_dir: Option<PathBuf>,
    /// Milliseconds between heartbeats to each backend and broker [default: 1000].
    #[arg(long)]
    heartbeat_interval_ms: Option<u64>,
}

#[derive(Args, Debug)]
struct BeArgs {
    /// TOML file with any of: listen_host, port, storage_root, compaction_interval_ms,
    /// advertise_host, trash_expire_s, fe_addr.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to bind to [default: 0.0.0.0].
    #[arg(long)]
    listen_host: Option<String>,
    /// gRPC port for heartbeats and tasks [default: 9060].
    #[arg(long)]
    port: Option<u16>,
    /// Directory of this backend's tablets and snapshots [default: be-storage]. One process
    /// per directory: a second one is refused.
    #[arg(long, value_name = "DIR")]
    storage_root: Option<PathBuf>,
    /// The host the FE reaches this backend at, which it tells the FE when it starts (so a
    /// backend restarted on another address keeps its id and its tablets) [default: the address
    /// the FE sees].
    #[arg(long)]
    advertise_host: Option<String>,
    /// Seconds a dropped tablet stays in the trash (storage_root/trash) before it is deleted;
    /// a disk 90% full deletes the oldest sooner, and ADMIN CLEAN TRASH at once [default: 259200,
    /// three days].
    #[arg(long, value_name = "SECONDS")]
    trash_expire_secs: Option<u64>,
    /// The FE (host:port) to tell this backend's address to when it starts [default: the FE
    /// that sent it the last heartbeat].
    #[arg(long, value_name = "HOST:PORT")]
    fe: Option<String>,
}

#[derive(Args, Debug)]
struct BrokerArgs {
    /// TOML file with any of: listen_host, port.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to bind to [default: 0.0.0.0].
    #[arg(long)]
    listen_host: Option<String>,
    /// gRPC port [default: 8000].
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Args, Debug)]
struct StandaloneArgs {
    /// Directory for all of the cluster's data (created if missing): fe/meta, be0.., and so on.
    #[arg(long, value_name = "DIR", default_value = "palo-data")]
    data: PathBuf,
    /// Added to every port, so two standalone clusters can run side by side.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Loopback address every role binds to and registers with.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Number of backends.
    #[arg(long, default_value_t = 3)]
    backends: u16,
    /// Milliseconds between two background compaction passes on every backend (100 to 3600000).
    /// Each pass merges the oldest small rowsets of a few tablets that have more than 4; a long
    /// interval keeps a benchmark's rowset files as the loads wrote them.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    compaction_interval_ms: u64,
    /// Seconds a dropped tablet stays in its backend's trash before it is deleted (a disk 90%
    /// full deletes the oldest sooner; ADMIN CLEAN TRASH at once).
    #[arg(long, default_value_t = palo_node::be::DEFAULT_TRASH_EXPIRE_S, value_name = "SECONDS")]
    trash_expire_secs: u64,
}

async fn load_or_default<T: serde::de::DeserializeOwned + Default>(path: &Option<PathBuf>) -> Result<T, NodeError> {
    match path {
        Some(path) => palo_node::config::load(&RealDisk::new("."), path).await,
        None => Ok(T::default()),
    }
}

fn real_disk() -> Arc<dyn Disk> {
    Arc::new(RealDisk::new("."))
}

async fn run(cli: Cli, shutdown: Shutdown) -> Result<(), NodeError> {
    match cli.role {
        Role::Fe(args) => {
            let mut config: FeConfig = load_or_default(&args.config).await?;
            if let Some(v) = args.listen_host {
                config.listen_host = v;
            }
            if let Some(v) = args.advertise_host {
                config.advertise_host = v;
            }
            if let Some(v) = args.grpc_port {
                config.grpc_port = v;
            }
            if let Some(v) = args.query_port {
                config.query_port = v;
            }
            if let Some(v) = args.meta_dir {
                config.meta_dir = v;
            }
            if let Some(v) = args.heartbeat_interval_ms {
                config.heartbeat_interval_ms = v;
            }
            palo_node::fe::run(config, real_disk(), shutdown).await
        }
        Role::Be(args) => {
            let mut config: BeConfig = load_or_default(&args.config).await?;
            if let Some(v) = args.listen_host {
                config.listen_host = v;
            }
            if let Some(v) = args.port {
                config.port = v;
            }
            if let Some(v) = args.storage_root {
                config.storage_root = v;
            }
            if let Some(v) = args.advertise_host {
                config.advertise_host = v;
            }
            if let Some(v) = args.trash_expire_secs {
                config.trash_expire_s = v;
            }
            if let Some(v) = args.fe {
                config.fe_addr = v;
            }
            palo_node::be::run(config, real_disk(), shutdown).await
        }
        Role::Broker(args) => {
            let mut config: BrokerConfig = load_or_default(&args.config).await?;
            if let Some(v) = args.listen_host {
                config.listen_host = v;
            }
            if let Some(v) = args.port {
                config.port = v;
            }
            palo_node::broker::run(config, shutdown).await
        }
        Role::Standalone(args) => {
            let config = StandaloneConfig {
                data_dir: args.data,
                port_offset: args.port_offset,
                host: args.host,
                backends: args.backends,
                compaction_interval_ms: args.compaction_interval_ms,
                trash_expire_s: args.trash_expire_secs,
            };
            palo_node::standalone::run(config, shutdown).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let cli = Cli::parse();
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("interrupt received: shutting down");
            trigger.trigger();
        }
    });
    match run(cli, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palo-node: {e}");
            ExitCode::FAILURE
        }
    }
}
