//! Queries: binding a parsed SELECT to the columns it reads ([`plan`]) and running it over rows
//! ([`QueryPlan::execute`], or [`QueryPlan::filter_project`] one row at a time), plus the value
//! conversions INSERT needs ([`coerce`], [`default_value`], [`eval_constant`]).
//!
//! The caller supplies the rows: a table's (whatever storage returns, one value per input column
//! in the order of the [`InputColumn`]s given to [`plan`]), `numbers("number" = "N")`'s
//! ([`numbers_columns`], rows `[Int(0)] .. [Int(N-1)]`), or, for a SELECT without FROM, one
//! empty row: plan with no input columns and run [`QueryPlan::execute_without_from`].
//!
//! Semantics (MySQL/Doris-like):
//! - NULL propagates through arithmetic, comparisons and functions (except COALESCE/IFNULL/IF,
//!   IS [NOT] NULL); AND/OR/NOT are three-valued; WHERE and HAVING keep rows whose condition is
//!   TRUE.
//! - Integer `+ - * %` stay integers and overflow is an error (values are 128-bit, so BIGINT
//!   arithmetic does not overflow where Doris would widen to LARGEINT); `/` always yields DOUBLE;
//!   division or remainder by zero is NULL; DECIMAL arithmetic keeps the scale (`+ - %`: the
//!   larger, `*`: the sum, at most 38); anything with a DOUBLE is a DOUBLE.
//! - Numbers of different kinds compare by value; a DATE/DATETIME compared with a string parses
//!   the string as a date (a string literal that is not a date is an error when planning); a
//!   string compared with a number compares numerically when it reads as a number, else the
//!   comparison is NULL (as in Doris). Strings compare by bytes (case-sensitive).
//! - Aggregates: COUNT(*) counts rows, COUNT(e) non-NULL values, COUNT(DISTINCT a, b) distinct
//!   tuples without NULLs; SUM of integers is an integer, of DECIMAL a DECIMAL, of DOUBLE a
//!   DOUBLE; AVG of DECIMAL is a DECIMAL with at least 4 decimals, else a DOUBLE; SUM, MIN, MAX
//!   and AVG ignore NULLs and are NULL over no values; without GROUP BY an aggregate query gives
//!   exactly one row. Groups come out ordered by their key unless ORDER BY says otherwise; ORDER BY sorts with [`Value::total_cmp`] (NULLs first ascending, last
//!   descending), ties keep their input order.
//! - CAST never fails: a value that does not convert is NULL, a string too long is cut. INSERT
//!   conversions ([`coerce`]) are strict instead: see its rules.
//! - Scalar functions: concat, upper/ucase, lower/lcase, length (bytes), char_length, abs,
//!   coalesce, ifnull/nvl, if, nullif, round(x[, d]) (half away from zero), floor, ceil,
//!   substring/substr, year, month, day, and `LIKE` (`%`, `_`, `\` escapes; case-sensitive).
//! - Limits: at most [`MAX_GROUPS`] groups (and DISTINCT aggregate values), at most
//!   [`MAX_ROWS`] rows held for sorting, DISTINCT or the result of [`QueryPlan::execute`].

mod aggregate;
mod bind;
mod coerce;
mod expr;
mod number;

use std::collections::{BTreeMap, BTreeSet, btree_map};

use bind::{Binder, Names, Scope, Typed, position};
pub use coerce::{coerce, default_value};
use expr::{AggCall, BoundExpr, Kind};

use crate::error::SqlError;
use crate::schema::{ColumnType, Row, Value};
use crate::sql::ast::{Expr, FromClause, Select, SelectItem};
use aggregate::{Accumulator, RowKey};

/// Most groups a GROUP BY may make (and most values DISTINCT aggregates may hold).
pub const MAX_GROUPS: usize = 1_000_000;
/// Most rows [`QueryPlan::execute`] holds: rows waiting to be sorted, DISTINCT rows, the result.
pub const MAX_ROWS: usize = 1_000_000;
/// Most columns a query returns (after `*` expands).
pub const MAX_OUTPUT_COLUMNS: usize = 4096;

