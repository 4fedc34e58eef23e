//! Statement execution: the one SQL entry point (gRPC `ExecuteSql` now, the MySQL protocol later).
//! A statement either changes nothing and fails with a [`SqlError`], or commits one journal
//! record and succeeds.

use crate::fe::catalog::auth::{self, AuthEdit, GrantScope, MAX_USERS, Privilege, UserIdentity};
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::catalog::membership::{BrokerRecord, MAX_BROKERS, MembershipEdit};
use crate::fe::catalog::{self, CatalogEdit, DatabaseRecord, MAX_DATABASES};
use crate::fe::session::{QueryOutput, Session, format_capacity};
use crate::fe::statements::table_show;
use crate::fe::{Fe, FeEdit, NodeHealth};
use std::sync::Arc;

use crate::VERSION;
use crate::clock;
use crate::error::SqlError;
use crate::fe::{front::help, front::variables};
use crate::sql::ast::{GrantOn, SessionValue, UserSpec};
use crate::sql::{self, Statement};

/// Which statement a shared arm runs.
enum StatementKind {
    Grant,
    ShowCreateTable,
    Describe,
    Other,
}

fn check_can_see(auth: &auth::Auth, session: &Session, db: &str) -> Result<(), SqlError> {
    if auth.can_see(&session.identity, db) {
        Ok(())
    } else {
        Err(SqlError::new(1044, "42000", format!("Access denied for user {} to database '{db}'", session.identity)))
    }
}

fn check_load(auth: &auth::Auth, session: &Session, db: &str) -> Result<(), SqlError> {
    if auth.has(&session.identity, Privilege::Load, Some(db)) { Ok(()) } else { Err(access_denied("LOAD")) }
}

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

fn access_denied(privilege: &str) -> SqlError {
    SqlError::new(
        1227,
        "42000",
        format!("Access denied; you need (at least one of) the ({privilege}) privilege(s) for this operation"),
    )
}

/// MySQL's ER_PASSWORD_NO_MATCH: the statement names a user that does not exist.
fn no_such_user(identity: &UserIdentity) -> SqlError {
    SqlError::new(1133, "42000", format!("Can't find any matching row in the user table for {identity}"))
}

fn user_identity(spec: &UserSpec) -> Result<UserIdentity, SqlError> {
    if spec.user.len() > 64 || spec.user.chars().any(|c| c.is_control() || c == '\'' || c == '@') {
        return Err(SqlError::doris(format!(
            "Incorrect user name '{}': at most 64 characters, no quotes or @",
            spec.user
        )));
    }
    Ok(UserIdentity::new(&spec.user, &spec.host))
}

