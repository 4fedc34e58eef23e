//! The MySQL protocol front end (Doris's query port, 9030): the real `mysql` client, drivers and
//! BI tools connect here. Every statement goes through the same [`Fe::execute`] as gRPC.
//!
//! Logins use mysql_native_password against the users of the catalog (`CREATE USER`); a new
//! cluster has `root` without a password, as Doris does.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter, OkResponse,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;

use crate::error::{NodeError, SqlError};
use crate::fe::catalog::auth::{UserIdentity, check_native_password};
use crate::fe::front::variables::MYSQL_VERSION;
use crate::fe::{Fe, QueryOutput, Session};
use crate::shutdown::Shutdown;

/// Connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 1024;

struct Connection {
    fe: Arc<Fe>,
    session: Session,
    salt: [u8; 20],
    /// The client's address, matched against users' host patterns.
    peer_host: String,
    /// Set by `authenticate` (which only gets `&self`), moved into the session before statements.
    authenticated: std::sync::Mutex<Option<UserIdentity>>,
}

impl Connection {
    fn take_identity(&mut self) {
        let identity = match self.authenticated.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(identity) = identity {
            self.session.identity = identity;
        }
    }
}

/// A per-connection scramble, mixed from the clock, the connection id and the peer (deterministic
/// in the simulator). It is not secret material; a random source for it is future work.
fn scramble(connection_id: u32) -> [u8; 20] {
    let mut state = crate::clock::now_ms() ^ (u64::from(connection_id) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    let mut salt = [0u8; 20];
    for byte in &mut salt {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Printable, never NUL or '$', as the protocol wants.
        *byte = b'0' + (state % 74) as u8;
    }
    salt
}

async fn write_error<W: AsyncWrite + Send + Unpin>(results: QueryResultWriter<'_, W>, e: &SqlError) -> io::Result<()> {
    results.error(ErrorKind::from(e.code), e.message.as_bytes()).await
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Connection {
    type Error = io::Error;

    fn version(&self) -> String {
        MYSQL_VERSION.to_string()
    }

    fn connect_id(&self) -> u32 {
        self.session.connection_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(&self, _plugin: &str, username: &[u8], salt: &[u8], auth_data: &[u8]) -> bool {
        let Ok(user) = std::str::from_utf8(username) else { return false };
        let state = self.fe.state().await;
        let auth = &state.auth;
        let Some((identity, record)) = auth.match_login(user, &self.peer_host) else { return false };
        if !check_native_password(record.password_sha1_sha1.as_deref(), salt, auth_data) {
            return false;
        }
        match self.authenticated.lock() {
            Ok(mut slot) => *slot = Some(identity.clone()),
            Err(poisoned) => *poisoned.into_inner() = Some(identity.clone()),
        }
        true
    }

    async fn on_prepare<'a>(&'a mut self, _query: &'a str, info: StatementMetaWriter<'a, W>) -> io::Result<()> {
        info.error(ErrorKind::ER_UNSUPPORTED_PS, b"prepared statements are not supported; send the statement as text")
            .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        results.error(ErrorKind::ER_UNSUPPORTED_PS, b"prepared statements are not supported").await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_init<'a>(&'a mut self, database: &'a str, writer: InitWriter<'a, W>) -> io::Result<()> {
        self.take_identity();
        let state = self.fe.state().await;
        if state.catalog.databases.contains_key(database) && !state.auth.can_see(&self.session.identity, database) {
            let message = format!("Access denied for user {} to database '{database}'", self.session.identity);
            writer.error(ErrorKind::ER_DBACCESS_DENIED_ERROR, message.as_bytes()).await
        } else if state.catalog.databases.contains_key(database) {
            self.session.database = database.to_string();
            writer.ok().await
        } else {
            let e = SqlError::unknown_database(database);
            writer.error(ErrorKind::from(e.code), e.message.as_bytes()).await
        }
    }

    async fn on_query<'a>(&'a mut self, query: &'a str, results: QueryResultWriter<'a, W>) -> io::Result<()> {
        self.take_identity();
        if query.trim().trim_end_matches(';').trim().is_empty() {
            return results.error(ErrorKind::ER_EMPTY_QUERY, b"Query was empty").await;
        }
        let (result, session) = self.fe.execute_detached(self.session.clone(), query.to_string()).await;
        self.session = session;
        match result {
            Ok(QueryOutput::Rows { columns, rows }) => {
                let columns: Vec<Column> = columns
                    .into_iter()
                    .map(|name| Column {
                        table: String::new(),
                        column: name,
                        coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                        colflags: ColumnFlags::empty(),
                    })
                    .collect();
                let mut writer = results.start(&columns).await?;
                for row in rows {
                    for cell in row {
                        writer.write_col(cell.as_deref())?;
                    }
                    writer.end_row().await?;
                }
                writer.finish().await
            }
            Ok(QueryOutput::Ok { affected_rows }) => {
                results.completed(OkResponse { affected_rows, ..OkResponse::default() }).await
            }
            Err(e) => write_error(results, &e).await,
        }
    }
}

fn peer_hash(peer: &SocketAddr) -> u32 {
    peer.to_string().bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Binds the query port (so a taken port fails the FE's start, not a background task).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|e| NodeError::Serve { addr: addr.to_string(), detail: e.to_string() })
}

/// Decrements the connection count when a connection ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts MySQL connections until `shutdown` fires.
pub async fn serve(fe: Arc<Fe>, listener: TcpListener, mut shutdown: Shutdown) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut next_connection_id: u32 = 0;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "fe: mysql accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if active.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(%peer, "fe: refusing a mysql connection: {MAX_CONNECTIONS} already open");
            continue;
        }
        let slot = Slot(active.clone());
        next_connection_id = next_connection_id.wrapping_add(1).max(1);
        let connection = Connection {
            fe: fe.clone(),
            // No privileges until `authenticate` says who this is.
            session: Session::new(UserIdentity::new("", ""), next_connection_id),
            salt: scramble(next_connection_id ^ peer_hash(&peer)),
            peer_host: peer.ip().to_string(),
            authenticated: std::sync::Mutex::new(None),
        };
        tokio::spawn(async move {
            let _slot = slot;
            let (reader, writer) = tokio::io::split(stream);
            if let Err(e) = AsyncMysqlIntermediary::run_on(connection, reader, writer).await {
                tracing::debug!(%peer, error = %e, "fe: mysql connection ended with an error");
            }
        });
    }
}