/// One column of the rows a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputColumn {
    pub name: String,
    pub ty: ColumnType,
}

/// The one column of `numbers("number" = "N")`.
pub fn numbers_columns() -> Vec<InputColumn> {
    vec![InputColumn { name: "number".into(), ty: ColumnType::BigInt }]
}

#[derive(Debug, Clone)]
enum SortSource {
    /// An output column.
    Output(usize),
    /// An expression over the row before projection (input row, or aggregated row).
    Expr(BoundExpr),
}

#[derive(Debug, Clone)]
struct SortKey {
    source: SortSource,
    descending: bool,
}

#[derive(Debug, Clone)]
struct Aggregation {
    /// GROUP BY expressions over input rows.
    keys: Vec<BoundExpr>,
    /// Aggregates over input rows. The aggregated row is the key values, then these results.
    calls: Vec<AggCall>,
}

/// A bound query, ready to run over rows.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    columns: Vec<String>,
    /// WHERE, over input rows.
    filter: Option<BoundExpr>,
    aggregation: Option<Aggregation>,
    /// HAVING, over aggregated rows (over input rows when the query does not aggregate).
    having: Option<BoundExpr>,
    /// The select list, over aggregated rows (input rows when the query does not aggregate).
    projection: Vec<BoundExpr>,
    distinct: bool,
    order: Vec<SortKey>,
    limit: Option<u64>,
    offset: u64,
}

fn not_grouped(input: &[InputColumn], column: usize, place: &str) -> SqlError {
    let name = input.get(column).map_or("?", |c| c.name.as_str());
    SqlError::new(
        1055,
        "42000",
        format!(
            "{place} uses column '{name}', which is not in GROUP BY; add it to GROUP BY or use it inside an \
             aggregate such as MAX({name})"
        ),
    )
}

/// Rewrites an expression over input rows into one over aggregated rows: GROUP BY expressions
/// become key columns, aggregates become result columns (collected in `calls`).
fn over_groups(
    e: &BoundExpr,
    keys: &[BoundExpr],
    calls: &mut Vec<AggCall>,
    input: &[InputColumn],
    place: &str,
) -> Result<BoundExpr, SqlError> {
    if let Some(i) = keys.iter().position(|k| k == e) {
        return Ok(BoundExpr::Column(i));
    }
    let mut go = |x: &BoundExpr| over_groups(x, keys, calls, input, place).map(Box::new);
    Ok(match e {
        BoundExpr::Literal(v) => BoundExpr::Literal(v.clone()),
        BoundExpr::Column(i) => return Err(not_grouped(input, *i, place)),
        BoundExpr::Aggregate(call) => {
            let j = match calls.iter().position(|c| c == call.as_ref()) {
                Some(j) => j,
                None => {
                    calls.push(call.as_ref().clone());
                    calls.len() - 1
                }
            };
            BoundExpr::Column(keys.len() + j)
        }
        BoundExpr::Neg(x) => BoundExpr::Neg(go(x)?),
        BoundExpr::Not(x) => BoundExpr::Not(go(x)?),
        BoundExpr::IsNull(x, negated) => BoundExpr::IsNull(go(x)?, *negated),
        BoundExpr::Cast(x, ty) => BoundExpr::Cast(go(x)?, *ty),
        BoundExpr::Binary(op, l, r) => {
            let l = go(l)?;
            BoundExpr::Binary(*op, l, go(r)?)
        }
        BoundExpr::InList(x, list, negated) => {
            let x = go(x)?;
            let list = list.iter().map(|i| go(i).map(|b| *b)).collect::<Result<_, _>>()?;
            BoundExpr::InList(x, list, *negated)
        }
        BoundExpr::Between(parts, negated) => {
            let [a, b, c] = parts.as_ref();
            let (a, b, c) = (go(a)?, go(b)?, go(c)?);
            BoundExpr::Between(Box::new([*a, *b, *c]), *negated)
        }
        BoundExpr::Call(f, args) => {
            BoundExpr::Call(*f, args.iter().map(|a| go(a).map(|b| *b)).collect::<Result<_, _>>()?)
        }
    })
}

