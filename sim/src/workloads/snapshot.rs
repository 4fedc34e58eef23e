//! A FINISHED snapshot read back from the repository, as the backup and restore checks both need
//! it: exactly one `__meta` and one `__info`, every file's md5 right, `__meta` and `__info`
//! agreeing on each partition's version, and every tablet's header at that version.

use std::collections::BTreeMap;

use palo_node::be::tablet::snapshot::SnapshotHeader;
use palo_node::fe::jobs::backup::layout::{self, BackupMeta};
use palo_node::repository::{self, RepoStore};
use palo_node::schema::Value;

use crate::workloads::read_checked;

/// One table of a snapshot as read back.
pub(crate) struct SnapshotTable {
    pub name: String,
    pub partitions: Vec<SnapshotPartition>,
}

/// One partition of a snapshot's table: its version and its rows, tablet after tablet, each
/// tablet's rowsets in their order (so a UNIQUE table's newer row comes after the older).
pub(crate) struct SnapshotPartition {
    pub name: String,
    pub version: u64,
    pub rows: Vec<Vec<Value>>,
}

/// The tables of snapshot `label` in repository `repo`, read back and checked.
pub(crate) async fn read_snapshot(
    store: &dyn RepoStore,
    repo: &str,
    label: &str,
) -> Result<Vec<SnapshotTable>, String> {
    let dir = layout::snapshot_dir(repo, label);
    let infos = store.list(&format!("{dir}/__info_")).await.map_err(|e| e.to_string())?;
    let [info_entry] = infos.as_slice() else {
        return Err(format!("{label}: expected one __info file, found {infos:?}"));
    };
    let ts = info_entry
        .path
        .strip_prefix(&format!("{dir}/__info_"))
        .and_then(|rest| repository::split_md5(rest).map(|(ts, _)| ts.to_string()))
        .ok_or_else(|| format!("{label}: bad info file name {}", info_entry.path))?;
    let info = layout::read_info(store, repo, label, &ts).await.map_err(|e| e.to_string())?;
    let metas = store.list(&format!("{dir}/__meta.")).await.map_err(|e| e.to_string())?;
    let [meta_entry] = metas.as_slice() else {
        return Err(format!("{label}: expected one __meta file, found {metas:?}"));
    };
    let meta = BackupMeta::decode(&read_checked(store, &meta_entry.path).await?).map_err(|e| e.to_string())?;
    let mut tables = Vec::with_capacity(meta.tables.len());
    for table in &meta.tables {
        let t_info =
            info.backup_objects.get(&table.name).ok_or_else(|| format!("{label}: {} not in __info", table.name))?;
        let mut partitions = Vec::with_capacity(table.partitions.len());
        for p in &table.partitions {
            let p_info =
                t_info.partitions.get(&p.name).ok_or_else(|| format!("{label}: partition {} not in __info", p.name))?;
            if p_info.version != p.visible_version {
                return Err(format!("{label}: __meta and __info disagree on the version of {}", p.name));
            }
            let index = p_info.indexes.get(&table.name).ok_or_else(|| format!("{label}: no index {}", table.name))?;
            let mut rows = Vec::new();
            for tablet in &p.tablets {
                let files = index
                    .tablets
                    .get(&tablet.id.to_string())
                    .ok_or_else(|| format!("{label}: no tablet {}", tablet.id))?;
                let tdir = layout::tablet_dir(repo, label, info.id, table.id, p.id, tablet.id);
                let mut contents = BTreeMap::new();
                for file in files {
                    let (name, _) = repository::split_md5(file).ok_or_else(|| format!("{label}: {file} has no md5"))?;
                    contents.insert(name.to_string(), read_checked(store, &format!("{tdir}/{file}")).await?);
                }
                let header_name = palo_node::be::tablet::snapshot::header_file_name(tablet.id);
                let header: SnapshotHeader = serde_json::from_slice(
                    contents.get(&header_name).ok_or_else(|| format!("{label}: tablet {} has no header", tablet.id))?,
                )
                .map_err(|e| format!("{label}: header of tablet {} does not decode: {e}", tablet.id))?;
                if header.version != p.visible_version {
                    return Err(format!(
                        "{label}: tablet {} holds version {}, not {}",
                        tablet.id, header.version, p.visible_version
                    ));
                }
                for r in &header.rowsets {
                    let bytes =
                        contents.get(&r.file_name).ok_or_else(|| format!("{label}: {} missing", r.file_name))?;
                    let file = palo_node::be::rowset::parse_rowset(bytes.clone(), std::path::Path::new(&r.file_name))
                        .map_err(|e| format!("{label}: {}: {e}", r.file_name))?;
                    rows.extend(file.rows(&header.schema).map_err(|e| format!("{label}: {}: {e}", r.file_name))?);
                }
            }
            partitions.push(SnapshotPartition { name: p.name.clone(), version: p.visible_version, rows });
        }
        tables.push(SnapshotTable { name: table.name.clone(), partitions });
    }
    Ok(tables)
}
