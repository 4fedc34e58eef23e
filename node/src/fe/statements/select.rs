//! Queries. The FE reads every tablet of the partitions a query names at the partition's
//! visible version, from one replica that holds that version on an alive backend (the next one
//! if a scan fails), then runs the query (WHERE, GROUP BY, ORDER BY, LIMIT) over the rows.
//! A replica behind the visible version, or marked failed, is never read.

use crate::error::SqlError;
use crate::fe::catalog::auth::check_select;
use crate::fe::catalog::lookup::{database_of, find_table};
use crate::fe::catalog::{PartitionRecord, TableRecord};
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeState};
use crate::query::{self, InputColumn};
use crate::schema::{ColumnType, Row, Value};
use crate::sql::ast::{FromClause, Select};

/// A query reads at most this many rows from tablets (and numbers()).
pub const MAX_QUERY_ROWS: usize = 20_000_000;
/// Tablet scans in flight at once.
const SCANS_IN_FLIGHT: usize = 16;

impl Fe {
    pub(crate) async fn select(&self, session: &Session, select: Select) -> Result<QueryOutput, SqlError> {
        let (columns, rows) = self.run_select(session, &select).await?;
        let rows = rows.into_iter().map(|r| r.iter().map(Value::to_cell).collect()).collect();
        Ok(QueryOutput::Rows { columns, rows })
    }

    /// Runs a query; returns its column titles and rows.
    pub(crate) async fn run_select(
        &self,
        session: &Session,
        select: &Select,
    ) -> Result<(Vec<String>, Vec<Row>), SqlError> {
        match &select.from {
            None => {
                let plan = query::plan(select, &[])?;
                let rows = plan.execute_without_from()?;
                Ok((plan.output_columns(), rows))
            }
            Some(FromClause::Numbers { count, .. }) => {
                if *count > MAX_QUERY_ROWS as u64 {
                    return Err(SqlError::doris(format!(
                        "a query reads at most {MAX_QUERY_ROWS} rows; numbers() asked for {count}"
                    )));
                }
                let input = [InputColumn { name: "number".into(), ty: ColumnType::BigInt }];
                let plan = query::plan(select, &input)?;
                let rows = plan.execute((0..*count).map(|n| vec![Value::Int(i128::from(n))]))?;
                Ok((plan.output_columns(), rows))
            }
            Some(FromClause::Table { table, partitions, .. }) => {
                let db = database_of(session, table)?;
                let state = self.state().await;
                let (at, record) = find_table(&state, &db, &table.table)?;
                check_select(&state.auth, session, &db, &record.name)?;
                let input: Vec<InputColumn> =
                    record.schema.columns.iter().map(|c| InputColumn { name: c.name.clone(), ty: c.ty }).collect();
                let plan = query::plan(select, &input)?;
                let chosen: Vec<&PartitionRecord> = if partitions.is_empty() {
                    record.partitions.iter().collect()
                } else {
                    let mut chosen = Vec::new();
                    for name in partitions {
                        let p = record.partitions.iter().find(|p| &p.name == name).ok_or_else(|| {
                            SqlError::doris(format!("Partition {name} does not exist in table {}", record.name))
                        })?;
                        chosen.push(p);
                    }
                    chosen
                };
                crate::fe::jobs::holds::check_read_allowed(&state, at, &record.name, chosen.iter().map(|p| p.id))?;
                let rows = self.scan_partitions(&state, record, &chosen).await?;
                let out = plan.execute(rows)?;
                Ok((plan.output_columns(), out))
            }
        }
    }

    /// Every row of `partitions` at their visible versions.
    async fn scan_partitions(
        &self,
        state: &FeState,
        table: &TableRecord,
        partitions: &[&PartitionRecord],
    ) -> Result<Vec<Row>, SqlError> {
        let health = self.health_snapshot();
        // (tablet id, version, candidate replica addresses in order)
        let mut jobs: Vec<(i64, u64, Vec<String>)> = Vec::new();
        for p in partitions {
            if p.visible_version <= 1 {
                continue; // nothing was ever loaded
            }
            let replicas = self.replicas();
            for t in &p.tablets {
                let candidates: Vec<String> = t
                    .replicas
                    .iter()
                    .filter(|r| health.backends.get(&r.backend_id).is_some_and(|h| h.alive))
                    .filter(|r| {
                        let s = replicas.get(t.id, r.backend_id);
                        s.version >= p.visible_version && s.last_failed_version == 0
                    })
                    .filter_map(|r| state.membership.backends.get(&r.backend_id).map(|b| b.addr()))
                    .collect();
                if candidates.is_empty() {
                    return Err(SqlError::doris(format!(
                        "no queryable replica of tablet {} (partition {}) at version {}: its backends are down or \
                         behind. Retry when they are back or repaired (SHOW TABLETS FROM {} shows replicas)",
                        t.id, p.name, p.visible_version, table.name
                    )));
                }
                jobs.push((t.id, p.visible_version, candidates));
            }
        }
        let mut rows = Vec::new();
        for batch in jobs.chunks(SCANS_IN_FLIGHT) {
            let remaining = MAX_QUERY_ROWS.saturating_sub(rows.len());
            let scans = batch.iter().map(|(tablet_id, version, candidates)| {
                self.scan_tablet(*tablet_id, *version, candidates, &table.schema, remaining)
            });
            for result in futures_util::future::join_all(scans).await {
                let part = result?;
                if rows.len() + part.len() > MAX_QUERY_ROWS {
                    return Err(SqlError::doris(format!(
                        "the query reads more than {MAX_QUERY_ROWS} rows; add a WHERE on the partition column or \
                         name partitions"
                    )));
                }
                rows.extend(part);
            }
        }
        Ok(rows)
    }

    /// One tablet's rows from the first replica that answers.
    async fn scan_tablet(
        &self,
        tablet_id: i64,
        version: u64,
        candidates: &[String],
        schema: &crate::schema::Schema,
        max_rows: usize,
    ) -> Result<Vec<Row>, SqlError> {
        let mut errors = Vec::new();
        for addr in candidates {
            match self.agent.scan(addr, tablet_id, version, schema, max_rows).await {
                Ok(rows) => return Ok(rows),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(SqlError::doris(format!(
            "reading tablet {tablet_id} at version {version} failed on every replica: {}",
            errors.join("; ")
        )))
    }
}
