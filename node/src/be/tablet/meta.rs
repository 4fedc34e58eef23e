//! A tablet's durable state (`meta.json`) and the checks on it.

use super::*;

/// A tablet's durable state: `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletMeta {
    pub tablet_id: i64,
    pub schema: Schema,
    /// The version the tablet was created at, holding no rows ("empty at version 1").
    pub base_version: u64,
    /// Sorted by version, never overlapping, all above `base_version`; there may be gaps (a replica
    /// can publish v+2 before v+1).
    pub rowsets: Vec<RowsetMeta>,
    /// The rowsets up to `base_version` are still to come from a restore (RESTORE created the
    /// tablet empty at the backed-up version; [`TabletStore::move_restored`] installs them). Until
    /// then the tablet refuses scans and fetches; loads (above `base_version`) are taken.
    #[serde(default)]
    pub restore_pending: bool,
    /// The restore job that created the tablet (kept once its rowsets are in), so a late or
    /// repeated create of that job never replaces what the job already restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsetMeta {
    pub file_name: String,
    pub start_version: u64,
    pub end_version: u64,
    pub row_count: u64,
    pub size_bytes: u64,
    /// The load that wrote it (`None` for a compaction's output).
    #[serde(default)]
    pub txn_id: Option<i64>,
    /// The MD5 of the file, hashed as it was written (absent for files this BE did not write
    /// whole, e.g. a pending rowset recovered at open): a backup names the file by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// What the FE learns about a tablet at every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabletInfo {
    pub tablet_id: i64,
    pub version: u64,
    pub version_count: u64,
    pub row_count: u64,
    pub data_size_bytes: u64,
    /// Waiting for a restore's rowsets ([`TabletMeta::restore_pending`]).
    pub restore_pending: bool,
}

impl TabletMeta {
    /// The highest version v such that the rowsets cover base_version+1..=v without a gap.
    pub fn version(&self) -> u64 {
        let mut version = self.base_version;
        for r in &self.rowsets {
            if r.start_version > version + 1 {
                break;
            }
            version = version.max(r.end_version);
        }
        version
    }

    pub fn info(&self) -> TabletInfo {
        TabletInfo {
            tablet_id: self.tablet_id,
            version: self.version(),
            version_count: self.rowsets.len() as u64,
            row_count: self.rowsets.iter().map(|r| r.row_count).sum(),
            data_size_bytes: self.rowsets.iter().map(|r| r.size_bytes).sum(),
            restore_pending: self.restore_pending,
        }
    }

    pub(super) fn covering(&self, version: u64) -> Option<&RowsetMeta> {
        self.rowsets.iter().find(|r| r.start_version <= version && version <= r.end_version)
    }

    pub(super) fn insert_rowset(&mut self, rowset: RowsetMeta) {
        let at = self.rowsets.partition_point(|r| r.start_version < rowset.start_version);
        self.rowsets.insert(at, rowset);
    }

    /// The rowsets a read at `version` merges, oldest first.
    pub(super) fn rowsets_at(&self, version: u64) -> Result<Vec<RowsetMeta>, TabletError> {
        let current = self.version();
        if version > current {
            return Err(TabletError::FailedPrecondition(format!(
                "tablet {} is at version {current}, behind the requested {version}",
                self.tablet_id
            )));
        }
        let mut out = Vec::new();
        for r in &self.rowsets {
            if r.end_version <= version {
                out.push(r.clone());
            } else if r.start_version <= version {
                return Err(TabletError::FailedPrecondition(format!(
                    "tablet {}: compaction merged versions {}..={} into one rowset, so version {version} can no \
                     longer be read; read at version {} or later",
                    self.tablet_id, r.start_version, r.end_version, r.end_version
                )));
            } else {
                break;
            }
        }
        Ok(out)
    }

    pub(in crate::be) fn validate(&self) -> Result<(), String> {
        validate_schema(&self.schema)?;
        let mut previous_end = self.base_version;
        let mut names = BTreeSet::new();
        for r in &self.rowsets {
            if r.start_version > r.end_version || r.start_version <= previous_end {
                return Err(format!(
                    "rowset {} covers versions {}..={}, which is empty, overlaps another rowset or is not above \
                     the base version {}",
                    r.file_name, r.start_version, r.end_version, self.base_version
                ));
            }
            if !is_plain_file_name(&r.file_name) || !names.insert(r.file_name.as_str()) {
                return Err(format!("rowset file name {:?} is not a plain, unique file name", r.file_name));
            }
            previous_end = r.end_version;
        }
        Ok(())
    }
}

/// A name that is one file in one directory: no separator, no `..`, not hidden, at most 255 bytes.
pub(in crate::be) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks that a schema is one the BE can store and merge.
pub fn validate_schema(schema: &Schema) -> Result<(), String> {
    if schema.columns.is_empty() || schema.columns.len() > schema::MAX_COLUMNS {
        return Err(format!("a tablet has from 1 to {} columns, not {}", schema::MAX_COLUMNS, schema.columns.len()));
    }
    let keys = schema.columns.iter().take_while(|c| c.is_key).count();
    if schema.columns[keys..].iter().any(|c| c.is_key) {
        return Err("key columns must come before value columns".into());
    }
    if keys == 0 && schema.keys_type != KeysType::Duplicate {
        return Err(format!("a {} KEY table needs at least one key column", schema.keys_type));
    }
    for c in &schema.columns {
        let bad_type = match c.ty {
            ColumnType::Char { len } => !(1..=schema::MAX_CHAR_LEN).contains(&len),
            ColumnType::Varchar { len } => !(1..=schema::MAX_VARCHAR_LEN).contains(&len),
            ColumnType::Decimal { precision, scale } => {
                precision == 0 || precision > schema::MAX_DECIMAL_PRECISION || scale > precision
            }
            _ => false,
        };
        if bad_type {
            return Err(format!("column {} has an invalid type {}", c.name, c.ty));
        }
        if schema.keys_type == KeysType::Aggregate
            && !c.is_key
            && c.aggregation == Some(Aggregation::Sum)
            && !c.ty.is_numeric()
        {
            return Err(format!("column {}: SUM needs a numeric type, not {}", c.name, c.ty));
        }
    }
    Ok(())
}
