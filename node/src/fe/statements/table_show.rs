//! What operators read about tables: SHOW TABLES, SHOW CREATE TABLE, DESC, SHOW PARTITIONS and
//! SHOW TABLETS, with Doris's columns. Sizes, row counts and versions of replicas come from the
//! backends' reports (see `replicas.rs`).

use std::collections::BTreeSet;

use crate::error::SqlError;
use crate::fe::catalog::auth::{Auth, check_can_see};
use crate::fe::catalog::keys::format_key;
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::catalog::{PartitionRecord, TableRecord};
use crate::fe::session::{QueryOutput, Session, format_capacity};
use crate::fe::{Fe, FeState};
use crate::schema::{ColumnType, KeysType};
use crate::sql::ast::TableName;

fn text(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

fn rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> QueryOutput {
    QueryOutput::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
}

pub const SHOW_PARTITIONS_COLUMNS: [&str; 22] = [
    "PartitionId",
    "PartitionName",
    "VisibleVersion",
    "VisibleVersionTime",
    "State",
    "PartitionKey",
    "Range",
    "DistributionKey",
    "Buckets",
    "ReplicationNum",
    "StorageMedium",
    "CooldownTime",
    "RemoteStoragePolicy",
    "LastConsistencyCheckTime",
    "DataSize",
    "IsInMemory",
    "ReplicaAllocation",
    "IsMutable",
    "SyncWithBaseTables",
    "UnsyncTables",
    "CommittedVersion",
    "RowCount",
];

pub const SHOW_TABLETS_COLUMNS: [&str; 21] = [
    "TabletId",
    "ReplicaId",
    "BackendId",
    "SchemaHash",
    "Version",
    "LstSuccessVersion",
    "LstFailedVersion",
    "LstFailedTime",
    "LocalDataSize",
    "RemoteDataSize",
    "RowCount",
    "State",
    "LstConsistencyCheckTime",
    "CheckVersion",
    "VersionCount",
    "QueryHits",
    "PathHash",
    "MetaUrl",
    "CompactionStatus",
    "CooldownReplicaId",
    "CooldownMetaId",
];

/// Doris's SQL quoting of a string in double quotes.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn partition_column_type(table: &TableRecord) -> Option<ColumnType> {
    let name = table.partition_column.as_ref()?;
    table.schema.column_index(name).map(|i| table.schema.columns[i].ty)
}

/// Doris's Range column: `[types: [INT]; keys: [10]; ..types: [INT]; keys: [20]; )`.
fn range_text(table: &TableRecord, partition: &PartitionRecord) -> String {
    let (Some(ty), Some(range)) = (partition_column_type(table), partition.range) else {
        return String::new();
    };
    let type_name = ty.to_string().to_ascii_uppercase();
    let bound = |key: Option<i64>, max: bool| match key {
        Some(k) => format_key(ty, k),
        None if max => "MAXVALUE".to_string(),
        None => "MIN".to_string(),
    };
    format!(
        "[types: [{type_name}]; keys: [{}]; ..types: [{type_name}]; keys: [{}]; )",
        bound(range.lower, false),
        bound(range.upper, true)
    )
}

