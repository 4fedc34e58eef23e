//! What a backup leaves in the repository besides tablet files (docs/jobs.md, "Repository layout"):
//!
//! ```text
//! __palo_repository_<repo>/__ss_<label>/
//!     __owner                                   who may finish this label (Palo's; see below)
//!     __meta.<md5>                              BackupMeta: our own versioned JSON
//!     __info_<yyyy-MM-dd-HH-mm-ss>.<md5>        BackupJobInfo: Doris's JSON fields that apply
//!     __ss_content/__db_<id>/__tbl_<id>/__part_<id>/__idx_<id>/__<tablet id>/<file>.<md5>
//! ```
//!
//! `__owner` makes a label finishable once per repository even when two clusters share it: the
//! first job to create it (a conditional create) owns the label; any other job with that label
//! finds someone else's owner and is cancelled before it uploads anything.
//!
//! Both metadata files are pure functions of the journaled job, so an FE that restarts in
//! UPLOAD_INFO writes byte-identical files again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fe::catalog::TableRecord;
use crate::fe::cluster::repository::repository_dir;
use crate::fe::jobs::backup::job::BackupJob;

/// `__meta`'s format name and version; a reader refuses other names and newer versions.
pub const META_FORMAT: &str = "palo-backup-meta";
pub const META_FORMAT_VERSION: u32 = 1;
/// Stored in `__info` as `meta_version` (Doris's field), so a reader knows which `__meta` to expect.
pub const INFO_META_VERSION: u32 = META_FORMAT_VERSION;

/// The snapshot directory of a label.
pub fn snapshot_dir(repo: &str, label: &str) -> String {
    format!("{}/__ss_{label}", repository_dir(repo))
}

/// The label's owner marker.
pub fn owner_path(repo: &str, label: &str) -> String {
    format!("{}/__owner", snapshot_dir(repo, label))
}

/// Where the files of the tablets go.
pub fn content_dir(repo: &str, label: &str) -> String {
    format!("{}/__ss_content", snapshot_dir(repo, label))
}

/// One tablet's directory as Palo writes it: the index id is the table's (every table has only
/// its base index).
pub fn tablet_dir(repo: &str, label: &str, db_id: i64, table_id: i64, partition_id: i64, tablet_id: i64) -> String {
    index_tablet_dir(repo, label, db_id, table_id, partition_id, table_id, tablet_id)
}

/// One tablet's directory of index `index_id` (what `__info` names it), as a reader finds it.
pub fn index_tablet_dir(
    repo: &str,
    label: &str,
    db_id: i64,
    table_id: i64,
    partition_id: i64,
    index_id: i64,
    tablet_id: i64,
) -> String {
    format!(
        "{}/__db_{db_id}/__tbl_{table_id}/__part_{partition_id}/__idx_{index_id}/__{tablet_id}",
        content_dir(repo, label)
    )
}

/// `__meta` without its md5.
pub fn meta_path(repo: &str, label: &str) -> String {
    format!("{}/__meta", snapshot_dir(repo, label))
}

/// `__info_<ts>` without its md5; `ts` is the job's create time as `yyyy-MM-dd-HH-mm-ss`.
pub fn info_path(repo: &str, label: &str, create_time_ms: u64) -> String {
    format!("{}/__info_{}", snapshot_dir(repo, label), info_timestamp(create_time_ms))
}

/// `yyyy-MM-dd-HH-mm-ss`: the form of the timestamp in `__info_<ts>` and SHOW SNAPSHOT.
pub fn info_timestamp(epoch_ms: u64) -> String {
    crate::clock::format_datetime(epoch_ms).replace([' ', ':'], "-")
}

/// Who holds a label in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelOwner {
    pub cluster_id: u64,
    pub job_id: i64,
    pub database: String,
}

/// `__meta`: the tables as they were backed up (only the partitions taken, each at the version
/// its snapshots hold, tablets in bucket order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    pub format: String,
    pub format_version: u32,
    pub tables: Vec<TableRecord>,
}

/// Why a snapshot's `__info` or `__meta` cannot be read. The texts are Doris's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotReadError {
    /// Listing or reading the repository failed.
    #[error("{0}")]
    Store(String),
    #[error("Expected one file with path: {prefix}*, found {found}")]
    NotOne { prefix: String, found: usize },
    #[error("{path} carries no md5")]
    NoMd5 { path: String },
    #[error("md5sum does not equal. local: {actual}, remote: {expected}")]
    Md5 { actual: String, expected: String },
    #[error("{what} does not decode: {detail}")]
    Decode { what: String, detail: String },
    #[error("__meta is of format {0:?}, not {META_FORMAT:?}")]
    OtherFormat(String),
    #[error("__meta is of version {0}, newer than this Palo reads ({META_FORMAT_VERSION}); upgrade")]
    NewerMeta(u32),
    #[error("Could not read meta version {0}: this Palo reads up to version {META_FORMAT_VERSION}; upgrade")]
    NewerMetaAsked(u32),
}

