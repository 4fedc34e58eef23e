//! Converting a value to a column type: [`coerce`] for INSERT (strict: a value that does not fit
//! is an error naming the column) and CAST (lenient: a value that does not convert is NULL, a
//! string too long is cut).
//!
//! Rules: integers are range-checked per type; DECIMAL and DOUBLE values going into an integer
//! column are rounded half away from zero (as MySQL does), then range-checked; any number going
//! into DECIMAL(p, s) is rounded to `s` decimals and must keep at most `p - s` digits before the
//! point; strings convert to numbers, dates and booleans when they read as one; a DATETIME going
//! into a DATE column keeps its day; 20240131 reads as a date; booleans take 0/1/true/false; a
//! string's length is its UTF-8 byte length.

use super::number::{self, TextError, shown};
use crate::schema::{self, Column, ColumnType, Value};

/// How [`convert`] treats a value that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// INSERT: an error.
    Insert,
    /// CAST: NULL (strings too long are cut).
    Cast,
}

/// Why a value does not convert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    OutOfRange { value: String, range: String },
    Unreadable { value: String, hint: &'static str },
    TooLong { value: String, bytes: usize, max: u32 },
    Incompatible { value: String, kind: &'static str },
}

impl Problem {
    fn message(&self, column: &str, ty: ColumnType) -> String {
        match self {
            Problem::OutOfRange { value, range } => {
                format!("value {value} is out of range for column '{column}' of type {ty} ({range})")
            }
            Problem::Unreadable { value, hint } => {
                format!("value {value} is not a valid {ty} for column '{column}'{hint}")
            }
            Problem::TooLong { value, bytes, max } => {
                format!("value {value} is too long for column '{column}' of type {ty}: {bytes} bytes, at most {max}")
            }
            Problem::Incompatible { value, kind } => {
                format!("value {value} is {kind} and cannot go into column '{column}' of type {ty}")
            }
        }
    }
}

fn incompatible(v: &Value) -> Problem {
    let kind = match v {
        Value::Date(_) => "a date",
        Value::DateTime(_) => "a datetime",
        Value::Bool(_) => "a boolean",
        Value::Str(_) => "a string",
        _ => "a number",
    };
    Problem::Incompatible { value: shown(v), kind }
}

fn unreadable(v: &Value, hint: &'static str) -> Problem {
    Problem::Unreadable { value: shown(v), hint }
}

/// Converts `value` to `ty`. NULL stays NULL (NOT NULL is [`coerce`]'s business).
pub(crate) fn convert(value: Value, ty: ColumnType, how: Strictness) -> Result<Value, Problem> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        ColumnType::Boolean => to_bool(value, how),
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt | ColumnType::LargeInt => {
            to_int(value, ty)
        }
        ColumnType::Float | ColumnType::Double => to_float(value, ty),
        ColumnType::Decimal { precision, scale } => to_decimal(value, precision, scale),
        ColumnType::Date => to_date(value),
        ColumnType::DateTime => to_datetime(value),
        ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => to_text(value, ty, how),
    }
}

fn to_bool(value: Value, how: Strictness) -> Result<Value, Problem> {
    const HINT: &str = " (use true/false or 1/0)";
    let number = match &value {
        Value::Bool(b) => return Ok(Value::Bool(*b)),
        Value::Str(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") {
                return Ok(Value::Bool(true));
            }
            if t.eq_ignore_ascii_case("false") {
                return Ok(Value::Bool(false));
            }
            number::parse_number_text(t).ok_or_else(|| unreadable(&value, HINT))?
        }
        Value::Date(_) | Value::DateTime(_) => return Err(incompatible(&value)),
        other => other.clone(),
    };
    let f = number.as_f64().unwrap_or(f64::NAN);
    match how {
        Strictness::Insert if f == 0.0 || f == 1.0 => Ok(Value::Bool(f == 1.0)),
        Strictness::Insert => Err(unreadable(&value, HINT)),
        Strictness::Cast => Ok(Value::Bool(f != 0.0)),
    }
}

fn to_int(value: Value, ty: ColumnType) -> Result<Value, Problem> {
    let (min, max) = ty.int_range().unwrap_or((i128::MIN, i128::MAX));
    let out_of_range = |v: &Value| Problem::OutOfRange { value: shown(v), range: format!("{min}..{max}") };
    let i = match &value {
        Value::Int(i) => *i,
        Value::Bool(b) => i128::from(*b),
        Value::Decimal(u, s) => number::rescale(*u, *s, 0).ok_or_else(|| out_of_range(&value))?,
        Value::Float(f) => {
            let r = f.round();
            if !r.is_finite() || r < min as f64 || r > max as f64 {
                return Err(out_of_range(&value));
            }
            r as i128
        }
        Value::Str(s) => match number::parse_number_text(s) {
            Some(Value::Int(i)) => i,
            Some(n @ (Value::Decimal(..) | Value::Float(_))) => {
                return to_int(n, ty).map_err(|_| out_of_range(&value));
            }
            _ => return Err(unreadable(&value, "")),
        },
        Value::Date(_) | Value::DateTime(_) | Value::Null => return Err(incompatible(&value)),
    };
    if i < min || i > max {
        return Err(out_of_range(&value));
    }
    Ok(Value::Int(i))
}

