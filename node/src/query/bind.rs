//! Binding: names to column positions, function names to implementations, with every check that
//! can be made before a row is read (unknown columns and functions, argument counts, aggregates
//! where they are not allowed, date arithmetic, dates compared with strings that are not dates).

use super::InputColumn;
use super::expr::{AggCall, AggFunc, BoundExpr, Func, Kind};
use super::number::{parse_date_value, parse_number_text, shown};
use crate::error::SqlError;
use crate::schema::{ColumnType, Value};
use crate::sql::ast::{BinaryOp, Expr, Literal, UnaryOp};

/// How deep a bound expression may nest (the parser stops at 200).
const MAX_BIND_DEPTH: u32 = 256;

/// A bound expression and what it evaluates to.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub expr: BoundExpr,
    pub kind: Kind,
}

/// What names can mean: the input's columns, and the qualifier (table name or alias) they may carry.
pub(crate) struct Scope<'a> {
    pub input: &'a [InputColumn],
    pub qualifiers: Vec<String>,
}

/// Where select-list aliases count, and how they rank against input columns.
pub(crate) enum Names<'a> {
    Input,
    /// HAVING: a grouped input column first, then an alias, then any input column.
    Having {
        aliases: &'a [(String, Typed)],
        group_keys: &'a [BoundExpr],
    },
    /// ORDER BY: an alias first, then an input column.
    Order {
        aliases: &'a [(String, Typed)],
    },
}

pub(crate) struct Binder<'a> {
    pub scope: &'a Scope<'a>,
    /// How MySQL names the clause in "Unknown column 'x' in '...'".
    pub clause: &'static str,
    pub names: Names<'a>,
    /// Whether aggregate functions may appear.
    pub aggregates: bool,
}

fn typed(expr: BoundExpr, kind: Kind) -> Typed {
    Typed { expr, kind }
}

/// A whole number literal: a select-list position in GROUP BY and ORDER BY.
pub(crate) fn position(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Literal(Literal::Number(n)) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

pub(crate) fn literal(l: &Literal) -> Result<Typed, SqlError> {
    let v = match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::String(s) => Value::Str(s.clone()),
        Literal::Number(text) => parse_number_text(text)
            .ok_or_else(|| SqlError::doris(format!("bad number {text}: write numbers as 12, -1.5 or 2e3")))?,
    };
    let kind = Kind::of_value(&v);
    Ok(typed(BoundExpr::Literal(v), kind))
}

/// A string literal compared with a date becomes a date (an error when it is not one).
fn date_operand(other: Kind, t: Typed) -> Result<Typed, SqlError> {
    if other.is_date()
        && let BoundExpr::Literal(Value::Str(s)) = &t.expr
    {
        let v = parse_date_value(s).ok_or_else(|| {
            SqlError::doris(format!(
                "{} is not a date to compare a date with; write dates as 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'",
                shown(&Value::Str(s.clone()))
            ))
        })?;
        return Ok(typed(BoundExpr::Literal(v.clone()), Kind::of_value(&v)));
    }
    Ok(t)
}

fn check_comparable(a: Kind, b: Kind) -> Result<(), SqlError> {
    if (a.is_date() && b.is_number()) || (b.is_date() && a.is_number()) {
        return Err(SqlError::doris(format!(
            "cannot compare {} with {}; write the date as 'YYYY-MM-DD'",
            a.name(),
            b.name()
        )));
    }
    Ok(())
}

fn check_condition(t: &Typed, what: &str) -> Result<(), SqlError> {
    if t.kind.is_date() {
        return Err(SqlError::doris(format!(
            "{what} is {}, not a condition; compare it with something",
            t.kind.name()
        )));
    }
    Ok(())
}

fn check_number(kind: Kind, what: &str) -> Result<(), SqlError> {
    if kind.is_date() {
        return Err(SqlError::doris(format!(
            "{what} needs a number, not {}: date arithmetic is not supported; compare dates or use YEAR(), \
             MONTH(), DAY()",
            kind.name()
        )));
    }
    Ok(())
}

/// The kind of `a op b` for `+ - * %` (`/` is always a double).
fn arithmetic_kind(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Null, _) | (_, Kind::Null) => Kind::Null,
        (Kind::Float, _) | (_, Kind::Float) => Kind::Float,
        (Kind::Str | Kind::Any, _) | (_, Kind::Str | Kind::Any) => Kind::Any,
        (Kind::Decimal, _) | (_, Kind::Decimal) => Kind::Decimal,
        _ => Kind::Int,
    }
}

