//! Numbers: number text, DECIMAL scaling with rounding, arithmetic with overflow checks, and the
//! comparison rules between values of different kinds.

use std::cmp::Ordering;

use crate::error::SqlError;
use crate::schema::{self, Value};
use crate::sql::ast::BinaryOp;

/// The most digits a DECIMAL holds.
pub(crate) const MAX_DIGITS: u32 = 38;

pub(crate) fn pow10(k: u32) -> Option<i128> {
    10i128.checked_pow(k)
}

/// `n / d` rounded half away from zero; `d` is a positive power of ten.
pub(crate) fn div_round(n: i128, d: i128) -> i128 {
    if d <= 1 {
        return n;
    }
    let (q, r) = (n / d, n % d);
    if r.unsigned_abs().saturating_mul(2) >= d.unsigned_abs() { q + n.signum() } else { q }
}

/// `u / 10^from` as an unscaled value with `to` decimals, rounded half away from zero; `None`
/// when it does not fit.
pub(crate) fn rescale(u: i128, from: u8, to: u8) -> Option<i128> {
    match to.cmp(&from) {
        Ordering::Equal => Some(u),
        Ordering::Greater => u.checked_mul(pow10(u32::from(to - from))?),
        // 10^39 and up exceed every i128: such a value rounds to zero.
        Ordering::Less => Some(pow10(u32::from(from - to)).map_or(0, |d| div_round(u, d))),
    }
}

/// Whether an unscaled DECIMAL stays within 38 digits.
pub(crate) fn fits_digits(u: i128, digits: u32) -> bool {
    pow10(digits).is_none_or(|limit| u.unsigned_abs() < limit.unsigned_abs())
}

/// Why decimal text did not convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextError {
    NotANumber,
    TooBig,
}

/// Parses `-12.5`, `+3`, `1.5e3`, ` 7 ` into an unscaled value with `scale` decimals, rounding
/// half away from zero, exactly (no floating point on the way).
pub(crate) fn parse_decimal_at(text: &str, scale: u8) -> Result<i128, TextError> {
    let t = text.trim();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => {
            let e = &t[at + 1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TextError::NotANumber);
            }
            // Anything past 400 either overflows or rounds to zero; clamp to keep the math small.
            let magnitude: i64 = digits.parse::<i64>().unwrap_or(i64::MAX).min(400);
            (&t[..at], if e.starts_with('-') { -magnitude } else { magnitude })
        }
        None => (t, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(TextError::NotANumber);
    }
    // value = digits * 10^(exponent - frac_len); we want round(value * 10^scale).
    let digits = int_part.bytes().chain(frac_part.bytes()).skip_while(|b| *b == b'0');
    let digits: Vec<u8> = digits.collect();
    let shift = exponent - frac_part.len() as i64 + i64::from(scale);
    let accumulate = |ds: &[u8]| -> Result<u128, TextError> {
        ds.iter().try_fold(0u128, |acc, d| {
            acc.checked_mul(10).and_then(|a| a.checked_add(u128::from(d - b'0'))).ok_or(TextError::TooBig)
        })
    };
    let magnitude: u128 = if shift >= 0 {
        if digits.is_empty() {
            0
        } else {
            if digits.len() as i64 + shift > 40 {
                return Err(TextError::TooBig);
            }
            let base = accumulate(&digits)?;
            let factor = 10u128.checked_pow(shift as u32).ok_or(TextError::TooBig)?;
            base.checked_mul(factor).ok_or(TextError::TooBig)?
        }
    } else {
        let keep = digits.len() as i64 + shift;
        if keep < 0 {
            0
        } else {
            let keep = keep as usize;
            let base = accumulate(&digits[..keep])?;
            let round_up = digits.get(keep).is_some_and(|d| *d >= b'5');
            if round_up { base.checked_add(1).ok_or(TextError::TooBig)? } else { base }
        }
    };
    let value = i128::try_from(magnitude).map_err(|_| TextError::TooBig)?;
    Ok(if negative { -value } else { value })
}

/// Number text as a value: `12` an INT, `1.50` a DECIMAL (scale 2), `1e3` a DOUBLE; numbers too
/// big for DECIMAL become DOUBLE. `None` when the text is not a number.
pub(crate) fn parse_number_text(text: &str) -> Option<Value> {
    let t = text.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    let float = || t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float);
    if body.contains(['e', 'E']) {
        return float();
    }
    if let Some((_, frac)) = body.split_once('.') {
        let scale = u8::try_from(frac.len()).ok().filter(|s| u32::from(*s) <= MAX_DIGITS);
        return match scale.map(|s| (s, parse_decimal_at(t, s))) {
            Some((s, Ok(u))) if fits_digits(u, MAX_DIGITS) => Some(Value::Decimal(u, s)),
            Some((_, Err(TextError::NotANumber))) => None,
            _ => float(),
        };
    }
    if !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match t.parse::<i128>() {
        Ok(i) => Some(Value::Int(i)),
        Err(_) => float(),
    }
}

