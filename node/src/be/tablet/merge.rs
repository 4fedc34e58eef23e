//! Merging rowsets by key, as the tablet's keys type says (DUPLICATE, UNIQUE, AGGREGATE).

use super::*;

/// A key for merging: the key columns, ordered with [`Value::total_cmp`].
struct MergeKey(Vec<Value>);

impl Ord for MergeKey {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        for (a, b) in self.0.iter().zip(&other.0) {
            match a.total_cmp(b) {
                CmpOrdering::Equal => {}
                unequal => return unequal,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for MergeKey {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MergeKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for MergeKey {}

/// Merges the rows of consecutive rowsets (oldest first, each in file order) as the keys type says:
/// DUPLICATE keeps every row in that order; UNIQUE keeps the newest row per key; AGGREGATE combines
/// each value column with its aggregation (none means REPLACE). UNIQUE and AGGREGATE come out
/// sorted by key. `schema` must be valid ([`validate_schema`]) and the rows decoded with it.
pub fn merge_rows(schema: &Schema, rowsets: Vec<Vec<Row>>) -> Vec<Row> {
    if schema.keys_type == KeysType::Duplicate {
        return rowsets.into_iter().flatten().collect();
    }
    let keys = schema.key_count();
    let mut merged: BTreeMap<MergeKey, Row> = BTreeMap::new();
    for row in rowsets.into_iter().flatten() {
        debug_assert_eq!(row.len(), schema.columns.len());
        match merged.entry(MergeKey(row[..keys].to_vec())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(row);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let old = slot.get_mut();
                if schema.keys_type == KeysType::Unique {
                    *old = row;
                } else {
                    for (i, value) in row.into_iter().enumerate().skip(keys) {
                        let column = &schema.columns[i];
                        aggregate(column.aggregation.unwrap_or(Aggregation::Replace), column.ty, &mut old[i], value);
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}

/// Folds `new` (the newer value) into `old`. SUM, MIN and MAX ignore NULL; REPLACE takes NULL too.
fn aggregate(aggregation: Aggregation, ty: ColumnType, old: &mut Value, new: Value) {
    if aggregation == Aggregation::Replace || old.is_null() {
        if aggregation == Aggregation::Replace || !new.is_null() {
            *old = new;
        }
        return;
    }
    if new.is_null() {
        return;
    }
    match aggregation {
        Aggregation::Sum => match (&mut *old, new) {
            (Value::Int(a), Value::Int(b)) => *a = wrap_to_type(a.wrapping_add(b), ty),
            (Value::Float(a), Value::Float(b)) => *a += b,
            (Value::Decimal(a, _), Value::Decimal(b, _)) => *a = a.wrapping_add(b),
            // One column holds one kind of value; anything else keeps the newer one.
            (old, new) => *old = new,
        },
        Aggregation::Min => {
            if new.total_cmp(old) == CmpOrdering::Less {
                *old = new;
            }
        }
        Aggregation::Max => {
            if new.total_cmp(old) == CmpOrdering::Greater {
                *old = new;
            }
        }
        Aggregation::Replace => *old = new,
    }
}

/// An integer sum wrapped into the column's width (two's complement), as a fixed-width engine does.
fn wrap_to_type(v: i128, ty: ColumnType) -> i128 {
    match ty {
        ColumnType::TinyInt => i128::from(v as i8),
        ColumnType::SmallInt => i128::from(v as i16),
        ColumnType::Int => i128::from(v as i32),
        ColumnType::BigInt => i128::from(v as i64),
        _ => v,
    }
}
