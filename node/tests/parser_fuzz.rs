//! Fuzzing the SQL front door: no input, however broken, may panic the parser, and every error
//! points at a position inside the statement. Inputs come from `arbitrary` over a seeded byte
//! stream (so a failure replays), in three shapes: raw text, soups of real tokens, and one-character
//! mutations of valid statements.

use arbitrary::{Arbitrary, Unstructured};
use palo_node::sql::parse;

/// SplitMix64: the byte stream `arbitrary` draws from.
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

const VALID: [&str; 18] = [
    "ALTER SYSTEM ADD BACKEND \"10.0.0.1:9060\", \"10.0.0.2:9060\"",
    "ALTER SYSTEM DROPP BACKEND '10.0.0.1:9060'",
    "ALTER SYSTEM ADD BROKER hdfs_broker \"h:8000\"",
    "ALTER SYSTEM DROP ALL BROKER hdfs_broker",
    "SHOW BACKENDS",
    "CREATE DATABASE IF NOT EXISTS `sales`",
    "DROP SCHEMA IF EXISTS s1;",
    "USE sales",
    "SET NAMES utf8mb4",
    "SELECT @@session.wait_timeout, DATABASE() AS db, 'x', 1 LIMIT 1",
    "SHOW GLOBAL VARIABLES LIKE 'max%'",
    "/* c */ SHOW BROKER -- trailing",
    "SELECT k, sum(v) AS s, count(*) FROM db.t AS a WHERE k > 1 AND v IS NOT NULL GROUP BY k HAVING s > 2 \
     ORDER BY 2 DESC LIMIT 10 OFFSET 5",
    "SELECT DISTINCT upper(name), CAST(v AS DECIMAL(10, 2)) FROM t PARTITION (p1) WHERE d BETWEEN '2024-01-01' AND \
     '2024-12-31' OR name NOT LIKE 'x%'",
    "SELECT number * 2 + 1, concat('n', number) FROM numbers(\"number\" = \"100\") WHERE number % 3 IN (0, 1)",
    "INSERT INTO db.t (k, v) WITH LABEL l1 VALUES (1, 'a'), (-2, DEFAULT), (3 + 4, NULL)",
    "INSERT INTO t SELECT k, -v FROM t2 WHERE NOT (k = 1)",
    "SELECT 1 + 2 * 3, -1.5e3, TRUE",
];

const TOKENS: [&str; 64] = [
    "ALTER",
    "SYSTEM",
    "ADD",
    "DROP",
    "DROPP",
    "ALL",
    "BACKEND",
    "BACKENDS",
    "BROKER",
    "FRONTENDS",
    "SHOW",
    "CREATE",
    "DATABASE",
    "SCHEMA",
    "DATABASES",
    "IF",
    "NOT",
    "EXISTS",
    "USE",
    "SET",
    "SELECT",
    "LIMIT",
    "AS",
    "VARIABLES",
    "LIKE",
    "GLOBAL",
    "SESSION",
    "@",
    "@@",
    ".",
    ",",
    ";",
    "(",
    ")",
    "=",
    "\"h:1\"",
    "'x'",
    "`q`",
    "123",
    "1.5",
    "\"",
    "/*",
    "--",
    "\n",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "INSERT",
    "INTO",
    "VALUES",
    "IN",
    "BETWEEN",
    "AND",
    "OR",
    "CAST",
    "count",
    "*",
    "+",
    "-",
    "<=",
    "numbers",
];

fn check(input: &str) {
    if let Err(e) = parse(input) {
        let lines = input.split('\n').count() as u32;
        assert!(e.line >= 1 && e.line <= lines.max(1), "error line {} outside {lines} lines for {input:?}", e.line);
        assert!(e.column >= 1, "error column 0 for {input:?}");
        assert!(!e.message.is_empty(), "empty error message for {input:?}");
    }
}

#[test]
fn raw_arbitrary_text_never_panics() {
    for seed in 0..20_000u64 {
        let bytes = Bytes(seed).fill(64);
        let mut u = Unstructured::new(&bytes);
        let Ok(text) = String::arbitrary(&mut u) else { continue };
        check(&text);
    }
}

#[test]
fn soups_of_real_tokens_never_panic() {
    for seed in 0..20_000u64 {
        let bytes = Bytes(seed ^ 0xabcdef).fill(96);
        let mut u = Unstructured::new(&bytes);
        let count = u.int_in_range(1..=24).unwrap_or(1);
        let mut text = String::new();
        for _ in 0..count {
            let Ok(token) = u.choose(&TOKENS) else { break };
            text.push_str(token);
            if u.arbitrary::<bool>().unwrap_or(true) {
                text.push(' ');
            }
        }
        check(&text);
    }
}

#[test]
fn one_character_mutations_of_valid_statements_never_panic() {
    for statement in VALID {
        assert!(parse(statement).is_ok(), "the seed statement must parse: {statement}");
    }
    for seed in 0..20_000u64 {
        let bytes = Bytes(seed ^ 0x5eed).fill(32);
        let mut u = Unstructured::new(&bytes);
        let Ok(statement) = u.choose(&VALID) else { continue };
        let mut chars: Vec<char> = statement.chars().collect();
        let at = u.choose_index(chars.len()).unwrap_or(0);
        match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, char::arbitrary(&mut u).unwrap_or('\'')),
            _ => chars[at] = char::arbitrary(&mut u).unwrap_or('"'),
        }
        check(&chars.into_iter().collect::<String>());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let shapes = [
        format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth)),
        format!("SELECT {}", "(".repeat(depth)),
        format!("SELECT k FROM t WHERE {}1", "NOT ".repeat(depth)),
        format!("SELECT {}1 FROM t", "- ".repeat(depth)),
        format!("SELECT {}1{} FROM t", "abs(".repeat(depth), ")".repeat(depth)),
        format!("SELECT 1{} FROM t", " + 1".repeat(depth)),
        format!("SELECT k FROM t WHERE k IN ({}1{})", "(".repeat(depth), ")".repeat(depth)),
        format!("INSERT INTO t VALUES ({}1{})", "(".repeat(depth), ")".repeat(depth)),
    ];
    for sql in &shapes {
        let err = parse(sql).expect_err("too deep");
        assert!(err.message.contains("200"), "{}: {err}", &sql[..40]);
        check(sql);
    }
    // Long flat lists and AND/OR chains are fine: they do not nest.
    let ors: Vec<String> = (0..20_000).map(|i| format!("k = {i}")).collect();
    assert!(parse(&format!("SELECT k FROM t WHERE {}", ors.join(" OR "))).is_ok());
    let list: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
    assert!(parse(&format!("SELECT k FROM t WHERE k IN ({})", list.join(", "))).is_ok());
}
