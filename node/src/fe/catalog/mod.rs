//! The catalog: databases, their tables, each table's partitions, each partition's tablets (one
//! per bucket) and each tablet's replicas (one per backend). Durable: every change is a journal
//! record applied by [`Catalog::apply`]. What a replica holds (its version, rows, size) is not
//! here: BEs report it (see `replicas.rs`).

pub mod auth;
pub mod keys;
pub mod lookup;
pub mod membership;
pub mod placement;
pub mod secrets;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::schema::Schema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    pub id: i64,
    pub name: String,
    /// By name. Absent in journals written before tables existed.
    #[serde(default)]
    pub tables: BTreeMap<String, Arc<TableRecord>>,
}

/// How rows are spread over a partition's tablets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionRecord {
    /// `HASH(columns)`; empty for `RANDOM`.
    pub hash_columns: Vec<String>,
    pub buckets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    pub id: i64,
    pub name: String,
    pub schema: Schema,
    /// `PARTITION BY RANGE(column)`; `None` for a table with one partition named after it.
    pub partition_column: Option<String>,
    pub distribution: DistributionRecord,
    pub replication_num: u16,
    /// Ordered by range (lower bound first).
    pub partitions: Vec<PartitionRecord>,
    pub comment: String,
}

/// A range partition's bounds as integers of the partition column (dates as days, datetimes as
/// seconds): `[lower, upper)`, `None` meaning MIN and MAXVALUE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRecord {
    pub lower: Option<i64>,
    pub upper: Option<i64>,
}

impl RangeRecord {
    pub fn contains(&self, key: i64) -> bool {
        self.lower.is_none_or(|l| key >= l) && self.upper.is_none_or(|u| key < u)
    }

    pub fn overlaps(&self, other: &RangeRecord) -> bool {
        let starts_before_other_ends = match (self.lower, other.upper) {
            (Some(l), Some(u)) => l < u,
            _ => true,
        };
        let other_starts_before_end = match (other.lower, self.upper) {
            (Some(l), Some(u)) => l < u,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_end
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub id: i64,
    pub name: String,
    /// `None` for the single partition of an unpartitioned table.
    pub range: Option<RangeRecord>,
    /// The version queries read; a new partition is at version 1 (empty).
    pub visible_version: u64,
    pub visible_version_time_ms: u64,
    /// One per bucket, in bucket order.
    pub tablets: Vec<TabletRecord>,
    /// The txn that made each recent version, so replicas that missed a publish (an FE crash
    /// between commit and publish) can be sent it again. Bounded by [`MAX_RECENT_TXNS`].
    #[serde(default)]
    pub recent_txns: BTreeMap<u64, i64>,
}

/// Versions remembered per partition for re-publishing; older lagging replicas are cloned.
pub const MAX_RECENT_TXNS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletRecord {
    pub id: i64,
    pub replicas: Vec<ReplicaRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    pub id: i64,
    pub backend_id: i64,
}

/// Where a table lives: its database's id and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableRef {
    pub db_id: i64,
    pub table_id: i64,
}

/// One replica moved to another backend: what [`CatalogEdit::ReplaceReplicas`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaMove {
    pub at: TableRef,
    pub tablet_id: i64,
    pub old_replica_id: i64,
    pub new: ReplicaRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CatalogEdit {
    CreateDatabase(DatabaseRecord),
    DropDatabase {
        id: i64,
    },
    /// A new table with its partitions, tablets and replicas (created on the BEs before this).
    CreateTable {
        db_id: i64,
        table: TableRecord,
    },
    DropTable {
        at: TableRef,
    },
    /// TRUNCATE: every partition replaced by an empty one with new tablets.
    ReplacePartitions {
        at: TableRef,
        partitions: Vec<PartitionRecord>,
    },
    AddPartition {
        at: TableRef,
        partition: PartitionRecord,
    },
    DropPartition {
        at: TableRef,
        partition_id: i64,
    },
    /// A load's commit: each partition it wrote moves to its next version.
    CommitTxn {
        at: TableRef,
        txn_id: i64,
        versions: Vec<PartitionVersion>,
        time_ms: u64,
    },
    /// A replica moved to another backend (its backend was dropped); the new one is filled by
    /// repair.
    ReplaceReplica {
        at: TableRef,
        tablet_id: i64,
        old_replica_id: i64,
        new: ReplicaRecord,
    },
    /// Many replicas moved at once (one record for a round of repair, whatever the count).
    ReplaceReplicas {
        moves: Vec<ReplicaMove>,
    },
    /// Txn ids below `end` may be handed out; a restarted FE starts at `end`.
    ReserveTxnIds {
        end: i64,
    },
    CreateRepository(RepositoryRecord),
    /// Only the FE's record goes; the files at the location stay.
    DropRepository {
        id: i64,
    },
}

/// How a repository is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepositoryKind {
    /// Through the brokers registered under this name.
    Broker { broker: String },
    /// Directly (FE and BEs) through the object store.
    S3,
}

