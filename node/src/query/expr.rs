//! Bound expressions (columns resolved to positions, functions to [`Func`]) and their evaluation
//! over one row. Evaluation borrows what it can (columns, literals) and allocates only the
//! values it computes.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

use super::coerce::{Strictness, convert};
use super::number::{self, Num, arithmetic, compare, negate, to_num, truth};
use crate::error::SqlError;
use crate::schema::{self, ColumnType, Value};
use crate::sql::ast::BinaryOp;

/// What a value can be, as far as planning can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Decimal,
    Date,
    DateTime,
    Str,
    /// Not known until run time.
    Any,
}

impl Kind {
    pub(crate) fn of_type(ty: ColumnType) -> Kind {
        match ty {
            ColumnType::Boolean => Kind::Bool,
            ColumnType::TinyInt
            | ColumnType::SmallInt
            | ColumnType::Int
            | ColumnType::BigInt
            | ColumnType::LargeInt => Kind::Int,
            ColumnType::Float | ColumnType::Double => Kind::Float,
            ColumnType::Decimal { .. } => Kind::Decimal,
            ColumnType::Date => Kind::Date,
            ColumnType::DateTime => Kind::DateTime,
            ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => Kind::Str,
        }
    }

    pub(crate) fn of_value(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Decimal(..) => Kind::Decimal,
            Value::Date(_) => Kind::Date,
            Value::DateTime(_) => Kind::DateTime,
            Value::Str(_) => Kind::Str,
        }
    }

    pub(crate) fn is_date(self) -> bool {
        matches!(self, Kind::Date | Kind::DateTime)
    }

    pub(crate) fn is_number(self) -> bool {
        matches!(self, Kind::Bool | Kind::Int | Kind::Float | Kind::Decimal)
    }

    /// How an error message names the kind.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Null => "NULL",
            Kind::Bool => "a boolean",
            Kind::Int => "an integer",
            Kind::Float => "a double",
            Kind::Decimal => "a decimal",
            Kind::Date => "a date",
            Kind::DateTime => "a datetime",
            Kind::Str => "a string",
            Kind::Any => "a value",
        }
    }
}

/// Scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Concat,
    Upper,
    Lower,
    Length,
    CharLength,
    Abs,
    Coalesce,
    Round,
    Floor,
    Ceil,
    Year,
    Month,
    Day,
    If,
    NullIf,
    Substring,
    Like,
    Repeat,
}

impl Func {
    /// The function a name calls, with its least and most arguments.
    pub(crate) fn by_name(name: &str) -> Option<(Func, usize, usize)> {
        Some(match name {
            "concat" => (Func::Concat, 1, usize::MAX),
            "upper" | "ucase" => (Func::Upper, 1, 1),
            "lower" | "lcase" => (Func::Lower, 1, 1),
            "length" | "octet_length" => (Func::Length, 1, 1),
            "char_length" | "character_length" => (Func::CharLength, 1, 1),
            "abs" => (Func::Abs, 1, 1),
            "coalesce" => (Func::Coalesce, 1, usize::MAX),
            "ifnull" | "nvl" => (Func::Coalesce, 2, 2),
            "round" => (Func::Round, 1, 2),
            "floor" => (Func::Floor, 1, 1),
            "ceil" | "ceiling" => (Func::Ceil, 1, 1),
            "year" => (Func::Year, 1, 1),
            "month" => (Func::Month, 1, 1),
            "day" | "dayofmonth" => (Func::Day, 1, 1),
            "if" => (Func::If, 3, 3),
            "nullif" => (Func::NullIf, 2, 2),
            "substring" | "substr" => (Func::Substring, 2, 3),
            "like" => (Func::Like, 2, 2),
            "repeat" => (Func::Repeat, 2, 2),
            _ => return None,
        })
    }

    /// Every name [`Func::by_name`] knows, for error messages.
    pub(crate) const NAMES: &'static str = "abs, ceil, char_length, coalesce, concat, day, floor, if, ifnull, length, \
                                            lower, month, nullif, repeat, round, substring, upper, year";
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl AggFunc {
    pub(crate) fn by_name(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "avg" => AggFunc::Avg,
            _ => return None,
        })
    }
}

