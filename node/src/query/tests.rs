use super::*;
use crate::schema::{self, ColumnType};
use crate::sql::{Statement, parse};

fn select(sql: &str) -> Select {
    match parse(sql) {
        Ok(Statement::Select(s)) => *s,
        other => panic!("{sql} must parse as a query, got {other:?}"),
    }
}

fn expr(sql: &str) -> Expr {
    match select(&format!("SELECT {sql} FROM t")).items.into_iter().next() {
        Some(SelectItem::Expr { expr, .. }) => expr,
        other => panic!("{sql}: {other:?}"),
    }
}

fn columns() -> Vec<InputColumn> {
    let c = |name: &str, ty| InputColumn { name: name.into(), ty };
    vec![
        c("k", ColumnType::Int),
        c("name", ColumnType::Varchar { len: 20 }),
        c("v", ColumnType::Decimal { precision: 10, scale: 2 }),
        c("d", ColumnType::Date),
        c("f", ColumnType::Double),
    ]
}

fn date(text: &str) -> Value {
    Value::Date(schema::parse_date(text).unwrap_or_default())
}

fn s(text: &str) -> Value {
    Value::Str(text.into())
}

fn rows() -> Vec<Row> {
    let row = |k: i128, name: Option<&str>, v: Option<i128>, d: &str, f: f64| {
        vec![
            Value::Int(k),
            name.map_or(Value::Null, s),
            v.map_or(Value::Null, |v| Value::Decimal(v, 2)),
            date(d),
            Value::Float(f),
        ]
    };
    vec![
        row(1, Some("a"), Some(150), "2024-01-01", 0.5),
        row(2, Some("b"), Some(250), "2024-02-01", 1.5),
        row(3, Some("a"), None, "2024-03-01", 2.5),
        row(4, None, Some(-100), "2024-04-01", 3.5),
        row(5, Some("b"), Some(1), "2024-05-01", 4.5),
    ]
}

fn run(sql: &str) -> Result<Vec<Row>, SqlError> {
    plan(&select(sql), &columns())?.execute(rows())
}

