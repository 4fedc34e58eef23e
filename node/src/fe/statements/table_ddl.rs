//! Table DDL: CREATE TABLE (validate, place replicas, create tablets on backends, journal), DROP
//! and TRUNCATE TABLE, ADD and DROP PARTITION.
//!
//! Order of work, so a crash never leaves the catalog naming tablets that do not exist: tablets
//! are created on the backends first, then the change is journaled. A crash in between leaves
//! orphan tablets on backends, which cost disk but are never read. Drops go the other way:
//! journal first, then ask backends to delete (best effort).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::SqlError;
use crate::fe::catalog::keys::partition_key;
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::catalog::placement::{MAX_REPLICATION_NUM, current_load, place_replicas};
use crate::fe::catalog::{
    self, CatalogEdit, DistributionRecord, MAX_PARTITIONS, MAX_TABLES_PER_DATABASE, MAX_TABLETS_PER_TABLE,
    PartitionRecord, RangeRecord, TableRecord,
};
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeEdit, FeState};
use crate::schema::{self, Column, ColumnType, KeysType, Schema};
use crate::sql::ast::{CreateTable, Distribution, Literal, PartitionDef, PartitionValues, TableName};

fn check_column_name(name: &str) -> Result<(), SqlError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= catalog::MAX_NAME_CHARS;
    if ok {
        Ok(())
    } else {
        Err(SqlError::doris(format!(
            "Incorrect column name '{name}': it must start with a letter or _ and hold only letters, digits and _"
        )))
    }
}

/// The ranges of partitions as declared: `LESS THAN` starts where the previous one ended.
fn partition_ranges(
    ty: ColumnType,
    defs: &[PartitionDef],
    existing: &[PartitionRecord],
) -> Result<Vec<(String, RangeRecord)>, SqlError> {
    let mut out: Vec<(String, RangeRecord)> = Vec::new();
    for def in defs {
        catalog::check_name("partition", &def.name).map_err(SqlError::doris)?;
        let key =
            |l: &Literal| partition_key(ty, l).map_err(|e| SqlError::doris(format!("partition {}: {e}", def.name)));
        let range = match &def.values {
            PartitionValues::LessThan(upper) => {
                let upper = upper.as_ref().map(key).transpose()?;
                // The new range starts at the highest upper bound below its own.
                let below = existing
                    .iter()
                    .filter_map(|p| p.range)
                    .chain(out.iter().map(|(_, r)| *r))
                    .filter_map(|r| r.upper)
                    .filter(|u| upper.is_none_or(|up| *u < up))
                    .max();
                RangeRecord { lower: below, upper }
            }
            PartitionValues::Range(lower, upper) => RangeRecord { lower: Some(key(lower)?), upper: Some(key(upper)?) },
        };
        if let (Some(l), Some(u)) = (range.lower, range.upper)
            && l >= u
        {
            return Err(SqlError::doris(format!(
                "partition {}: the range is empty (its lower bound is not below its upper bound)",
                def.name
            )));
        }
        let clash = existing
            .iter()
            .filter_map(|p| p.range.map(|r| (p.name.as_str(), r)))
            .chain(out.iter().map(|(n, r)| (n.as_str(), *r)))
            .find(|(_, r)| r.overlaps(&range));
        if let Some((other, _)) = clash {
            return Err(SqlError::doris(format!("Range of partition {} overlaps partition {other}", def.name)));
        }
        if existing.iter().any(|p| p.name == def.name) || out.iter().any(|(n, _)| *n == def.name) {
            return Err(SqlError::doris(format!("Duplicate partition name {}", def.name)));
        }
        out.push((def.name.clone(), range));
    }
    Ok(out)
}

