//! A SQL client over the FE's gRPC endpoint, shared by the `palo` CLI, the standalone launcher,
//! the simulator's workload and the tests.

use crate::error::SqlError;
use crate::fe::QueryOutput;
use crate::rpc::{self, RpcTimeouts, proto};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The statement ran and failed.
    #[error("{0}")]
    Sql(SqlError),
    /// The FE could not be reached or did not answer in time: the outcome is unknown.
    #[error("cannot reach the FE at {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
}

#[derive(Clone)]
pub struct SqlClient {
    addr: String,
    client: proto::frontend_client::FrontendClient<tonic::transport::Channel>,
    database: String,
    user: String,
    password: String,
}

impl SqlClient {
    /// A client of the FE at `addr` (`host:port` of its gRPC port), logging in as `root` without a
    /// password (see [`SqlClient::with_login`]). Connects lazily.
    pub fn new(addr: &str, timeouts: RpcTimeouts) -> Result<SqlClient, ClientError> {
        let channel = rpc::channel(addr, timeouts)
            .map_err(|e| ClientError::Unreachable { addr: addr.to_string(), detail: e.to_string() })?;
        Ok(SqlClient {
            addr: addr.to_string(),
            client: crate::rpc::frontend_client(channel),
            database: String::new(),
            user: "root".into(),
            password: String::new(),
        })
    }

    /// Logs in as `user` (empty for root) with `password` (empty for none): sent with every
    /// statement and checked by the FE as a MySQL login is.
    #[must_use]
    pub fn with_login(mut self, user: &str, password: &str) -> SqlClient {
        self.user = user.to_string();
        self.password = password.to_string();
        self
    }

    /// The user this client logs in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The session's current database (changed by `USE`).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Continues a session whose current database is `database`.
    pub fn set_database(&mut self, database: &str) {
        self.database = database.to_string();
    }

    pub async fn execute(&mut self, sql: &str) -> Result<QueryOutput, ClientError> {
        let request = proto::ExecuteSqlRequest {
            sql: sql.to_string(),
            database: self.database.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
        };
        let response = self
            .client
            .execute_sql(request)
            .await
            .map_err(|status| ClientError::Unreachable {
                addr: self.addr.clone(),
                detail: format!("{:?}: {}", status.code(), status.message()),
            })?
            .into_inner();
        self.database = response.database;
        match response.outcome {
            Some(proto::execute_sql_response::Outcome::ResultSet(rs)) => Ok(QueryOutput::Rows {
                columns: rs.columns,
                rows: rs.rows.into_iter().map(|r| r.cells.into_iter().map(|c| c.value).collect()).collect(),
            }),
            Some(proto::execute_sql_response::Outcome::AffectedRows(n)) => Ok(QueryOutput::Ok { affected_rows: n }),
            Some(proto::execute_sql_response::Outcome::Error(e)) => Err(ClientError::Sql(SqlError::from_proto(&e))),
            None => {
                Err(ClientError::Unreachable { addr: self.addr.clone(), detail: "the FE sent an empty answer".into() })
            }
        }
    }
}