/// The CREATE TABLE statement that makes this table again (it parses back).
pub fn create_table_sql(table: &TableRecord) -> String {
    let mut sql = format!("CREATE TABLE `{}` (\n", table.name);
    let lines: Vec<String> = table
        .schema
        .columns
        .iter()
        .map(|c| {
            let mut line = format!("  `{}` {}", c.name, c.ty);
            if let Some(a) = c.aggregation {
                line.push_str(&format!(" {a}"));
            }
            line.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
            if let Some(d) = &c.default {
                line.push_str(&format!(" DEFAULT {}", quoted(d)));
            }
            line.push_str(&format!(" COMMENT {}", quoted(&c.comment)));
            line
        })
        .collect();
    sql.push_str(&lines.join(",\n"));
    sql.push_str("\n) ENGINE=OLAP\n");
    let keys: Vec<String> = table.schema.columns.iter().filter(|c| c.is_key).map(|c| format!("`{}`", c.name)).collect();
    sql.push_str(&format!("{} KEY({})\n", table.schema.keys_type, keys.join(", ")));
    sql.push_str(&format!("COMMENT {}\n", quoted(&table.comment)));
    if let (Some(column), Some(ty)) = (&table.partition_column, partition_column_type(table)) {
        sql.push_str(&format!("PARTITION BY RANGE(`{column}`)\n("));
        let mut previous_upper: Option<Option<i64>> = None;
        let parts: Vec<String> = table
            .partitions
            .iter()
            .filter_map(|p| p.range.map(|r| (p, r)))
            .map(|(p, r)| {
                let chained = match previous_upper {
                    None => r.lower.is_none(),
                    Some(prev) => prev == r.lower,
                };
                previous_upper = Some(r.upper);
                let upper = r.upper.map(|u| format!("(\"{}\")", format_key(ty, u)));
                match (chained, r.lower, upper) {
                    (true, _, Some(u)) => format!("PARTITION {} VALUES LESS THAN {u}", p.name),
                    (_, _, None) => format!("PARTITION {} VALUES LESS THAN MAXVALUE", p.name),
                    (false, lower, Some(u)) => {
                        let l = lower.map(|l| format_key(ty, l)).unwrap_or_default();
                        format!("PARTITION {} VALUES [(\"{l}\"), {u})", p.name)
                    }
                }
            })
            .collect();
        sql.push_str(&parts.join(",\n"));
        sql.push_str(")\n");
    }
    if table.distribution.hash_columns.is_empty() {
        sql.push_str(&format!("DISTRIBUTED BY RANDOM BUCKETS {}\n", table.distribution.buckets));
    } else {
        let cols: Vec<String> = table.distribution.hash_columns.iter().map(|c| format!("`{c}`")).collect();
        sql.push_str(&format!("DISTRIBUTED BY HASH({}) BUCKETS {}\n", cols.join(", "), table.distribution.buckets));
    }
    sql.push_str(&format!("PROPERTIES (\n\"replication_num\" = \"{}\"\n);", table.replication_num));
    sql
}

impl Fe {
    pub(crate) fn show_tables(&self, state: &FeState, db: &str) -> QueryOutput {
        let tables: Vec<String> =
            state.catalog.databases.get(db).map(|d| d.tables.keys().cloned().collect()).unwrap_or_default();
        let column = format!("Tables_in_{db}");
        rows(&[column.as_str()], tables.into_iter().map(|t| vec![text(t)]).collect())
    }

    pub(crate) fn describe(&self, table: &TableRecord) -> QueryOutput {
        let out = table
            .schema
            .columns
            .iter()
            .map(|c| {
                let extra = match (table.schema.keys_type, c.aggregation) {
                    (KeysType::Aggregate, Some(a)) => a.to_string(),
                    (KeysType::Unique, None) if !c.is_key => "REPLACE".to_string(),
                    _ => String::new(),
                };
                vec![
                    text(&c.name),
                    text(c.ty.to_string().to_ascii_uppercase()),
                    text(if c.nullable { "Yes" } else { "No" }),
                    text(if c.is_key { "true" } else { "false" }),
                    c.default.clone(),
                    text(extra),
                ]
            })
            .collect();
        rows(&["Field", "Type", "Null", "Key", "Default", "Extra"], out)
    }