/// The columns, keys and model of a CREATE TABLE, checked.
fn build_schema(ct: &CreateTable) -> Result<Schema, SqlError> {
    let mut seen = BTreeSet::new();
    for c in &ct.columns {
        check_column_name(&c.name)?;
        if !seen.insert(c.name.to_ascii_lowercase()) {
            return Err(SqlError::doris(format!("Duplicate column name '{}'", c.name)));
        }
    }
    let (keys_type, key_names) = match &ct.keys {
        Some((kt, names)) => (*kt, names.clone()),
        None => {
            // Doris's default: a DUPLICATE KEY of the leading columns (up to 3) that can be keys.
            let names: Vec<String> = ct
                .columns
                .iter()
                .take(3)
                .take_while(|c| !matches!(c.ty, ColumnType::Float | ColumnType::Double | ColumnType::String))
                .map(|c| c.name.clone())
                .collect();
            if names.is_empty() {
                return Err(SqlError::doris("the first column cannot be a key; write a DUPLICATE KEY(...) clause"));
            }
            (KeysType::Duplicate, names)
        }
    };
    if key_names.len() > ct.columns.len() || key_names.is_empty() {
        return Err(SqlError::doris("the key clause must name at least one column"));
    }
    for (i, name) in key_names.iter().enumerate() {
        if !ct.columns[i].name.eq_ignore_ascii_case(name) {
            return Err(SqlError::doris(format!(
                "Key columns should be a ordered prefix of the schema: key column {} is '{name}' but column {} is '{}'",
                i + 1,
                i + 1,
                ct.columns[i].name
            )));
        }
    }
    let mut columns = Vec::with_capacity(ct.columns.len());
    for (i, def) in ct.columns.iter().enumerate() {
        let is_key = i < key_names.len();
        if is_key && matches!(def.ty, ColumnType::Float | ColumnType::Double | ColumnType::String) {
            return Err(SqlError::doris(format!(
                "column '{}' of type {} cannot be a key column; use DECIMAL or VARCHAR",
                def.name, def.ty
            )));
        }
        let aggregation = match (keys_type, is_key, def.aggregation) {
            (_, true, Some(a)) => {
                return Err(SqlError::doris(format!("key column '{}' cannot have an aggregation ({a})", def.name)));
            }
            (KeysType::Aggregate, false, None) => {
                return Err(SqlError::doris(format!(
                    "value column '{}' of an AGGREGATE KEY table needs SUM, MIN, MAX or REPLACE",
                    def.name
                )));
            }
            (KeysType::Aggregate, false, Some(a)) => {
                if a == schema::Aggregation::Sum && !def.ty.is_numeric() {
                    return Err(SqlError::doris(format!("SUM needs a numeric column; '{}' is {}", def.name, def.ty)));
                }
                Some(a)
            }
            (kt, false, Some(a)) => {
                return Err(SqlError::doris(format!(
                    "column '{}' has aggregation {a}, which only AGGREGATE KEY tables allow (this one is {kt} KEY)",
                    def.name
                )));
            }
            (_, _, None) => None,
        };
        columns.push(Column {
            name: def.name.clone(),
            ty: def.ty,
            nullable: def.nullable.unwrap_or(!is_key),
            default: def.default.clone().filter(|d| !d.eq_ignore_ascii_case("NULL") || def.nullable == Some(false)),
            comment: def.comment.clone(),
            aggregation,
            is_key,
        });
    }
    let schema = Schema { columns, keys_type };
    for column in &schema.columns {
        if let Some(default) = &column.default {
            crate::query::coerce(schema::Value::Str(default.clone()), column)
                .map_err(|e| SqlError::doris(format!("Invalid default value for '{}': {e}", column.name)))?;
        }
    }
    Ok(schema)
}

