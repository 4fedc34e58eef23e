//! Database statements: SHOW DATABASES, USE, CREATE DATABASE, DROP DATABASE, SHOW TABLES.

use crate::error::SqlError;
use crate::fe::catalog::auth::{Auth, check_can_see};
use crate::fe::catalog::{self, CatalogEdit, DatabaseRecord, MAX_DATABASES};
use crate::fe::jobs::state::JobState;
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeEdit};

impl Fe {
    pub(crate) async fn show_databases(&self, auth: &Auth, session: &Session) -> Result<QueryOutput, SqlError> {
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

    pub(crate) async fn use_database(
        &self,
        auth: &Auth,
        session: &mut Session,
        name: String,
    ) -> Result<QueryOutput, SqlError> {
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

    pub(crate) async fn create_database(&self, name: String, if_not_exists: bool) -> Result<QueryOutput, SqlError> {
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
            return Err(SqlError::new(1007, "HY000", format!("Can't create database '{name}'; database exists")));
        }
        if catalog.databases.len() >= MAX_DATABASES {
            return Err(SqlError::doris(format!("a cluster holds at most {MAX_DATABASES} databases")));
        }
        let edit =
            CatalogEdit::CreateDatabase(DatabaseRecord { id: catalog.next_id, name, tables: Default::default() });
        self.commit_locked(&mut durable, FeEdit::Catalog { edit }).await?;
        Ok(QueryOutput::Ok { affected_rows: 1 })
    }

    pub(crate) async fn drop_database(
        &self,
        session: &mut Session,
        name: String,
        if_exists: bool,
    ) -> Result<QueryOutput, SqlError> {
        let _ddl = self.ddl_lock.lock().await;
        let mut durable = self.durable.lock().await;
        let Some(db) = durable.state.catalog.databases.get(&name) else {
            if if_exists {
                return Ok(QueryOutput::Ok { affected_rows: 0 });
            }
            return Err(SqlError::new(1008, "HY000", format!("Can't drop database '{name}'; database doesn't exist")));
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

    pub(crate) async fn show_tables_of(
        &self,
        auth: &Auth,
        session: &Session,
        database: Option<String>,
    ) -> Result<QueryOutput, SqlError> {
        let db = match database {
            Some(db) => db,
            None if !session.database.is_empty() => session.database.clone(),
            None => return Err(SqlError::new(1046, "3D000", "No database selected; run USE db first")),
        };
        let state = self.state().await;
        if !state.catalog.databases.contains_key(&db) {
            return Err(SqlError::unknown_database(&db));
        }
        check_can_see(auth, session, &db)?;
        Ok(self.show_tables(&state, &db))
    }
}