fn to_float(value: Value, ty: ColumnType) -> Result<Value, Problem> {
    let f = match &value {
        Value::Str(s) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => f,
            _ => return Err(unreadable(&value, "")),
        },
        Value::Date(_) | Value::DateTime(_) | Value::Null => return Err(incompatible(&value)),
        other => other.as_f64().unwrap_or(f64::NAN),
    };
    if !f.is_finite() || (ty == ColumnType::Float && f.abs() > f64::from(f32::MAX)) {
        let range = if ty == ColumnType::Float { "about ±3.4e38" } else { "about ±1.8e308" };
        return Err(Problem::OutOfRange { value: shown(&value), range: range.into() });
    }
    Ok(Value::Float(f))
}

fn to_decimal(value: Value, precision: u8, scale: u8) -> Result<Value, Problem> {
    let whole_digits = precision.saturating_sub(scale);
    let out_of_range = |v: &Value| Problem::OutOfRange {
        value: shown(v),
        range: format!("at most {whole_digits} digits before the point"),
    };
    let unscaled = match &value {
        Value::Int(i) => number::rescale(*i, 0, scale),
        Value::Bool(b) => number::rescale(i128::from(*b), 0, scale),
        Value::Decimal(u, s) => number::rescale(*u, *s, scale),
        Value::Float(f) if f.is_finite() => number::parse_decimal_at(&f.to_string(), scale).ok(),
        Value::Float(_) => None,
        Value::Str(s) => match number::parse_decimal_at(s, scale) {
            Ok(u) => Some(u),
            Err(TextError::TooBig) => None,
            Err(TextError::NotANumber) => return Err(unreadable(&value, "")),
        },
        Value::Date(_) | Value::DateTime(_) | Value::Null => return Err(incompatible(&value)),
    };
    match unscaled {
        Some(u) if number::fits_digits(u, u32::from(precision)) => Ok(Value::Decimal(u, scale)),
        _ => Err(out_of_range(&value)),
    }
}

/// 20240131 or 20240131235959 as (date text, time text).
fn digits_date(i: i128) -> Option<String> {
    let text = i.to_string();
    match text.len() {
        8 => Some(format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..])),
        14 => Some(format!(
            "{}-{}-{} {}:{}:{}",
            &text[..4],
            &text[4..6],
            &text[6..8],
            &text[8..10],
            &text[10..12],
            &text[12..]
        )),
        _ => None,
    }
}

const DATE_HINT: &str = " (write dates as 'YYYY-MM-DD')";
const DATETIME_HINT: &str = " (write datetimes as 'YYYY-MM-DD HH:MM:SS')";

fn to_datetime(value: Value) -> Result<Value, Problem> {
    let parsed = match &value {
        Value::DateTime(s) => Some(*s),
        Value::Date(d) => Some(i64::from(*d) * 86_400),
        Value::Str(s) => schema::parse_datetime(s),
        Value::Int(i) => digits_date(*i).and_then(|t| schema::parse_datetime(&t)),
        _ => return Err(incompatible(&value)),
    };
    parsed.map(Value::DateTime).ok_or_else(|| unreadable(&value, DATETIME_HINT))
}

fn to_date(value: Value) -> Result<Value, Problem> {
    if let Value::Date(d) = value {
        return Ok(Value::Date(d));
    }
    match to_datetime(value) {
        Ok(Value::DateTime(s)) => {
            let days = s.div_euclid(86_400);
            i32::try_from(days).map(Value::Date).map_err(|_| unreadable(&Value::DateTime(s), DATE_HINT))
        }
        Ok(other) => Err(incompatible(&other)),
        Err(Problem::Unreadable { value, .. }) => Err(Problem::Unreadable { value, hint: DATE_HINT }),
        Err(e) => Err(e),
    }
}

