//! Table DDL: CREATE/DROP/TRUNCATE/ALTER TABLE, SHOW TABLES/CREATE TABLE/PARTITIONS/TABLETS, DESC.

use super::ast::{ColumnDef, CreateTable, Distribution, Literal, PartitionDef, PartitionValues, Statement, TableName};
use super::lexer::TokenKind;
use super::parser::{ParseError, Parser};
use crate::schema::{Aggregation, KeysType};

/// Limits on what one CREATE TABLE may declare.
pub const MAX_PARTITIONS_PER_STATEMENT: usize = 4_096;
pub const MAX_BUCKETS: u32 = 1_024;

impl Parser {
    /// `[db.]table`
    pub(super) fn table_name(&mut self) -> Result<TableName, ParseError> {
        let first = self.identifier("a table name")?;
        if self.accept_symbol(".") {
            let table = self.identifier("a table name after the database")?;
            Ok(TableName { database: Some(first), table })
        } else {
            Ok(TableName { database: None, table: first })
        }
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), ParseError> {
        if self.accept_symbol(symbol) { Ok(()) } else { Err(self.error_here(&format!("expected {symbol}"))) }
    }

    fn if_not_exists(&mut self) -> Result<bool, ParseError> {
        if self.accept_keyword("IF") {
            self.expect_keyword("NOT")?;
            self.expect_keyword("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_exists(&mut self) -> Result<bool, ParseError> {
        if self.accept_keyword("IF") {
            self.expect_keyword("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A whole number in `range`, named `what` in errors.
    fn number_in(&mut self, what: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, ParseError> {
        let token = self.peek().clone();
        let TokenKind::Number(text) = &token.kind else {
            return Err(self.error_here(&format!("expected {what}")));
        };
        match text.parse::<u64>() {
            Ok(n) if range.contains(&n) => {
                self.at += 1;
                Ok(n)
            }
            _ => Err(ParseError {
                line: token.line,
                column: token.column,
                message: format!(
                    "{what} must be a whole number from {} to {}, found {text}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    /// A literal: number (with sign), string, NULL, TRUE/FALSE.
    pub(super) fn literal(&mut self, what: &str) -> Result<Literal, ParseError> {
        let negative = self.accept_symbol("-");
        match self.peek().kind.clone() {
            TokenKind::Number(n) => {
                self.at += 1;
                Ok(Literal::Number(if negative { format!("-{n}") } else { n }))
            }
            TokenKind::String(s) if !negative => {
                self.at += 1;
                Ok(Literal::String(s))
            }
            TokenKind::Word(w) if !negative && w.eq_ignore_ascii_case("NULL") => {
                self.at += 1;
                Ok(Literal::Null)
            }
            TokenKind::Word(w) if !negative && (w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE")) => {
                self.at += 1;
                Ok(Literal::Bool(w.eq_ignore_ascii_case("TRUE")))
            }
            _ => Err(self.error_here(&format!("expected {what}"))),
        }
    }

    fn column_list(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        self.expect_symbol("(")?;
        let mut names = vec![self.identifier(what)?];
        while self.accept_symbol(",") {
            names.push(self.identifier(what)?);
        }
        self.expect_symbol(")")?;
        Ok(names)
    }

    fn column_def(&mut self) -> Result<ColumnDef, ParseError> {
        let name = self.identifier("a column name")?;
        let ty = self.column_type()?;
        // Doris allows `KEY` after the type of a key column; the key clause decides anyway.
        self.accept_keyword("KEY");
        let aggregation = if self.accept_keyword("SUM") {
            Some(Aggregation::Sum)
        } else if self.accept_keyword("MIN") {
            Some(Aggregation::Min)
        } else if self.accept_keyword("MAX") {
            Some(Aggregation::Max)
        } else if self.accept_keyword("REPLACE") {
            Some(Aggregation::Replace)
        } else {
            None
        };
        let mut nullable = None;
        let mut default = None;
        let mut comment = String::new();
        loop {
            if self.accept_keyword("NOT") {
                self.expect_keyword("NULL")?;
                nullable = Some(false);
            } else if self.accept_keyword("NULL") {
                nullable = Some(true);
            } else if self.accept_keyword("DEFAULT") {
                default = Some(match self.literal("a DEFAULT value such as \"0\" or NULL")? {
                    Literal::Null => "NULL".to_string(),
                    Literal::Number(n) | Literal::String(n) => n,
                    Literal::Bool(b) => (if b { "1" } else { "0" }).to_string(),
                });
            } else if self.accept_keyword("COMMENT") {
                comment = self.string("a quoted comment")?;
            } else {
                break;
            }
        }
        Ok(ColumnDef { name, ty, nullable, default, comment, aggregation })
    }

    fn partition_def(&mut self) -> Result<PartitionDef, ParseError> {
        self.expect_keyword("PARTITION")?;
        let name = self.identifier("a partition name")?;
        self.expect_keyword("VALUES")?;
        let values = if self.accept_keyword("LESS") {
            self.expect_keyword("THAN")?;
            if self.accept_keyword("MAXVALUE") {
                PartitionValues::LessThan(None)
            } else {
                self.expect_symbol("(")?;
                let value =
                    if self.accept_keyword("MAXVALUE") { None } else { Some(self.literal("a partition bound")?) };
                self.expect_symbol(")")?;
                PartitionValues::LessThan(value)
            }
        } else if self.accept_symbol("[") {
            self.expect_symbol("(")?;
            let lower = self.literal("a lower partition bound")?;
            self.expect_symbol(")")?;
            self.expect_symbol(",")?;
            self.expect_symbol("(")?;
            let upper = self.literal("an upper partition bound")?;
            self.expect_symbol(")")?;
            self.expect_symbol(")")?;
            PartitionValues::Range(lower, upper)
        } else {
            return Err(self.error_here("expected LESS THAN (...) or [(lower), (upper))"));
        };
        Ok(PartitionDef { name, values })
    }

    fn distribution(&mut self) -> Result<Distribution, ParseError> {
        self.expect_keyword("DISTRIBUTED")?;
        self.expect_keyword("BY")?;
        let hash = match self.expect_one_of(&["HASH", "RANDOM"])?.as_str() {
            "HASH" => Some(self.column_list("a distribution column")?),
            _ => None,
        };
        self.expect_keyword("BUCKETS")?;
        if self.peek_keyword("AUTO") {
            return Err(self.error_here("BUCKETS AUTO is not supported; give a number of buckets"));
        }
        let buckets = self.number_in("BUCKETS", 1..=u64::from(MAX_BUCKETS))? as u32;
        Ok(match hash {
            Some(columns) => Distribution::Hash { columns, buckets },
            None => Distribution::Random { buckets },
        })
    }

    /// `CREATE TABLE` after the `TABLE` keyword.
    pub(super) fn create_table(&mut self) -> Result<Statement, ParseError> {
        let if_not_exists = self.if_not_exists()?;
        let table = self.table_name()?;
        self.expect_symbol("(")?;
        let mut columns = vec![self.column_def()?];
        while self.accept_symbol(",") {
            if columns.len() >= crate::schema::MAX_COLUMNS {
                return Err(self.error_here(&format!("a table has at most {} columns", crate::schema::MAX_COLUMNS)));
            }
            columns.push(self.column_def()?);
        }
        self.expect_symbol(")")?;
        if self.accept_keyword("ENGINE") {
            self.expect_symbol("=")?;
            let engine = self.identifier("an engine name")?;
            if !engine.eq_ignore_ascii_case("OLAP") {
                return Err(self.error_here("only ENGINE = OLAP is supported"));
            }
        }
        let keys = if self.peek_keyword("DUPLICATE") || self.peek_keyword("UNIQUE") || self.peek_keyword("AGGREGATE") {
            let keys_type = match self.expect_one_of(&["DUPLICATE", "UNIQUE", "AGGREGATE"])?.as_str() {
                "DUPLICATE" => KeysType::Duplicate,
                "UNIQUE" => KeysType::Unique,
                _ => KeysType::Aggregate,
            };
            self.expect_keyword("KEY")?;
            Some((keys_type, self.column_list("a key column")?))
        } else {
            None
        };
        let mut comment = String::new();
        if self.accept_keyword("COMMENT") {
            comment = self.string("a quoted table comment")?;
        }
        let partition = if self.accept_keyword("PARTITION") {
            self.expect_keyword("BY")?;
            self.expect_keyword("RANGE")?;
            let columns = self.column_list("a partition column")?;
            if columns.len() != 1 {
                return Err(self.error_here("partitioning by more than one column is not supported"));
            }
            self.expect_symbol("(")?;
            let mut partitions = Vec::new();
            if !self.peek_symbol(")") {
                partitions.push(self.partition_def()?);
                while self.accept_symbol(",") {
                    if partitions.len() >= MAX_PARTITIONS_PER_STATEMENT {
                        return Err(self.error_here(&format!(
                            "at most {MAX_PARTITIONS_PER_STATEMENT} partitions in one statement"
                        )));
                    }
                    partitions.push(self.partition_def()?);
                }
            }
            self.expect_symbol(")")?;
            columns.into_iter().next().map(|c| (c, partitions))
        } else {
            None
        };
        if !self.peek_keyword("DISTRIBUTED") {
            return Err(self.error_here("expected DISTRIBUTED BY HASH(columns) BUCKETS n or RANDOM BUCKETS n"));
        }
        let distribution = self.distribution()?;
        let mut properties = Vec::new();
        if self.accept_keyword("PROPERTIES") {
            self.expect_symbol("(")?;
            loop {
                let key = self.string("a quoted property name")?;
                self.expect_symbol("=")?;
                let value = self.string("a quoted property value")?;
                properties.push((key, value));
                if !self.accept_symbol(",") {
                    break;
                }
            }
            self.expect_symbol(")")?;
        }
        Ok(Statement::CreateTable(Box::new(CreateTable {
            table,
            if_not_exists,
            columns,
            keys,
            partition,
            distribution,
            properties,
            comment,
        })))
    }

    fn peek_symbol(&self, symbol: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Symbol(s) if *s == symbol)
    }

    /// `ALTER TABLE` after the `TABLE` keyword.
    pub(super) fn alter_table(&mut self) -> Result<Statement, ParseError> {
        let table = self.table_name()?;
        match self.expect_one_of(&["ADD", "DROP"])?.as_str() {
            "ADD" => {
                if !self.peek_keyword("PARTITION") {
                    return Err(self.error_here("expected PARTITION (only partitions can be added)"));
                }
                let partition = self.partition_def()?;
                Ok(Statement::AddPartition { table, partition })
            }
            _ => {
                self.expect_keyword("PARTITION")?;
                let if_exists = self.if_exists()?;
                let partition = self.identifier("a partition name")?;
                // Doris's FORCE skips the recycle bin; Palo has none, so it is accepted and ignored.
                self.accept_keyword("FORCE");
                Ok(Statement::DropPartition { table, partition, if_exists })
            }
        }
    }

    /// `DROP TABLE` after the `TABLE` keyword.
    pub(super) fn drop_table(&mut self) -> Result<Statement, ParseError> {
        let if_exists = self.if_exists()?;
        let table = self.table_name()?;
        self.accept_keyword("FORCE");
        Ok(Statement::DropTable { table, if_exists })
    }

    /// The SHOW forms about tables; `None` when the next word is not one of them.
    pub(super) fn show_table_statement(&mut self) -> Result<Option<Statement>, ParseError> {
        if self.accept_keyword("TABLES") {
            let database = if self.accept_keyword("FROM") || self.accept_keyword("IN") {
                Some(self.identifier("a database name")?)
            } else {
                None
            };
            return Ok(Some(Statement::ShowTables { database }));
        }
        if self.accept_keyword("CREATE") {
            self.expect_keyword("TABLE")?;
            return Ok(Some(Statement::ShowCreateTable { table: self.table_name()? }));
        }
        if self.accept_keyword("PARTITIONS") {
            self.expect_keyword("FROM")?;
            return Ok(Some(Statement::ShowPartitions { table: self.table_name()? }));
        }
        if self.accept_keyword("TABLETS") {
            self.expect_keyword("FROM")?;
            return Ok(Some(Statement::ShowTablets { table: self.table_name()? }));
        }
        if self.accept_keyword("COLUMNS") || self.accept_keyword("FIELDS") {
            self.expect_one_of(&["FROM", "IN"])?;
            return Ok(Some(Statement::Describe { table: self.table_name()? }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::{Aggregation, ColumnType, KeysType};
    use crate::sql::ast::{Distribution, Literal, PartitionValues, Statement, TableName};
    use crate::sql::parse;

    #[test]
    fn parses_a_doris_create_table() {
        let sql = r#"
            CREATE TABLE IF NOT EXISTS sales.orders (
                dt DATE NOT NULL COMMENT "day",
                id BIGINT NOT NULL,
                city VARCHAR(32) DEFAULT "x",
                amount DECIMAL(10, 2) SUM DEFAULT "0",
                n INT MAX
            ) ENGINE = OLAP
            AGGREGATE KEY(dt, id, city)
            COMMENT "orders"
            PARTITION BY RANGE(dt) (
                PARTITION p1 VALUES LESS THAN ("2024-02-01"),
                PARTITION p2 VALUES [("2024-02-01"), ("2024-03-01")),
                PARTITION pmax VALUES LESS THAN MAXVALUE
            )
            DISTRIBUTED BY HASH(id) BUCKETS 4
            PROPERTIES ("replication_num" = "3");
        "#;
        let Statement::CreateTable(ct) = parse(sql).expect("parses") else { panic!("not CREATE TABLE") };
        assert!(ct.if_not_exists);
        assert_eq!(ct.table, TableName { database: Some("sales".into()), table: "orders".into() });
        assert_eq!(ct.columns.len(), 5);
        assert_eq!(ct.columns[0].nullable, Some(false));
        assert_eq!(ct.columns[0].comment, "day");
        assert_eq!(ct.columns[2].default.as_deref(), Some("x"));
        assert_eq!(ct.columns[3].ty, ColumnType::Decimal { precision: 10, scale: 2 });
        assert_eq!(ct.columns[3].aggregation, Some(Aggregation::Sum));
        assert_eq!(ct.keys, Some((KeysType::Aggregate, vec!["dt".into(), "id".into(), "city".into()])));
        let (column, partitions) = ct.partition.as_ref().expect("partitioned");
        assert_eq!(column, "dt");
        assert_eq!(partitions.len(), 3);
        assert_eq!(partitions[0].values, PartitionValues::LessThan(Some(Literal::String("2024-02-01".into()))));
        assert_eq!(
            partitions[1].values,
            PartitionValues::Range(Literal::String("2024-02-01".into()), Literal::String("2024-03-01".into()))
        );
        assert_eq!(partitions[2].values, PartitionValues::LessThan(None));
        assert_eq!(ct.distribution, Distribution::Hash { columns: vec!["id".into()], buckets: 4 });
        assert_eq!(ct.properties, vec![("replication_num".to_string(), "3".to_string())]);
        assert_eq!(ct.comment, "orders");
    }

    #[test]
    fn parses_table_statements() {
        assert!(matches!(parse("DROP TABLE IF EXISTS t"), Ok(Statement::DropTable { if_exists: true, .. })));
        assert!(matches!(parse("TRUNCATE TABLE db.t"), Ok(Statement::TruncateTable { .. })));
        assert!(matches!(parse("SHOW TABLES FROM db"), Ok(Statement::ShowTables { database: Some(_) })));
        assert!(matches!(parse("SHOW CREATE TABLE t"), Ok(Statement::ShowCreateTable { .. })));
        assert!(matches!(parse("SHOW PARTITIONS FROM t"), Ok(Statement::ShowPartitions { .. })));
        assert!(matches!(parse("SHOW TABLETS FROM t"), Ok(Statement::ShowTablets { .. })));
        assert!(matches!(parse("DESC t"), Ok(Statement::Describe { .. })));
        assert!(matches!(parse("DESCRIBE db.t"), Ok(Statement::Describe { .. })));
        assert!(matches!(
            parse("ALTER TABLE t ADD PARTITION p4 VALUES LESS THAN (\"100\")"),
            Ok(Statement::AddPartition { .. })
        ));
        assert!(matches!(
            parse("ALTER TABLE t DROP PARTITION IF EXISTS p4"),
            Ok(Statement::DropPartition { if_exists: true, .. })
        ));
        let random = parse("CREATE TABLE t (k INT) DUPLICATE KEY(k) DISTRIBUTED BY RANDOM BUCKETS 2");
        let Ok(Statement::CreateTable(ct)) = random else { panic!("{random:?}") };
        assert_eq!(ct.distribution, Distribution::Random { buckets: 2 });
        assert_eq!(ct.partition, None);
    }

    #[test]
    fn ddl_errors_say_what_was_expected() {
        let e = parse("CREATE TABLE t (k INTT) DISTRIBUTED BY HASH(k) BUCKETS 1").expect_err("bad type");
        assert!(e.message.contains("expected a column type such as INT") && e.message.contains("found INTT"), "{e}");
        assert_eq!((e.line, e.column), (1, 19));
        let e = parse("CREATE TABLE t (k INT)").expect_err("no distribution");
        assert!(e.message.contains("expected DISTRIBUTED BY"), "{e}");
        let e = parse("CREATE TABLE t (k INT) DISTRIBUTED BY HASH(k) BUCKETS 0").expect_err("zero buckets");
        assert!(e.message.contains("BUCKETS must be a whole number from 1 to 1024"), "{e}");
        let e = parse("CREATE TABLE t (k VARCHAR(70000)) DISTRIBUTED BY HASH(k) BUCKETS 1").expect_err("long");
        assert!(e.message.contains("VARCHAR length"), "{e}");
        let e = parse("CREATE TABLE t (k DECIMAL(5, 6)) DISTRIBUTED BY HASH(k) BUCKETS 1").expect_err("scale");
        assert!(e.message.contains("scale must be from 0 to 5"), "{e}");
    }
}