/// One aggregate call: `COUNT(*)` has no arguments; `COUNT(DISTINCT a, b)` has several.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AggCall {
    pub func: AggFunc,
    pub args: Vec<BoundExpr>,
    pub distinct: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BoundExpr {
    Literal(Value),
    /// A position in the row the expression runs over.
    Column(usize),
    Neg(Box<BoundExpr>),
    Not(Box<BoundExpr>),
    Binary(BinaryOp, Box<BoundExpr>, Box<BoundExpr>),
    InList(Box<BoundExpr>, Vec<BoundExpr>, bool),
    /// `[expr, low, high]`, negated.
    Between(Box<[BoundExpr; 3]>, bool),
    IsNull(Box<BoundExpr>, bool),
    Call(Func, Vec<BoundExpr>),
    Cast(Box<BoundExpr>, ColumnType),
    /// Only while planning: aggregates are replaced by columns of the aggregated row.
    Aggregate(Box<AggCall>),
}

fn bool_value(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

fn not3(b: Option<bool>) -> Option<bool> {
    b.map(|b| !b)
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

impl BoundExpr {
    pub(crate) fn contains_aggregate(&self) -> bool {
        match self {
            BoundExpr::Aggregate(_) => true,
            BoundExpr::Literal(_) | BoundExpr::Column(_) => false,
            BoundExpr::Neg(e) | BoundExpr::Not(e) | BoundExpr::IsNull(e, _) | BoundExpr::Cast(e, _) => {
                e.contains_aggregate()
            }
            BoundExpr::Binary(_, l, r) => l.contains_aggregate() || r.contains_aggregate(),
            BoundExpr::InList(e, list, _) => e.contains_aggregate() || list.iter().any(BoundExpr::contains_aggregate),
            BoundExpr::Between(parts, _) => parts.iter().any(BoundExpr::contains_aggregate),
            BoundExpr::Call(_, args) => args.iter().any(BoundExpr::contains_aggregate),
        }
    }

    /// Whether the expression is true for `row` (NULL is not).
    pub(crate) fn is_true(&self, row: &[Value]) -> Result<bool, SqlError> {
        Ok(truth(&*self.eval(row)?)? == Some(true))
    }

    /// Evaluates the expression over `row`. The functions on the recursive path (this one and
    /// the `eval_*` helpers) keep few locals, and the work on evaluated values happens in
    /// separate functions, because debug builds give every local its own stack slot and
    /// expressions nest up to 200 deep.
    pub(crate) fn eval<'a>(&'a self, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
        match self {
            BoundExpr::Literal(v) => Ok(Cow::Borrowed(v)),
            BoundExpr::Column(i) => match row.get(*i) {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => Err(short_row(*i, row.len())),
            },
            BoundExpr::Neg(e) => eval_neg(e, row),
            BoundExpr::Not(e) => eval_not(e, row),
            BoundExpr::Binary(op, l, r) => eval_binary(*op, l, r, row),
            BoundExpr::InList(e, list, negated) => eval_in(e, list, *negated, row),
            BoundExpr::Between(parts, negated) => eval_between(parts, *negated, row),
            BoundExpr::IsNull(e, negated) => eval_is_null(e, *negated, row),
            BoundExpr::Call(func, args) => eval_call(*func, args, row),
            BoundExpr::Cast(e, ty) => eval_cast(e, *ty, row),
            BoundExpr::Aggregate(_) => Err(aggregate_outside()),
        }
    }
}

#[cold]
fn short_row(index: usize, len: usize) -> SqlError {
    SqlError::doris(format!("internal error: the query reads value #{} of a row with {len} values", index + 1))
}

#[cold]
fn aggregate_outside() -> SqlError {
    SqlError::doris("internal error: an aggregate was evaluated outside aggregation")
}

fn eval_neg<'a>(e: &'a BoundExpr, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let v = e.eval(row)?;
    negate(&v).map(Cow::Owned)
}

fn eval_not<'a>(e: &'a BoundExpr, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let v = e.eval(row)?;
    Ok(Cow::Owned(bool_value(not3(truth(&v)?))))
}

fn eval_is_null<'a>(e: &'a BoundExpr, negated: bool, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let null = e.eval(row)?.is_null();
    Ok(Cow::Owned(Value::Bool(null != negated)))
}

fn eval_cast<'a>(e: &'a BoundExpr, ty: ColumnType, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let v = e.eval(row)?.into_owned();
    Ok(Cow::Owned(convert(v, ty, Strictness::Cast).unwrap_or(Value::Null)))
}

fn eval_condition(e: &BoundExpr, row: &[Value]) -> Result<Option<bool>, SqlError> {
    let v = e.eval(row)?;
    truth(&v)
}