fn privileges(names: &[String]) -> Result<Vec<Privilege>, SqlError> {
    names
        .iter()
        .map(|n| {
            Privilege::parse(n).ok_or_else(|| {
                SqlError::doris(format!("Unknown privilege {n}: use ADMIN_PRIV, LOAD_PRIV or SELECT_PRIV"))
            })
        })
        .collect()
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
        let auth = self.state().await.auth;
        let statement_kind = match &statement {
            Statement::Grant { .. } => StatementKind::Grant,
            Statement::ShowCreateTable { .. } => StatementKind::ShowCreateTable,
            Statement::Describe { .. } => StatementKind::Describe,
            _ => StatementKind::Other,
        };
        if let Needs::Admin = needs(&statement)
            && !auth.has(&session.identity, Privilege::Admin, None)
        {
            return Err(access_denied("ADMIN"));
        }
        match statement {
            Statement::Help { topic } => {
                let text = |s: &str| Some(s.to_string());
                if topic.trim().is_empty() || topic.eq_ignore_ascii_case("contents") {
                    let rows = help::TOPICS.iter().map(|(name, _, _)| vec![text(name), text("N")]).collect();
                    return Ok(QueryOutput::Rows { columns: vec!["name".into(), "is_it_category".into()], rows });
                }
                let found = help::find(&topic);
                match found.as_slice() {
                    [] => Err(SqlError::doris(format!(
                        "Nothing found for help topic '{topic}'; run HELP to list the topics"
                    ))),
                    [(name, description, example)] => Ok(QueryOutput::Rows {
                        columns: vec!["name".into(), "description".into(), "example".into()],
                        rows: vec![vec![text(name), text(description), text(example)]],
                    }),
                    many => Ok(QueryOutput::Rows {
                        columns: vec!["name".into(), "is_it_category".into()],
                        rows: many.iter().map(|(name, _, _)| vec![text(name), text("N")]).collect(),
                    }),
                }
            }
            Statement::CreateUser { user, password, if_not_exists } => {
                let identity = user_identity(&user)?;
                let mut durable = self.durable.lock().await;
                if durable.state.auth.users.contains_key(&identity) {
                    if if_not_exists {
                        return Ok(QueryOutput::Ok { affected_rows: 0 });
                    }
                    return Err(SqlError::new(1396, "HY000", format!("Operation CREATE USER failed for {identity}")));
                }
                if durable.state.auth.users.len() >= MAX_USERS {
                    return Err(SqlError::doris(format!("a cluster holds at most {MAX_USERS} users")));
                }
                let password_sha1_sha1 = password.as_deref().and_then(auth::password_hash);
                let edit = AuthEdit::CreateUser { identity, password_sha1_sha1 };
                self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::DropUser { user, if_exists } => {
                let identity = user_identity(&user)?;
                if identity == UserIdentity::root() {
                    return Err(SqlError::doris("root cannot be dropped"));
                }
                let mut durable = self.durable.lock().await;
                if !durable.state.auth.users.contains_key(&identity) {
                    if if_exists {
                        return Ok(QueryOutput::Ok { affected_rows: 0 });
                    }
                    return Err(SqlError::new(1396, "HY000", format!("Operation DROP USER failed for {identity}")));
                }
                self.commit_locked(&mut durable, FeEdit::Auth { edit: AuthEdit::DropUser { identity } }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::SetPassword { user, password } => {
                let identity = match &user {
                    Some(spec) => user_identity(spec)?,
                    None => session.identity.clone(),
                };
                let mut durable = self.durable.lock().await;
                if !durable.state.auth.users.contains_key(&identity) {
                    return Err(no_such_user(&identity));
                }
                let edit = AuthEdit::SetPassword { identity, password_sha1_sha1: auth::password_hash(&password) };
                self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::Grant { privileges: names, on, user } | Statement::Revoke { privileges: names, on, user } => {
                let is_grant = matches!(statement_kind, StatementKind::Grant);
                let identity = user_identity(&user)?;
                let privileges = privileges(&names)?;
                let scope = match on {
                    GrantOn::Global => GrantScope::Global,
                    GrantOn::Database(db) => GrantScope::Database(db),
                };
                if identity == UserIdentity::root() && !is_grant {
                    return Err(SqlError::doris("root's privileges cannot be revoked"));
                }
                let mut durable = self.durable.lock().await;
                if !durable.state.auth.users.contains_key(&identity) {
                    return Err(no_such_user(&identity));
                }
                let edit = if is_grant {
                    AuthEdit::Grant { identity, scope, privileges }
                } else {
                    AuthEdit::Revoke { identity, scope, privileges }
                };
                self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::ShowGrants { user, all } => {
                let wanted: Vec<&UserIdentity> = match (&user, all) {
                    (_, true) => auth.users.keys().collect(),
                    (Some(spec), false) => {
                        let identity = user_identity(spec)?;
                        match auth.users.get_key_value(&identity) {
                            Some((id, _)) => vec![id],
                            None => {
                                return Err(SqlError::new(
                                    1141,
                                    "42000",
                                    format!("There is no such grant defined for user {identity}"),
                                ));
                            }
                        }
                    }
                    (None, false) => {
                        auth.users.get_key_value(&session.identity).map(|(id, _)| vec![id]).unwrap_or_default()
                    }
                };
                let rows = wanted
                    .into_iter()
                    .filter_map(|id| auth.users.get(id).map(|record| (id, record)))
                    .map(|(id, record)| {
                        let names = |set: &std::collections::BTreeSet<Privilege>| {
                            set.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
                        };
                        let databases = record
                            .databases
                            .iter()
                            .map(|(db, set)| format!("{db}: {}", names(set)))
                            .collect::<Vec<_>>()
                            .join("; ");
                        vec![
                            Some(id.to_string()),
                            Some(if record.password_sha1_sha1.is_some() { "Yes" } else { "No" }.to_string()),
                            Some(names(&record.global)),
                            Some(databases),
                        ]
                    })
                    .collect();
                let columns = ["UserIdentity", "Password", "GlobalPrivs", "DatabasePrivs"];
                Ok(QueryOutput::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows })
            }
            Statement::Set => Ok(QueryOutput::Ok { affected_rows: 0 }),
            Statement::SelectSession { items, limit } => {
                let mut row = Vec::with_capacity(items.len());
                for item in &items {
                    let value = match &item.value {
                        SessionValue::Variable(name) => Some(variables::lookup(name).ok_or_else(|| {
                            SqlError::new(1193, "HY000", format!("Unknown system variable '{name}'"))
                        })?),
                        SessionValue::Database => (!session.database.is_empty()).then(|| session.database.clone()),
                        SessionValue::User => Some(session.identity.to_string()),
                        SessionValue::Version => Some(variables::MYSQL_VERSION.to_string()),
                        SessionValue::ConnectionId => Some(session.connection_id.to_string()),
                        SessionValue::Literal(text) => Some(text.clone()),
                    };
                    row.push(value);
                }
                let rows = if limit == Some(0) { Vec::new() } else { vec![row] };
                Ok(QueryOutput::Rows { columns: items.into_iter().map(|i| i.column).collect(), rows })
            }
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
            Statement::ShowDatabases => {
                let state = self.state().await;
                let rows = state
                    .catalog
                    .databases
                    .keys()
                    .filter(|name| auth.can_see(&session.identity, name))
                    .map(|name| vec![Some(name.clone())])
                    .collect();
                Ok(QueryOutput::Rows { columns: vec!["Database".into()], rows })
            }
            Statement::Use { name } => {
                if !self.state().await.catalog.databases.contains_key(&name) {
                    return Err(SqlError::unknown_database(&name));
                }
                if !auth.can_see(&session.identity, &name) {
                    return Err(SqlError::new(
                        1044,
                        "42000",
                        format!("Access denied for user {} to database '{name}'", session.identity),
                    ));
                }
                session.database = name;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::CreateDatabase { name, if_not_exists } => {
                catalog::check_name("database", &name).map_err(SqlError::doris)?;
                // Takes a catalog id, so it waits for table DDL that is between choosing ids and
                // committing them.
                let _ddl = self.ddl_lock.lock().await;
                let mut durable = self.durable.lock().await;
                let catalog = &durable.state.catalog;
                if catalog.databases.contains_key(&name) {
                    if if_not_exists {
                        return Ok(QueryOutput::Ok { affected_rows: 0 });
                    }
                    return Err(SqlError::new(
                        1007,
                        "HY000",
                        format!("Can't create database '{name}'; database exists"),
                    ));
                }
                if catalog.databases.len() >= MAX_DATABASES {
                    return Err(SqlError::doris(format!("a cluster holds at most {MAX_DATABASES} databases")));
                }
                let edit = CatalogEdit::CreateDatabase(DatabaseRecord {
                    id: catalog.next_id,
                    name,
                    tables: Default::default(),
                });
                self.commit_locked(&mut durable, FeEdit::Catalog { edit }).await?;
                Ok(QueryOutput::Ok { affected_rows: 1 })
            }
            Statement::DropDatabase { name, if_exists } => {
                let _ddl = self.ddl_lock.lock().await;
                let mut durable = self.durable.lock().await;
                let Some(db) = durable.state.catalog.databases.get(&name) else {
                    if if_exists {
                        return Ok(QueryOutput::Ok { affected_rows: 0 });
                    }
                    return Err(SqlError::new(
                        1008,
                        "HY000",
                        format!("Can't drop database '{name}'; database doesn't exist"),
                    ));
                };
                if let Some(job) = durable.state.restore.running_in(db.id) {
                    return Err(SqlError::doris(format!(
                        "Database {name} is being restored by job {} (state {}); wait for it to end or CANCEL RESTORE",
                        job.id,
                        job.state.name()
                    )));
                }
                let dropped = db.clone();
                let edit = CatalogEdit::DropDatabase { id: db.id };
                self.commit_locked(&mut durable, FeEdit::Catalog { edit }).await?;
                let state = durable.state.clone();
                drop(durable);
                self.drop_database_tablets(&state, &dropped).await;
                if session.database == name {
                    session.database.clear();
                }
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::ShowTables { database } => {
                let db = match database {
                    Some(db) => db,
                    None if !session.database.is_empty() => session.database.clone(),
                    None => return Err(SqlError::new(1046, "3D000", "No database selected; run USE db first")),
                };
                let state = self.state().await;
                if !state.catalog.databases.contains_key(&db) {
                    return Err(SqlError::unknown_database(&db));
                }
                check_can_see(&auth, session, &db)?;
                Ok(self.show_tables(&state, &db))
            }
            Statement::ShowCreateTable { table }
            | Statement::Describe { table }
            | Statement::ShowPartitions { table } => {
                let db = database_of(session, &table)?;
                let state = self.state().await;
                let (at, record) = find_table(&state, &db, &table.table)?;
                check_can_see(&auth, session, &db)?;
                // Partitions a running restore fills show State RESTORE, as in Doris.
                let restoring: std::collections::BTreeSet<i64> = state
                    .restore
                    .holding(at.db_id, at.table_id)
                    .map(|(_, plan)| plan.partitions.iter().map(|p| p.partition_id).collect())
                    .unwrap_or_default();
                Ok(match statement_kind {
                    StatementKind::ShowCreateTable => QueryOutput::Rows {
                        columns: vec!["Table".into(), "Create Table".into()],
                        rows: vec![vec![Some(record.name.clone()), Some(table_show::create_table_sql(record))]],
                    },
                    StatementKind::Describe => self.describe(record),
                    _ => self.show_partitions(record, &restoring),
                })
            }
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
            Statement::AddBrokers { name, addrs } => {
                let mut durable = self.durable.lock().await;
                let membership = &durable.state.membership;
                if membership.brokers.len() + addrs.len() > MAX_BROKERS {
                    return Err(SqlError::doris(format!(
                        "a cluster holds at most {MAX_BROKERS} brokers; drop some first"
                    )));
                }
                let mut edits = Vec::new();
                for (i, addr) in addrs.iter().enumerate() {
                    let broker = BrokerRecord { name: name.clone(), host: addr.host.clone(), port: addr.port };
                    if membership.has_broker(&broker) || addrs[..i].contains(addr) {
                        return Err(SqlError::doris(format!("Broker({name}) already has the address {addr}")));
                    }
                    edits.push(MembershipEdit::AddBroker(broker));
                }
                self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::DropBrokers { name, addrs } => {
                let mut durable = self.durable.lock().await;
                let membership = &durable.state.membership;
                let mut edits = Vec::new();
                for (i, addr) in addrs.iter().enumerate() {
                    let broker = BrokerRecord { name: name.clone(), host: addr.host.clone(), port: addr.port };
                    if !membership.has_broker(&broker) || addrs[..i].contains(addr) {
                        return Err(SqlError::doris(format!("Broker({name}) has no address {addr}")));
                    }
                    edits.push(MembershipEdit::DropBroker(broker));
                }
                self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
            Statement::DropAllBrokers { name } => {
                let mut durable = self.durable.lock().await;
                let edits: Vec<_> = durable
                    .state
                    .membership
                    .brokers
                    .iter()
                    .filter(|b| b.name == name)
                    .cloned()
                    .map(MembershipEdit::DropBroker)
                    .collect();
                if edits.is_empty() {
                    return Err(SqlError::doris(format!("Unknown broker name({name})")));
                }
                self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
                Ok(QueryOutput::Ok { affected_rows: 0 })
            }
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
