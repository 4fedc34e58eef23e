//! Range partition keys: the integer a bound or a row's partition value stands for, and how a
//! bound prints.

use crate::schema::{self, ColumnType};
use crate::sql::ast::Literal;

/// The integer a partition bound or a row's partition value stands for.
pub fn partition_key(ty: ColumnType, literal: &Literal) -> Result<i64, String> {
    let text = match literal {
        Literal::Number(n) | Literal::String(n) => n.trim(),
        Literal::Null | Literal::Bool(_) => return Err("a partition bound must be a value, not NULL".into()),
    };
    match ty {
        ColumnType::Date => schema::parse_date(text)
            .map(i64::from)
            .ok_or_else(|| format!("\"{text}\" is not a DATE; write it as \"YYYY-MM-DD\"")),
        ColumnType::DateTime => schema::parse_datetime(text)
            .ok_or_else(|| format!("\"{text}\" is not a DATETIME; write it as \"YYYY-MM-DD HH:MM:SS\"")),
        _ => {
            let Some((lo, hi)) = ty.int_range().filter(|_| ty != ColumnType::LargeInt) else {
                return Err(format!("a partition column of type {ty} is not supported"));
            };
            let value: i128 = text.parse().map_err(|_| format!("\"{text}\" is not a whole number"))?;
            if value < lo || value > hi {
                return Err(format!("{value} is out of range for {ty} ({lo}..{hi})"));
            }
            i64::try_from(value).map_err(|_| format!("{value} is out of range"))
        }
    }
}

/// The partition key of a value of the partition column (`None` for NULL, which Doris puts in
/// the lowest partition).
pub fn value_key(value: &schema::Value) -> Option<i64> {
    match value {
        schema::Value::Int(i) => i64::try_from(*i).ok(),
        schema::Value::Date(d) => Some(i64::from(*d)),
        schema::Value::DateTime(s) => Some(*s),
        _ => None,
    }
}

/// How a bound prints in SHOW PARTITIONS and SHOW CREATE TABLE.
pub fn format_key(ty: ColumnType, key: i64) -> String {
    match ty {
        ColumnType::Date => schema::format_date(key as i32),
        ColumnType::DateTime => schema::format_datetime(key),
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_partition_keys() {
        let key = partition_key(ColumnType::Date, &Literal::String("2024-02-01".into())).expect("date");
        assert_eq!(format_key(ColumnType::Date, key), "2024-02-01");
        assert!(partition_key(ColumnType::Date, &Literal::String("2024-02-30".into())).is_err());
    }
}