/// One kind for values from several branches (COALESCE, IF).
fn common_kind(kinds: impl Iterator<Item = Kind>) -> Kind {
    let mut common = Kind::Null;
    for k in kinds {
        common = match (common, k) {
            (Kind::Null, k) => k,
            (c, Kind::Null) => c,
            (c, k) if c == k => c,
            _ => Kind::Any,
        };
    }
    common
}

#[cold]
fn too_deep() -> SqlError {
    SqlError::doris(format!("expression nests more than {MAX_BIND_DEPTH} levels; simplify it"))
}

#[cold]
fn default_outside() -> SqlError {
    SqlError::doris("DEFAULT can only stand as a whole value in INSERT ... VALUES (...)")
}

fn unknown_function(name: &str) -> SqlError {
    if matches!(name, "database" | "schema" | "user" | "current_user" | "session_user" | "version" | "connection_id") {
        return SqlError::doris(format!(
            "{}() can only be selected on its own, as in SELECT {}()",
            name.to_ascii_uppercase(),
            name.to_ascii_uppercase()
        ));
    }
    SqlError::new(
        1305,
        "42000",
        format!(
            "FUNCTION {name} does not exist; the functions are {} and the aggregates avg, count, max, min, sum",
            Func::NAMES
        ),
    )
}

fn parameter_count(name: &str, wanted: &str) -> SqlError {
    SqlError::new(
        1582,
        "42000",
        format!("Incorrect parameter count in the call to native function '{name}'; it takes {wanted}"),
    )
}

