//! The FE's gRPC service: `ExecuteSql`, the one SQL entry point. Each request names a user and a
//! password (clear text: keep the gRPC port on a trusted network or behind TLS), checked like a
//! MySQL login; the statement then runs with that user's privileges. An empty user is `root`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::error::SqlError;
use crate::fe::catalog::auth::UserIdentity;
use crate::fe::{Fe, QueryOutput, Session};
use crate::rpc::proto;

pub struct FrontendService {
    fe: Arc<Fe>,
}

impl FrontendService {
    pub fn new(fe: Arc<Fe>) -> Self {
        FrontendService { fe }
    }

    /// Every request logs in as a MySQL connection does (`user`@`peer_host` matched against the
    /// users' host patterns, the password checked against the stored hash), then its statement
    /// runs with that user's privileges.
    async fn login(&self, user: &str, peer_host: &str, password: &str) -> Option<UserIdentity> {
        let durable = self.fe.durable.lock().await;
        durable.state.auth.login_plain(user, peer_host, password).cloned()
    }
}

/// Statements longer than this are refused before parsing.
pub const MAX_STATEMENT_BYTES: usize = 1024 * 1024;

#[tonic::async_trait]
impl proto::frontend_server::Frontend for FrontendService {
    async fn report_backend(
        &self,
        request: Request<proto::ReportBackendRequest>,
    ) -> Result<Response<proto::ReportBackendResponse>, Status> {
        let peer_host = request.remote_addr().map(|a| a.ip().to_canonical().to_string());
        let outcome = self.fe.report_backend(request.into_inner(), peer_host).await?;
        Ok(Response::new(proto::ReportBackendResponse { outcome }))
    }

    async fn execute_sql(
        &self,
        request: Request<proto::ExecuteSqlRequest>,
    ) -> Result<Response<proto::ExecuteSqlResponse>, Status> {
        // The caller's host, matched against users' host patterns as a MySQL login's is; without
        // a known peer only users of any host ('%') can log in.
        let peer_host = request.remote_addr().map_or_else(|| "%".to_string(), |a| a.ip().to_canonical().to_string());
        let request = request.into_inner();
        let user = if request.user.is_empty() { "root" } else { request.user.as_str() };
        let Some(identity) = self.login(user, &peer_host, &request.password).await else {
            let using = if request.password.is_empty() { "NO" } else { "YES" };
            let denied = SqlError::new(
                1045,
                "28000",
                format!("Access denied for user '{user}'@'{peer_host}' (using password: {using})"),
            );
            return Ok(Response::new(proto::ExecuteSqlResponse {
                outcome: Some(proto::execute_sql_response::Outcome::Error(denied.to_proto())),
                database: request.database,
            }));
        };
        let mut session = Session::new(identity, 0);
        session.database = request.database.clone();
        let outcome = if request.sql.len() > MAX_STATEMENT_BYTES {
            proto::execute_sql_response::Outcome::Error(
                SqlError::doris(format!(
                    "statement of {} bytes is longer than the limit of {MAX_STATEMENT_BYTES} bytes",
                    request.sql.len()
                ))
                .to_proto(),
            )
        } else {
            let (result, after) = self.fe.execute_detached(session.clone(), request.sql.clone()).await;
            session = after;
            match result {
                Ok(QueryOutput::Rows { columns, rows }) => {
                    proto::execute_sql_response::Outcome::ResultSet(proto::ResultSet {
                        columns,
                        rows: rows
                            .into_iter()
                            .map(|cells| proto::Row {
                                cells: cells.into_iter().map(|value| proto::Cell { value }).collect(),
                            })
                            .collect(),
                    })
                }
                Ok(QueryOutput::Ok { affected_rows }) => {
                    proto::execute_sql_response::Outcome::AffectedRows(affected_rows)
                }
                Err(e) => proto::execute_sql_response::Outcome::Error(e.to_proto()),
            }
        };
        Ok(Response::new(proto::ExecuteSqlResponse { outcome: Some(outcome), database: session.database }))
    }
}
