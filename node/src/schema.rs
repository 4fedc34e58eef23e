//! Table schemas and the values they hold: the types a column can have, how a table merges rows
//! with equal keys, and [`Value`], one cell. Shared by the FE (catalog, loads, queries) and the BE
//! (rowset files, scans), so both sides agree on what a row is.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A column's type, Doris's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ColumnType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    LargeInt,
    Float,
    Double,
    /// DECIMAL(precision, scale): at most 38 digits, `scale <= precision`.
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    DateTime,
    /// CHAR(n): at most n bytes (1..=255).
    Char {
        len: u32,
    },
    /// VARCHAR(n): at most n bytes (1..=65533).
    Varchar {
        len: u32,
    },
    /// STRING: at most [`MAX_STRING_BYTES`].
    String,
}

/// The longest STRING value, as in Doris (1 MiB by default).
pub const MAX_STRING_BYTES: u32 = 1_048_576;
/// The largest row a load takes, as row_codec encodes it (every STRING of a row at its maximum
/// fits unless the row has more than seven of them). A bigger row is refused with its number
/// before the load commits, so nothing of the load is kept.
pub const MAX_ROW_BYTES: usize = 8 << 20;
pub const MAX_CHAR_LEN: u32 = 255;
pub const MAX_VARCHAR_LEN: u32 = 65_533;
pub const MAX_DECIMAL_PRECISION: u8 = 38;

impl ColumnType {
    /// The inclusive range an integer type holds.
    pub fn int_range(self) -> Option<(i128, i128)> {
        match self {
            ColumnType::TinyInt => Some((i8::MIN.into(), i8::MAX.into())),
            ColumnType::SmallInt => Some((i16::MIN.into(), i16::MAX.into())),
            ColumnType::Int => Some((i32::MIN.into(), i32::MAX.into())),
            ColumnType::BigInt => Some((i64::MIN.into(), i64::MAX.into())),
            ColumnType::LargeInt => Some((i128::MIN, i128::MAX)),
            _ => None,
        }
    }

    pub fn is_integer(self) -> bool {
        self.int_range().is_some()
    }

    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, ColumnType::Float | ColumnType::Double | ColumnType::Decimal { .. })
    }

    pub fn is_string(self) -> bool {
        matches!(self, ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String)
    }

    /// The most bytes a string type holds.
    pub fn max_bytes(self) -> Option<u32> {
        match self {
            ColumnType::Char { len } | ColumnType::Varchar { len } => Some(len),
            ColumnType::String => Some(MAX_STRING_BYTES),
            _ => None,
        }
    }
}

impl fmt::Display for ColumnType {
    /// Doris's spelling, as SHOW CREATE TABLE and DESC print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Boolean => write!(f, "boolean"),
            ColumnType::TinyInt => write!(f, "tinyint"),
            ColumnType::SmallInt => write!(f, "smallint"),
            ColumnType::Int => write!(f, "int"),
            ColumnType::BigInt => write!(f, "bigint"),
            ColumnType::LargeInt => write!(f, "largeint"),
            ColumnType::Float => write!(f, "float"),
            ColumnType::Double => write!(f, "double"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Date => write!(f, "date"),
            ColumnType::DateTime => write!(f, "datetime"),
            ColumnType::Char { len } => write!(f, "char({len})"),
            ColumnType::Varchar { len } => write!(f, "varchar({len})"),
            ColumnType::String => write!(f, "text"),
        }
    }
}

/// How a value column of an AGGREGATE KEY table merges rows with equal keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Sum,
    Min,
    Max,
    Replace,
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aggregation::Sum => "SUM",
            Aggregation::Min => "MIN",
            Aggregation::Max => "MAX",
            Aggregation::Replace => "REPLACE",
        })
    }
}

/// The table's data model: what happens to rows with equal keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeysType {
    /// Every row is kept.
    Duplicate,
    /// The newest row (highest version, last within a load) wins.
    Unique,
    /// Value columns merge with their [`Aggregation`].
    Aggregate,
}

impl fmt::Display for KeysType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeysType::Duplicate => "DUPLICATE",
            KeysType::Unique => "UNIQUE",
            KeysType::Aggregate => "AGGREGATE",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    /// The DEFAULT clause's text, as written (`None`: no default; a nullable column then defaults to NULL).
    pub default: Option<String>,
    pub comment: String,
    /// For value columns of AGGREGATE KEY tables.
    pub aggregation: Option<Aggregation>,
    pub is_key: bool,
}

/// What a BE needs to store and merge a table's rows: the columns (keys first) and the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<Column>,
    pub keys_type: KeysType,
}

/// A table has at most this many columns.
pub const MAX_COLUMNS: usize = 512;

impl Schema {
    /// Key columns come first; this many of them.
    pub fn key_count(&self) -> usize {
        let n = self.columns.iter().take_while(|c| c.is_key).count();
        debug_assert!(self.columns[n..].iter().all(|c| !c.is_key), "key columns must come first");
        n
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Whether rows of one schema are rows of the other: the same model and the same columns
    /// (names, types, nullability, keys, aggregations) in the same order. Comments and defaults
    /// do not matter to stored rows.
    pub fn same_storage(&self, other: &Schema) -> bool {
        let column = |c: &Column| (c.name.to_ascii_lowercase(), c.ty, c.nullable, c.aggregation, c.is_key);
        self.keys_type == other.keys_type
            && self.columns.len() == other.columns.len()
            && self.columns.iter().zip(&other.columns).all(|(a, b)| column(a) == column(b))
    }
}

/// One cell. Integers of every width are `Int`; DECIMAL is an unscaled integer with its scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// `unscaled / 10^scale`.
    Decimal(i128, u8),
    /// Days since 1970-01-01.
    Date(i32),
    /// Seconds since 1970-01-01 00:00:00.
    DateTime(i64),
    Str(String),
}