/// A number operand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Dec(i128, u8),
    Float(f64),
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Dec(u, s) => u as f64 / 10f64.powi(i32::from(s)),
            Num::Float(f) => f,
        }
    }

    fn as_dec(self) -> (i128, u8) {
        match self {
            Num::Int(i) => (i, 0),
            Num::Dec(u, s) => (u, s),
            Num::Float(_) => (0, 0),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Num::Int(i) => Value::Int(i),
            Num::Dec(u, s) => Value::Decimal(u, s),
            Num::Float(f) => Value::Float(f),
        }
    }
}

pub(crate) fn op_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::Eq => "=",
        BinaryOp::NotEq => "<>",
        BinaryOp::Lt => "<",
        BinaryOp::LtEq => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::GtEq => ">=",
        BinaryOp::And => "AND",
        BinaryOp::Or => "OR",
    }
}

/// A value shown inside an error message: strings quoted, long ones cut.
pub(crate) fn shown(v: &Value) -> String {
    match v {
        Value::Str(s) => {
            let cut: String = s.chars().take(64).collect();
            if cut.len() < s.len() { format!("'{cut}...'") } else { format!("'{s}'") }
        }
        other => other.to_string(),
    }
}

/// A value as a number operand of `op`; `None` for NULL. Strings convert when they are numbers.
pub(crate) fn to_num(v: &Value, op: &str) -> Result<Option<Num>, SqlError> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Int(i) => Num::Int(*i),
        Value::Bool(b) => Num::Int(i128::from(*b)),
        Value::Decimal(u, s) => Num::Dec(*u, *s),
        Value::Float(f) => Num::Float(*f),
        Value::Str(s) => match parse_number_text(s) {
            Some(Value::Int(i)) => Num::Int(i),
            Some(Value::Decimal(u, s)) => Num::Dec(u, s),
            Some(Value::Float(f)) => Num::Float(f),
            _ => return Err(SqlError::doris(format!("{} is not a number (operand of {op})", shown(v)))),
        },
        Value::Date(_) | Value::DateTime(_) => {
            return Err(SqlError::doris(format!(
                "cannot use the date {v} with {op}: date arithmetic is not supported; compare dates or use \
                 YEAR(), MONTH(), DAY()"
            )));
        }
    }))
}

fn float_result(f: f64, op: &str) -> Result<Value, SqlError> {
    if f.is_finite() {
        Ok(Value::Float(f))
    } else {
        Err(SqlError::doris(format!("DOUBLE value is out of range in {op}")))
    }
}

fn overflow(a: &Value, op: &str, b: &Value) -> SqlError {
    SqlError::doris(format!("number overflow in {a} {op} {b}; CAST an operand to DOUBLE for bigger values"))
}

/// `a op b` for `+ - * / %`. NULL in, NULL out; division or remainder by zero is NULL (as in
/// MySQL and Doris); `/` always gives DOUBLE; integers stay integers with overflow checks;
/// DECIMAL keeps its scale (`+ - %`: the larger scale, `*`: the sum of scales, at most 38).
pub(crate) fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, SqlError> {
    let sym = op_symbol(op);
    let (Some(x), Some(y)) = (to_num(a, sym)?, to_num(b, sym)?) else {
        return Ok(Value::Null);
    };
    if op == BinaryOp::Div {
        let (x, y) = (x.as_f64(), y.as_f64());
        return if y == 0.0 { Ok(Value::Null) } else { float_result(x / y, sym) };
    }
    match (x, y) {
        (Num::Float(_), _) | (_, Num::Float(_)) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            match op {
                BinaryOp::Add => float_result(x + y, sym),
                BinaryOp::Sub => float_result(x - y, sym),
                BinaryOp::Mul => float_result(x * y, sym),
                _ if y == 0.0 => Ok(Value::Null),
                _ => float_result(x % y, sym),
            }
        }
        (Num::Int(x), Num::Int(y)) => {
            let result = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                _ if y == 0 => return Ok(Value::Null),
                _ => Some(x.checked_rem(y).unwrap_or(0)),
            };
            result.map(Value::Int).ok_or_else(|| overflow(a, sym, b))
        }
        _ => {
            let ((xu, xs), (yu, ys)) = (x.as_dec(), y.as_dec());
            let (u, s) = match op {
                BinaryOp::Mul => {
                    let u = xu.checked_mul(yu).ok_or_else(|| overflow(a, sym, b))?;
                    let s = xs.saturating_add(ys);
                    if u32::from(s) > MAX_DIGITS {
                        let to = MAX_DIGITS as u8;
                        (rescale(u, s, to).ok_or_else(|| overflow(a, sym, b))?, to)
                    } else {
                        (u, s)
                    }
                }
                _ => {
                    let s = xs.max(ys);
                    let x = rescale(xu, xs, s).ok_or_else(|| overflow(a, sym, b))?;
                    let y = rescale(yu, ys, s).ok_or_else(|| overflow(a, sym, b))?;
                    let u = match op {
                        BinaryOp::Add => x.checked_add(y),
                        BinaryOp::Sub => x.checked_sub(y),
                        _ if y == 0 => return Ok(Value::Null),
                        _ => Some(x.checked_rem(y).unwrap_or(0)),
                    };
                    (u.ok_or_else(|| overflow(a, sym, b))?, s)
                }
            };
            if !fits_digits(u, MAX_DIGITS) {
                return Err(overflow(a, sym, b));
            }
            Ok(Value::Decimal(u, s))
        }
    }
}