fn eval_binary<'a>(
    op: BinaryOp,
    l: &'a BoundExpr,
    r: &'a BoundExpr,
    row: &'a [Value],
) -> Result<Cow<'a, Value>, SqlError> {
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        return eval_logic(op == BinaryOp::And, l, r, row);
    }
    let a = l.eval(row)?;
    let b = r.eval(row)?;
    apply_binary(op, &a, &b).map(Cow::Owned)
}

/// AND / OR, three-valued, skipping the right side when the left decides.
fn eval_logic<'a>(and: bool, l: &'a BoundExpr, r: &'a BoundExpr, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let a = eval_condition(l, row)?;
    if a == Some(!and) {
        return Ok(Cow::Owned(Value::Bool(!and)));
    }
    let b = eval_condition(r, row)?;
    let result = if and { and3(a, b) } else { not3(and3(not3(a), not3(b))) };
    Ok(Cow::Owned(bool_value(result)))
}

fn apply_binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, SqlError> {
    let want: fn(Ordering) -> bool = match op {
        BinaryOp::Eq => |o| o == Ordering::Equal,
        BinaryOp::NotEq => |o| o != Ordering::Equal,
        BinaryOp::Lt => |o| o == Ordering::Less,
        BinaryOp::LtEq => |o| o != Ordering::Greater,
        BinaryOp::Gt => |o| o == Ordering::Greater,
        BinaryOp::GtEq => |o| o != Ordering::Less,
        _ => return arithmetic(op, a, b),
    };
    Ok(bool_value(compare(a, b)?.map(want)))
}

fn eval_in<'a>(
    e: &'a BoundExpr,
    list: &'a [BoundExpr],
    negated: bool,
    row: &'a [Value],
) -> Result<Cow<'a, Value>, SqlError> {
    let v = e.eval(row)?;
    let mut result = if v.is_null() { None } else { Some(false) };
    if result.is_some() {
        for item in list {
            let candidate = item.eval(row)?;
            match compare(&v, &candidate)? {
                Some(Ordering::Equal) => {
                    result = Some(true);
                    break;
                }
                None => result = None,
                Some(_) => {}
            }
        }
    }
    Ok(Cow::Owned(bool_value(if negated { not3(result) } else { result })))
}

fn eval_between<'a>(parts: &'a [BoundExpr; 3], negated: bool, row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let v = parts[0].eval(row)?;
    let low = parts[1].eval(row)?;
    let high = parts[2].eval(row)?;
    let above = compare(&v, &low)?.map(|o| o != Ordering::Less);
    let below = compare(&v, &high)?.map(|o| o != Ordering::Greater);
    let result = and3(above, below);
    Ok(Cow::Owned(bool_value(if negated { not3(result) } else { result })))
}

/// A value as text for string functions (numbers and dates print as they display).
fn text_of(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn eval_call<'a>(func: Func, args: &'a [BoundExpr], row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    match func {
        Func::Coalesce => {
            for e in args {
                let v = e.eval(row)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Ok(Cow::Owned(Value::Null))
        }
        Func::If => {
            let (Some(c), Some(a), Some(b)) = (args.first(), args.get(1), args.get(2)) else {
                return Ok(Cow::Owned(Value::Null));
            };
            if eval_condition(c, row)? == Some(true) { a.eval(row) } else { b.eval(row) }
        }
        Func::Concat => eval_concat(args, row),
        _ => {
            let first = match args.first() {
                Some(e) => e.eval(row)?,
                None => return Ok(Cow::Owned(Value::Null)),
            };
            let second = match args.get(1) {
                Some(e) => Some(e.eval(row)?),
                None => None,
            };
            let third = match args.get(2) {
                Some(e) => Some(e.eval(row)?),
                None => None,
            };
            if func == Func::NullIf {
                return nullif(first, second.as_deref());
            }
            apply(func, &first, second.as_deref(), third.as_deref()).map(Cow::Owned)
        }
    }
}

fn nullif<'a>(a: Cow<'a, Value>, b: Option<&Value>) -> Result<Cow<'a, Value>, SqlError> {
    let equal = match b {
        Some(b) => compare(&a, b)? == Some(Ordering::Equal),
        None => false,
    };
    Ok(if equal { Cow::Owned(Value::Null) } else { a })
}