fn replication_num(properties: &[(String, String)]) -> Result<u16, SqlError> {
    let mut replication = 3;
    for (key, value) in properties {
        match key.as_str() {
            "replication_num" => {
                replication = value
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|n| (1..=MAX_REPLICATION_NUM).contains(n))
                    .ok_or_else(|| {
                        SqlError::doris(format!(
                            "replication_num must be a whole number from 1 to {MAX_REPLICATION_NUM}, got \"{value}\""
                        ))
                    })?;
            }
            "replication_allocation" => {
                // Doris's form: "tag.location.default: 3".
                let n = value.rsplit(':').next().and_then(|n| n.trim().parse::<u16>().ok());
                replication = n.filter(|n| (1..=MAX_REPLICATION_NUM).contains(n)).ok_or_else(|| {
                    SqlError::doris(format!(
                        "replication_allocation must look like \"tag.location.default: 3\", got \"{value}\""
                    ))
                })?;
            }
            "storage_medium" | "in_memory" | "light_schema_change" | "storage_format" | "compression" => {}
            other => {
                return Err(SqlError::doris(format!(
                    "Unknown table property '{other}'; Palo supports replication_num"
                )));
            }
        }
    }
    Ok(replication)
}

/// Tablet drops in flight at once (DROP TABLE, DROP PARTITION, TRUNCATE).
const DROP_TABLETS_IN_FLIGHT: usize = 64;