impl BackupMeta {
    pub fn of(job: &BackupJob) -> BackupMeta {
        BackupMeta { format: META_FORMAT.into(), format_version: META_FORMAT_VERSION, tables: job.tables.clone() }
    }

    /// Decodes a `__meta`, refusing other formats and newer versions.
    pub fn decode(bytes: &[u8]) -> Result<BackupMeta, SnapshotReadError> {
        let meta: BackupMeta = serde_json::from_slice(bytes)
            .map_err(|e| SnapshotReadError::Decode { what: "__meta".into(), detail: e.to_string() })?;
        if meta.format != META_FORMAT {
            return Err(SnapshotReadError::OtherFormat(meta.format));
        }
        if meta.format_version > META_FORMAT_VERSION {
            return Err(SnapshotReadError::NewerMeta(meta.format_version));
        }
        Ok(meta)
    }
}

/// `__info_<ts>`: Doris's BackupJobInfo, the fields that apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJobInfo {
    pub name: String,
    pub database: String,
    pub id: i64,
    pub backup_time: u64,
    pub content: String,
    pub backup_objects: BTreeMap<String, TableInfo>,
    pub new_backup_objects: NewBackupObjects,
    pub backup_result: String,
    pub meta_version: u32,
    pub major_version: u32,
    pub minor_version: u32,
    pub patch_version: u32,
    pub tablet_be_map: BTreeMap<String, i64>,
    pub tablet_snapshot_path_map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub id: i64,
    pub partitions: BTreeMap<String, PartitionInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    pub id: i64,
    pub version: u64,
    pub indexes: BTreeMap<String, IndexInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub id: i64,
    pub schema_hash: i32,
    /// Tablet id -> its files as `name.<md5>`.
    pub tablets: BTreeMap<String, Vec<String>>,
    /// Tablet ids in bucket order: how a restore maps them to new tablets.
    pub tablets_order: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBackupObjects {
    pub views: Vec<serde_json::Value>,
    pub odbc_tables: Vec<serde_json::Value>,
    pub odbc_resources: Vec<serde_json::Value>,
}

/// The one file whose path starts with `prefix` (Doris: "Expected one file with path"), read
/// whole and checked against the md5 its name carries.
async fn read_one_checked(
    store: &dyn crate::repository::RepoStore,
    prefix: &str,
) -> Result<Vec<u8>, SnapshotReadError> {
    let listed = store.list_shallow(prefix).await.map_err(|e| SnapshotReadError::Store(e.to_string()))?.files;
    let [entry] = listed.as_slice() else {
        return Err(SnapshotReadError::NotOne { prefix: prefix.to_string(), found: listed.len() });
    };
    let bytes = store.get(&entry.path).await.map_err(|e| SnapshotReadError::Store(e.to_string()))?;
    let (_, md5) = crate::repository::split_md5(&entry.path)
        .ok_or_else(|| SnapshotReadError::NoMd5 { path: entry.path.clone() })?;
    let actual = crate::repository::md5_hex(&bytes);
    if !actual.eq_ignore_ascii_case(md5) {
        return Err(SnapshotReadError::Md5 { actual, expected: md5.to_string() });
    }
    Ok(bytes)
}

/// Reads and checks `__info_<ts>` of a snapshot: exactly one such file, its md5 right.
pub async fn read_info(
    store: &dyn crate::repository::RepoStore,
    repo: &str,
    label: &str,
    ts: &str,
) -> Result<BackupJobInfo, SnapshotReadError> {
    let prefix = format!("{}/__info_{ts}.", snapshot_dir(repo, label));
    let bytes = read_one_checked(store, &prefix).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SnapshotReadError::Decode { what: format!("{prefix}*"), detail: e.to_string() })
}

/// Reads and checks `__meta` of a snapshot: exactly one such file, its md5 right, a format this
/// build reads. `meta_version` (RESTORE's property) overrides the version `__info` names.
pub async fn read_meta(
    store: &dyn crate::repository::RepoStore,
    repo: &str,
    label: &str,
    meta_version: u32,
) -> Result<BackupMeta, SnapshotReadError> {
    if meta_version > META_FORMAT_VERSION {
        return Err(SnapshotReadError::NewerMetaAsked(meta_version));
    }
    let bytes = read_one_checked(store, &format!("{}.", meta_path(repo, label))).await?;
    BackupMeta::decode(&bytes)
}