struct Item {
    name: String,
    alias: Option<String>,
    bound: Typed,
}

fn cannot_group(item: &Item) -> SqlError {
    SqlError::new(1056, "42000", format!("Can't group on '{}': it is an aggregate", item.name))
}

/// One GROUP BY expression: a select-list position, an input column, a select-list alias, or
/// an expression over input columns.
fn group_key(e: &Expr, items: &[Item], scope: &Scope<'_>) -> Result<Typed, SqlError> {
    if let Some(p) = position(e) {
        let item = p
            .checked_sub(1)
            .and_then(|i| items.get(i))
            .ok_or_else(|| SqlError::new(1054, "42S22", format!("Unknown column '{p}' in 'group statement'")))?;
        if item.bound.expr.contains_aggregate() {
            return Err(cannot_group(item));
        }
        return Ok(item.bound.clone());
    }
    if let Expr::Column { qualifier: None, name } = e
        && !scope.input.iter().any(|c| c.name.eq_ignore_ascii_case(name))
        && let Some(item) = items.iter().find(|i| i.alias.as_ref().is_some_and(|a| a.eq_ignore_ascii_case(name)))
    {
        if item.bound.expr.contains_aggregate() {
            return Err(cannot_group(item));
        }
        return Ok(item.bound.clone());
    }
    Binder { scope, clause: "group statement", names: Names::Input, aggregates: false }.bind(e)
}

fn check_condition(t: &Typed, clause: &str) -> Result<(), SqlError> {
    if t.kind.is_date() {
        return Err(SqlError::doris(format!("the {clause} is {}, not a condition", t.kind.name())));
    }
    Ok(())
}

/// The select list bound to the input: `*` as every input column.
fn bind_items(select_items: &[SelectItem], scope: &Scope<'_>) -> Result<Vec<Item>, SqlError> {
    let input = scope.input;
    let fields = Binder { scope, clause: "field list", names: Names::Input, aggregates: true };
    let mut items: Vec<Item> = Vec::new();
    for item in select_items {
        match item {
            SelectItem::Wildcard => {
                if input.is_empty() {
                    return Err(SqlError::new(1096, "HY000", "No tables used"));
                }
                for (i, c) in input.iter().enumerate() {
                    let bound = Typed { expr: BoundExpr::Column(i), kind: Kind::of_type(c.ty) };
                    items.push(Item { name: c.name.clone(), alias: None, bound });
                }
            }
            SelectItem::Expr { expr, alias, text } => {
                let bound = fields.bind(expr)?;
                items.push(Item { name: alias.clone().unwrap_or_else(|| text.clone()), alias: alias.clone(), bound });
            }
        }
        if items.len() > MAX_OUTPUT_COLUMNS {
            return Err(SqlError::doris(format!("a query returns at most {MAX_OUTPUT_COLUMNS} columns")));
        }
    }
    Ok(items)
}

