//! Aggregate states: COUNT, SUM, MIN, MAX, AVG, each optionally DISTINCT.
//!
//! SUM of integers is an integer (overflow is an error), of decimals a DECIMAL with the largest
//! scale seen, of doubles a DOUBLE. AVG of a DECIMAL is a DECIMAL with at least 4 decimals
//! (rounded half away from zero), of anything else a DOUBLE. Every aggregate but COUNT ignores
//! NULLs and is NULL over no values; COUNT(*) counts rows, COUNT(e) non-NULL values,
//! COUNT(DISTINCT a, b) distinct tuples without NULLs.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::expr::{AggCall, AggFunc, BoundExpr};
use super::number::{self, Num, to_num};
use crate::error::SqlError;
use crate::schema::Value;

/// A row of values ordered with [`Value::total_cmp`], for group keys and DISTINCT sets.
#[derive(Debug, Clone)]
pub(crate) struct RowKey(pub Vec<Value>);

impl RowKey {
    /// A key where -0.0 and 0.0 are one value.
    pub(crate) fn normalized(mut values: Vec<Value>) -> RowKey {
        for v in &mut values {
            if let Value::Float(f) = v
                && *f == 0.0
            {
                *f = 0.0;
            }
        }
        RowKey(values)
    }
}

impl Ord for RowKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(&other.0) {
            match a.total_cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for RowKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RowKey {}

/// A running sum.
#[derive(Debug, Clone, Copy)]
enum Sum {
    Empty,
    Num(Num),
}

impl Sum {
    fn add(&mut self, v: &Value) -> Result<(), SqlError> {
        let Some(x) = to_num(v, "sum()")? else { return Ok(()) };
        let overflow = || SqlError::doris("SUM overflows; CAST the argument to DOUBLE to add bigger values");
        *self = Sum::Num(match (*self, x) {
            (Sum::Empty, x) => x,
            (Sum::Num(Num::Float(a)), b) | (Sum::Num(b), Num::Float(a)) => Num::Float(a + b.as_f64()),
            (Sum::Num(Num::Int(a)), Num::Int(b)) => Num::Int(a.checked_add(b).ok_or_else(overflow)?),
            (Sum::Num(a), b) => {
                let (au, as_) = match a {
                    Num::Int(i) => (i, 0),
                    Num::Dec(u, s) => (u, s),
                    Num::Float(_) => (0, 0),
                };
                let (bu, bs) = match b {
                    Num::Int(i) => (i, 0),
                    Num::Dec(u, s) => (u, s),
                    Num::Float(_) => (0, 0),
                };
                let s = as_.max(bs);
                let a = number::rescale(au, as_, s).ok_or_else(overflow)?;
                let b = number::rescale(bu, bs, s).ok_or_else(overflow)?;
                Num::Dec(a.checked_add(b).ok_or_else(overflow)?, s)
            }
        });
        Ok(())
    }

    fn value(self) -> Result<Value, SqlError> {
        match self {
            Sum::Empty => Ok(Value::Null),
            Sum::Num(Num::Float(f)) if !f.is_finite() => Err(SqlError::doris("SUM is out of the DOUBLE range")),
            Sum::Num(n) => Ok(n.into_value()),
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    Count(i64),
    Sum(Sum),
    Avg(Sum, i64),
    Min(Option<Value>),
    Max(Option<Value>),
    Distinct(BTreeSet<RowKey>),
}

/// One aggregate's state for one group.
#[derive(Debug, Clone)]
pub(crate) struct Accumulator(State);

impl Accumulator {
    pub(crate) fn new(call: &AggCall) -> Accumulator {
        Accumulator(if call.distinct {
            State::Distinct(BTreeSet::new())
        } else {
            match call.func {
                AggFunc::Count => State::Count(0),
                AggFunc::Sum => State::Sum(Sum::Empty),
                AggFunc::Avg => State::Avg(Sum::Empty, 0),
                AggFunc::Min => State::Min(None),
                AggFunc::Max => State::Max(None),
            }
        })
    }

    /// Adds one input row. `budget` counts the distinct values every group may still hold.
    pub(crate) fn update(&mut self, call: &AggCall, row: &[Value], budget: &mut usize) -> Result<(), SqlError> {
        if call.args.is_empty() {
            // COUNT(*)
            if let State::Count(n) = &mut self.0 {
                *n += 1;
            }
            return Ok(());
        }
        if let State::Distinct(set) = &mut self.0 {
            let mut values = Vec::with_capacity(call.args.len());
            for arg in &call.args {
                let v = arg.eval(row)?;
                if v.is_null() {
                    return Ok(());
                }
                values.push(v.into_owned());
            }
            let key = RowKey::normalized(values);
            if !set.contains(&key) {
                if *budget == 0 {
                    return Err(SqlError::doris(format!(
                        "aggregates with DISTINCT hold more than {} values; add filters (WHERE) to the query",
                        super::MAX_GROUPS
                    )));
                }
                *budget -= 1;
                set.insert(key);
            }
            return Ok(());
        }
        let v = call.args[0].eval(row)?;
        if v.is_null() {
            return Ok(());
        }
        match &mut self.0 {
            State::Count(n) => *n += 1,
            State::Sum(sum) => sum.add(&v)?,
            State::Avg(sum, n) => {
                sum.add(&v)?;
                *n += 1;
            }
            State::Min(best) => {
                if best.as_ref().is_none_or(|b| v.total_cmp(b) == Ordering::Less) {
                    *best = Some(v.into_owned());
                }
            }
            State::Max(best) => {
                if best.as_ref().is_none_or(|b| v.total_cmp(b) == Ordering::Greater) {
                    *best = Some(v.into_owned());
                }
            }
            State::Distinct(_) => {}
        }
        Ok(())
    }

    pub(crate) fn finish(self, call: &AggCall) -> Result<Value, SqlError> {
        match self.0 {
            State::Count(n) => Ok(Value::Int(i128::from(n))),
            State::Sum(sum) => sum.value(),
            State::Avg(sum, n) => average(sum, n),
            State::Min(best) | State::Max(best) => Ok(best.unwrap_or(Value::Null)),
            State::Distinct(set) => {
                if call.func == AggFunc::Count {
                    return Ok(Value::Int(set.len() as i128));
                }
                // Each distinct value is a one-value row; feed them to the plain aggregate.
                let single = AggCall { func: call.func, args: vec![BoundExpr::Column(0)], distinct: false };
                let mut inner = Accumulator::new(&single);
                let mut unlimited = usize::MAX;
                for key in set {
                    inner.update(&single, &key.0, &mut unlimited)?;
                }
                inner.finish(&single)
            }
        }
    }
}

fn average(sum: Sum, n: i64) -> Result<Value, SqlError> {
    if n == 0 {
        return Ok(Value::Null);
    }
    match sum {
        Sum::Empty => Ok(Value::Null),
        Sum::Num(Num::Dec(u, s)) => {
            let scale = s.max(4);
            match number::rescale(u, s, scale) {
                Some(scaled) => Ok(Value::Decimal(number::div_round(scaled, i128::from(n)), scale)),
                None => Ok(Value::Float(Num::Dec(u, s).as_f64() / n as f64)),
            }
        }
        Sum::Num(other) => Ok(Value::Float(other.as_f64() / n as f64)),
    }
}