/// A repository as the FE records it. The files live at `location` under
/// `__palo_repository_<name>/`; two clusters that create the same (location, name) share them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryRecord {
    pub id: i64,
    pub name: String,
    pub read_only: bool,
    pub kind: RepositoryKind,
    pub location: String,
    /// As given, but for the secret ones (credentials), which live apart from the journal
    /// (`secrets.rs`) and are only named in `secret_keys`. Records journaled before that keep
    /// their secrets here.
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub secret_keys: Vec<String>,
    /// `yyyy-MM-dd HH:mm:ss`, from the repository's `__repo_info` (adopted when it existed).
    pub create_time: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionVersion {
    pub partition_id: i64,
    pub version: u64,
}

/// A cluster holds at most this many databases.
pub const MAX_DATABASES: usize = 10_000;
/// Doris's rule: a letter, then letters, digits, `-` or `_`, 64 characters at most.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The id the next catalog object gets. Never reused.
    pub next_id: i64,
    /// By name (names are case-sensitive, as in Doris).
    pub databases: BTreeMap<String, DatabaseRecord>,
    /// Txn ids below this were (or may have been) handed out.
    #[serde(default)]
    pub txn_ids_reserved_end: i64,
    /// Repositories by name.
    #[serde(default)]
    pub repositories: BTreeMap<String, RepositoryRecord>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog { next_id: 20_001, databases: BTreeMap::new(), txn_ids_reserved_end: 0, repositories: BTreeMap::new() }
    }
}

/// A cluster holds at most this many repositories.
pub const MAX_REPOSITORIES: usize = 256;

/// A table has at most this many partitions, and a cluster at most this many tablets per table.
pub const MAX_PARTITIONS: usize = 4_096;
pub const MAX_TABLETS_PER_TABLE: usize = 65_536;
pub const MAX_TABLES_PER_DATABASE: usize = 10_000;

/// Why a name is not a valid database name, if it is not.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.chars().count() <= MAX_NAME_CHARS;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "Incorrect {kind} name '{name}': it must start with a letter and hold only letters, digits, '-' \
             and '_', {MAX_NAME_CHARS} characters at most"
        ))
    }
}

impl Catalog {
    pub fn database_by_id(&self, id: i64) -> Option<&DatabaseRecord> {
        self.databases.values().find(|d| d.id == id)
    }

    pub fn database_by_id_mut(&mut self, id: i64) -> Option<&mut DatabaseRecord> {
        self.databases.values_mut().find(|d| d.id == id)
    }

    pub fn table(&self, at: TableRef) -> Option<&TableRecord> {
        self.database_by_id(at.db_id)?.tables.values().find(|t| t.id == at.table_id).map(|t| &**t)
    }

    /// Applies a batch of replica moves: one pass over each table's tablets, however many move.
    fn replace_replicas(&mut self, moves: &[ReplicaMove]) {
        let mut by_table: BTreeMap<TableRef, BTreeMap<i64, Vec<&ReplicaMove>>> = BTreeMap::new();
        for m in moves {
            assert!(m.new.id >= self.next_id, "catalog id {} reused", m.new.id);
            self.next_id = m.new.id + 1;
            by_table.entry(m.at).or_default().entry(m.tablet_id).or_default().push(m);
        }
        for (at, mut by_tablet) in by_table {
            let table = self.table_mut(at);
            for tablet in table.partitions.iter_mut().flat_map(|p| p.tablets.iter_mut()) {
                for m in by_tablet.remove(&tablet.id).unwrap_or_default() {
                    let replica = tablet.replicas.iter_mut().find(|r| r.id == m.old_replica_id);
                    *replica.expect("journal replaces a missing replica") = m.new;
                }
            }
            assert!(by_tablet.is_empty(), "journal moves replicas of missing tablets {:?}", by_tablet.keys());
        }
    }