fn eval_concat<'a>(args: &'a [BoundExpr], row: &'a [Value]) -> Result<Cow<'a, Value>, SqlError> {
    let mut out = String::new();
    for e in args {
        let v = e.eval(row)?;
        if !append(&mut out, &v) {
            return Ok(Cow::Owned(Value::Null));
        }
    }
    Ok(Cow::Owned(Value::Str(out)))
}

/// Appends a value's text; false for NULL.
fn append(out: &mut String, v: &Value) -> bool {
    match v {
        Value::Null => return false,
        Value::Str(s) => out.push_str(s),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
    true
}

/// A scalar function of already evaluated arguments (the first one not NULL is checked here).
fn apply(func: Func, v: &Value, second: Option<&Value>, third: Option<&Value>) -> Result<Value, SqlError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match func {
        Func::Upper => Value::Str(text_of(v).to_uppercase()),
        Func::Lower => Value::Str(text_of(v).to_lowercase()),
        Func::Length => Value::Int(text_of(v).len() as i128),
        Func::CharLength => Value::Int(text_of(v).chars().count() as i128),
        Func::Abs => match to_num(v, "abs()")? {
            Some(Num::Int(i)) => {
                Value::Int(i.checked_abs().ok_or_else(|| SqlError::doris(format!("abs({i}) overflows")))?)
            }
            Some(Num::Dec(u, s)) => Value::Decimal(u.abs(), s),
            Some(Num::Float(f)) => Value::Float(f.abs()),
            None => Value::Null,
        },
        Func::Round => {
            let places = match second {
                None => 0,
                Some(Value::Null) => return Ok(Value::Null),
                Some(Value::Int(d)) if (-38..=38).contains(d) => *d as i32,
                Some(other) => {
                    return Err(SqlError::doris(format!(
                        "round(x, d) needs d to be a whole number from -38 to 38, not {other}"
                    )));
                }
            };
            round(v, places)?
        }
        Func::Floor | Func::Ceil => {
            let up = func == Func::Ceil;
            match to_num(v, if up { "ceil()" } else { "floor()" })? {
                Some(Num::Int(i)) => Value::Int(i),
                Some(Num::Dec(u, s)) => {
                    let d = number::pow10(u32::from(s)).unwrap_or(i128::MAX);
                    let q = u.div_euclid(d);
                    Value::Int(if up && u.rem_euclid(d) != 0 { q + 1 } else { q })
                }
                Some(Num::Float(f)) => Value::Float(if up { f.ceil() } else { f.floor() }),
                None => Value::Null,
            }
        }
        Func::Year | Func::Month | Func::Day => {
            let days = match v {
                Value::Date(d) => i64::from(*d),
                Value::DateTime(s) => s.div_euclid(86_400),
                Value::Str(s) => match schema::parse_datetime(s) {
                    Some(secs) => secs.div_euclid(86_400),
                    None => return Ok(Value::Null),
                },
                other => return Err(SqlError::doris(format!("{other} is not a date (year/month/day need a date)"))),
            };
            let (y, m, d) = schema::civil_from_days(days);
            Value::Int(match func {
                Func::Year => i128::from(y),
                Func::Month => i128::from(m),
                _ => i128::from(d),
            })
        }
        Func::Substring => {
            let Some(Value::Int(pos)) = second else { return Ok(Value::Null) };
            let len = match third {
                None => None,
                Some(Value::Int(l)) => Some(*l),
                Some(_) => return Ok(Value::Null),
            };
            Value::Str(substring(&text_of(v), *pos, len))
        }
        Func::Like => match second {
            None | Some(Value::Null) => Value::Null,
            Some(pattern) => Value::Bool(like(&text_of(v), &text_of(pattern))),
        },
        Func::Repeat => match second {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Int(n)) => repeat(&text_of(v), *n)?,
            Some(other) => {
                return Err(SqlError::doris(format!("repeat(s, n) needs n to be a whole number, not {other}")));
            }
        },
        Func::Coalesce | Func::If | Func::NullIf | Func::Concat => Value::Null,
    })
}

/// `repeat(s, n)`: `s` n times (empty for n <= 0), at most a STRING's length.
fn repeat(s: &str, n: i128) -> Result<Value, SqlError> {
    let times = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
    let max = schema::MAX_STRING_BYTES as usize;
    match s.len().checked_mul(times) {
        Some(len) if len <= max => Ok(Value::Str(s.repeat(times))),
        _ => Err(SqlError::doris(format!(
            "repeat() of {} bytes {n} times is longer than the {max} bytes a STRING holds",
            s.len()
        ))),
    }
}