impl Binder<'_> {
    pub(crate) fn bind(&self, expr: &Expr) -> Result<Typed, SqlError> {
        self.bind_at(expr, 0, false)
    }

    /// Dispatches to one function per kind of expression, which keeps this recursive frame small.
    fn bind_at(&self, expr: &Expr, depth: u32, in_aggregate: bool) -> Result<Typed, SqlError> {
        if depth > MAX_BIND_DEPTH {
            return Err(too_deep());
        }
        let depth = depth + 1;
        match expr {
            Expr::Literal(l) => literal(l),
            Expr::Column { qualifier, name } => self.column(qualifier.as_deref(), name),
            Expr::Unary { op, expr } => self.unary(*op, expr, depth, in_aggregate),
            Expr::Binary { op, left, right } => self.binary(*op, left, right, depth, in_aggregate),
            Expr::InList { expr, list, negated } => self.in_list(expr, list, *negated, depth, in_aggregate),
            Expr::Between { expr, low, high, negated } => {
                self.between([expr, low, high], *negated, depth, in_aggregate)
            }
            Expr::IsNull { expr, negated } => self.is_null(expr, *negated, depth, in_aggregate),
            Expr::Function { name, args, star, distinct } => {
                self.function(name, args, *star, *distinct, depth, in_aggregate)
            }
            Expr::Cast { expr, ty } => self.cast(expr, *ty, depth, in_aggregate),
            Expr::Default => Err(default_outside()),
        }
    }

    fn column(&self, qualifier: Option<&str>, name: &str) -> Result<Typed, SqlError> {
        let unknown = || {
            let full = match qualifier {
                Some(q) => format!("{q}.{name}"),
                None => name.to_string(),
            };
            SqlError::new(1054, "42S22", format!("Unknown column '{full}' in '{}'", self.clause))
        };
        if let Some(q) = qualifier
            && !self.scope.qualifiers.iter().any(|allowed| allowed.eq_ignore_ascii_case(q))
        {
            return Err(unknown());
        }
        let input = self.scope.input.iter().position(|c| c.name.eq_ignore_ascii_case(name));
        if qualifier.is_none() {
            let alias = |aliases: &[(String, Typed)]| {
                aliases.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map(|(_, t)| t.clone())
            };
            let found = match &self.names {
                Names::Input => None,
                Names::Order { aliases } => alias(aliases),
                Names::Having { aliases, group_keys } => {
                    let grouped = input.is_some_and(|i| group_keys.contains(&BoundExpr::Column(i)));
                    if grouped { None } else { alias(aliases) }
                }
            };
            if let Some(t) = found {
                return Ok(t);
            }
        }
        let i = input.ok_or_else(unknown)?;
        Ok(typed(BoundExpr::Column(i), Kind::of_type(self.scope.input[i].ty)))
    }

    // The functions below recurse through `bind_at`: they bind the operands and leave the checks
    // to functions that run after, so that their stack frames stay small in debug builds.

    fn unary(&self, op: UnaryOp, expr: &Expr, depth: u32, in_aggregate: bool) -> Result<Typed, SqlError> {
        let t = self.bind_at(expr, depth, in_aggregate)?;
        unary_typed(op, t)
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr, depth: u32, in_agg: bool) -> Result<Typed, SqlError> {
        let l = self.bind_at(left, depth, in_agg)?;
        let r = self.bind_at(right, depth, in_agg)?;
        binary_typed(op, l, r)
    }

    fn in_list(&self, expr: &Expr, list: &[Expr], negated: bool, depth: u32, in_agg: bool) -> Result<Typed, SqlError> {
        let e = self.bind_at(expr, depth, in_agg)?;
        let mut items = Vec::with_capacity(list.len());
        for item in list {
            let t = self.bind_at(item, depth, in_agg)?;
            items.push(comparable_operand(e.kind, t)?);
        }
        Ok(typed(BoundExpr::InList(Box::new(e.expr), items, negated), Kind::Bool))
    }

    fn between(&self, parts: [&Expr; 3], negated: bool, depth: u32, in_agg: bool) -> Result<Typed, SqlError> {
        let e = self.bind_at(parts[0], depth, in_agg)?;
        let low = self.bind_at(parts[1], depth, in_agg)?;
        let high = self.bind_at(parts[2], depth, in_agg)?;
        let (low, high) = (comparable_operand(e.kind, low)?, comparable_operand(e.kind, high)?);
        Ok(typed(BoundExpr::Between(Box::new([e.expr, low, high]), negated), Kind::Bool))
    }

    fn is_null(&self, expr: &Expr, negated: bool, depth: u32, in_agg: bool) -> Result<Typed, SqlError> {
        let t = self.bind_at(expr, depth, in_agg)?;
        Ok(typed(BoundExpr::IsNull(Box::new(t.expr), negated), Kind::Bool))
    }

    fn cast(&self, expr: &Expr, ty: ColumnType, depth: u32, in_agg: bool) -> Result<Typed, SqlError> {
        let t = self.bind_at(expr, depth, in_agg)?;
        Ok(typed(BoundExpr::Cast(Box::new(t.expr), ty), Kind::of_type(ty)))
    }

    fn bind_args(&self, args: &[Expr], depth: u32, in_agg: bool) -> Result<Vec<Typed>, SqlError> {
        let mut bound = Vec::with_capacity(args.len());
        for arg in args {
            bound.push(self.bind_at(arg, depth, in_agg)?);
        }
        Ok(bound)
    }

    fn function(
        &self,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
        depth: u32,
        in_agg: bool,
    ) -> Result<Typed, SqlError> {
        if let Some(func) = AggFunc::by_name(name) {
            if let Some(count_star) = self.check_aggregate(func, name, args.len(), star, distinct, in_agg)? {
                return Ok(count_star);
            }
            let bound = self.bind_args(args, depth, true)?;
            return aggregate_typed(func, name, bound, distinct);
        }
        let func = check_call(name, args.len(), star, distinct)?;
        let bound = self.bind_args(args, depth, in_agg)?;
        call_typed(func, name, bound)
    }

    /// Whether an aggregate may stand here; `COUNT(*)` comes back bound.
    fn check_aggregate(
        &self,
        func: AggFunc,
        name: &str,
        args: usize,
        star: bool,
        distinct: bool,
        in_agg: bool,
    ) -> Result<Option<Typed>, SqlError> {
        if !self.aggregates {
            let hint = if self.clause == "where clause" { "; put conditions on aggregates in HAVING" } else { "" };
            return Err(SqlError::new(
                1111,
                "HY000",
                format!("Invalid use of group function: {name}() is not allowed in the {}{hint}", self.clause),
            ));
        }
        if in_agg {
            return Err(SqlError::new(1111, "HY000", "Invalid use of group function: aggregates cannot be nested"));
        }
        if star {
            if func != AggFunc::Count {
                return Err(SqlError::doris(format!("{name}(*) is not valid; only COUNT(*) takes *")));
            }
            let call = AggCall { func, args: Vec::new(), distinct: false };
            return Ok(Some(typed(BoundExpr::Aggregate(Box::new(call)), Kind::Int)));
        }
        if args == 0 || (args > 1 && !(func == AggFunc::Count && distinct)) {
            return Err(parameter_count(name, "1 argument"));
        }
        Ok(None)
    }
}

fn unary_typed(op: UnaryOp, t: Typed) -> Result<Typed, SqlError> {
    match op {
        UnaryOp::Neg => {
            check_number(t.kind, "unary minus")?;
            let kind = match t.kind {
                Kind::Bool => Kind::Int,
                Kind::Str => Kind::Any,
                k => k,
            };
            Ok(typed(BoundExpr::Neg(Box::new(t.expr)), kind))
        }
        UnaryOp::Not => {
            check_condition(&t, "the operand of NOT")?;
            Ok(typed(BoundExpr::Not(Box::new(t.expr)), Kind::Bool))
        }
    }
}