/// Binds `select` to the columns of the rows it will read. Column names match case-insensitively;
/// a qualifier must be the table's alias (or its name when it has none).
pub fn plan(select: &Select, input: &[InputColumn]) -> Result<QueryPlan, SqlError> {
    let qualifiers = match &select.from {
        Some(FromClause::Table { table, alias, .. }) => vec![alias.clone().unwrap_or_else(|| table.table.clone())],
        Some(FromClause::Numbers { alias, .. }) => vec![alias.clone().unwrap_or_else(|| "numbers".into())],
        None => Vec::new(),
    };
    let scope = Scope { input, qualifiers };

    let items = bind_items(&select.items, &scope)?;

    let filter = match &select.filter {
        Some(e) => {
            let t = Binder { scope: &scope, clause: "where clause", names: Names::Input, aggregates: false }.bind(e)?;
            check_condition(&t, "WHERE condition")?;
            Some(t.expr)
        }
        None => None,
    };

    let mut keys = Vec::with_capacity(select.group_by.len());
    for e in &select.group_by {
        keys.push(group_key(e, &items, &scope)?.expr);
    }
    let aliases: Vec<(String, Typed)> =
        items.iter().filter_map(|i| i.alias.clone().map(|a| (a, i.bound.clone()))).collect();

    let having = match &select.having {
        Some(e) => {
            let names = Names::Having { aliases: &aliases, group_keys: &keys };
            let t = Binder { scope: &scope, clause: "having clause", names, aggregates: true }.bind(e)?;
            check_condition(&t, "HAVING condition")?;
            Some(t.expr)
        }
        None => None,
    };

    let ordering =
        Binder { scope: &scope, clause: "order clause", names: Names::Order { aliases: &aliases }, aggregates: true };
    let mut order = Vec::with_capacity(select.order_by.len());
    for o in &select.order_by {
        let source = if let Some(p) = position(&o.expr) {
            if p == 0 || p > items.len() {
                return Err(SqlError::new(1054, "42S22", format!("Unknown column '{p}' in 'order clause'")));
            }
            SortSource::Output(p - 1)
        } else if let Expr::Column { qualifier: None, name } = &o.expr
            && let Some(i) = items.iter().position(|i| i.alias.as_ref().is_some_and(|a| a.eq_ignore_ascii_case(name)))
        {
            SortSource::Output(i)
        } else {
            SortSource::Expr(ordering.bind(&o.expr)?.expr)
        };
        order.push(SortKey { source, descending: o.descending });
    }

    let aggregating = !keys.is_empty()
        || items.iter().any(|i| i.bound.expr.contains_aggregate())
        || having.as_ref().is_some_and(BoundExpr::contains_aggregate)
        || order.iter().any(|k| matches!(&k.source, SortSource::Expr(e) if e.contains_aggregate()));

    let (projection, having, aggregation) = if aggregating {
        let mut calls = Vec::new();
        let mut projection = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let place = format!("expression #{} of the select list ({})", n + 1, item.name);
            projection.push(over_groups(&item.bound.expr, &keys, &mut calls, input, &place)?);
        }
        let having = match having {
            Some(h) => Some(over_groups(&h, &keys, &mut calls, input, "HAVING")?),
            None => None,
        };
        for key in &mut order {
            if let SortSource::Expr(e) = &key.source {
                key.source = SortSource::Expr(over_groups(e, &keys, &mut calls, input, "ORDER BY")?);
            }
        }
        (projection, having, Some(Aggregation { keys, calls }))
    } else {
        (items.iter().map(|i| i.bound.expr.clone()).collect::<Vec<_>>(), having, None)
    };

    for key in &mut order {
        if let SortSource::Expr(e) = &key.source
            && let Some(i) = projection.iter().position(|p| p == e)
        {
            key.source = SortSource::Output(i);
        }
        if select.distinct && matches!(key.source, SortSource::Expr(_)) {
            return Err(SqlError::new(
                3065,
                "HY000",
                "Expression of ORDER BY clause is not in SELECT list; with SELECT DISTINCT, order by selected \
                 columns only",
            ));
        }
    }

    Ok(QueryPlan {
        columns: items.into_iter().map(|i| i.name).collect(),
        filter,
        aggregation,
        having,
        projection,
        distinct: select.distinct,
        order,
        limit: select.limit,
        offset: select.offset.unwrap_or(0),
    })
}