fn to_text(value: Value, ty: ColumnType, how: Strictness) -> Result<Value, Problem> {
    let mut text = match value {
        Value::Str(s) => s,
        other => other.to_string(),
    };
    let max = ty.max_bytes().unwrap_or(schema::MAX_STRING_BYTES);
    let limit = max as usize;
    if text.len() > limit {
        if how == Strictness::Insert {
            let bytes = text.len();
            return Err(Problem::TooLong { value: shown(&Value::Str(text)), bytes, max });
        }
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(Value::Str(text))
}

/// Converts `value` for INSERT into `column`: the value the column stores, or a message that
/// names the column and says what does not fit.
///
/// Integers are range-checked per type; DECIMAL and DOUBLE values going into an integer column
/// are rounded half away from zero, then range-checked; numbers going into DECIMAL(p, s) are
/// rounded to `s` decimals and keep at most `p - s` digits before the point; strings convert
/// to numbers, dates and booleans when they read as one; a DATETIME going into a DATE keeps its
/// day; `20240131` reads as a date; booleans take 0/1/true/false; a string's length is its
/// UTF-8 byte length, checked against CHAR(n)/VARCHAR(n)/STRING.
pub fn coerce(value: Value, column: &Column) -> Result<Value, String> {
    if value.is_null() {
        if column.nullable {
            return Ok(Value::Null);
        }
        return Err(format!("column '{}' is NOT NULL and got NULL; give it a value or a DEFAULT", column.name));
    }
    convert(value, column.ty, Strictness::Insert).map_err(|p| p.message(&column.name, column.ty))
}

/// The value INSERT stores in `column` when the statement does not give one: the DEFAULT
/// clause's text converted to the column's type, else NULL for a nullable column.
/// `CURRENT_TIMESTAMP` defaults are refused (queries read no clock).
pub fn default_value(column: &Column) -> Result<Value, String> {
    let Some(text) = &column.default else {
        if column.nullable {
            return Ok(Value::Null);
        }
        return Err(format!("column '{}' has no default; list it in INSERT", column.name));
    };
    if text.eq_ignore_ascii_case("NULL") {
        return coerce(Value::Null, column);
    }
    let upper = text.trim().to_ascii_uppercase();
    if upper.starts_with("CURRENT_TIMESTAMP") || upper.starts_with("NOW(") {
        return Err(format!(
            "column '{}' defaults to {text}, which is not supported; list it in INSERT with a value",
            column.name
        ));
    }
    coerce(Value::Str(text.clone()), column)
        .map_err(|e| format!("the DEFAULT of column '{}' does not fit: {e}", column.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, ty: ColumnType, nullable: bool, default: Option<&str>) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable,
            default: default.map(String::from),
            comment: String::new(),
            aggregation: None,
            is_key: false,
        }
    }

    fn put(value: Value, ty: ColumnType) -> Result<Value, String> {
        coerce(value, &column("c", ty, true, None))
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(put(Value::Int(127), ColumnType::TinyInt), Ok(Value::Int(127)));
        assert_eq!(
            coerce(Value::Int(300), &column("k", ColumnType::TinyInt, true, None)),
            Err("value 300 is out of range for column 'k' of type tinyint (-128..127)".into())
        );
        assert!(put(Value::Int(-32769), ColumnType::SmallInt).is_err());
        assert!(put(Value::Int(i128::from(i32::MAX) + 1), ColumnType::Int).is_err());
        assert!(put(Value::Int(i128::from(i64::MAX) + 1), ColumnType::BigInt).is_err());
        assert_eq!(put(Value::Int(i128::MAX), ColumnType::LargeInt), Ok(Value::Int(i128::MAX)));
        assert_eq!(put(Value::Str(" 42 ".into()), ColumnType::Int), Ok(Value::Int(42)));
        assert_eq!(put(Value::Decimal(25, 1), ColumnType::Int), Ok(Value::Int(3)));
        assert_eq!(put(Value::Decimal(-25, 1), ColumnType::Int), Ok(Value::Int(-3)));
        assert_eq!(put(Value::Float(1.4), ColumnType::Int), Ok(Value::Int(1)));
        assert_eq!(put(Value::Str("1.5".into()), ColumnType::Int), Ok(Value::Int(2)));
        assert!(put(Value::Float(1e30), ColumnType::BigInt).is_err());
        assert_eq!(
            put(Value::Str("abc".into()), ColumnType::Int),
            Err("value 'abc' is not a valid int for column 'c'".into())
        );
        assert!(put(Value::Date(0), ColumnType::Int).unwrap_err().contains("is a date"));
        assert_eq!(put(Value::Bool(true), ColumnType::Int), Ok(Value::Int(1)));
    }

    #[test]
    fn decimals_round_to_scale_and_check_precision() {
        let ty = ColumnType::Decimal { precision: 5, scale: 2 };
        assert_eq!(put(Value::Float(1.005), ty), Ok(Value::Decimal(101, 2)));
        assert_eq!(put(Value::Str("123.456".into()), ty), Ok(Value::Decimal(12346, 2)));
        assert_eq!(put(Value::Int(999), ty), Ok(Value::Decimal(99900, 2)));
        assert_eq!(put(Value::Decimal(-5, 3), ty), Ok(Value::Decimal(-1, 2)));
        assert_eq!(
            put(Value::Int(1000), ty),
            Err("value 1000 is out of range for column 'c' of type decimal(5,2) (at most 3 digits before the point)"
                .into())
        );
        assert!(put(Value::Str("999.999".into()), ty).is_err());
        assert!(put(Value::Str("1e400".into()), ty).is_err());
        assert!(put(Value::Str("x".into()), ty).unwrap_err().contains("not a valid decimal(5,2)"));
        let big = ColumnType::Decimal { precision: 38, scale: 0 };
        assert_eq!(put(Value::Str("9".repeat(38)), big), Ok(Value::Decimal("9".repeat(38).parse().unwrap_or(0), 0)));
        assert!(put(Value::Str("1".repeat(39)), big).is_err());
    }

    #[test]
    fn strings_dates_booleans_and_floats() {
        let v10 = ColumnType::Varchar { len: 10 };
        assert_eq!(put(Value::Str("héllo".into()), v10), Ok(Value::Str("héllo".into())));
        assert_eq!(
            put(Value::Str("0123456789x".into()), v10),
            Err("value '0123456789x' is too long for column 'c' of type varchar(10): 11 bytes, at most 10".into())
        );
        assert!(put(Value::Str("ééééé é".into()), ColumnType::Char { len: 10 }).is_err());
        assert_eq!(put(Value::Int(12), ColumnType::Char { len: 2 }), Ok(Value::Str("12".into())));
        let day = schema::parse_date("2024-01-31").unwrap_or_default();
        assert_eq!(put(Value::Str("2024-01-31".into()), ColumnType::Date), Ok(Value::Date(day)));
        assert_eq!(put(Value::Int(20240131), ColumnType::Date), Ok(Value::Date(day)));
        assert_eq!(put(Value::Str("2024-01-31 10:00:00".into()), ColumnType::Date), Ok(Value::Date(day)));
        assert_eq!(
            put(Value::Str("2024-02-30".into()), ColumnType::Date),
            Err("value '2024-02-30' is not a valid date for column 'c' (write dates as 'YYYY-MM-DD')".into())
        );
        assert_eq!(
            put(Value::Str("2024-01-31".into()), ColumnType::DateTime),
            Ok(Value::DateTime(i64::from(day) * 86_400))
        );
        assert_eq!(put(Value::Int(1), ColumnType::Boolean), Ok(Value::Bool(true)));
        assert_eq!(put(Value::Str("FALSE".into()), ColumnType::Boolean), Ok(Value::Bool(false)));
        assert!(put(Value::Int(2), ColumnType::Boolean).is_err());
        assert_eq!(put(Value::Str("2.5".into()), ColumnType::Double), Ok(Value::Float(2.5)));
        assert!(put(Value::Float(1e39), ColumnType::Float).is_err());
        assert!(put(Value::Str("nan".into()), ColumnType::Double).is_err());
    }

    #[test]
    fn nulls_and_defaults() {
        let not_null = column("c", ColumnType::Int, false, None);
        assert_eq!(
            coerce(Value::Null, &not_null),
            Err("column 'c' is NOT NULL and got NULL; give it a value or a DEFAULT".into())
        );
        assert_eq!(default_value(&not_null), Err("column 'c' has no default; list it in INSERT".into()));
        assert_eq!(default_value(&column("c", ColumnType::Int, true, None)), Ok(Value::Null));
        assert_eq!(default_value(&column("c", ColumnType::Int, false, Some("7"))), Ok(Value::Int(7)));
        assert_eq!(
            default_value(&column("c", ColumnType::Varchar { len: 3 }, false, Some("abc"))),
            Ok(Value::Str("abc".into()))
        );
        assert!(default_value(&column("c", ColumnType::TinyInt, false, Some("1000"))).unwrap_err().contains("DEFAULT"));
        assert!(default_value(&column("c", ColumnType::DateTime, false, Some("CURRENT_TIMESTAMP"))).is_err());
        assert!(default_value(&column("c", ColumnType::Int, false, Some("NULL"))).is_err());
    }

    #[test]
    fn cast_is_lenient() {
        assert_eq!(
            convert(Value::Str("x".into()), ColumnType::Int, Strictness::Cast),
            Err(unreadable(&Value::Str("x".into()), ""))
        );
        assert_eq!(
            convert(Value::Str("héllo".into()), ColumnType::Varchar { len: 2 }, Strictness::Cast),
            Ok(Value::Str("h".into()))
        );
        assert_eq!(convert(Value::Int(5), ColumnType::Boolean, Strictness::Cast), Ok(Value::Bool(true)));
    }
}
