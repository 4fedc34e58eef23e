//! PLACEHOLDER until the query branch lands (theirs wins at merge).
use crate::error::SqlError;
use crate::schema::{Column, ColumnType, Row, Value};
use crate::sql::ast::{Expr, Select};

pub struct InputColumn {
    pub name: String,
    pub ty: ColumnType,
}

pub struct QueryPlan;

impl QueryPlan {
    pub fn output_columns(&self) -> Vec<String> {
        Vec::new()
    }
    pub fn is_row_by_row(&self) -> bool {
        true
    }
    pub fn filter_project(&self, row: &Row) -> Result<Option<Row>, SqlError> {
        Ok(Some(row.clone()))
    }
    pub fn execute(&self, rows: impl IntoIterator<Item = Row>) -> Result<Vec<Row>, SqlError> {
        Ok(rows.into_iter().collect())
    }
}

pub fn plan(_select: &Select, _input: &[InputColumn]) -> Result<QueryPlan, SqlError> {
    Ok(QueryPlan)
}

pub fn eval_constant(_expr: &Expr) -> Result<Value, SqlError> {
    Ok(Value::Null)
}

pub fn coerce(value: Value, _column: &Column) -> Result<Value, String> {
    Ok(value)
}

pub fn default_value(_column: &Column) -> Result<Value, String> {
    Ok(Value::Null)
}
