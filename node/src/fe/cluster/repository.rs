//! How the FE reaches a repository: its store (through an alive broker of its name, or
//! directly), with its secret properties; where a repository lives at its location; and the
//! periodic connectivity check whose last error SHOW REPOSITORIES prints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::fe::catalog::{RepositoryKind, RepositoryRecord};
use crate::fe::{Fe, FeState};
use crate::repository::{self, RepoStore};
use crate::shutdown::Shutdown;

/// Doris's directory of a repository at its location.
pub fn repository_dir(name: &str) -> String {
    format!("__palo_repository_{name}")
}

/// The file that marks a repository at its location.
pub fn repo_info_path(name: &str) -> String {
    format!("{}/__repo_info", repository_dir(name))
}

impl Fe {
    /// The store behind a repository: through an alive broker of its name, or directly.
    pub(crate) fn repository_store(
        &self,
        state: &FeState,
        repo: &RepositoryRecord,
    ) -> Result<Arc<dyn RepoStore>, String> {
        let properties = self.repository_properties(repo);
        match &repo.kind {
            RepositoryKind::S3 => repository::open_direct(&repo.location, &properties).map_err(|e| e.to_string()),
            RepositoryKind::Broker { broker } => {
                let addr = self.broker_addr(state, broker)?;
                Ok(Arc::new(repository::BrokerStore::new(&addr, &repo.location, &properties)))
            }
        }
    }

    /// Every property of a repository, its secret ones (kept apart from the journal) included.
    pub(crate) fn repository_properties(&self, repo: &RepositoryRecord) -> BTreeMap<String, String> {
        let mut properties = repo.properties.clone();
        properties.extend(self.secrets.get(&repo.name));
        properties
    }

    /// An address of the broker `name`: an alive one first.
    pub(crate) fn broker_addr(&self, state: &FeState, name: &str) -> Result<String, String> {
        let health = self.health_snapshot();
        let mut brokers: Vec<_> = state.membership.brokers.iter().filter(|b| b.name == name).collect();
        if brokers.is_empty() {
            return Err(format!("broker does not exist: {name}"));
        }
        brokers.sort_by_key(|b| !health.brokers.get(*b).is_some_and(|h| h.alive));
        Ok(brokers[0].addr())
    }

    /// Last connectivity error per repository id (not journaled).
    pub(crate) fn repo_errors(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, String>> {
        match self.repo_errors.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// One connectivity check of every repository: its `__repo_info` must be readable.
    async fn check_repositories(&self) {
        let state = self.state().await;
        for repo in state.catalog.repositories.values() {
            let outcome = match self.repository_store(&state, repo) {
                Ok(store) => match store.exists(&repo_info_path(&repo.name)).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!("{} is missing", repo_info_path(&repo.name))),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e),
            };
            let mut errors = self.repo_errors();
            match outcome {
                Ok(()) => {
                    errors.remove(&repo.id);
                }
                Err(e) => {
                    let now = crate::clock::format_datetime(crate::clock::now_ms());
                    errors.insert(repo.id, format!("{now} {e}"));
                }
            }
        }
    }
}

/// The loop that checks every repository's connectivity every interval.
pub(crate) async fn run_checks(fe: Arc<Fe>, mut shutdown: Shutdown) {
    let interval = Duration::from_millis(fe.config.repository_check_interval_ms);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        fe.check_repositories().await;
    }
}