/// MySQL's ROUND: half away from zero; a negative `places` rounds to tens, hundreds, ...
fn round(v: &Value, places: i32) -> Result<Value, SqlError> {
    let overflow = || SqlError::doris(format!("round({v}, {places}) overflows"));
    Ok(match to_num(v, "round()")? {
        None => Value::Null,
        Some(Num::Int(i)) if places >= 0 => Value::Int(i),
        Some(Num::Int(i)) => {
            let d = number::pow10(places.unsigned_abs()).ok_or_else(overflow)?;
            Value::Int(number::div_round(i, d).checked_mul(d).ok_or_else(overflow)?)
        }
        Some(Num::Dec(u, s)) => {
            if places >= 0 {
                let to = (places as u8).min(s);
                Value::Decimal(number::rescale(u, s, to).ok_or_else(overflow)?, to)
            } else {
                let whole = number::rescale(u, s, 0).ok_or_else(overflow)?;
                let d = number::pow10(places.unsigned_abs()).ok_or_else(overflow)?;
                Value::Decimal(number::div_round(whole, d).checked_mul(d).ok_or_else(overflow)?, 0)
            }
        }
        Some(Num::Float(f)) => {
            let factor = 10f64.powi(places);
            let r = (f * factor).round() / factor;
            Value::Float(if r.is_finite() { r } else { f })
        }
    })
}

/// MySQL's SUBSTRING(s, pos[, len]): 1-based characters, a negative `pos` counts from the end.
fn substring(s: &str, pos: i128, len: Option<i128>) -> String {
    let count = s.chars().count() as i128;
    let start = match pos {
        0 => return String::new(),
        p if p > 0 => p - 1,
        p => count + p,
    };
    if start < 0 || start >= count {
        return String::new();
    }
    let take = match len {
        Some(l) if l < 1 => return String::new(),
        Some(l) => l.min(count - start),
        None => count - start,
    };
    s.chars().skip(start as usize).take(take as usize).collect()
}

/// SQL LIKE: `%` any run of characters, `_` one character, `\` escapes the next one.
/// Case-sensitive, as in Doris.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let next = |s: &str, at: usize| s[at..].chars().next();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(pc) = next(pattern, pi) {
            if pc == '%' {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            if let Some(tc) = next(text, ti) {
                let (matched, width) = match pc {
                    '_' => (true, 1),
                    '\\' => match next(pattern, pi + 1) {
                        Some(escaped) => (escaped == tc, 1 + escaped.len_utf8()),
                        None => (tc == '\\', 1),
                    },
                    _ => (pc == tc, pc.len_utf8()),
                };
                if matched {
                    pi += width;
                    ti += tc.len_utf8();
                    continue;
                }
            }
        } else if ti == text.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < text.len() => {
                let st = st + next(text, st).map_or(1, char::len_utf8);
                star = Some((sp, st));
                pi = sp;
                ti = st;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("héllo", "h_llo"));
        assert!(like("a%b", "a\\%b"));
        assert!(!like("axb", "a\\%b"));
        assert!(like("abcabc", "%bc%bc"));
        assert!(!like("abc", "ABC"));
        assert!(like("mississippi", "%iss%pi"));
        assert!(!like("abc", "abcd"));
    }

    #[test]
    fn substring_is_mysql_like() {
        assert_eq!(substring("Quadratically", 5, None), "ratically");
        assert_eq!(substring("Quadratically", 5, Some(6)), "ratica");
        assert_eq!(substring("Sakila", -3, None), "ila");
        assert_eq!(substring("Sakila", 0, None), "");
        assert_eq!(substring("Sakila", 9, None), "");
        assert_eq!(substring("Sakila", 2, Some(0)), "");
    }

    #[test]
    fn rounding() {
        assert_eq!(round(&Value::Decimal(12345, 3), 2), Ok(Value::Decimal(1235, 2)));
        assert_eq!(round(&Value::Decimal(-12345, 3), 0), Ok(Value::Decimal(-12, 0)));
        assert_eq!(round(&Value::Int(1250), -2), Ok(Value::Int(1300)));
        assert_eq!(round(&Value::Float(2.5), 0), Ok(Value::Float(3.0)));
        assert_eq!(round(&Value::Float(1.2345), 2), Ok(Value::Float(1.23)));
    }
}