/// A row: one value per column, in schema order.
pub type Row = Vec<Value>;

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as an f64 if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(u, s) => Some(*u as f64 / 10f64.powi(i32::from(*s))),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// A total order for sorting and key comparison: NULL first, then numbers (compared by
    /// value across Int/Decimal/Float), then dates, then strings.
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Decimal(..) => 1,
                Value::Date(_) | Value::DateTime(_) => 2,
                Value::Str(_) => 3,
            }
        }
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Decimal(a, sa), Value::Decimal(b, sb)) if sa == sb => a.cmp(b),
            (Value::Decimal(a, sa), Value::Int(b)) => cmp_scaled(*a, *sa, *b, 0),
            (Value::Int(a), Value::Decimal(b, sb)) => cmp_scaled(*a, 0, *b, *sb),
            (Value::Decimal(a, sa), Value::Decimal(b, sb)) => cmp_scaled(*a, *sa, *b, *sb),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::DateTime(a), Value::DateTime(b)) => a.cmp(b),
            (Value::Date(a), Value::DateTime(b)) => (i64::from(*a) * 86_400).cmp(b),
            (Value::DateTime(a), Value::Date(b)) => a.cmp(&(i64::from(*b) * 86_400)),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            _ if rank(self) == 1 && rank(other) == 1 => {
                let (a, b) = (self.as_f64().unwrap_or(0.0), other.as_f64().unwrap_or(0.0));
                a.total_cmp(&b)
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// Compares `a / 10^sa` with `b / 10^sb` exactly when it can, by f64 otherwise.
fn cmp_scaled(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    let scale = sa.max(sb);
    let up = |v: i128, s: u8| 10i128.checked_pow(u32::from(scale - s)).and_then(|m| v.checked_mul(m));
    match (up(a, sa), up(b, sb)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let fa = a as f64 / 10f64.powi(i32::from(sa));
            let fb = b as f64 / 10f64.powi(i32::from(sb));
            fa.total_cmp(&fb)
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DD` (years 0000..=9999) into a day number.
pub fn parse_date(text: &str) -> Option<i32> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(0..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject 2023-02-30 and friends: the day must round-trip.
    (civil_from_days(days) == (year, month, day)).then(|| i32::try_from(days).ok()).flatten()
}

/// Parses `YYYY-MM-DD[ HH:MM:SS]` into seconds since the epoch.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let days = i64::from(parse_date(date)?);
    let seconds = match time {
        None => 0,
        Some(t) => {
            let mut parts = t.splitn(3, ':');
            let h: i64 = parts.next()?.parse().ok()?;
            let m: i64 = parts.next()?.parse().ok()?;
            let s: i64 = parts.next().unwrap_or("0").split('.').next()?.parse().ok()?;
            if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&s) {
                return None;
            }
            h * 3600 + m * 60 + s
        }
    };
    Some(days * 86_400 + seconds)
}

pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn format_datetime(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

/// `unscaled / 10^scale` as text with exactly `scale` decimals.
pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    if scale == 0 {
        return unscaled.to_string();
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let padded =
        if digits.len() <= scale { format!("{}{digits}", "0".repeat(scale + 1 - digits.len())) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if unscaled < 0 { "-" } else { "" })
}

impl fmt::Display for Value {
    /// How a client sees the value (NULL prints as `NULL`; result sets send it as SQL NULL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Bool(b) => write!(f, "{}", u8::from(*b)),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{}", *x as i64)
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Decimal(u, s) => write!(f, "{}", format_decimal(*u, *s)),
            Value::Date(d) => write!(f, "{}", format_date(*d)),
            Value::DateTime(s) => write!(f, "{}", format_datetime(*s)),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

impl Value {
    /// The cell a result set carries: `None` for NULL.
    pub fn to_cell(&self) -> Option<String> {
        (!self.is_null()).then(|| self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29").map(format_date).as_deref(), Some("2024-02-29"));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_datetime("2024-03-01 12:34:56").map(format_datetime).as_deref(), Some("2024-03-01 12:34:56"));
        assert_eq!(parse_datetime("2024-03-01 24:00:00"), None);
    }

    #[test]
    fn decimals_print_with_their_scale() {
        assert_eq!(format_decimal(12345, 2), "123.45");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(7, 0), "7");
    }

    #[test]
    fn values_order_numbers_by_value_and_null_first() {
        assert_eq!(Value::Decimal(150, 2).total_cmp(&Value::Int(1)), Ordering::Greater);
        assert_eq!(Value::Int(2).total_cmp(&Value::Float(1.5)), Ordering::Greater);
        assert_eq!(Value::Null.total_cmp(&Value::Int(-5)), Ordering::Less);
        assert_eq!(Value::Str("a".into()).total_cmp(&Value::Str("b".into())), Ordering::Less);
    }
}
