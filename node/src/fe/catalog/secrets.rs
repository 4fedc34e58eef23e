//! Repository credentials (`s3.secret_key`, `s3.session_token`, a broker's `password`, ...)
//! kept apart from the journal: the journal and its images are what an operator copies around
//! (a backup of the FE's metadata, a support bundle), so they hold a repository's other
//! properties and only the *names* of its secret ones. The values live in
//! `<meta_dir>/repository_secrets.json`, mode 0600 in a 0700 directory, replaced whole and
//! atomically.
//!
//! Order, so a crash never loses a credential the journal needs: CREATE REPOSITORY writes the
//! secrets before its journal record; DROP REPOSITORY removes them after its record. A crash in
//! between leaves at most an entry no repository uses, which the next write drops.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{self, Disk, DiskError};
use crate::error::NodeError;

pub const SECRETS_FILE: &str = "repository_secrets.json";

/// Whether a property is a secret (kept apart, never shown).
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "token"].iter().any(|s| key.contains(s))
}

/// Secret properties by repository name.
pub struct Secrets {
    disk: Arc<dyn Disk>,
    path: PathBuf,
    by_repository: std::sync::Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// Serializes writers of the file.
    writing: tokio::sync::Mutex<()>,
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Secrets {
    pub async fn open(disk: Arc<dyn Disk>, meta_dir: &Path) -> Result<Secrets, NodeError> {
        let path = meta_dir.join(SECRETS_FILE);
        let by_repository = match disk.read_all(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                NodeError::Other(format!(
                    "{} is damaged ({e}); move it away to start (repositories with credentials then need DROP and \
                     CREATE REPOSITORY again)",
                    path.display()
                ))
            })?,
            Err(e) if e.is_not_found() => BTreeMap::new(),
            Err(source) => return Err(NodeError::Disk { context: "reading the repository secrets".into(), source }),
        };
        Ok(Secrets {
            disk,
            path,
            by_repository: std::sync::Mutex::new(by_repository),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// The secret properties of `repository` (none if it has none, or they were lost).
    pub fn get(&self, repository: &str) -> BTreeMap<String, String> {
        locked(&self.by_repository).get(repository).cloned().unwrap_or_default()
    }

    /// Keeps `secrets` for `repository` (replacing what it had), durably; `keep` names the
    /// repositories that exist, so entries of ones that do not are dropped on the way.
    pub async fn put(
        &self,
        repository: &str,
        secrets: BTreeMap<String, String>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), DiskError> {
        let _writing = self.writing.lock().await;
        let mut next = locked(&self.by_repository).clone();
        next.retain(|name, _| keep(name));
        if secrets.is_empty() {
            next.remove(repository);
        } else {
            next.insert(repository.to_string(), secrets);
        }
        if next == *locked(&self.by_repository) {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| DiskError::Invalid { path: self.path.clone(), detail: e.to_string() })?;
        disk::write_file_atomic(self.disk.as_ref(), &self.path, &bytes).await?;
        *locked(&self.by_repository) = next;
        Ok(())
    }
}

/// `properties` split into (kept in the journal, secret).
pub fn split(properties: &BTreeMap<String, String>) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    properties.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(k, _)| !is_secret(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::be::test_support::TempDisk;

    #[tokio::test]
    async fn secrets_live_apart_and_survive_a_restart() {
        let temp = TempDisk::new("secrets").await;
        let secrets = Secrets::open(temp.disk(), temp.root()).await.expect("open");
        let props: BTreeMap<String, String> =
            [("s3.access_key", "AK"), ("s3.secret_key", "SK"), ("s3.endpoint", "e"), ("s3.session_token", "T")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let (plain, secret) = split(&props);
        assert_eq!(plain.keys().collect::<Vec<_>>(), ["s3.access_key", "s3.endpoint"]);
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["s3.secret_key", "s3.session_token"]);
        secrets.put("r1", secret.clone(), |_| true).await.expect("put");
        secrets.put("gone", secret.clone(), |_| true).await.expect("put");
        let again = Secrets::open(temp.disk(), temp.root()).await.expect("reopen");
        assert_eq!(again.get("r1"), secret);
        again.put("r2", BTreeMap::new(), |name| name == "r1").await.expect("put");
        assert!(again.get("gone").is_empty(), "entries of repositories that are gone are dropped");
        assert_eq!(again.get("r1"), secret);
    }
}
