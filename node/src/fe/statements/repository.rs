//! Repository statements: CREATE [READ ONLY] REPOSITORY (adopting an existing `__repo_info`),
//! DROP REPOSITORY, SHOW REPOSITORIES (with the last error of the connectivity check in
//! `cluster/repository.rs`), SHOW CREATE REPOSITORY. Secrets given in PROPERTIES are kept (they
//! are needed to reach the store) and never shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SqlError;
use crate::fe::catalog::secrets::is_secret;
use crate::fe::catalog::{self, CatalogEdit, MAX_REPOSITORIES, RepositoryKind, RepositoryRecord};
use crate::fe::cluster::repository::repo_info_path;
use crate::fe::session::QueryOutput;
use crate::fe::{Fe, FeEdit};
use crate::repository;
use crate::sql::ast::{CreateRepository, RepositoryStorage};

/// `__repo_info`: Doris's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RepoInfo {
    name: String,
    create_time: String,
}

pub const SHOW_REPOSITORIES_COLUMNS: [&str; 8] =
    ["RepoId", "RepoName", "CreateTime", "IsReadOnly", "Location", "Broker", "Type", "ErrMsg"];

impl Fe {
    pub(crate) async fn create_repository(&self, stmt: CreateRepository) -> Result<QueryOutput, SqlError> {
        catalog::check_name("repository", &stmt.name).map_err(SqlError::doris)?;
        // An in-memory store keeps nothing across a restart: a backup there would be lost. Only
        // the simulator, whose world outlives every node, has one.
        if !cfg!(madsim) && matches!(repository::Location::parse(&stmt.location), Ok(repository::Location::Mem { .. }))
        {
            return Err(SqlError::doris(format!(
                "Failed to create repository: location {:?} is an in-memory store that keeps nothing across a \
                 restart; use {}",
                stmt.location,
                repository::LOCATION_FORMS
            )));
        }
        let properties: BTreeMap<String, String> = stmt.properties.iter().cloned().collect();
        let kind = match &stmt.storage {
            RepositoryStorage::Broker(broker) => RepositoryKind::Broker { broker: broker.clone() },
            RepositoryStorage::S3 => RepositoryKind::S3,
        };
        let state = self.state().await;
        if state.catalog.repositories.contains_key(&stmt.name) {
            return Err(SqlError::doris(format!("repository with same name already exist: {}", stmt.name)));
        }
        if state.catalog.repositories.len() >= MAX_REPOSITORIES {
            return Err(SqlError::doris(format!("a cluster holds at most {MAX_REPOSITORIES} repositories")));
        }
        let mut record = RepositoryRecord {
            id: 0,
            name: stmt.name.clone(),
            read_only: stmt.read_only,
            kind,
            location: stmt.location.clone(),
            properties,
            secret_keys: Vec::new(),
            create_time: crate::clock::format_datetime(crate::clock::now_ms()),
        };
        let failed = |e: String| SqlError::doris(format!("Failed to create repository: {e}"));
        let store = self.repository_store(&state, &record).map_err(failed)?;
        // Adopt an existing repository at this location (how a second cluster attaches), or mark
        // a new one. A racing creator wins the conditional create; its info is adopted.
        let path = repo_info_path(&stmt.name);
        let adopt = |bytes: Vec<u8>| -> Result<RepoInfo, SqlError> {
            serde_json::from_slice::<RepoInfo>(&bytes)
                .map_err(|e| failed(format!("{path} at {} is not a repository info file: {e}", stmt.location)))
        };
        let info = match store.get(&path).await {
            Ok(bytes) => adopt(bytes)?,
            Err(repository::RepoError::NotFound(_)) => {
                let info = RepoInfo { name: stmt.name.clone(), create_time: record.create_time.clone() };
                let bytes = serde_json::to_vec(&info).map_err(|e| failed(e.to_string()))?;
                if store.put_if_absent(&path, bytes).await.map_err(|e| failed(e.to_string()))? {
                    info
                } else {
                    adopt(store.get(&path).await.map_err(|e| failed(e.to_string()))?)?
                }
            }
            Err(e) => return Err(failed(e.to_string())),
        };
        record.create_time = info.create_time;

        let _ddl = self.ddl_lock.lock().await;
        let mut durable = self.durable.lock().await;
        if durable.state.catalog.repositories.contains_key(&stmt.name) {
            return Err(SqlError::doris(format!("repository with same name already exist: {}", stmt.name)));
        }
        record.id = durable.state.catalog.next_id;
        // Credentials go apart from the journal, first: the record only names them.
        let (plain, secret) = crate::fe::catalog::secrets::split(&record.properties);
        record.secret_keys = secret.keys().cloned().collect();
        record.properties = plain;
        let existing = &durable.state.catalog.repositories;
        self.secrets
            .put(&stmt.name, secret, |name| existing.contains_key(name))
            .await
            .map_err(|e| failed(format!("cannot keep its credentials: {e}")))?;
        self.commit_locked(&mut durable, FeEdit::Catalog { edit: CatalogEdit::CreateRepository(record) }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_repository(&self, name: &str) -> Result<QueryOutput, SqlError> {
        let _ddl = self.ddl_lock.lock().await;
        let mut durable = self.durable.lock().await;
        let Some(repo) = durable.state.catalog.repositories.get(name) else {
            return Err(SqlError::doris("Repository does not exist"));
        };
        let id = repo.id;
        if durable.state.backup.uses_repository(id) || durable.state.restore.uses_repository(id) {
            return Err(SqlError::doris("Backup or restore job is running on this repository. Can not drop it"));
        }
        self.commit_locked(&mut durable, FeEdit::Catalog { edit: CatalogEdit::DropRepository { id } }).await?;
        self.repo_errors().remove(&id);
        let existing = &durable.state.catalog.repositories;
        if let Err(e) = self.secrets.put(name, BTreeMap::new(), |n| existing.contains_key(n)).await {
            tracing::warn!(repository = name, error = %e, "fe: dropped credentials stay until the next repository change");
        }
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn show_repositories(&self) -> QueryOutput {
        let state = self.state().await;
        let errors = self.repo_errors().clone();
        let rows = state
            .catalog
            .repositories
            .values()
            .map(|r| {
                let (broker, kind) = match &r.kind {
                    RepositoryKind::Broker { broker } => (broker.clone(), "BROKER"),
                    RepositoryKind::S3 => ("-".to_string(), "S3"),
                };
                vec![
                    Some(r.id.to_string()),
                    Some(r.name.clone()),
                    Some(r.create_time.clone()),
                    Some(r.read_only.to_string()),
                    Some(r.location.clone()),
                    Some(broker),
                    Some(kind.to_string()),
                    errors.get(&r.id).cloned(),
                ]
            })
            .collect();
        QueryOutput::Rows { columns: SHOW_REPOSITORIES_COLUMNS.iter().map(|c| c.to_string()).collect(), rows }
    }

    pub(crate) async fn show_create_repository(&self, name: &str) -> Result<QueryOutput, SqlError> {
        let state = self.state().await;
        let repo = state.catalog.repositories.get(name).ok_or_else(|| SqlError::doris("Repository does not exist"))?;
        Ok(QueryOutput::Rows {
            columns: vec!["Repository".into(), "Create Repository".into()],
            rows: vec![vec![Some(repo.name.clone()), Some(create_repository_sql(repo))]],
        })
    }
}

/// The CREATE REPOSITORY statement of a repository, with secret values hidden.
pub fn create_repository_sql(repo: &RepositoryRecord) -> String {
    let with = match &repo.kind {
        RepositoryKind::Broker { broker } => format!("BROKER `{broker}`"),
        RepositoryKind::S3 => "S3".to_string(),
    };
    let mut sql = format!(
        "CREATE {}REPOSITORY `{}`\nWITH {with}\nON LOCATION \"{}\"",
        if repo.read_only { "READ ONLY " } else { "" },
        repo.name,
        repo.location
    );
    let mut shown: BTreeMap<&str, &str> =
        repo.properties.iter().map(|(k, v)| (k.as_str(), if is_secret(k) { "*XXX" } else { v.as_str() })).collect();
    shown.extend(repo.secret_keys.iter().map(|k| (k.as_str(), "*XXX")));
    if !shown.is_empty() {
        let props: Vec<String> = shown.iter().map(|(k, v)| format!("\"{k}\" = \"{v}\"")).collect();
        sql.push_str(&format!("\nPROPERTIES\n({})", props.join(",\n")));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let repo = RepositoryRecord {
            id: 1,
            name: "r".into(),
            read_only: true,
            kind: RepositoryKind::S3,
            location: "s3://b/p".into(),
            properties: BTreeMap::from([
                ("s3.access_key".to_string(), "AK".to_string()),
                ("s3.secret_key".to_string(), "very-secret".to_string()),
            ]),
            secret_keys: vec!["s3.session_token".into()],
            create_time: "2026-01-01 00:00:00".into(),
        };
        let sql = create_repository_sql(&repo);
        assert!(!sql.contains("very-secret"), "{sql}");
        assert!(sql.contains("\"s3.secret_key\" = \"*XXX\""), "{sql}");
        assert!(sql.starts_with("CREATE READ ONLY REPOSITORY `r`"), "{sql}");
        assert!(crate::sql::parse(&sql.replace("*XXX", "x")).is_ok(), "parses back: {sql}");
    }
}