    fn table_mut(&mut self, at: TableRef) -> &mut TableRecord {
        let db = self.database_by_id_mut(at.db_id);
        let table = db.and_then(|db| db.tables.values_mut().find(|t| t.id == at.table_id)).map(Arc::make_mut);
        table.unwrap_or_else(|| {
            panic!("journal names table {} of database {} that does not exist", at.table_id, at.db_id)
        })
    }

    /// Every replica of every tablet, with where it sits (for repair and SHOW BACKENDS).
    pub fn replicas(&self) -> impl Iterator<Item = (TableRef, &PartitionRecord, &TabletRecord, &ReplicaRecord)> {
        self.databases.values().flat_map(|db| {
            db.tables.values().flat_map(move |t| {
                let at = TableRef { db_id: db.id, table_id: t.id };
                t.partitions.iter().flat_map(move |p| {
                    p.tablets.iter().flat_map(move |tablet| tablet.replicas.iter().map(move |r| (at, p, tablet, r)))
                })
            })
        })
    }

    /// Raises `next_id` past every id in `table`.
    fn claim_ids_of_partition(&mut self, partition: &PartitionRecord) {
        let mut max = partition.id;
        for tablet in &partition.tablets {
            max = max.max(tablet.id);
            for r in &tablet.replicas {
                max = max.max(r.id);
            }
        }
        assert!(partition.id >= self.next_id, "catalog id {} reused", partition.id);
        self.next_id = self.next_id.max(max + 1);
    }

