//! Statement execution: the one SQL entry point (gRPC `ExecuteSql` now, the MySQL protocol later).
//! A statement either changes nothing and fails with a [`SqlError`], or commits one journal
//! record and succeeds.

use crate::fe::catalog::auth::Privilege;
use crate::fe::catalog::auth::{access_denied, check_load};
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::session::{QueryOutput, Session, format_capacity};
use crate::fe::statements::table_show::TableShow;
use crate::fe::statements::users::show_grants;
use crate::fe::{Fe, NodeHealth};
use std::sync::Arc;

use crate::VERSION;
use crate::clock;
use crate::error::SqlError;
use crate::fe::{front::help, front::variables};
use crate::sql::{self, Statement};

/// What a statement needs of the session's user.
enum Needs {
    Nothing,
    Admin,
}

fn needs(statement: &Statement) -> Needs {
    match statement {
        Statement::Set
        | Statement::SelectSession { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowDatabases
        | Statement::Use { .. }
        | Statement::SetPassword { user: None, .. }
        | Statement::ShowGrants { user: None, all: false }
        | Statement::Help { .. }
        // Table statements check privileges on their database themselves.
        | Statement::ShowTables { .. }
        | Statement::ShowCreateTable { .. }
        | Statement::Describe { .. }
        | Statement::ShowPartitions { .. }
        | Statement::CreateTable(_)
        | Statement::DropTable { .. }
        | Statement::TruncateTable { .. }
        | Statement::AddPartition { .. }
        | Statement::DropPartition { .. }
        | Statement::Insert(_)
        | Statement::Select(_)
        // LOAD on the database, as Doris checks it.
        | Statement::ShowBackup { .. }
        | Statement::ShowRestore { .. } => Needs::Nothing,
        _ => Needs::Admin,
    }
}

const SHOW_BACKENDS_COLUMNS: [&str; 16] = [
    "BackendId",
    "Host",
    "HeartbeatPort",
    "BePort",
    "LastStartTime",
    "LastHeartbeat",
    "Alive",
    "SystemDecommissioned",
    "TabletNum",
    "DataUsedCapacity",
    "AvailCapacity",
    "TotalCapacity",
    "UsedPct",
    "ErrMsg",
    "Version",
    "HeartbeatFailureCounter",
];

const SHOW_BROKER_COLUMNS: [&str; 7] = ["Name", "Host", "Port", "Alive", "LastStartTime", "LastUpdateTime", "ErrMsg"];

const SHOW_FRONTENDS_COLUMNS: [&str; 9] =
    ["Name", "Host", "RpcPort", "Role", "IsMaster", "ClusterId", "Alive", "LastStartTime", "Version"];

fn opt_time(ms: Option<u64>) -> Option<String> {
    ms.map(clock::format_datetime)
}

fn bool_text(b: bool) -> Option<String> {
    Some(if b { "true" } else { "false" }.to_string())
}

impl Fe {
    /// Parses and runs one statement.
    /// Runs a statement in its own task and returns its outcome with the session after it. A
    /// client that gives up (deadline, disconnect) drops its caller, and a commit must never be cut
    /// between its journal write and its apply; front ends call this, never `execute` directly.
    pub async fn execute_detached(
        self: &Arc<Self>,
        mut session: Session,
        sql_text: String,
    ) -> (Result<QueryOutput, SqlError>, Session) {
        let fe = self.clone();
        let fallback = session.clone();
        let joined = tokio::spawn(async move {
            let result = fe.execute(&mut session, &sql_text).await;
            (result, session)
        })
        .await;
        joined.unwrap_or_else(|e| (Err(SqlError::doris(format!("statement task failed: {e}"))), fallback))
    }

    pub async fn execute(&self, session: &mut Session, sql_text: &str) -> Result<QueryOutput, SqlError> {
        let statement = sql::parse(sql_text).map_err(SqlError::syntax)?;
        self.execute_statement(session, statement).await
    }

    pub async fn execute_statement(
        &self,
        session: &mut Session,
        statement: Statement,
    ) -> Result<QueryOutput, SqlError> {
        // Only the users and grants: a copy of the whole state per statement would cost O(tablets).
        let auth = self.durable.lock().await.state.auth.clone();
        if let Needs::Admin = needs(&statement)
            && !auth.has(&session.identity, Privilege::Admin, None)
        {
            return Err(access_denied("ADMIN"));
        }
        match statement {
            Statement::Help { topic } => help::answer(&topic),
            Statement::CreateUser { user, password, if_not_exists } => {
                self.create_user(user, password, if_not_exists).await
            }
            Statement::DropUser { user, if_exists } => self.drop_user(user, if_exists).await,
            Statement::SetPassword { user, password } => self.set_password(session, user, password).await,
            Statement::Grant { privileges: names, on, user } => self.grant_or_revoke(true, names, on, user).await,
            Statement::Revoke { privileges: names, on, user } => self.grant_or_revoke(false, names, on, user).await,
            Statement::ShowGrants { user, all } => show_grants(&auth, session, user, all),
            Statement::Set => Ok(QueryOutput::Ok { affected_rows: 0 }),
            Statement::SelectSession { items, limit } => variables::select_session(session, items, limit),
            Statement::ShowVariables { like } => {
                let rows = variables::all()
                    .into_iter()
                    .filter(|(name, _)| {
                        like.as_deref().is_none_or(|pattern| crate::fe::catalog::lookup::like(pattern, name))
                    })
                    .map(|(name, value)| vec![Some(name), Some(value)])
                    .collect();
                Ok(QueryOutput::Rows { columns: vec!["Variable_name".into(), "Value".into()], rows })
            }
            Statement::ShowDatabases => self.show_databases(&auth, session).await,
            Statement::Use { name } => self.use_database(&auth, session, name).await,
            Statement::CreateDatabase { name, if_not_exists } => self.create_database(name, if_not_exists).await,
            Statement::DropDatabase { name, if_exists } => self.drop_database(session, name, if_exists).await,
            Statement::ShowTables { database } => self.show_tables_of(&auth, session, database).await,
            Statement::ShowCreateTable { table } => {
                self.show_table(&auth, session, table, TableShow::CreateTable).await
            }
            Statement::Describe { table } => self.show_table(&auth, session, table, TableShow::Describe).await,
            Statement::ShowPartitions { table } => self.show_table(&auth, session, table, TableShow::Partitions).await,
            Statement::ShowTablets { table } => {
                let db = database_of(session, &table)?;
                let state = self.state().await;
                let (_, record) = find_table(&state, &db, &table.table)?;
                Ok(self.show_tablets(&state, record))
            }
            Statement::CreateTable(ct) => {
                check_load(&auth, session, &database_of(session, &ct.table)?)?;
                self.create_table(session, *ct).await
            }
            Statement::DropTable { table, if_exists } => {
                check_load(&auth, session, &database_of(session, &table)?)?;
                self.drop_table(session, table, if_exists).await
            }
            Statement::TruncateTable { table } => {
                check_load(&auth, session, &database_of(session, &table)?)?;
                self.truncate_table(session, table).await
            }
            Statement::AddPartition { table, partition } => {
                check_load(&auth, session, &database_of(session, &table)?)?;
                self.add_partition(session, table, partition).await
            }
            Statement::DropPartition { table, partition, if_exists } => {
                check_load(&auth, session, &database_of(session, &table)?)?;
                self.drop_partition(session, table, partition, if_exists).await
            }
            Statement::Insert(insert) => {
                check_load(&auth, session, &database_of(session, &insert.table)?)?;
                self.insert(session, *insert).await
            }
            Statement::Select(select) => self.select(session, *select).await,
            Statement::Backup(backup) => self.backup(session, *backup).await,
            Statement::ShowBackup { database, filter } => {
                let db = match &database {
                    Some(db) => db.clone(),
                    None => session.database.clone(),
                };
                if !db.is_empty() {
                    check_load(&auth, session, &db)?;
                }
                self.show_backup(session, database, filter).await
            }
            Statement::CancelBackup { database } => self.cancel_backup(session, database).await,
            Statement::Restore(restore) => self.restore(session, *restore).await,
            Statement::ShowRestore { database, filter } => {
                let db = match &database {
                    Some(db) => db.clone(),
                    None => session.database.clone(),
                };
                if !db.is_empty() {
                    check_load(&auth, session, &db)?;
                }
                self.show_restore(session, database, filter).await
            }
            Statement::CancelRestore { database } => self.cancel_restore(session, database).await,
            Statement::ShowSnapshot { repository, snapshot, timestamp } => {
                self.show_snapshot(&repository, snapshot, timestamp).await
            }
            Statement::CreateRepository(stmt) => self.create_repository(*stmt).await,
            Statement::DropRepository { name } => self.drop_repository(&name).await,
            Statement::ShowRepositories => Ok(self.show_repositories().await),
            Statement::ShowCreateRepository { name } => self.show_create_repository(&name).await,
            Statement::ShowBackends => Ok(self.show_backends().await),
            Statement::ShowTrash { on } => self.show_trash(on).await,
            Statement::CleanTrash { on } => self.clean_trash(on).await,
            Statement::ShowBrokers => Ok(self.show_brokers().await),
            Statement::ShowFrontends => Ok(self.show_frontends().await),
            Statement::AddBackends(addrs) => self.add_backends(addrs).await,
            Statement::DropBackends { addrs, force } => self.drop_backends(addrs, force).await,
            Statement::AddBrokers { name, addrs } => self.add_brokers(name, addrs).await,
            Statement::DropBrokers { name, addrs } => self.drop_brokers(name, addrs).await,
            Statement::DropAllBrokers { name } => self.drop_all_brokers(name).await,
        }
    }

    async fn show_backends(&self) -> QueryOutput {
        let state = self.state().await;
        let health = self.health_snapshot();
        let unknown = NodeHealth::default();
        let rows = state
            .membership
            .backends
            .values()
            .map(|b| {
                let h = health.backends.get(&b.id).unwrap_or(&unknown);
                let used_pct = if h.capacity_bytes > 0 {
                    let used = h.capacity_bytes.saturating_sub(h.available_bytes);
                    format!("{:.2} %", used as f64 * 100.0 / h.capacity_bytes as f64)
                } else {
                    "0.00 %".to_string()
                };
                vec![
                    Some(b.id.to_string()),
                    Some(b.host.clone()),
                    Some(b.port.to_string()),
                    Some(b.port.to_string()),
                    opt_time(h.last_start_time_ms),
                    opt_time(h.last_heartbeat_ms),
                    bool_text(h.alive),
                    bool_text(false),
                    Some(h.tablet_count.to_string()),
                    Some(format_capacity(h.data_used_bytes)),
                    Some(format_capacity(h.available_bytes)),
                    Some(format_capacity(h.capacity_bytes)),
                    Some(used_pct),
                    Some(h.err_msg.clone()),
                    Some(h.version.clone()),
                    Some(h.failure_count.to_string()),
                ]
            })
            .collect();
        QueryOutput::Rows { columns: SHOW_BACKENDS_COLUMNS.iter().map(|c| c.to_string()).collect(), rows }
    }

    async fn show_brokers(&self) -> QueryOutput {
        let state = self.state().await;
        let health = self.health_snapshot();
        let unknown = NodeHealth::default();
        let rows = state
            .membership
            .brokers
            .iter()
            .map(|b| {
                let h = health.brokers.get(b).unwrap_or(&unknown);
                vec![
                    Some(b.name.clone()),
                    Some(b.host.clone()),
                    Some(b.port.to_string()),
                    bool_text(h.alive),
                    opt_time(h.last_start_time_ms),
                    opt_time(h.last_heartbeat_ms),
                    Some(h.err_msg.clone()),
                ]
            })
            .collect();
        QueryOutput::Rows { columns: SHOW_BROKER_COLUMNS.iter().map(|c| c.to_string()).collect(), rows }
    }

    async fn show_frontends(&self) -> QueryOutput {
        let state = self.state().await;
        let row = vec![
            Some(format!("fe_{}", self.config.advertise_addr().replace([':', '.'], "_"))),
            Some(self.config.advertise_host.clone()),
            Some(self.config.grpc_port.to_string()),
            Some("MASTER".into()),
            bool_text(true),
            Some(state.cluster_id.to_string()),
            bool_text(true),
            opt_time(Some(self.start_time_ms)),
            Some(VERSION.into()),
        ];
        QueryOutput::Rows { columns: SHOW_FRONTENDS_COLUMNS.iter().map(|c| c.to_string()).collect(), rows: vec![row] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_formatted_like_doris() {
        assert_eq!(format_capacity(0), "0.000 B");
        assert_eq!(format_capacity(1536), "1.500 KB");
        assert_eq!(format_capacity(3 * 1024 * 1024 * 1024), "3.000 GB");
    }
}