    /// SHOW PARTITIONS; `restoring` names the partitions a running restore fills (State RESTORE).
    pub(crate) fn show_partitions(&self, table: &TableRecord, restoring: &BTreeSet<i64>) -> QueryOutput {
        let replicas = self.replicas();
        let out = table
            .partitions
            .iter()
            .map(|p| {
                // A tablet's size and rows are those of its fullest replica.
                let (mut size, mut rows_count) = (0u64, 0u64);
                for t in &p.tablets {
                    let best = t
                        .replicas
                        .iter()
                        .map(|r| replicas.get(t.id, r.backend_id))
                        .max_by_key(|s| (s.version, s.data_size_bytes));
                    if let Some(s) = best {
                        size += s.data_size_bytes;
                        rows_count += s.row_count;
                    }
                }
                let distribution = if table.distribution.hash_columns.is_empty() {
                    "RANDOM".to_string()
                } else {
                    table.distribution.hash_columns.join(", ")
                };
                vec![
                    text(p.id.to_string()),
                    text(&p.name),
                    text(p.visible_version.to_string()),
                    text(crate::clock::format_datetime(p.visible_version_time_ms)),
                    text(if restoring.contains(&p.id) { "RESTORE" } else { "NORMAL" }),
                    text(table.partition_column.clone().unwrap_or_default()),
                    text(range_text(table, p)),
                    text(distribution),
                    text(table.distribution.buckets.to_string()),
                    text(table.replication_num.to_string()),
                    text("HDD"),
                    text("9999-12-31 23:59:59"),
                    text(""),
                    None,
                    text(format_capacity(size)),
                    text("false"),
                    text(format!("tag.location.default: {}", table.replication_num)),
                    text("true"),
                    text("true"),
                    None,
                    text(p.visible_version.to_string()),
                    text(rows_count.to_string()),
                ]
            })
            .collect();
        rows(&SHOW_PARTITIONS_COLUMNS, out)
    }

    pub(crate) fn show_tablets(&self, state: &FeState, table: &TableRecord) -> QueryOutput {
        let replicas = self.replicas();
        let mut out = Vec::new();
        for p in &table.partitions {
            for t in &p.tablets {
                for r in &t.replicas {
                    let s = replicas.get(t.id, r.backend_id);
                    let host = state.membership.backends.get(&r.backend_id).map(|b| b.addr()).unwrap_or_default();
                    let state_text = if !state.membership.backends.contains_key(&r.backend_id) {
                        // Its backend left the cluster; repair moves it when a backend is free.
                        "DROPPED"
                    } else if s.version >= p.visible_version {
                        "NORMAL"
                    } else {
                        "LAGGING"
                    };
                    out.push(vec![
                        text(t.id.to_string()),
                        text(r.id.to_string()),
                        text(r.backend_id.to_string()),
                        text("0"),
                        text(s.version.to_string()),
                        text(s.last_success_version.to_string()),
                        text(if s.last_failed_version == 0 {
                            "-1".to_string()
                        } else {
                            s.last_failed_version.to_string()
                        }),
                        s.last_failed_time_ms.map(crate::clock::format_datetime),
                        text(s.data_size_bytes.to_string()),
                        text("0"),
                        text(s.row_count.to_string()),
                        text(state_text),
                        None,
                        text("-1"),
                        text(s.version_count.to_string()),
                        text("0"),
                        text("0"),
                        text(format!("http://{host}/api/meta/header/{}", t.id)),
                        text(format!("http://{host}/api/compaction/show?tablet_id={}", t.id)),
                        text("-1"),
                        text(""),
                    ]);
                }
            }
        }
        rows(&SHOW_TABLETS_COLUMNS, out)
    }
}

/// What a SHOW of one table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableShow {
    CreateTable,
    Describe,
    Partitions,
}

impl Fe {
    /// SHOW CREATE TABLE, DESC and SHOW PARTITIONS of a table the session's user can see.
    pub(crate) async fn show_table(
        &self,
        auth: &Auth,
        session: &Session,
        table: TableName,
        what: TableShow,
    ) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &table)?;
        let state = self.state().await;
        let (at, record) = find_table(&state, &db, &table.table)?;
        check_can_see(auth, session, &db)?;
        // Partitions a running restore fills show State RESTORE, as in Doris.
        let restoring: BTreeSet<i64> = state
            .restore
            .holding(at.db_id, at.table_id)
            .map(|(_, plan)| plan.partitions.iter().map(|p| p.partition_id).collect())
            .unwrap_or_default();
        Ok(match what {
            TableShow::CreateTable => QueryOutput::Rows {
                columns: vec!["Table".into(), "Create Table".into()],
                rows: vec![vec![Some(record.name.clone()), Some(create_table_sql(record))]],
            },
            TableShow::Describe => self.describe(record),
            TableShow::Partitions => self.show_partitions(record, &restoring),
        })
    }
}