    pub fn apply(&mut self, edit: &CatalogEdit) {
        match edit {
            CatalogEdit::CreateTable { db_id, table } => {
                assert!(table.id >= self.next_id, "catalog id {} reused", table.id);
                self.next_id = table.id + 1;
                for p in &table.partitions {
                    self.claim_ids_of_partition(p);
                }
                let db = self.database_by_id_mut(*db_id).expect("journal creates a table in a missing database");
                assert!(!db.tables.contains_key(&table.name), "table {} created twice", table.name);
                db.tables.insert(table.name.clone(), Arc::new(table.clone()));
            }
            CatalogEdit::DropTable { at } => {
                let db = self.database_by_id_mut(at.db_id).expect("journal drops a table of a missing database");
                let before = db.tables.len();
                db.tables.retain(|_, t| t.id != at.table_id);
                assert_eq!(db.tables.len() + 1, before, "dropped table {} does not exist", at.table_id);
            }
            CatalogEdit::ReplacePartitions { at, partitions } => {
                for p in partitions {
                    self.claim_ids_of_partition(p);
                }
                self.table_mut(*at).partitions = partitions.clone();
            }
            CatalogEdit::AddPartition { at, partition } => {
                self.claim_ids_of_partition(partition);
                let table = self.table_mut(*at);
                assert!(table.partitions.iter().all(|p| p.name != partition.name), "partition added twice");
                table.partitions.push(partition.clone());
                table.partitions.sort_by_key(|p| p.range.map(|r| r.lower));
            }
            CatalogEdit::DropPartition { at, partition_id } => {
                let table = self.table_mut(*at);
                let before = table.partitions.len();
                table.partitions.retain(|p| p.id != *partition_id);
                assert_eq!(table.partitions.len() + 1, before, "dropped partition {partition_id} does not exist");
            }
            CatalogEdit::CommitTxn { at, txn_id, versions, time_ms } => {
                let table = self.table_mut(*at);
                for pv in versions {
                    let partition = table.partitions.iter_mut().find(|p| p.id == pv.partition_id);
                    let partition = partition.expect("journal commits to a missing partition");
                    assert_eq!(pv.version, partition.visible_version + 1, "versions of a partition are consecutive");
                    partition.visible_version = pv.version;
                    partition.visible_version_time_ms = *time_ms;
                    partition.recent_txns.insert(pv.version, *txn_id);
                    while partition.recent_txns.len() > MAX_RECENT_TXNS {
                        partition.recent_txns.pop_first();
                    }
                }
            }
            CatalogEdit::ReplaceReplica { at, tablet_id, old_replica_id, new } => {
                assert!(new.id >= self.next_id, "catalog id {} reused", new.id);
                self.next_id = new.id + 1;
                let table = self.table_mut(*at);
                let replica = table
                    .partitions
                    .iter_mut()
                    .flat_map(|p| p.tablets.iter_mut())
                    .filter(|t| t.id == *tablet_id)
                    .flat_map(|t| t.replicas.iter_mut())
                    .find(|r| r.id == *old_replica_id)
                    .expect("journal replaces a missing replica");
                *replica = *new;
            }
            CatalogEdit::ReplaceReplicas { moves } => self.replace_replicas(moves),
            CatalogEdit::CreateRepository(repo) => {
                assert!(repo.id >= self.next_id, "catalog id {} reused", repo.id);
                self.next_id = repo.id + 1;
                let old = self.repositories.insert(repo.name.clone(), repo.clone());
                assert!(old.is_none(), "repository {} created twice", repo.name);
            }
            CatalogEdit::DropRepository { id } => {
                let before = self.repositories.len();
                self.repositories.retain(|_, r| r.id != *id);
                assert_eq!(self.repositories.len() + 1, before, "dropped repository {id} does not exist");
            }
            CatalogEdit::ReserveTxnIds { end } => {
                assert!(*end > self.txn_ids_reserved_end, "txn id reservations only grow");
                self.txn_ids_reserved_end = *end;
            }
            CatalogEdit::CreateDatabase(db) => {
                assert!(db.id >= self.next_id, "catalog id {} reused", db.id);
                assert!(!self.databases.contains_key(&db.name), "database {} created twice", db.name);
                self.next_id = db.id + 1;
                self.databases.insert(db.name.clone(), db.clone());
            }
            CatalogEdit::DropDatabase { id } => {
                let name = self.database_by_id(*id).map(|d| d.name.clone());
                let removed = name.and_then(|n| self.databases.remove(&n));
                assert!(removed.is_some(), "dropped database {id} does not exist");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_doris_rules() {
        assert!(check_name("database", "sales_2024-eu").is_ok());
        assert!(check_name("database", "2024").is_err());
        assert!(check_name("database", "a b").is_err());
        assert!(check_name("database", "").is_err());
        assert!(check_name("database", &"a".repeat(65)).is_err());
    }
}

#[cfg(test)]
mod image_tests {
    use super::*;
    use crate::schema::{Column, ColumnType, KeysType};

    /// A catalog with a table survives the image encoding (JSON) unchanged.
    #[test]
    fn a_catalog_with_tables_round_trips_through_json() {
        let mut catalog = Catalog::default();
        catalog.apply(&CatalogEdit::CreateDatabase(DatabaseRecord {
            id: 20_001,
            name: "d".into(),
            tables: BTreeMap::new(),
        }));
        let column = |name: &str, is_key: bool| Column {
            name: name.into(),
            ty: ColumnType::Varchar { len: 8 },
            nullable: !is_key,
            default: None,
            comment: String::new(),
            aggregation: None,
            is_key,
        };
        let table = TableRecord {
            id: 20_002,
            name: "t".into(),
            schema: Schema { columns: vec![column("k", true), column("v", false)], keys_type: KeysType::Duplicate },
            partition_column: None,
            distribution: DistributionRecord { hash_columns: vec!["k".into()], buckets: 1 },
            replication_num: 1,
            partitions: vec![PartitionRecord {
                id: 20_003,
                name: "t".into(),
                range: Some(RangeRecord { lower: None, upper: Some(5) }),
                visible_version: 1,
                visible_version_time_ms: 0,
                tablets: vec![TabletRecord { id: 20_004, replicas: vec![ReplicaRecord { id: 20_005, backend_id: 1 }] }],
                recent_txns: BTreeMap::new(),
            }],
            comment: String::new(),
        };
        catalog.apply(&CatalogEdit::CreateTable { db_id: 20_001, table });
        let at = TableRef { db_id: 20_001, table_id: 20_002 };
        catalog.apply(&CatalogEdit::CommitTxn {
            at,
            txn_id: 7,
            versions: vec![PartitionVersion { partition_id: 20_003, version: 2 }],
            time_ms: 1,
        });
        let json = serde_json::to_vec(&catalog).expect("encodes");
        let back: Catalog = serde_json::from_slice(&json).expect("decodes");
        assert_eq!(back, catalog);
        assert_eq!(back.next_id, 20_006);
    }
}