impl Fe {
    /// Creates every replica of `partitions` on its backend, in batches per backend; on any
    /// failure drops what was made.
    async fn create_tablets(
        &self,
        state: &FeState,
        schema: &Schema,
        partitions: &[PartitionRecord],
    ) -> Result<(), SqlError> {
        let mut by_backend: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for p in partitions {
            for t in &p.tablets {
                for r in &t.replicas {
                    by_backend.entry(r.backend_id).or_default().push(t.id);
                }
            }
        }
        let mut created = Vec::new();
        let mut failure = None;
        let per_backend = by_backend.into_iter().map(|(backend_id, tablet_ids)| {
            let addr = state.membership.backends.get(&backend_id).map(|b| b.addr()).unwrap_or_default();
            async move {
                let mut outcomes = Vec::new();
                for batch in tablet_ids.chunks(crate::fe::statements::load::BATCH_CHUNKS) {
                    let outcome = self.agent.create_tablets(&addr, batch.to_vec(), schema, 1, None).await;
                    let stop = outcome.is_err();
                    outcomes.push((batch.to_vec(), outcome));
                    if stop {
                        break;
                    }
                }
                (backend_id, addr, outcomes)
            }
        });
        for (backend_id, addr, outcomes) in futures_util::future::join_all(per_backend).await {
            for (batch, outcome) in outcomes {
                match outcome {
                    Err(e) => {
                        failure.get_or_insert_with(|| format!("creating {} tablets: {e}", batch.len()));
                    }
                    Ok(results) => {
                        for (tablet_id, result) in batch.iter().zip(&results) {
                            match crate::fe::cluster::agent::task_outcome(&addr, result) {
                                Ok(_) => {
                                    self.replicas().reached(*tablet_id, backend_id, 1);
                                    created.push((*tablet_id, addr.clone()));
                                }
                                Err(e) => {
                                    failure.get_or_insert_with(|| format!("creating tablet {tablet_id}: {e}"));
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(message) = failure {
            for (tablet_id, addr) in created {
                let _ = self.agent.drop_tablet(&addr, tablet_id).await;
            }
            return Err(SqlError::doris(format!("{message}; nothing was created, retry when the backend is back")));
        }
        Ok(())
    }

    /// Asks backends to drop tablets (into their trash; best effort: a backend that is down
    /// keeps an orphan, which its heartbeats report and the FE drops then).
    async fn drop_tablets(&self, state: &FeState, partitions: &[PartitionRecord]) {
        use futures_util::StreamExt;
        let mut drops: Vec<(i64, String)> = Vec::new();
        for t in partitions.iter().flat_map(|p| p.tablets.iter()) {
            for r in &t.replicas {
                if let Some(b) = state.membership.backends.get(&r.backend_id) {
                    drops.push((t.id, b.addr()));
                }
            }
        }
        futures_util::stream::iter(drops)
            .map(|(tablet_id, addr)| self.drop_one_tablet(tablet_id, addr))
            .buffer_unordered(DROP_TABLETS_IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
    }

    async fn drop_one_tablet(&self, tablet_id: i64, addr: String) {
        if let Err(e) = self.agent.drop_tablet(&addr, tablet_id).await {
            tracing::warn!(tablet = tablet_id, error = %e, "fe: could not drop a tablet; it stays as an orphan");
        }
    }

    pub(crate) async fn create_table(&self, session: &Session, ct: CreateTable) -> Result<QueryOutput, SqlError> {
        let db_name = database_of(session, &ct.table)?;
        catalog::check_name("table", &ct.table.table).map_err(SqlError::doris)?;
        let schema = build_schema(&ct)?;
        let replication = replication_num(&ct.properties)?;
        let (hash_columns, buckets) = match &ct.distribution {
            Distribution::Hash { columns, buckets } => (columns.clone(), *buckets),
            Distribution::Random { buckets } => (Vec::new(), *buckets),
        };
        if hash_columns.is_empty() && schema.keys_type != KeysType::Duplicate {
            return Err(SqlError::doris(format!(
                "{} KEY tables need DISTRIBUTED BY HASH(key columns): rows with equal keys must meet in one tablet",
                schema.keys_type
            )));
        }
        let mut hash_names = Vec::new();
        for name in &hash_columns {
            let i = schema
                .column_index(name)
                .ok_or_else(|| SqlError::doris(format!("Distribution column '{name}' is not a column of the table")))?;
            let column = &schema.columns[i];
            if schema.keys_type != KeysType::Duplicate && !column.is_key {
                return Err(SqlError::doris(format!(
                    "Distribution column '{name}' must be a key column of a {} KEY table",
                    schema.keys_type
                )));
            }
            hash_names.push(column.name.clone());
        }
        let partition_column = match &ct.partition {
            Some((name, _)) => {
                let i = schema.column_index(name).ok_or_else(|| {
                    SqlError::doris(format!("Partition column '{name}' is not a column of the table"))
                })?;
                let column = &schema.columns[i];
                if !column.is_key {
                    return Err(SqlError::doris(format!("Partition column '{name}' must be a key column")));
                }
                Some(column.clone())
            }
            None => None,
        };

        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let database = state.catalog.databases.get(&db_name).ok_or_else(|| SqlError::unknown_database(&db_name))?;
        if database.tables.contains_key(&ct.table.table) {
            if ct.if_not_exists {
                return Ok(QueryOutput::Ok { affected_rows: 0 });
            }
            return Err(SqlError::new(1050, "42S01", format!("Table '{}' already exists", ct.table.table)));
        }
        if database.tables.len() >= MAX_TABLES_PER_DATABASE {
            return Err(SqlError::doris(format!("a database holds at most {MAX_TABLES_PER_DATABASE} tables")));
        }
        let ranges: Vec<(String, Option<RangeRecord>)> = match (&ct.partition, &partition_column) {
            (Some((_, defs)), Some(column)) => {
                partition_ranges(column.ty, defs, &[])?.into_iter().map(|(n, r)| (n, Some(r))).collect()
            }
            _ => vec![(ct.table.table.clone(), None)],
        };
        if ranges.len() > MAX_PARTITIONS {
            return Err(SqlError::doris(format!("a table has at most {MAX_PARTITIONS} partitions")));
        }
        if ranges.len() * buckets as usize > MAX_TABLETS_PER_TABLE {
            return Err(SqlError::doris(format!(
                "{} partitions x {buckets} buckets is more than {MAX_TABLETS_PER_TABLE} tablets; use fewer buckets",
                ranges.len()
            )));
        }
        let alive = self.alive_backends(&state.membership);
        let mut load = current_load(&state);
        let mut next_id = state.catalog.next_id;
        let table_id = next_id;
        next_id += 1;
        let mut partitions = Vec::with_capacity(ranges.len());
        for (name, range) in ranges {
            let id = next_id;
            next_id += 1;
            let tablets = place_replicas(&alive, &mut load, replication, buckets as usize, &mut next_id)?;
            partitions.push(PartitionRecord {
                id,
                name,
                range,
                visible_version: 1,
                visible_version_time_ms: crate::clock::now_ms(),
                tablets,
                recent_txns: BTreeMap::new(),
            });
        }
        self.create_tablets(&state, &schema, &partitions).await?;
        let table = TableRecord {
            id: table_id,
            name: ct.table.table.clone(),
            schema,
            partition_column: partition_column.map(|c| c.name),
            distribution: DistributionRecord { hash_columns: hash_names, buckets },
            replication_num: replication,
            partitions,
            comment: ct.comment.clone(),
        };
        let db_id = database.id;
        let mut durable = self.durable.lock().await;
        if durable.state.catalog.database_by_id(db_id).is_none() {
            return Err(SqlError::unknown_database(&db_name));
        }
        let edit = CatalogEdit::CreateTable { db_id, table };
        self.commit_locked(&mut durable, FeEdit::Catalog { edit }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_table(
        &self,
        session: &Session,
        name: TableName,
        if_exists: bool,
    ) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &name)?;
        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let (at, table) = match find_table(&state, &db, &name.table) {
            Ok(found) => found,
            Err(e) if e.code == 1146 && if_exists => return Ok(QueryOutput::Ok { affected_rows: 0 }),
            Err(e) => return Err(e),
        };
        crate::fe::jobs::holds::check_ddl_allowed(&state, at, &table.name)?;
        let partitions = table.partitions.clone();
        self.commit(FeEdit::Catalog { edit: CatalogEdit::DropTable { at } }).await?;
        self.drop_tablets(&state, &partitions).await;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    /// Drops the tablets of every table of a database being dropped (after the journal says so).
    pub(crate) async fn drop_database_tablets(&self, state: &FeState, db: &catalog::DatabaseRecord) {
        for table in db.tables.values() {
            self.drop_tablets(state, &table.partitions).await;
        }
    }

    pub(crate) async fn truncate_table(&self, session: &Session, name: TableName) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &name)?;
        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let (at, table) = find_table(&state, &db, &name.table)?;
        crate::fe::jobs::holds::check_ddl_allowed(&state, at, &table.name)?;
        let alive = self.alive_backends(&state.membership);
        let mut load = current_load(&state);
        let mut next_id = state.catalog.next_id;
        let mut fresh = Vec::with_capacity(table.partitions.len());
        for old in &table.partitions {
            let id = next_id;
            next_id += 1;
            let tablets = place_replicas(&alive, &mut load, table.replication_num, old.tablets.len(), &mut next_id)?;
            fresh.push(PartitionRecord {
                id,
                name: old.name.clone(),
                range: old.range,
                visible_version: 1,
                visible_version_time_ms: crate::clock::now_ms(),
                tablets,
                recent_txns: BTreeMap::new(),
            });
        }
        self.create_tablets(&state, &table.schema, &fresh).await?;
        let old = table.partitions.clone();
        self.commit(FeEdit::Catalog { edit: CatalogEdit::ReplacePartitions { at, partitions: fresh } }).await?;
        self.drop_tablets(&state, &old).await;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn add_partition(
        &self,
        session: &Session,
        name: TableName,
        def: PartitionDef,
    ) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &name)?;
        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let (at, table) = find_table(&state, &db, &name.table)?;
        crate::fe::jobs::holds::check_ddl_allowed(&state, at, &table.name)?;
        let Some(column) = table.partition_column.as_ref().and_then(|c| table.schema.column_index(c)) else {
            return Err(SqlError::doris(format!(
                "Table '{}' is not partitioned by RANGE; partitions cannot be added",
                table.name
            )));
        };
        if table.partitions.len() >= MAX_PARTITIONS {
            return Err(SqlError::doris(format!("a table has at most {MAX_PARTITIONS} partitions")));
        }
        let ty = table.schema.columns[column].ty;
        let (_, range) = partition_ranges(ty, std::slice::from_ref(&def), &table.partitions)?.remove(0);
        let alive = self.alive_backends(&state.membership);
        let mut load = current_load(&state);
        let mut next_id = state.catalog.next_id;
        let id = next_id;
        next_id += 1;
        let buckets = table.distribution.buckets as usize;
        let tablets = place_replicas(&alive, &mut load, table.replication_num, buckets, &mut next_id)?;
        let partition = PartitionRecord {
            id,
            name: def.name.clone(),
            range: Some(range),
            visible_version: 1,
            visible_version_time_ms: crate::clock::now_ms(),
            tablets,
            recent_txns: BTreeMap::new(),
        };
        self.create_tablets(&state, &table.schema, std::slice::from_ref(&partition)).await?;
        self.commit(FeEdit::Catalog { edit: CatalogEdit::AddPartition { at, partition } }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_partition(
        &self,
        session: &Session,
        name: TableName,
        partition: String,
        if_exists: bool,
    ) -> Result<QueryOutput, SqlError> {
        let db = database_of(session, &name)?;
        let _ddl = self.ddl_lock.lock().await;
        let state = self.state().await;
        let (at, table) = find_table(&state, &db, &name.table)?;
        crate::fe::jobs::holds::check_ddl_allowed(&state, at, &table.name)?;
        if table.partition_column.is_none() {
            return Err(SqlError::doris(format!(
                "Table '{}' is not partitioned by RANGE; drop the table instead",
                table.name
            )));
        }
        let Some(record) = table.partitions.iter().find(|p| p.name == partition) else {
            if if_exists {
                return Ok(QueryOutput::Ok { affected_rows: 0 });
            }
            return Err(SqlError::doris(format!("Partition {partition} does not exist in table {}", table.name)));
        };
        let dropped = vec![record.clone()];
        self.commit(FeEdit::Catalog { edit: CatalogEdit::DropPartition { at, partition_id: record.id } }).await?;
        self.drop_tablets(&state, &dropped).await;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn less_than_ranges_chain_and_overlaps_are_refused() {
        let defs = |specs: &[(&str, Option<&str>)]| -> Vec<PartitionDef> {
            specs
                .iter()
                .map(|(n, v)| PartitionDef {
                    name: n.to_string(),
                    values: PartitionValues::LessThan(v.map(|v| Literal::Number(v.to_string()))),
                })
                .collect()
        };
        let ranges =
            partition_ranges(ColumnType::Int, &defs(&[("p1", Some("10")), ("p2", Some("20")), ("p3", None)]), &[])
                .expect("valid");
        assert_eq!(ranges[0].1, RangeRecord { lower: None, upper: Some(10) });
        assert_eq!(ranges[1].1, RangeRecord { lower: Some(10), upper: Some(20) });
        assert_eq!(ranges[2].1, RangeRecord { lower: Some(20), upper: None });
        let e = partition_ranges(ColumnType::TinyInt, &defs(&[("p1", Some("300"))]), &[]).expect_err("range");
        assert!(e.message.contains("out of range for tinyint"), "{}", e.message);
        let e =
            partition_ranges(ColumnType::Int, &defs(&[("p1", Some("10")), ("p1", Some("20"))]), &[]).expect_err("dup");
        assert!(e.message.contains("Duplicate partition name p1"), "{}", e.message);
        let explicit = vec![PartitionDef {
            name: "p9".into(),
            values: PartitionValues::Range(Literal::Number("5".into()), Literal::Number("15".into())),
        }];
        let e = partition_ranges(
            ColumnType::Int,
            &explicit,
            &[PartitionRecord {
                id: 1,
                name: "p1".into(),
                range: Some(RangeRecord { lower: None, upper: Some(10) }),
                visible_version: 1,
                visible_version_time_ms: 0,
                tablets: vec![],
                recent_txns: BTreeMap::new(),
            }],
        )
        .expect_err("overlap");
        assert!(e.message.contains("overlaps partition p1"), "{}", e.message);
    }
}
