//! How fast `INSERT ... SELECT expr FROM numbers(...)` can turn rows into values: WHERE and the
//! select list ([`QueryPlan::filter_project`]) plus [`coerce`] per row. A timing, so ignored by
//! default; run it with
//! `cargo test --release -p palo-node --test query_speed -- --ignored --nocapture`.

use palo_node::query::{coerce, numbers_columns, plan};
use palo_node::schema::{Column, ColumnType, Value};
use palo_node::sql::{Statement, parse};

fn column(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: true,
        default: None,
        comment: String::new(),
        aggregation: None,
        is_key: false,
    }
}

#[test]
#[ignore = "a timing; run it in release"]
fn filter_project_and_coerce_per_row() {
    let sql = "SELECT number * 2 + 1, concat('row-', number) FROM numbers(\"number\" = \"1000000\") WHERE number >= 0";
    let Ok(Statement::Select(select)) = parse(sql) else { panic!("{sql} must parse") };
    let plan = plan(&select, &numbers_columns()).expect("plans");
    let target = [column("a", ColumnType::BigInt), column("b", ColumnType::Varchar { len: 64 })];
    let n: u32 = 1_000_000;
    let mut row = vec![Value::Null];
    let mut values = 0usize;
    let start = std::time::Instant::now();
    for i in 0..n {
        row[0] = Value::Int(i128::from(i));
        if let Ok(Some(out)) = plan.filter_project(&row) {
            for (v, c) in out.into_iter().zip(&target) {
                values += usize::from(coerce(v, c).is_ok());
            }
        }
    }
    let elapsed = start.elapsed();
    eprintln!("{values} values in {elapsed:?}: {:?} per row", elapsed / n);
    assert_eq!(values, 2 * n as usize);
}