/// `-v`.
pub(crate) fn negate(v: &Value) -> Result<Value, SqlError> {
    match to_num(v, "-")? {
        None => Ok(Value::Null),
        Some(Num::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(|| overflow(&Value::Int(0), "-", v)),
        Some(Num::Dec(u, s)) => Ok(Value::Decimal(-u, s)),
        Some(Num::Float(f)) => Ok(Value::Float(-f)),
    }
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Bool(_) | Value::Decimal(..) | Value::Float(_))
}

fn is_date(v: &Value) -> bool {
    matches!(v, Value::Date(_) | Value::DateTime(_))
}

/// Text as a DATE when it is one, else as a DATETIME.
pub(crate) fn parse_date_value(text: &str) -> Option<Value> {
    schema::parse_date(text).map(Value::Date).or_else(|| schema::parse_datetime(text).map(Value::DateTime))
}

/// Compares two values the way SQL's `=`/`<` do: `None` when either is NULL (or a string that is
/// not a number meets a number, as in Doris). Numbers compare by value across kinds; a date with
/// a string parses the string as a date; a string with a number compares numerically.
pub(crate) fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, SqlError> {
    Ok(match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ if is_number(a) && is_number(b) => Some(a.total_cmp(b)),
        _ if is_date(a) && is_date(b) => Some(a.total_cmp(b)),
        (Value::Str(s), d) | (d, Value::Str(s)) if is_date(d) => {
            let Some(parsed) = parse_date_value(s) else {
                return Err(SqlError::doris(format!(
                    "cannot compare the date {d} with {}: not a date (write dates as 'YYYY-MM-DD' or \
                     'YYYY-MM-DD HH:MM:SS')",
                    shown(&Value::Str(s.clone()))
                )));
            };
            let ordering = parsed.total_cmp(d);
            Some(if matches!(a, Value::Str(_)) { ordering } else { ordering.reverse() })
        }
        (Value::Str(s), n) | (n, Value::Str(s)) => {
            let Some(parsed) = parse_number_text(s) else { return Ok(None) };
            let ordering = parsed.total_cmp(n);
            Some(if matches!(a, Value::Str(_)) { ordering } else { ordering.reverse() })
        }
        _ => {
            return Err(SqlError::doris(format!(
                "cannot compare {a} with {b}: a date only compares with a date or a 'YYYY-MM-DD' string"
            )));
        }
    })
}