/// A stable hash of a schema, standing in for Doris's schema hash.
pub fn schema_hash(table: &TableRecord) -> i32 {
    let bytes = serde_json::to_vec(&table.schema).unwrap_or_default();
    (crc32c::crc32c(&bytes) & 0x7fff_ffff) as i32
}

impl BackupJobInfo {
    /// The info of a job that has uploaded its files (SAVE_META on).
    pub fn of(job: &BackupJob) -> BackupJobInfo {
        let mut backup_objects = BTreeMap::new();
        let mut tablet_be_map = BTreeMap::new();
        let mut tablet_snapshot_path_map = BTreeMap::new();
        for table in &job.tables {
            let mut partitions = BTreeMap::new();
            for p in &table.partitions {
                let mut tablets = BTreeMap::new();
                for t in &p.tablets {
                    tablets.insert(t.id.to_string(), job.uploaded.get(&t.id).cloned().unwrap_or_default());
                    if let Some(first) = job.snapshots.get(&t.id).and_then(|s| s.first()) {
                        tablet_be_map.insert(t.id.to_string(), first.backend_id);
                        tablet_snapshot_path_map.insert(t.id.to_string(), first.path.clone());
                    }
                }
                let index = IndexInfo {
                    id: table.id,
                    schema_hash: schema_hash(table),
                    tablets,
                    tablets_order: p.tablets.iter().map(|t| t.id).collect(),
                };
                partitions.insert(
                    p.name.clone(),
                    PartitionInfo {
                        id: p.id,
                        version: p.visible_version,
                        indexes: BTreeMap::from([(table.name.clone(), index)]),
                    },
                );
            }
            backup_objects.insert(table.name.clone(), TableInfo { id: table.id, partitions });
        }
        let (major, minor, patch) = version_numbers();
        BackupJobInfo {
            name: job.label.clone(),
            database: job.db_name.clone(),
            id: job.db_id,
            backup_time: job.create_time_ms,
            content: "ALL".into(),
            backup_objects,
            new_backup_objects: NewBackupObjects::default(),
            backup_result: "succeed".into(),
            meta_version: INFO_META_VERSION,
            major_version: major,
            minor_version: minor,
            patch_version: patch,
            tablet_be_map,
            tablet_snapshot_path_map,
        }
    }

    /// Doris's "brief" form that SHOW SNAPSHOT prints for one timestamp.
    pub fn brief(&self) -> serde_json::Value {
        let tables: Vec<serde_json::Value> = self
            .backup_objects
            .iter()
            .map(|(name, t)| serde_json::json!({"name": name, "partition_names": t.partitions.keys().collect::<Vec<_>>()}))
            .collect();
        serde_json::json!({
            "name": self.name,
            "database": self.database,
            "backup_time": self.backup_time,
            "content": self.content,
            "olap_table_list": tables,
            "view_list": [],
            "odbc_table_list": [],
            "odbc_resource_list": [],
        })
    }
}

/// This build's version as three numbers (`0.4.1` -> 0, 4, 1).
fn version_numbers() -> (u32, u32, u32) {
    let mut parts = crate::VERSION.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_doris() {
        assert_eq!(
            tablet_dir("r", "l", 1, 2, 3, 4),
            "__palo_repository_r/__ss_l/__ss_content/__db_1/__tbl_2/__part_3/__idx_2/__4"
        );
        assert_eq!(info_timestamp(1_700_000_000_000), "2023-11-14-22-13-20");
        assert_eq!(info_path("r", "l", 1_700_000_000_000), "__palo_repository_r/__ss_l/__info_2023-11-14-22-13-20");
        assert_eq!(meta_path("r", "l"), "__palo_repository_r/__ss_l/__meta");
    }

    #[test]
    fn meta_refuses_other_formats_and_newer_versions() {
        let meta = BackupMeta { format: META_FORMAT.into(), format_version: 1, tables: Vec::new() };
        let bytes = serde_json::to_vec(&meta).unwrap();
        assert_eq!(BackupMeta::decode(&bytes), Ok(meta.clone()));
        let newer = BackupMeta { format_version: 2, ..meta.clone() };
        let e = BackupMeta::decode(&serde_json::to_vec(&newer).unwrap()).unwrap_err();
        assert_eq!(e, SnapshotReadError::NewerMeta(2));
        assert!(e.to_string().contains("newer than this Palo reads"), "{e}");
        let other = BackupMeta { format: "x".into(), ..meta };
        assert!(BackupMeta::decode(&serde_json::to_vec(&other).unwrap()).is_err());
    }
}
