//! The FE's gRPC service: `ExecuteSql`, the one SQL entry point.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{Fe, QueryOutput};
use crate::rpc::proto;

pub struct FrontendService {
    fe: Arc<Fe>,
}

impl FrontendService {
    pub fn new(fe: Arc<Fe>) -> Self {
        FrontendService { fe }
    }
}

/// Statements longer than this are refused before parsing.
pub const MAX_STATEMENT_BYTES: usize = 1024 * 1024;

#[tonic::async_trait]
impl proto::frontend_server::Frontend for FrontendService {
    async fn execute_sql(
        &self,
        request: Request<proto::ExecuteSqlRequest>,
    ) -> Result<Response<proto::ExecuteSqlResponse>, Status> {
        let request = request.into_inner();
        // The gRPC endpoint is the operator's port (palo CLI, standalone): statements run as root.
        // Keep it on a trusted network; MySQL clients log in on the query port.
        let mut session = super::Session::root();
        session.database = request.database.clone();
        let outcome = if request.sql.len() > MAX_STATEMENT_BYTES {
            proto::execute_sql_response::Outcome::Error(
                crate::error::SqlError::doris(format!(
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