fn binary_typed(op: BinaryOp, l: Typed, r: Typed) -> Result<Typed, SqlError> {
    let kind = match op {
        BinaryOp::And | BinaryOp::Or => {
            check_condition(&l, "an operand of AND/OR")?;
            check_condition(&r, "an operand of AND/OR")?;
            Kind::Bool
        }
        BinaryOp::Eq | BinaryOp::NotEq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
            let (lk, rk) = (l.kind, r.kind);
            let (l, r) = (date_operand(rk, l)?, date_operand(lk, r)?);
            check_comparable(l.kind, r.kind)?;
            return Ok(typed(BoundExpr::Binary(op, Box::new(l.expr), Box::new(r.expr)), Kind::Bool));
        }
        _ => {
            let symbol = super::number::op_symbol(op);
            check_number(l.kind, symbol)?;
            check_number(r.kind, symbol)?;
            if op == BinaryOp::Div { Kind::Float } else { arithmetic_kind(l.kind, r.kind) }
        }
    };
    Ok(typed(BoundExpr::Binary(op, Box::new(l.expr), Box::new(r.expr)), kind))
}

/// An operand compared with something of kind `other` (IN lists, BETWEEN bounds).
fn comparable_operand(other: Kind, t: Typed) -> Result<BoundExpr, SqlError> {
    let t = date_operand(other, t)?;
    check_comparable(other, t.kind)?;
    Ok(t.expr)
}

/// The scalar function a call names, checked against its argument count.
fn check_call(name: &str, args: usize, star: bool, distinct: bool) -> Result<Func, SqlError> {
    if star {
        return Err(SqlError::doris(format!("{name}(*) is not valid; only COUNT(*) takes *")));
    }
    if distinct {
        return Err(SqlError::doris(format!(
            "{name}(DISTINCT ...) is not valid; DISTINCT only goes in count, sum, min, max and avg"
        )));
    }
    let Some((func, min, max)) = Func::by_name(name) else {
        return Err(unknown_function(name));
    };
    if args < min || args > max {
        let wanted = match (min, max) {
            (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b} arguments"),
        };
        return Err(parameter_count(name, &wanted));
    }
    Ok(func)
}

fn call_typed(func: Func, name: &str, args: Vec<Typed>) -> Result<Typed, SqlError> {
    let kinds: Vec<Kind> = args.iter().map(|t| t.kind).collect();
    let first = kinds.first().copied().unwrap_or(Kind::Null);
    let what = format!("{name}()");
    let kind = match func {
        Func::Concat | Func::Upper | Func::Lower | Func::Substring | Func::Repeat => Kind::Str,
        Func::Length | Func::CharLength => Kind::Int,
        Func::Year | Func::Month | Func::Day => {
            if first.is_number() {
                return Err(SqlError::doris(format!("{what} needs a date, not {}", first.name())));
            }
            Kind::Int
        }
        Func::Abs | Func::Round => {
            check_number(first, &what)?;
            match first {
                Kind::Str => Kind::Any,
                Kind::Bool => Kind::Int,
                k => k,
            }
        }
        Func::Floor | Func::Ceil => {
            check_number(first, &what)?;
            match first {
                Kind::Float => Kind::Float,
                Kind::Str | Kind::Any => Kind::Any,
                Kind::Null => Kind::Null,
                _ => Kind::Int,
            }
        }
        Func::Coalesce => common_kind(kinds.iter().copied()),
        Func::If => common_kind(kinds.iter().skip(1).copied()),
        Func::NullIf => first,
        Func::Like => Kind::Bool,
    };
    Ok(typed(BoundExpr::Call(func, args.into_iter().map(|t| t.expr).collect()), kind))
}

fn aggregate_typed(func: AggFunc, name: &str, args: Vec<Typed>, distinct: bool) -> Result<Typed, SqlError> {
    let kind = args.last().map_or(Kind::Null, |t| t.kind);
    let numeric = || -> Result<(), SqlError> {
        if kind == Kind::Str || kind.is_date() {
            return Err(SqlError::doris(format!("{name}() needs numbers, not {}", kind.name())));
        }
        Ok(())
    };
    let result = match func {
        AggFunc::Count => Kind::Int,
        AggFunc::Min | AggFunc::Max => kind,
        AggFunc::Sum => {
            numeric()?;
            match kind {
                Kind::Bool | Kind::Int => Kind::Int,
                Kind::Decimal | Kind::Float | Kind::Null => kind,
                _ => Kind::Any,
            }
        }
        AggFunc::Avg => {
            numeric()?;
            if kind == Kind::Decimal { Kind::Decimal } else { Kind::Float }
        }
    };
    let call = AggCall { func, args: args.into_iter().map(|t| t.expr).collect(), distinct };
    Ok(typed(BoundExpr::Aggregate(Box::new(call)), result))
}