/// A value as a condition: `None` for NULL. Numbers are true when not zero; strings when they
/// read as true/false or a number (others are NULL, as Doris casts them).
pub(crate) fn truth(v: &Value) -> Result<Option<bool>, SqlError> {
    Ok(match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        Value::Decimal(u, _) => Some(*u != 0),
        Value::Float(f) => Some(*f != 0.0),
        Value::Str(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                parse_number_text(t).and_then(|n| n.as_f64()).map(|f| f != 0.0)
            }
        }
        Value::Date(_) | Value::DateTime(_) => {
            return Err(SqlError::doris(format!("the date {v} is not a condition; compare it with something")));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_rounds_half_away_from_zero() {
        assert_eq!(parse_decimal_at("1.005", 2), Ok(101));
        assert_eq!(parse_decimal_at("-1.005", 2), Ok(-101));
        assert_eq!(parse_decimal_at("1.004", 2), Ok(100));
        assert_eq!(parse_decimal_at(" 12 ", 3), Ok(12_000));
        assert_eq!(parse_decimal_at("1.5e2", 0), Ok(150));
        assert_eq!(parse_decimal_at("15e-1", 1), Ok(15));
        assert_eq!(parse_decimal_at("0.0000001", 2), Ok(0));
        assert_eq!(parse_decimal_at(".5", 0), Ok(1));
        assert_eq!(parse_decimal_at("1e400", 0), Err(TextError::TooBig));
        assert_eq!(parse_decimal_at("abc", 0), Err(TextError::NotANumber));
        assert_eq!(parse_decimal_at("1.2.3", 0), Err(TextError::NotANumber));
        assert_eq!(parse_decimal_at("", 0), Err(TextError::NotANumber));
        assert_eq!(parse_decimal_at("-", 0), Err(TextError::NotANumber));
    }

    #[test]
    fn number_text_kinds() {
        assert_eq!(parse_number_text("42"), Some(Value::Int(42)));
        assert_eq!(parse_number_text("-1.50"), Some(Value::Decimal(-150, 2)));
        assert_eq!(parse_number_text("1e3"), Some(Value::Float(1000.0)));
        assert_eq!(parse_number_text("1".repeat(50).as_str()), Some(Value::Float(1.111_111_111_111_111_1e49)));
        assert_eq!(parse_number_text("inf"), None);
        assert_eq!(parse_number_text("12abc"), None);
        assert_eq!(parse_number_text(""), None);
    }

    #[test]
    fn arithmetic_checks_overflow_and_keeps_scale() {
        let int = |i| Value::Int(i);
        assert_eq!(arithmetic(BinaryOp::Add, &int(2), &int(3)), Ok(int(5)));
        assert!(arithmetic(BinaryOp::Mul, &int(i128::MAX), &int(2)).is_err());
        assert_eq!(arithmetic(BinaryOp::Div, &int(7), &int(2)), Ok(Value::Float(3.5)));
        assert_eq!(arithmetic(BinaryOp::Div, &int(7), &int(0)), Ok(Value::Null));
        assert_eq!(arithmetic(BinaryOp::Mod, &int(-7), &int(3)), Ok(int(-1)));
        assert_eq!(arithmetic(BinaryOp::Mod, &int(7), &int(0)), Ok(Value::Null));
        assert_eq!(arithmetic(BinaryOp::Add, &Value::Decimal(150, 2), &int(1)), Ok(Value::Decimal(250, 2)));
        assert_eq!(
            arithmetic(BinaryOp::Mul, &Value::Decimal(15, 1), &Value::Decimal(15, 1)),
            Ok(Value::Decimal(225, 2))
        );
        assert_eq!(arithmetic(BinaryOp::Add, &Value::Float(0.5), &int(1)), Ok(Value::Float(1.5)));
        assert_eq!(arithmetic(BinaryOp::Add, &Value::Str("2".into()), &int(1)), Ok(int(3)));
        assert!(arithmetic(BinaryOp::Add, &Value::Str("x".into()), &int(1)).is_err());
        assert!(arithmetic(BinaryOp::Add, &Value::Date(1), &int(1)).is_err());
        assert_eq!(arithmetic(BinaryOp::Sub, &Value::Null, &int(1)), Ok(Value::Null));
        assert!(arithmetic(BinaryOp::Mul, &Value::Float(1e300), &Value::Float(1e300)).is_err());
        assert!(negate(&int(i128::MIN)).is_err());
    }

    #[test]
    fn comparisons_across_kinds() {
        let date = Value::Date(schema::parse_date("2024-03-01").unwrap_or_default());
        assert_eq!(compare(&date, &Value::Str("2024-03-01".into())), Ok(Some(Ordering::Equal)));
        assert_eq!(compare(&Value::Str("2024-02-01".into()), &date), Ok(Some(Ordering::Less)));
        assert_eq!(compare(&date, &Value::Str("2024-03-01 00:00:01".into())), Ok(Some(Ordering::Less)));
        assert!(compare(&date, &Value::Str("soon".into())).is_err());
        assert!(compare(&date, &Value::Int(1)).is_err());
        assert_eq!(compare(&Value::Str("10".into()), &Value::Int(9)), Ok(Some(Ordering::Greater)));
        assert_eq!(compare(&Value::Int(9), &Value::Str("10".into())), Ok(Some(Ordering::Less)));
        assert_eq!(compare(&Value::Str("x".into()), &Value::Int(9)), Ok(None));
        assert_eq!(compare(&Value::Decimal(100, 2), &Value::Int(1)), Ok(Some(Ordering::Equal)));
        assert_eq!(compare(&Value::Null, &Value::Int(1)), Ok(None));
    }
}