/// Evaluates an expression that reads no columns: a value of `INSERT ... VALUES`. `DEFAULT` is
/// not an expression ([`Expr::Default`]: the caller uses [`default_value`]).
pub fn eval_constant(expr: &Expr) -> Result<Value, SqlError> {
    let scope = Scope { input: &[], qualifiers: Vec::new() };
    let bound = Binder { scope: &scope, clause: "field list", names: Names::Input, aggregates: false }.bind(expr)?;
    Ok(bound.expr.eval(&[])?.into_owned())
}

fn too_many_rows() -> SqlError {
    SqlError::doris(format!(
        "the query holds more than {MAX_ROWS} rows (to sort, deduplicate or return); add filters (WHERE) or a LIMIT"
    ))
}

fn passes(condition: &Option<BoundExpr>, row: &[Value]) -> Result<bool, SqlError> {
    match condition {
        Some(c) => c.is_true(row),
        None => Ok(true),
    }
}

impl QueryPlan {
    /// The result's column titles: the alias, else the item as written; `*` gives column names.
    pub fn output_columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// True when the query is a filter and a projection (no aggregation, GROUP BY, ORDER BY or
    /// DISTINCT): rows can stream through [`QueryPlan::filter_project`], the caller skipping
    /// [`QueryPlan::offset`] rows and stopping after [`QueryPlan::limit`].
    pub fn is_row_by_row(&self) -> bool {
        self.aggregation.is_none() && self.order.is_empty() && !self.distinct
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// WHERE, then the select list, for one input row of a row-by-row plan: `None` when the row
    /// is filtered out.
    pub fn filter_project(&self, row: &Row) -> Result<Option<Row>, SqlError> {
        if !self.is_row_by_row() {
            return Err(SqlError::doris("internal error: filter_project on a query that aggregates or sorts"));
        }
        if !passes(&self.filter, row)? || !passes(&self.having, row)? {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.projection.len());
        for e in &self.projection {
            out.push(e.eval(row)?.into_owned());
        }
        Ok(Some(out))
    }

    /// Runs the whole query over `rows` (each with one value per input column).
    pub fn execute(&self, rows: impl IntoIterator<Item = Row>) -> Result<Vec<Row>, SqlError> {
        let mut sink = Sink { plan: self, rows: Vec::new(), sorted: Vec::new(), seen: BTreeSet::new(), skipped: 0 };
        match &self.aggregation {
            None => {
                for row in rows {
                    if sink.full() {
                        break;
                    }
                    if passes(&self.filter, &row)? && passes(&self.having, &row)? {
                        sink.push(&row)?;
                    }
                }
            }
            Some(aggregation) => {
                for row in self.aggregate(aggregation, rows)? {
                    if sink.full() {
                        break;
                    }
                    if passes(&self.having, &row)? {
                        sink.push(&row)?;
                    }
                }
            }
        }
        sink.finish()
    }

    /// Runs a query without FROM (planned with no input columns) over its one empty row.
    pub fn execute_without_from(&self) -> Result<Vec<Row>, SqlError> {
        self.execute([Vec::new()])
    }

    /// Groups the filtered input rows; each result row is the key values, then the aggregates.
    fn aggregate(&self, aggregation: &Aggregation, rows: impl IntoIterator<Item = Row>) -> Result<Vec<Row>, SqlError> {
        let fresh = || aggregation.calls.iter().map(Accumulator::new).collect::<Vec<_>>();
        let mut groups: BTreeMap<RowKey, Vec<Accumulator>> = BTreeMap::new();
        let mut budget = MAX_GROUPS;
        for row in rows {
            if !passes(&self.filter, &row)? {
                continue;
            }
            let mut key = Vec::with_capacity(aggregation.keys.len());
            for k in &aggregation.keys {
                key.push(k.eval(&row)?.into_owned());
            }
            let full = groups.len() >= MAX_GROUPS;
            let accumulators = match groups.entry(RowKey::normalized(key)) {
                btree_map::Entry::Occupied(o) => o.into_mut(),
                btree_map::Entry::Vacant(_) if full => {
                    return Err(SqlError::doris(format!(
                        "GROUP BY makes more than {MAX_GROUPS} groups; add filters (WHERE) or group by fewer values"
                    )));
                }
                btree_map::Entry::Vacant(v) => v.insert(fresh()),
            };
            for (acc, call) in accumulators.iter_mut().zip(&aggregation.calls) {
                acc.update(call, &row, &mut budget)?;
            }
        }
        if groups.is_empty() && aggregation.keys.is_empty() {
            groups.insert(RowKey(Vec::new()), fresh());
        }
        let mut out = Vec::with_capacity(groups.len());
        for (key, accumulators) in groups {
            let mut row = key.0;
            for (acc, call) in accumulators.into_iter().zip(&aggregation.calls) {
                row.push(acc.finish(call)?);
            }
            out.push(row);
        }
        Ok(out)
    }
}

/// Collects result rows: DISTINCT, OFFSET/LIMIT, and sorting (keeping only the best
/// OFFSET + LIMIT rows as it goes when there is a LIMIT).
struct Sink<'p> {
    plan: &'p QueryPlan,
    rows: Vec<Row>,
    sorted: Vec<(Vec<Value>, Row)>,
    seen: BTreeSet<RowKey>,
    skipped: u64,
}