fn ok(sql: &str) -> Vec<Row> {
    run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The result as text cells, NULL as "NULL".
fn cells(sql: &str) -> Vec<Vec<String>> {
    ok(sql).into_iter().map(|r| r.into_iter().map(|v| v.to_string()).collect()).collect()
}

fn err(sql: &str) -> SqlError {
    match run(sql) {
        Err(e) => e,
        Ok(rows) => panic!("{sql} must fail, got {rows:?}"),
    }
}

fn ints(values: &[i128]) -> Vec<Row> {
    values.iter().map(|i| vec![Value::Int(*i)]).collect()
}

#[test]
fn filter_and_projection() {
    assert_eq!(ok("SELECT k FROM t WHERE k > 3"), ints(&[4, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE name = 'a' AND v IS NULL"), ints(&[3]));
    assert_eq!(ok("SELECT k FROM t WHERE k IN (1, 5, 9)"), ints(&[1, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE k BETWEEN 2 AND 3"), ints(&[2, 3]));
    assert_eq!(ok("SELECT k FROM t WHERE k NOT BETWEEN 2 AND 4"), ints(&[1, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE name LIKE 'b%'"), ints(&[2, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE name NOT LIKE 'b%'"), ints(&[1, 3]));
    assert_eq!(ok("SELECT k FROM t WHERE v > 1.5"), ints(&[2]));
    assert_eq!(ok("SELECT k FROM t WHERE v = 1.50"), ints(&[1]));
    assert_eq!(ok("SELECT k FROM t WHERE f >= 2"), ints(&[3, 4, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE k = '2'"), ints(&[2]));
    assert_eq!(ok("SELECT k FROM t LIMIT 2 OFFSET 1"), ints(&[2, 3]));
    assert_eq!(ok("SELECT k FROM t LIMIT 3, 10"), ints(&[4, 5]));
    assert_eq!(ok("SELECT k FROM t LIMIT 0"), ints(&[]));
    assert_eq!(
        cells("SELECT k * 2 + 1, concat(name, '-', k), upper(name), v * 2, k / 2, k % 2 FROM t WHERE k = 1"),
        vec![vec!["3", "a-1", "A", "3.00", "0.5", "1"]]
    );
}

#[test]
fn columns_wildcards_and_qualifiers() {
    let p = plan(&select("SELECT *, k AS key1, sum(v) FROM t GROUP BY k, name, v, d, f"), &columns()).expect("plans");
    assert_eq!(p.output_columns(), vec!["k", "name", "v", "d", "f", "key1", "sum(v)"]);
    assert_eq!(ok("SELECT t.k FROM t WHERE t.k = 1"), ints(&[1]));
    assert_eq!(ok("SELECT x.k FROM db.t AS x WHERE x.k = 1"), ints(&[1]));
    assert_eq!(ok("SELECT `K` FROM t WHERE K = 1"), ints(&[1]));
    let e = err("SELECT t.k FROM t AS x");
    assert_eq!((e.code, e.message.as_str()), (1054, "Unknown column 't.k' in 'field list'"));
    let e = err("SELECT nope FROM t");
    assert_eq!(
        (e.code, e.sql_state.as_str(), e.message.as_str()),
        (1054, "42S22", "Unknown column 'nope' in 'field list'")
    );
    assert_eq!(err("SELECT k FROM t WHERE nope = 1").message, "Unknown column 'nope' in 'where clause'");
    assert_eq!(err("SELECT k FROM t ORDER BY nope").message, "Unknown column 'nope' in 'order clause'");
    assert_eq!(err("SELECT k FROM t GROUP BY nope").message, "Unknown column 'nope' in 'group statement'");
    assert_eq!(err("SELECT k FROM t GROUP BY k HAVING nope > 1").message, "Unknown column 'nope' in 'having clause'");
}

#[test]
fn aggregates_and_groups() {
    assert_eq!(
        cells("SELECT name, count(*), count(v), sum(v), min(k), max(k), avg(k), avg(v) FROM t GROUP BY name"),
        vec![
            vec!["NULL", "1", "1", "-1.00", "4", "4", "4", "-1.0000"],
            vec!["a", "2", "1", "1.50", "1", "3", "2", "1.5000"],
            vec!["b", "2", "2", "2.51", "2", "5", "3.5", "1.2550"],
        ]
    );
    assert_eq!(
        cells("SELECT count(*), sum(k), count(DISTINCT name), sum(f) FROM t"),
        vec![vec!["5", "15", "2", "12.5"]]
    );
    assert_eq!(cells("SELECT count(DISTINCT name, v > 0) FROM t"), vec![vec!["2"]]);
    assert_eq!(cells("SELECT sum(DISTINCT k % 2), avg(DISTINCT k % 2) FROM t"), vec![vec!["1", "0.5"]]);
    // No rows: one row of empty aggregates without GROUP BY, none with it.
    assert_eq!(
        cells("SELECT count(*), sum(k), max(name), avg(v) FROM t WHERE k > 100"),
        vec![vec!["0", "NULL", "NULL", "NULL"]]
    );
    assert_eq!(ok("SELECT k, count(*) FROM t WHERE k > 100 GROUP BY k"), Vec::<Row>::new());
    assert_eq!(
        cells("SELECT name AS n, count(*) AS c FROM t GROUP BY n HAVING c > 1 ORDER BY n DESC"),
        vec![vec!["b", "2"], vec!["a", "2"]]
    );
    assert_eq!(cells("SELECT name, sum(k) FROM t GROUP BY 1 ORDER BY 2 DESC LIMIT 1"), vec![vec!["b", "7"]]);
    assert_eq!(cells("SELECT k % 2 AS odd, count(*) FROM t GROUP BY k % 2"), vec![vec!["0", "2"], vec!["1", "3"]]);
    assert_eq!(cells("SELECT count(*) FROM t HAVING count(*) > 10"), Vec::<Vec<String>>::new());
    assert_eq!(cells("SELECT sum(k) + 1, max(k) - min(k) FROM t"), vec![vec!["16", "4"]]);
    assert_eq!(cells("SELECT name FROM t GROUP BY name ORDER BY count(*) DESC, name LIMIT 1"), vec![vec!["a"]]);
    assert_eq!(cells("SELECT year(d), count(*) FROM t GROUP BY year(d)"), vec![vec!["2024", "5"]]);
}

#[test]
fn grouping_errors_are_clear() {
    let e = err("SELECT name, k FROM t GROUP BY name");
    assert_eq!(e.code, 1055);
    assert!(
        e.message.contains("expression #2 of the select list (k) uses column 'k', which is not in GROUP BY"),
        "{e}"
    );
    assert_eq!(err("SELECT k, count(*) FROM t").code, 1055);
    assert_eq!(err("SELECT name FROM t GROUP BY name ORDER BY k").code, 1055);
    let e = err("SELECT k FROM t WHERE count(*) > 1");
    assert_eq!(e.code, 1111);
    assert!(e.message.contains("HAVING"), "{e}");
    assert_eq!(err("SELECT sum(count(*)) FROM t").code, 1111);
    assert_eq!(err("SELECT count(*) FROM t GROUP BY 1").code, 1056);
    assert_eq!(err("SELECT count(*) FROM t GROUP BY count(*)").code, 1111);
    assert_eq!(err("SELECT k FROM t GROUP BY 3").message, "Unknown column '3' in 'group statement'");
    assert_eq!(err("SELECT k FROM t ORDER BY 2").message, "Unknown column '2' in 'order clause'");
    assert!(err("SELECT sum(name) FROM t").message.contains("sum() needs numbers, not a string"));
    assert_eq!(err("SELECT sum(k, v) FROM t").code, 1582);
    assert!(err("SELECT max(*) FROM t").message.contains("only COUNT(*)"));
}

#[test]
fn ordering() {
    assert_eq!(
        cells("SELECT name FROM t ORDER BY name"),
        vec![vec!["NULL"], vec!["a"], vec!["a"], vec!["b"], vec!["b"]]
    );
    assert_eq!(
        cells("SELECT v FROM t ORDER BY v DESC"),
        vec![vec!["2.50"], vec!["1.50"], vec!["0.01"], vec!["-1.00"], vec!["NULL"]]
    );
    // Ties keep input order.
    assert_eq!(ok("SELECT k FROM t ORDER BY name DESC"), ints(&[2, 5, 1, 3, 4]));
    assert_eq!(ok("SELECT k AS x FROM t ORDER BY x DESC LIMIT 2"), ints(&[5, 4]));
    assert_eq!(ok("SELECT k FROM t ORDER BY f * -1 LIMIT 1 OFFSET 1"), ints(&[4]));
    assert_eq!(ok("SELECT k FROM t ORDER BY 1 DESC LIMIT 2, 2"), ints(&[3, 2]));
    // An ORDER BY name that is both an alias and a column: the alias wins.
    assert_eq!(ok("SELECT -k AS k FROM t ORDER BY k LIMIT 1"), ints(&[-5]));
}

#[test]
fn sorting_with_a_limit_matches_a_full_sort() {
    let input = vec![InputColumn { name: "number".into(), ty: ColumnType::BigInt }];
    let numbers = || (0..5000i128).map(|i| vec![Value::Int(i)]);
    let limited = plan(
        &select("SELECT number % 7 AS m, number FROM numbers(\"number\" = \"5000\") ORDER BY m DESC LIMIT 30 OFFSET 5"),
        &input,
    )
    .and_then(|p| p.execute(numbers()))
    .expect("runs");
    let full =
        plan(&select("SELECT number % 7 AS m, number FROM numbers(\"number\" = \"5000\") ORDER BY m DESC"), &input)
            .and_then(|p| p.execute(numbers()))
            .expect("runs");
    assert_eq!(limited, full[5..35].to_vec());
    assert_eq!(limited[0], vec![Value::Int(6), Value::Int(6 + 5 * 7)]);
}

#[test]
fn distinct() {
    assert_eq!(cells("SELECT DISTINCT name FROM t"), vec![vec!["a"], vec!["b"], vec!["NULL"]]);
    assert_eq!(cells("SELECT DISTINCT name FROM t ORDER BY name DESC LIMIT 2"), vec![vec!["b"], vec!["a"]]);
    assert_eq!(cells("SELECT DISTINCT k % 2 FROM t LIMIT 1 OFFSET 1"), vec![vec!["0"]]);
    assert_eq!(err("SELECT DISTINCT name FROM t ORDER BY k").code, 3065);
    let p = plan(&select("SELECT DISTINCT k FROM t"), &columns()).expect("plans");
    assert!(!p.is_row_by_row());
}

#[test]
fn null_semantics() {
    assert_eq!(ok("SELECT k FROM t WHERE name = NULL"), ints(&[]));
    assert_eq!(ok("SELECT k FROM t WHERE name <> 'a'"), ints(&[2, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE name IS NULL"), ints(&[4]));
    assert_eq!(ok("SELECT k FROM t WHERE name IS NOT NULL AND v IS NOT NULL"), ints(&[1, 2, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE NOT (v > 0)"), ints(&[4]));
    assert_eq!(ok("SELECT k FROM t WHERE v > 0 OR name = 'a'"), ints(&[1, 2, 3, 5]));
    // NOT IN with a NULL in the list is never true.
    assert_eq!(ok("SELECT k FROM t WHERE k NOT IN (1, NULL)"), ints(&[]));
    assert_eq!(ok("SELECT k FROM t WHERE k IN (1, NULL)"), ints(&[1]));
    assert_eq!(
        cells(
            "SELECT NULL AND FALSE, NULL OR TRUE, NULL AND TRUE, NOT NULL, NULL = NULL, NULL IS NULL, 1 + NULL FROM t LIMIT 1"
        ),
        vec![vec!["0", "1", "NULL", "NULL", "NULL", "1", "NULL"]]
    );
    assert_eq!(
        cells("SELECT coalesce(name, 'none'), ifnull(v, 0), nullif(k, 4), if(v > 0, 'pos', 'not') FROM t WHERE k = 4"),
        vec![vec!["none", "-1.00", "NULL", "not"]]
    );
    assert_eq!(cells("SELECT concat(name, 'x') FROM t WHERE k = 4"), vec![vec!["NULL"]]);
}

#[test]
fn dates_compare_with_strings() {
    assert_eq!(ok("SELECT k FROM t WHERE d >= '2024-04-01'"), ints(&[4, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE d BETWEEN '2024-02-01' AND '2024-03-01'"), ints(&[2, 3]));
    assert_eq!(ok("SELECT k FROM t WHERE d IN ('2024-01-01', '2024-05-01')"), ints(&[1, 5]));
    assert_eq!(ok("SELECT k FROM t WHERE d < '2024-02-01 00:00:01'"), ints(&[1, 2]));
    assert_eq!(ok("SELECT k FROM t WHERE d = DATE '2024-01-01'"), ints(&[1]));
    assert_eq!(cells("SELECT year(d), month(d), day(d) FROM t WHERE k = 3"), vec![vec!["2024", "3", "1"]]);
    assert!(err("SELECT k FROM t WHERE d = '2024-02-30'").message.contains("is not a date"));
    assert!(err("SELECT k FROM t WHERE d = 20240101").message.contains("cannot compare a date with an integer"));
    assert!(err("SELECT d + 1 FROM t").message.contains("date arithmetic is not supported"));
    assert!(err("SELECT month(k) FROM t").message.contains("needs a date"));
}

#[test]
fn scalar_functions() {
    let one = |sql: &str| -> String {
        let e = expr(sql);
        eval_constant(&e).map(|v| v.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    };
    assert_eq!(one("concat('a', 1, 2.50, TRUE)"), "a12.501");
    assert_eq!(one("upper('abé')"), "ABÉ");
    assert_eq!(one("lower('ABC')"), "abc");
    assert_eq!(one("length('héllo')"), "6");
    assert_eq!(one("char_length('héllo')"), "5");
    assert_eq!(one("abs(-3)"), "3");
    assert_eq!(one("abs(-2.5)"), "2.5");
    assert_eq!(one("round(2.567, 2)"), "2.57");
    assert_eq!(one("round(2.5)"), "3");
    assert_eq!(one("round(-2.5)"), "-3");
    assert_eq!(one("round(1234, -2)"), "1200");
    assert_eq!(one("floor(-2.5)"), "-3");
    assert_eq!(one("ceil(2.1)"), "3");
    assert_eq!(one("substring('hello', 2, 3)"), "ell");
    assert_eq!(one("repeat('ab', 3)"), "ababab");
    assert_eq!(one("repeat('ab', -1)"), "");
    assert_eq!(one("length(repeat('x', 1048576))"), "1048576");
    assert!(one("repeat('xy', 1048576)").contains("longer than the 1048576 bytes a STRING holds"));
    assert_eq!(one("cast('12' AS INT) + 1"), "13");
    assert_eq!(one("cast('x' AS INT)"), "NULL");
    assert_eq!(one("cast(3.14159 AS DECIMAL(5, 2))"), "3.14");
    assert_eq!(one("cast(300 AS TINYINT)"), "NULL");
    assert_eq!(one("cast('2024-01-02 03:04:05' AS DATE)"), "2024-01-02");
    assert_eq!(one("cast(1.5 AS VARCHAR(2))"), "1.");
    assert_eq!(one("year('2024-06-07')"), "2024");
    assert_eq!(one("1 / 0"), "NULL");
    assert_eq!(one("7 / 2"), "3.5");
    assert_eq!(one("-(-5)"), "5");
    assert_eq!(one("'abc' < 'abd'"), "1");
    assert_eq!(one("1.0 = 1"), "1");
    assert_eq!(one("0.1 + 0.2 = 0.3"), "1");
    assert_eq!(one("'x' LIKE 'X'"), "0");
    assert_eq!(one("1e2 + 1"), "101");
    assert!(one("nosuch(1)").contains("FUNCTION nosuch does not exist"));
    assert!(one("round(1, 2, 3)").contains("Incorrect parameter count in the call to native function 'round'"));
    assert!(one("DATABASE()").contains("only be selected on its own"));
    assert!(one("170141183460469231731687303715884105727 + 1").contains("overflow"));
    assert!(one("upper(DISTINCT 'a')").contains("DISTINCT only goes in"));
}

#[test]
fn constants_for_insert_values() {
    assert_eq!(eval_constant(&expr("1 + 2")), Ok(Value::Int(3)));
    assert_eq!(eval_constant(&expr("-5")), Ok(Value::Int(-5)));
    assert_eq!(eval_constant(&expr("-1.50")), Ok(Value::Decimal(-150, 2)));
    assert_eq!(eval_constant(&expr("'x'")), Ok(s("x")));
    assert_eq!(eval_constant(&expr("NULL")), Ok(Value::Null));
    assert_eq!(eval_constant(&expr("170141183460469231731687303715884105727")), Ok(Value::Int(i128::MAX)));
    assert_eq!(eval_constant(&expr("-170141183460469231731687303715884105728")), Ok(Value::Int(i128::MIN)));
    let e = eval_constant(&expr("k + 1")).expect_err("no columns");
    assert_eq!(e.message, "Unknown column 'k' in 'field list'");
    assert_eq!(eval_constant(&expr("count(*)")).map_err(|e| e.code), Err(1111));
    assert!(eval_constant(&Expr::Default).is_err());
}

#[test]
fn select_without_from() {
    let p = plan(&select("SELECT 1 + 2 AS three, concat('a', 'b'), count(*)"), &[]).expect("plans");
    assert_eq!(p.output_columns(), vec!["three", "concat('a', 'b')", "count(*)"]);
    assert_eq!(p.execute_without_from(), Ok(vec![vec![Value::Int(3), s("ab"), Value::Int(1)]]));
    let p = plan(&select("SELECT 1 WHERE 1 = 0"), &[]).expect("plans");
    assert_eq!(p.execute_without_from(), Ok(vec![]));
    assert_eq!(plan(&select("SELECT * WHERE 1 = 1"), &[]).map(|_| ()).map_err(|e| e.code), Err(1096));
}

#[test]
fn row_by_row_plans_stream() {
    let input = numbers_columns();
    let p = plan(
        &select(
            "SELECT number * 2, concat('n', number) FROM numbers(\"number\" = \"10\") WHERE number % 3 = 0 LIMIT 2",
        ),
        &input,
    )
    .expect("plans");
    assert!(p.is_row_by_row());
    assert_eq!((p.limit(), p.offset()), (Some(2), 0));
    assert_eq!(p.filter_project(&vec![Value::Int(3)]), Ok(Some(vec![Value::Int(6), s("n3")])));
    assert_eq!(p.filter_project(&vec![Value::Int(4)]), Ok(None));
    let all: Vec<Row> = (0..10).map(|i| vec![Value::Int(i)]).collect();
    assert_eq!(p.execute(all), Ok(vec![vec![Value::Int(0), s("n0")], vec![Value::Int(6), s("n3")]]));
    let grouped = plan(&select("SELECT count(*) FROM numbers(\"number\" = \"3\")"), &input).expect("plans");
    assert!(!grouped.is_row_by_row());
    assert!(grouped.filter_project(&vec![Value::Int(1)]).is_err());
    // A short row is an error, not a panic.
    assert!(p.filter_project(&vec![]).is_err());
    // Errors in rows surface.
    let p = plan(
        &select("SELECT 9223372036854775807 * number * number * number FROM numbers(\"number\" = \"10\")"),
        &input,
    )
    .expect("plans");
    assert!(p.filter_project(&vec![Value::Int(i128::from(i64::MAX))]).is_err());
}

#[test]
fn plans_of_deep_expressions_do_not_overflow_the_stack() {
    // The parser stops at 200 levels; binding and evaluating 200 levels must fit a 2 MiB stack.
    for (open, close) in [
        ("abs(", ")"),
        ("concat('x', ", ")"),
        ("(", " BETWEEN 1 AND 2)"),
        ("(", " IN (1, 2))"),
        ("- ", ""),
        ("NOT ", ""),
    ] {
        let nested = format!("SELECT {}k{} AS x FROM t ORDER BY x", open.repeat(190), close.repeat(190));
        assert_eq!(run(&nested).map(|r| r.len()), Ok(5), "{open}");
        let grouped = format!(
            "SELECT {}sum(k){} AS x FROM t GROUP BY name HAVING x IS NOT NULL",
            open.repeat(190),
            close.repeat(190)
        );
        assert!(run(&grouped).is_ok(), "{open}");
    }
    let sum: Vec<String> = (0..95).map(|i| format!("k * {i}")).collect();
    assert_eq!(run(&format!("SELECT {} FROM t WHERE k = 1", sum.join(" + "))).map(|r| r.len()), Ok(1));
}