impl Sink<'_> {
    fn full(&self) -> bool {
        self.plan.order.is_empty() && self.plan.limit.is_some_and(|l| self.rows.len() as u64 >= l)
    }

    fn push(&mut self, before: &[Value]) -> Result<(), SqlError> {
        let plan = self.plan;
        let mut row = Vec::with_capacity(plan.projection.len());
        for e in &plan.projection {
            row.push(e.eval(before)?.into_owned());
        }
        if plan.distinct {
            let key = RowKey::normalized(row.clone());
            if self.seen.contains(&key) {
                return Ok(());
            }
            if self.seen.len() >= MAX_ROWS {
                return Err(too_many_rows());
            }
            self.seen.insert(key);
        }
        if plan.order.is_empty() {
            if self.skipped < plan.offset {
                self.skipped += 1;
                return Ok(());
            }
            if self.rows.len() >= MAX_ROWS {
                return Err(too_many_rows());
            }
            self.rows.push(row);
            return Ok(());
        }
        let mut keys = Vec::with_capacity(plan.order.len());
        for key in &plan.order {
            keys.push(match &key.source {
                SortSource::Output(i) => row.get(*i).cloned().unwrap_or(Value::Null),
                SortSource::Expr(e) => e.eval(before)?.into_owned(),
            });
        }
        self.sorted.push((keys, row));
        if let Some(limit) = plan.limit {
            let keep = limit.saturating_add(plan.offset);
            let max = MAX_ROWS as u64;
            if keep <= max / 2 && self.sorted.len() as u64 >= (2 * keep).max(1024) {
                self.sort();
                self.sorted.truncate(keep as usize);
            }
        }
        if self.sorted.len() > MAX_ROWS {
            return Err(too_many_rows());
        }
        Ok(())
    }

    /// A stable sort: rows with equal keys keep the order they came in.
    fn sort(&mut self) {
        let order = &self.plan.order;
        self.sorted.sort_by(|(a, _), (b, _)| {
            for (key, (x, y)) in order.iter().zip(a.iter().zip(b)) {
                let o = x.total_cmp(y);
                if o != std::cmp::Ordering::Equal {
                    return if key.descending { o.reverse() } else { o };
                }
            }
            std::cmp::Ordering::Equal
        });
    }

    fn finish(mut self) -> Result<Vec<Row>, SqlError> {
        if self.plan.order.is_empty() {
            return Ok(self.rows);
        }
        self.sort();
        let offset = usize::try_from(self.plan.offset).unwrap_or(usize::MAX);
        let limit = self.plan.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(self.sorted.into_iter().skip(offset).take(limit).map(|(_, row)| row).collect())
    }
}

#[cfg(test)]
mod tests;
