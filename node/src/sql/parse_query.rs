//! SELECT, INSERT and expressions.
//!
//! Expressions parse by precedence climbing, loosest first: `OR`, `AND`, `NOT`, comparisons (`=`,
//! `<>`/`!=`, `<`, `<=`, `>`, `>=`, `IS [NOT] NULL`, `[NOT] IN (..)`, `[NOT] BETWEEN .. AND ..`,
//! `[NOT] LIKE`), `+ -`, `* / %`, unary minus, then primaries (literals, columns, function calls,
//! `CAST(e AS type)`, parentheses). Both the nesting the parser recurses through (parentheses,
//! function arguments, `NOT`/minus chains) and the height of the tree it builds are capped at
//! [`MAX_EXPR_DEPTH`], so neither `((((...` nor `1+1+...+1` can overflow the stack here or in
//! whatever walks the tree later. Chains of `AND`/`OR` are built as balanced trees, so a long
//! `a = 1 OR a = 2 OR ...` stays shallow.

use super::ast::{
    BinaryOp, Expr, FromClause, Insert, InsertSource, Literal, OrderItem, Select, SelectItem, Statement, TableName,
    UnaryOp,
};
use super::lexer::{Token, TokenKind};
use super::parser::{ParseError, Parser};
use crate::schema::{ColumnType, MAX_CHAR_LEN, MAX_DECIMAL_PRECISION, MAX_VARCHAR_LEN};

/// How deep expressions may nest, and how tall their trees may grow.
const MAX_EXPR_DEPTH: u32 = 200;
const MAX_SELECT_ITEMS: usize = 4096;
/// GROUP BY and ORDER BY items.
const MAX_KEY_ITEMS: usize = 256;
const MAX_IN_LIST: usize = 65_536;
const MAX_FUNCTION_ARGS: usize = 1024;
const MAX_PARTITIONS: usize = 4096;
const MAX_INSERT_COLUMNS: usize = 4096;
const MAX_VALUES_ROWS: usize = 1_000_000;

/// Words that cannot name a column or stand as a bare alias (backquote them to use them anyway).
const RESERVED: [&str; 50] = [
    "ALL",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CROSS",
    "DEFAULT",
    "DESC",
    "DISTINCT",
    "DIV",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MINUS",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PARTITION",
    "REGEXP",
    "RIGHT",
    "RLIKE",
    "SELECT",
    "SET",
    "THEN",
    "TRUE",
    "UNION",
    "WHEN",
    "WHERE",
];

fn wrap_unary(op: UnaryOp, operand: Node) -> Node {
    Node { height: operand.height + 1, expr: Expr::Unary { op, expr: Box::new(operand.expr) } }
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

fn is_symbol(kind: &TokenKind, symbol: &str) -> bool {
    matches!(kind, TokenKind::Symbol(s) if *s == symbol)
}

fn is_word(kind: &TokenKind, word: &str) -> bool {
    matches!(kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(word))
}

/// An expression and the height of its tree.
struct Node {
    expr: Expr,
    height: u32,
}

impl Node {
    fn leaf(expr: Expr) -> Node {
        Node { expr, height: 1 }
    }
}

// Binding powers, loosest first.
const LEVEL_OR: u8 = 1;
const LEVEL_AND: u8 = 2;
const LEVEL_NOT: u8 = 3;
const LEVEL_COMPARE: u8 = 4;
const LEVEL_ADD: u8 = 5;
const LEVEL_MUL: u8 = 6;

#[derive(Clone, Copy)]
enum Infix {
    Binary(BinaryOp),
    IsNull,
    In { negated: bool },
    Between { negated: bool },
    Like { negated: bool },
}

impl Infix {
    fn level(self) -> u8 {
        match self {
            Infix::Binary(BinaryOp::Or) => LEVEL_OR,
            Infix::Binary(BinaryOp::And) => LEVEL_AND,
            Infix::Binary(BinaryOp::Add | BinaryOp::Sub) => LEVEL_ADD,
            Infix::Binary(BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod) => LEVEL_MUL,
            _ => LEVEL_COMPARE,
        }
    }
}

/// How a token is written back into a select item's title.
fn written(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Word(w) | TokenKind::Number(w) => w.clone(),
        TokenKind::QuotedIdent(w) => format!("`{}`", w.replace('`', "``")),
        TokenKind::String(s) => format!("'{}'", s.replace('\'', "''")),
        TokenKind::Symbol(s) => (*s).to_string(),
        TokenKind::End => String::new(),
    }
}

/// Builds `op(items...)` as a balanced tree (for the associative AND and OR).
fn balanced(op: BinaryOp, mut items: Vec<Node>) -> Node {
    if items.len() <= 1 {
        return items.pop().unwrap_or(Node::leaf(Expr::Literal(Literal::Null)));
    }
    let right = items.split_off(items.len().div_ceil(2));
    let (left, right) = (balanced(op, items), balanced(op, right));
    Node {
        height: left.height.max(right.height) + 1,
        expr: Expr::Binary { op, left: Box::new(left.expr), right: Box::new(right.expr) },
    }
}

impl Parser {
    fn token_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)]
    }

    fn at_symbol(&self, symbol: &str) -> bool {
        is_symbol(&self.peek().kind, symbol)
    }

    /// An error at the token `index` (without the "found ..." suffix of `error_here`).
    fn error_at_token(&self, index: usize, message: impl Into<String>) -> ParseError {
        let token = &self.tokens[index.min(self.tokens.len() - 1)];
        ParseError { line: token.line, column: token.column, message: message.into() }
    }

    fn expect_symbol_q(&mut self, symbol: &str) -> Result<(), ParseError> {
        if self.at_symbol(symbol) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error_here(&format!("expected {symbol}")))
        }
    }

    /// The tokens `start..end` written back as text, with a space where the statement had one.
    fn query_text(&self, start: usize, end: usize) -> String {
        let mut text = String::new();
        let mut previous: Option<(&Token, usize)> = None;
        for token in &self.tokens[start..end.min(self.tokens.len())] {
            let piece = written(&token.kind);
            if let Some((prev, prev_len)) = previous {
                let adjacent =
                    prev.line == token.line && u64::from(prev.column) + prev_len as u64 == u64::from(token.column);
                if !adjacent {
                    text.push(' ');
                }
            }
            let len = piece.chars().count();
            text.push_str(&piece);
            previous = Some((token, len));
        }
        text
    }

    /// One expression (any precedence).
    pub(super) fn expr(&mut self) -> Result<Expr, ParseError> {
        Ok(self.expr_binary(0, 0)?.expr)
    }

    fn check_depth(&self, depth: u32) -> Result<(), ParseError> {
        if depth > MAX_EXPR_DEPTH {
            Err(self.too_deep(self.at, "nests more than", "levels deep; simplify it"))
        } else {
            Ok(())
        }
    }

    fn check_height(&self, node: &Node, operator_at: usize) -> Result<(), ParseError> {
        if node.height > MAX_EXPR_DEPTH {
            return Err(self.too_deep(operator_at, "is more than", "operators deep; simplify it or split it"));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, at: usize, what: &str, fix: &str) -> ParseError {
        self.error_at_token(at, format!("expression {what} {MAX_EXPR_DEPTH} {fix}"))
    }

    #[cold]
    #[inline(never)]
    fn too_many(&self, limit: usize, what: &str) -> ParseError {
        self.error_at_token(self.at, format!("more than {limit} {what}"))
    }

    /// The infix operator next, and how many tokens it takes.
    fn peek_infix(&self) -> Option<(Infix, usize)> {
        let op = |op| Some((Infix::Binary(op), 1));
        match &self.peek().kind {
            TokenKind::Symbol(s) => match *s {
                "=" => op(BinaryOp::Eq),
                "<>" | "!=" => op(BinaryOp::NotEq),
                "<" => op(BinaryOp::Lt),
                "<=" => op(BinaryOp::LtEq),
                ">" => op(BinaryOp::Gt),
                ">=" => op(BinaryOp::GtEq),
                "+" => op(BinaryOp::Add),
                "-" => op(BinaryOp::Sub),
                "*" => op(BinaryOp::Mul),
                "/" => op(BinaryOp::Div),
                "%" => op(BinaryOp::Mod),
                _ => None,
            },
            TokenKind::Word(w) if w.len() <= 7 => match w.to_ascii_uppercase().as_str() {
                "OR" => op(BinaryOp::Or),
                "AND" => op(BinaryOp::And),
                "MOD" => op(BinaryOp::Mod),
                "IS" => Some((Infix::IsNull, 1)),
                "IN" => Some((Infix::In { negated: false }, 1)),
                "BETWEEN" => Some((Infix::Between { negated: false }, 1)),
                "LIKE" => Some((Infix::Like { negated: false }, 1)),
                "NOT" => {
                    let next = &self.token_at(1).kind;
                    if is_word(next, "IN") {
                        Some((Infix::In { negated: true }, 2))
                    } else if is_word(next, "BETWEEN") {
                        Some((Infix::Between { negated: true }, 2))
                    } else if is_word(next, "LIKE") {
                        Some((Infix::Like { negated: true }, 2))
                    } else {
                        None
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Operators binding at least as tight as `min`, by precedence climbing. The recursive
    /// functions keep their frames small (each case in its own function), because debug builds
    /// give every local its own stack slot and expressions nest up to [`MAX_EXPR_DEPTH`] deep.
    fn expr_binary(&mut self, depth: u32, min: u8) -> Result<Node, ParseError> {
        self.check_depth(depth)?;
        let mut left = self.expr_unary(depth)?;
        while let Some((infix, width)) = self.peek_infix() {
            if infix.level() < min {
                break;
            }
            let operator_at = self.at;
            self.at += width;
            left = self.expr_infix(left, infix, depth)?;
            self.check_height(&left, operator_at)?;
        }
        Ok(left)
    }

    fn expr_infix(&mut self, left: Node, infix: Infix, depth: u32) -> Result<Node, ParseError> {
        match infix {
            Infix::Binary(op @ (BinaryOp::And | BinaryOp::Or)) => self.infix_chain(left, op, depth),
            Infix::Binary(op) => self.infix_binary(left, op, depth),
            Infix::IsNull => self.infix_is_null(left),
            Infix::In { negated } => self.infix_in(left, negated, depth),
            Infix::Between { negated } => self.infix_between(left, negated, depth),
            Infix::Like { negated } => self.infix_like(left, negated, depth),
        }
    }

    /// `left op b op c ...` for AND/OR, as a balanced tree.
    fn infix_chain(&mut self, left: Node, op: BinaryOp, depth: u32) -> Result<Node, ParseError> {
        let level = Infix::Binary(op).level() + 1;
        let mut items = vec![left, self.expr_binary(depth + 1, level)?];
        while matches!(self.peek_infix(), Some((Infix::Binary(next), _)) if next == op) {
            if items.len() >= MAX_IN_LIST {
                return Err(self.too_many(MAX_IN_LIST, "conditions in one AND/OR chain"));
            }
            self.at += 1;
            items.push(self.expr_binary(depth + 1, level)?);
        }
        Ok(balanced(op, items))
    }

    fn infix_binary(&mut self, left: Node, op: BinaryOp, depth: u32) -> Result<Node, ParseError> {
        let right = self.expr_binary(depth + 1, Infix::Binary(op).level() + 1)?;
        Ok(Node {
            height: left.height.max(right.height) + 1,
            expr: Expr::Binary { op, left: Box::new(left.expr), right: Box::new(right.expr) },
        })
    }

    fn infix_is_null(&mut self, left: Node) -> Result<Node, ParseError> {
        let negated = self.accept_keyword("NOT");
        self.expect_keyword("NULL")?;
        Ok(Node { height: left.height + 1, expr: Expr::IsNull { expr: Box::new(left.expr), negated } })
    }

    fn infix_in(&mut self, left: Node, negated: bool, depth: u32) -> Result<Node, ParseError> {
        if !self.at_symbol("(") {
            return Err(self.error_here("expected ( and a list of values after IN"));
        }
        self.at += 1;
        if self.peek_keyword("SELECT") {
            return Err(self.error_here("expected a list of values (subqueries are not supported)"));
        }
        let mut list = Vec::new();
        let mut height = left.height;
        loop {
            if list.len() >= MAX_IN_LIST {
                return Err(self.too_many(MAX_IN_LIST, "values in an IN list"));
            }
            let item = self.expr_binary(depth + 1, 0)?;
            height = height.max(item.height);
            list.push(item.expr);
            if !self.accept_symbol(",") {
                break;
            }
        }
        self.expect_symbol_q(")")?;
        Ok(Node { height: height + 1, expr: Expr::InList { expr: Box::new(left.expr), list, negated } })
    }

    fn infix_between(&mut self, left: Node, negated: bool, depth: u32) -> Result<Node, ParseError> {
        let low = self.expr_binary(depth + 1, LEVEL_ADD)?;
        self.expect_keyword("AND")?;
        let high = self.expr_binary(depth + 1, LEVEL_ADD)?;
        Ok(Node {
            height: left.height.max(low.height).max(high.height) + 1,
            expr: Expr::Between {
                expr: Box::new(left.expr),
                low: Box::new(low.expr),
                high: Box::new(high.expr),
                negated,
            },
        })
    }

    fn infix_like(&mut self, left: Node, negated: bool, depth: u32) -> Result<Node, ParseError> {
        let pattern = self.expr_binary(depth + 1, LEVEL_ADD)?;
        let like = Node {
            height: left.height.max(pattern.height) + 1,
            expr: Expr::Function {
                name: "like".into(),
                args: vec![left.expr, pattern.expr],
                star: false,
                distinct: false,
            },
        };
        Ok(if negated { wrap_unary(UnaryOp::Not, like) } else { like })
    }

    fn expr_unary(&mut self, depth: u32) -> Result<Node, ParseError> {
        self.check_depth(depth)?;
        if self.peek_keyword("NOT") {
            self.unary_not(depth)
        } else if self.at_symbol("-") {
            self.unary_minus(depth)
        } else if self.at_symbol("+") {
            self.at += 1;
            self.expr_unary(depth + 1)
        } else if self.at_symbol("(") {
            self.primary_parenthesized(depth)
        } else if let Some(name) = self.peek_call() {
            self.at += 2;
            self.expr_function(name, depth)
        } else {
            self.expr_primary()
        }
    }

    fn unary_not(&mut self, depth: u32) -> Result<Node, ParseError> {
        let operator_at = self.at;
        self.at += 1;
        let operand = self.expr_binary(depth + 1, LEVEL_NOT)?;
        let node = wrap_unary(UnaryOp::Not, operand);
        self.check_height(&node, operator_at)?;
        Ok(node)
    }

    fn unary_minus(&mut self, depth: u32) -> Result<Node, ParseError> {
        let operator_at = self.at;
        self.at += 1;
        let operand = self.expr_unary(depth + 1)?;
        if let Expr::Literal(Literal::Number(text)) = operand.expr {
            // A negative literal: `-5` is the number -5, not the negation of 5.
            let negated = match text.strip_prefix('-') {
                Some(positive) => positive.to_string(),
                None => format!("-{text}"),
            };
            return Ok(Node::leaf(Expr::Literal(Literal::Number(negated))));
        }
        let node = wrap_unary(UnaryOp::Neg, operand);
        self.check_height(&node, operator_at)?;
        Ok(node)
    }

    /// A number literal, with an exponent glued on (`1e5`, `2.5E-3`: the lexer splits those).
    fn expr_number(&mut self, text: String) -> Result<Node, ParseError> {
        let start = self.at;
        if text.matches('.').count() > 1 {
            return Err(self.error_at_token(start, format!("bad number {text}: more than one decimal point")));
        }
        self.at += 1;
        let glued = |prev: &Token, prev_len: usize, next: &Token| {
            prev.line == next.line && u64::from(prev.column) + prev_len as u64 == u64::from(next.column)
        };
        let token = &self.tokens[start];
        let next = self.token_at(0);
        let TokenKind::Word(word) = &next.kind else {
            return Ok(Node::leaf(Expr::Literal(Literal::Number(text))));
        };
        if !glued(token, text.len(), next) {
            return Ok(Node::leaf(Expr::Literal(Literal::Number(text))));
        }
        let exponent = word.strip_prefix(['e', 'E']).unwrap_or("");
        if !exponent.is_empty() && exponent.bytes().all(|b| b.is_ascii_digit()) {
            let literal = format!("{text}e{exponent}");
            self.at += 1;
            return Ok(Node::leaf(Expr::Literal(Literal::Number(literal))));
        }
        if word.eq_ignore_ascii_case("e") {
            let (sign, digits) = (self.token_at(1), self.token_at(2));
            let minus = is_symbol(&sign.kind, "-");
            let signed = (minus || is_symbol(&sign.kind, "+")) && glued(next, 1, sign);
            if let TokenKind::Number(d) = &digits.kind
                && signed
                && glued(sign, 1, digits)
                && d.bytes().all(|b| b.is_ascii_digit())
            {
                let literal = format!("{text}e{}{d}", if minus { "-" } else { "" });
                self.at += 3;
                return Ok(Node::leaf(Expr::Literal(Literal::Number(literal))));
            }
            return Err(
                self.error_at_token(start, format!("bad number {text}{word}: write an exponent as 1e5 or 1e-5"))
            );
        }
        Err(self.error_at_token(start, format!("bad number {text}{word}: put a space or an operator after a number")))
    }

    /// The name of the function called next (`name(`, the name not reserved).
    fn peek_call(&self) -> Option<String> {
        match &self.peek().kind {
            TokenKind::Word(w) if is_symbol(&self.token_at(1).kind, "(") && !is_reserved(w) => Some(w.clone()),
            _ => None,
        }
    }

    /// A literal or a column (calls and parentheses are taken by `expr_unary`).
    fn expr_primary(&mut self) -> Result<Node, ParseError> {
        match &self.peek().kind {
            TokenKind::Number(text) => {
                let text = text.clone();
                self.expr_number(text)
            }
            TokenKind::String(text) => {
                let literal = Expr::Literal(Literal::String(text.clone()));
                self.at += 1;
                Ok(Node::leaf(literal))
            }
            TokenKind::Symbol("@") => {
                Err(self
                    .error_here("expected an expression (@@variables can only be selected on their own, without FROM)"))
            }
            TokenKind::Symbol("*") => {
                Err(self.error_here("expected an expression (* only stands alone as a select item or in COUNT(*))"))
            }
            TokenKind::QuotedIdent(name) => {
                let name = name.clone();
                self.at += 1;
                self.expr_column(name)
            }
            TokenKind::Word(_) => self.primary_word(),
            _ => Err(self.error_here("expected an expression")),
        }
    }

    fn primary_parenthesized(&mut self, depth: u32) -> Result<Node, ParseError> {
        self.at += 1;
        if self.peek_keyword("SELECT") {
            return Err(self.error_here("expected an expression (subqueries are not supported)"));
        }
        let inner = self.expr_binary(depth + 1, 0)?;
        self.expect_symbol_q(")")?;
        Ok(inner)
    }

    fn primary_word(&mut self) -> Result<Node, ParseError> {
        let TokenKind::Word(word) = self.peek().kind.clone() else {
            return Err(self.error_here("expected an expression"));
        };
        let next = &self.token_at(1).kind;
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if let TokenKind::String(text) = next
            && (is("DATE") || is("DATETIME") || is("TIMESTAMP"))
        {
            let ty = if is("DATE") { ColumnType::Date } else { ColumnType::DateTime };
            let literal = Expr::Literal(Literal::String(text.clone()));
            self.at += 2;
            return Ok(Node { height: 2, expr: Expr::Cast { expr: Box::new(literal), ty } });
        }
        let literal = if is("NULL") {
            Some(Literal::Null)
        } else if is("TRUE") || is("FALSE") {
            Some(Literal::Bool(is("TRUE")))
        } else {
            None
        };
        if let Some(literal) = literal {
            self.at += 1;
            return Ok(Node::leaf(Expr::Literal(literal)));
        }
        if is("CASE") {
            return Err(self.error_here("expected an expression (CASE is not supported yet; use IF(c, a, b))"));
        }
        if is("EXISTS") {
            return Err(self.error_here("expected an expression (subqueries are not supported)"));
        }
        if is_reserved(&word) {
            return Err(self.error_here("expected an expression"));
        }
        self.at += 1;
        self.expr_column(word)
    }

    /// `c` or `t.c` (the first part already taken).
    fn expr_column(&mut self, first: String) -> Result<Node, ParseError> {
        if !self.accept_symbol(".") {
            return Ok(Node::leaf(Expr::Column { qualifier: None, name: first }));
        }
        let name = match &self.peek().kind {
            TokenKind::Word(w) | TokenKind::QuotedIdent(w) => w.clone(),
            _ => return Err(self.error_here(&format!("expected a column name after {first}."))),
        };
        self.at += 1;
        if self.at_symbol(".") {
            return Err(self.error_here(
                "expected an operator (db.table.column is not supported; name the column as table.column)",
            ));
        }
        Ok(Node::leaf(Expr::Column { qualifier: Some(first), name }))
    }

    /// A call, after `name(`.
    fn expr_function(&mut self, name: String, depth: u32) -> Result<Node, ParseError> {
        let name = name.to_ascii_lowercase();
        if name == "cast" {
            return self.function_cast(depth);
        }
        if self.accept_symbol(")") {
            return Ok(Node::leaf(Expr::Function { name, args: Vec::new(), star: false, distinct: false }));
        }
        if self.accept_symbol("*") {
            self.expect_symbol_q(")")?;
            return Ok(Node::leaf(Expr::Function { name, args: Vec::new(), star: true, distinct: false }));
        }
        let distinct = self.accept_keyword("DISTINCT");
        if !distinct {
            self.accept_keyword("ALL");
        }
        let mut args = Vec::new();
        let mut height = 0;
        loop {
            if args.len() >= MAX_FUNCTION_ARGS {
                return Err(self.too_many(MAX_FUNCTION_ARGS, "arguments to a function"));
            }
            let arg = self.expr_binary(depth + 1, 0)?;
            height = height.max(arg.height);
            args.push(arg.expr);
            if !self.accept_symbol(",") {
                break;
            }
        }
        self.expect_symbol_q(")")?;
        let node = Node { height: height + 1, expr: Expr::Function { name, args, star: false, distinct } };
        self.check_height(&node, self.at - 1)?;
        Ok(node)
    }

    /// `CAST(e AS type)`, after `CAST(`.
    fn function_cast(&mut self, depth: u32) -> Result<Node, ParseError> {
        let inner = self.expr_binary(depth + 1, 0)?;
        self.expect_keyword("AS")?;
        let ty = self.cast_type()?;
        self.expect_symbol_q(")")?;
        let node = Node { height: inner.height + 1, expr: Expr::Cast { expr: Box::new(inner.expr), ty } };
        self.check_height(&node, self.at - 1)?;
        Ok(node)
    }

    /// The type of a CAST: a column type, or MySQL's `SIGNED [INTEGER]`, and a bare `CHAR` /
    /// `VARCHAR` meaning any length.
    fn cast_type(&mut self) -> Result<ColumnType, ParseError> {
        if self.accept_keyword("SIGNED") {
            let _ = self.accept_keyword("INTEGER") || self.accept_keyword("INT");
            return Ok(ColumnType::BigInt);
        }
        if (self.peek_keyword("CHAR") || self.peek_keyword("VARCHAR")) && !is_symbol(&self.token_at(1).kind, "(") {
            self.at += 1;
            return Ok(ColumnType::String);
        }
        self.column_type()
    }

    /// A small whole number inside a type's parentheses, checked against `range`.
    fn type_number(&mut self, what: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, ParseError> {
        let at = self.at;
        let TokenKind::Number(text) = self.peek().kind.clone() else {
            return Err(self.error_here(&format!("expected {what} (a whole number)")));
        };
        let value = text.parse::<u32>().ok().filter(|v| range.contains(v)).ok_or_else(|| {
            self.error_at_token(at, format!("{what} must be from {} to {}, not {text}", range.start(), range.end()))
        })?;
        self.at += 1;
        Ok(value)
    }

    /// A column type in Doris's spelling: BOOLEAN, TINYINT, SMALLINT, INT/INTEGER, BIGINT,
    /// LARGEINT, FLOAT, DOUBLE, DECIMAL[(p[, s])] (bare: DECIMAL(9, 0)), DATE, DATETIME,
    /// CHAR[(n)] (bare: CHAR(1)), VARCHAR[(n)] (bare: VARCHAR(65533)), STRING/TEXT. The V2/V3
    /// spellings (DECIMALV3, DATEV2, DATETIMEV2) are accepted, as is an integer display width
    /// (`INT(11)`, ignored).
    pub(super) fn column_type(&mut self) -> Result<ColumnType, ParseError> {
        const EXPECTED: &str = "expected a column type such as INT, BIGINT, DOUBLE, DECIMAL(p, s), DATE, DATETIME, \
                                VARCHAR(n) or STRING";
        let TokenKind::Word(word) = self.peek().kind.clone() else {
            return Err(self.error_here(EXPECTED));
        };
        let integer = match word.to_ascii_uppercase().as_str() {
            "BOOLEAN" | "BOOL" => Some(ColumnType::Boolean),
            "TINYINT" => Some(ColumnType::TinyInt),
            "SMALLINT" => Some(ColumnType::SmallInt),
            "INT" | "INTEGER" => Some(ColumnType::Int),
            "BIGINT" => Some(ColumnType::BigInt),
            "LARGEINT" => Some(ColumnType::LargeInt),
            _ => None,
        };
        if let Some(ty) = integer {
            self.at += 1;
            if ty != ColumnType::Boolean && self.accept_symbol("(") {
                self.type_number("a display width", 1..=255)?;
                self.expect_symbol_q(")")?;
            }
            return Ok(ty);
        }
        let ty = match word.to_ascii_uppercase().as_str() {
            "FLOAT" => ColumnType::Float,
            "DOUBLE" => ColumnType::Double,
            "DATE" | "DATEV2" => ColumnType::Date,
            "STRING" | "TEXT" => ColumnType::String,
            "DATETIME" | "DATETIMEV2" => {
                self.at += 1;
                if self.accept_symbol("(") {
                    self.type_number("DATETIME precision (fractional seconds are not supported)", 0..=0)?;
                    self.expect_symbol_q(")")?;
                }
                return Ok(ColumnType::DateTime);
            }
            "DECIMAL" | "DECIMALV3" | "DECIMALV2" | "NUMERIC" => {
                self.at += 1;
                if !self.accept_symbol("(") {
                    return Ok(ColumnType::Decimal { precision: 9, scale: 0 });
                }
                let max = u32::from(MAX_DECIMAL_PRECISION);
                let precision = self.type_number("DECIMAL precision", 1..=max)?;
                let scale = if self.accept_symbol(",") {
                    self.type_number(&format!("DECIMAL({precision}, s) scale"), 0..=precision)?
                } else {
                    0
                };
                self.expect_symbol_q(")")?;
                // Both fit in u8: precision <= 38 and scale <= precision.
                let (precision, scale) = (precision.min(max) as u8, scale.min(max) as u8);
                return Ok(ColumnType::Decimal { precision, scale });
            }
            "CHAR" | "CHARACTER" => {
                self.at += 1;
                if !self.accept_symbol("(") {
                    return Ok(ColumnType::Char { len: 1 });
                }
                let len = self.type_number("CHAR length", 1..=MAX_CHAR_LEN)?;
                self.expect_symbol_q(")")?;
                return Ok(ColumnType::Char { len });
            }
            "VARCHAR" => {
                self.at += 1;
                if !self.accept_symbol("(") {
                    return Ok(ColumnType::Varchar { len: MAX_VARCHAR_LEN });
                }
                let len = self.type_number("VARCHAR length", 1..=MAX_VARCHAR_LEN)?;
                self.expect_symbol_q(")")?;
                return Ok(ColumnType::Varchar { len });
            }
            _ => return Err(self.error_here(EXPECTED)),
        };
        self.at += 1;
        Ok(ty)
    }

    /// `[AS] alias` (a bare alias must not be a reserved word).
    fn query_alias(&mut self, allow_string: bool) -> Result<Option<String>, ParseError> {
        if self.accept_keyword("AS") {
            return match self.peek().kind.clone() {
                TokenKind::Word(w) | TokenKind::QuotedIdent(w) => {
                    self.at += 1;
                    Ok(Some(w))
                }
                TokenKind::String(s) if allow_string => {
                    self.at += 1;
                    Ok(Some(s))
                }
                _ => Err(self.error_here("expected an alias")),
            };
        }
        match self.peek().kind.clone() {
            TokenKind::QuotedIdent(w) => {
                self.at += 1;
                Ok(Some(w))
            }
            TokenKind::Word(w) if !is_reserved(&w) && !w.eq_ignore_ascii_case("PARTITIONS") => {
                self.at += 1;
                Ok(Some(w))
            }
            _ => Ok(None),
        }
    }

    fn query_select_item(&mut self) -> Result<SelectItem, ParseError> {
        if self.accept_symbol("*") {
            return Ok(SelectItem::Wildcard);
        }
        if matches!(self.peek().kind, TokenKind::Word(_) | TokenKind::QuotedIdent(_))
            && is_symbol(&self.token_at(1).kind, ".")
            && is_symbol(&self.token_at(2).kind, "*")
        {
            self.at += 3;
            return Ok(SelectItem::Wildcard);
        }
        let start = self.at;
        let expr = self.expr()?;
        let text = self.query_text(start, self.at);
        let alias = self.query_alias(true)?;
        Ok(SelectItem::Expr { expr, alias, text })
    }

    /// `[db.]name`
    fn query_table_name(&mut self) -> Result<TableName, ParseError> {
        let first = self.identifier("a table name")?;
        if self.accept_symbol(".") {
            let table = self.identifier("a table name")?;
            return Ok(TableName { database: Some(first), table });
        }
        Ok(TableName { database: None, table: first })
    }

    /// `PARTITION p`, `PARTITION (p1, p2)`, `PARTITIONS (...)`, or nothing.
    fn query_partitions(&mut self) -> Result<Vec<String>, ParseError> {
        if !(self.accept_keyword("PARTITION") || self.accept_keyword("PARTITIONS")) {
            return Ok(Vec::new());
        }
        if !self.accept_symbol("(") {
            return Ok(vec![self.identifier("a partition name")?]);
        }
        let mut names = Vec::new();
        loop {
            if names.len() >= MAX_PARTITIONS {
                return Err(self.error_at_token(self.at, format!("at most {MAX_PARTITIONS} partitions")));
            }
            names.push(self.identifier("a partition name")?);
            if !self.accept_symbol(",") {
                break;
            }
        }
        self.expect_symbol_q(")")?;
        Ok(names)
    }

    fn query_from(&mut self) -> Result<FromClause, ParseError> {
        if self.at_symbol("(") {
            return Err(self.error_here("expected a table name (subqueries are not supported)"));
        }
        if is_word(&self.peek().kind, "numbers") && is_symbol(&self.token_at(1).kind, "(") {
            self.at += 2;
            let count = self.query_numbers()?;
            let alias = self.query_alias(false)?;
            self.query_no_join()?;
            return Ok(FromClause::Numbers { count, alias });
        }
        let table = self.query_table_name()?;
        let mut partitions = self.query_partitions()?;
        let alias = self.query_alias(false)?;
        if partitions.is_empty() {
            partitions = self.query_partitions()?;
        }
        self.query_no_join()?;
        Ok(FromClause::Table { table, alias, partitions })
    }

    fn query_no_join(&self) -> Result<(), ParseError> {
        let kind = &self.peek().kind;
        if is_symbol(kind, ",")
            || ["JOIN", "INNER", "LEFT", "RIGHT", "CROSS", "FULL", "NATURAL", "STRAIGHT_JOIN"]
                .iter()
                .any(|w| is_word(kind, w))
        {
            return Err(self.error_here("expected WHERE, GROUP BY, ORDER BY or LIMIT (joins are not supported yet)"));
        }
        Ok(())
    }

    /// `"number" = "N"[, "backend_num" = "n"])` after `numbers(`.
    fn query_numbers(&mut self) -> Result<u64, ParseError> {
        let mut count = None;
        loop {
            let key = match self.peek().kind.clone() {
                TokenKind::String(k) | TokenKind::Word(k) | TokenKind::QuotedIdent(k) => {
                    self.at += 1;
                    k
                }
                _ => return Err(self.error_here("expected \"number\" = \"N\"")),
            };
            self.expect_symbol_q("=")?;
            let value_at = self.at;
            let value = match self.peek().kind.clone() {
                TokenKind::String(v) | TokenKind::Number(v) => {
                    self.at += 1;
                    v
                }
                _ => return Err(self.error_here("expected a quoted whole number")),
            };
            if key.eq_ignore_ascii_case("number") {
                let n = value.trim().parse::<u64>().map_err(|_| {
                    self.error_at_token(value_at, format!("numbers() needs a whole number of rows, not \"{value}\""))
                })?;
                count = Some(n);
            } else if !key.eq_ignore_ascii_case("backend_num") {
                return Err(self.error_at_token(
                    value_at - 2,
                    format!("unknown numbers() property \"{key}\"; write numbers(\"number\" = \"N\")"),
                ));
            }
            if !self.accept_symbol(",") {
                break;
            }
        }
        let Some(count) = count else {
            return Err(self.error_here("expected \"number\" = \"N\" (numbers() needs a row count)"));
        };
        self.expect_symbol_q(")")?;
        Ok(count)
    }

    fn query_expr_list(&mut self, clause: &str) -> Result<Vec<Expr>, ParseError> {
        let mut list = Vec::new();
        loop {
            if list.len() >= MAX_KEY_ITEMS {
                return Err(self.error_at_token(self.at, format!("{clause} takes at most {MAX_KEY_ITEMS} expressions")));
            }
            list.push(self.expr()?);
            if !self.accept_symbol(",") {
                break;
            }
        }
        Ok(list)
    }

    fn query_count(&mut self, what: &str) -> Result<u64, ParseError> {
        match self.peek().kind.clone() {
            TokenKind::Number(n) if n.bytes().all(|b| b.is_ascii_digit()) => {
                let value = n.parse::<u64>().map_err(|_| self.error_here(&format!("expected a smaller {what}")))?;
                self.at += 1;
                Ok(value)
            }
            _ => Err(self.error_here(&format!("expected a whole number ({what})"))),
        }
    }

    /// The rest of a SELECT, after the `SELECT` keyword.
    pub(super) fn select_body(&mut self) -> Result<Select, ParseError> {
        let distinct = self.accept_keyword("DISTINCT");
        if !distinct {
            self.accept_keyword("ALL");
        }
        let mut items = Vec::new();
        loop {
            if items.len() >= MAX_SELECT_ITEMS {
                return Err(
                    self.error_at_token(self.at, format!("a select list holds at most {MAX_SELECT_ITEMS} items"))
                );
            }
            items.push(self.query_select_item()?);
            if !self.accept_symbol(",") {
                break;
            }
        }
        let from = if self.accept_keyword("FROM") { Some(self.query_from()?) } else { None };
        let filter = if self.accept_keyword("WHERE") { Some(self.expr()?) } else { None };
        let group_by = if self.accept_keyword("GROUP") {
            self.expect_keyword("BY")?;
            self.query_expr_list("GROUP BY")?
        } else {
            Vec::new()
        };
        let having = if self.accept_keyword("HAVING") { Some(self.expr()?) } else { None };
        let mut order_by = Vec::new();
        if self.accept_keyword("ORDER") {
            self.expect_keyword("BY")?;
            loop {
                if order_by.len() >= MAX_KEY_ITEMS {
                    return Err(
                        self.error_at_token(self.at, format!("ORDER BY takes at most {MAX_KEY_ITEMS} expressions"))
                    );
                }
                let expr = self.expr()?;
                let descending = if self.accept_keyword("DESC") {
                    true
                } else {
                    self.accept_keyword("ASC");
                    false
                };
                order_by.push(OrderItem { expr, descending });
                if !self.accept_symbol(",") {
                    break;
                }
            }
        }
        let (mut limit, mut offset) = (None, None);
        if self.accept_keyword("LIMIT") {
            let first = self.query_count("row count")?;
            if self.accept_symbol(",") {
                offset = Some(first);
                limit = Some(self.query_count("row count")?);
            } else {
                limit = Some(first);
                if self.accept_keyword("OFFSET") {
                    offset = Some(self.query_count("offset")?);
                }
            }
        }
        if ["UNION", "EXCEPT", "INTERSECT", "MINUS"].iter().any(|w| self.peek_keyword(w)) {
            return Err(self.error_here("expected end of statement (UNION and other set operations are not supported)"));
        }
        Ok(Select { distinct, items, from, filter, group_by, having, order_by, limit, offset })
    }

    fn query_label(&mut self) -> Result<Option<String>, ParseError> {
        if !self.accept_keyword("WITH") {
            return Ok(None);
        }
        self.expect_keyword("LABEL")?;
        match self.peek().kind.clone() {
            TokenKind::Word(l) | TokenKind::QuotedIdent(l) | TokenKind::String(l) => {
                self.at += 1;
                Ok(Some(l))
            }
            _ => Err(self.error_here("expected a label")),
        }
    }

    /// `INSERT INTO [db.]t [WITH LABEL l] [(c1, ..)] [WITH LABEL l] VALUES (..), .. | SELECT ...`,
    /// after the `INSERT` keyword.
    pub(super) fn insert_statement(&mut self) -> Result<Statement, ParseError> {
        if self.peek_keyword("OVERWRITE") {
            return Err(self.error_here("expected INTO (INSERT OVERWRITE is not supported)"));
        }
        self.expect_keyword("INTO")?;
        let table = self.query_table_name()?;
        if self.peek_keyword("PARTITION") || self.peek_keyword("PARTITIONS") {
            return Err(self.error_here(
                "expected a column list, VALUES or SELECT (rows go to the partition their key selects; \
                 leave out PARTITION)",
            ));
        }
        let mut label = self.query_label()?;
        let columns = if self.at_symbol("(") && !is_word(&self.token_at(1).kind, "SELECT") {
            self.at += 1;
            let mut names: Vec<String> = Vec::new();
            loop {
                if names.len() >= MAX_INSERT_COLUMNS {
                    return Err(self.error_at_token(self.at, format!("at most {MAX_INSERT_COLUMNS} columns")));
                }
                let at = self.at;
                let name = self.identifier("a column name")?;
                if names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                    return Err(self.error_at_token(at, format!("column '{name}' is listed twice")));
                }
                names.push(name);
                if !self.accept_symbol(",") {
                    break;
                }
            }
            self.expect_symbol_q(")")?;
            Some(names)
        } else {
            None
        };
        if label.is_none() {
            label = self.query_label()?;
        }
        let source = if self.accept_keyword("VALUES") || self.accept_keyword("VALUE") {
            InsertSource::Values(self.query_values(columns.as_ref().map(Vec::len))?)
        } else if self.accept_keyword("SELECT") {
            InsertSource::Select(Box::new(self.select_body()?))
        } else if self.at_symbol("(") && is_word(&self.token_at(1).kind, "SELECT") {
            self.at += 2;
            let select = self.select_body()?;
            self.expect_symbol_q(")")?;
            InsertSource::Select(Box::new(select))
        } else {
            return Err(self.error_here("expected VALUES or SELECT"));
        };
        Ok(Statement::Insert(Box::new(Insert { table, columns, source, label })))
    }

    fn query_values(&mut self, columns: Option<usize>) -> Result<Vec<Vec<Expr>>, ParseError> {
        let mut rows: Vec<Vec<Expr>> = Vec::new();
        loop {
            if rows.len() >= MAX_VALUES_ROWS {
                return Err(self.error_at_token(
                    self.at,
                    format!("at most {MAX_VALUES_ROWS} rows per INSERT ... VALUES; split the insert"),
                ));
            }
            let row_at = self.at;
            self.expect_symbol_q("(")?;
            let mut row = Vec::new();
            loop {
                if row.len() >= MAX_INSERT_COLUMNS {
                    return Err(
                        self.error_at_token(self.at, format!("a row holds at most {MAX_INSERT_COLUMNS} values"))
                    );
                }
                if self.peek_keyword("DEFAULT")
                    && matches!(self.token_at(1).kind, TokenKind::Symbol(",") | TokenKind::Symbol(")"))
                {
                    self.at += 1;
                    row.push(Expr::Default);
                } else {
                    row.push(self.expr()?);
                }
                if !self.accept_symbol(",") {
                    break;
                }
            }
            self.expect_symbol_q(")")?;
            let n = rows.len() + 1;
            if let Some(count) = columns
                && row.len() != count
            {
                return Err(self.error_at_token(
                    row_at,
                    format!("the INSERT names {count} columns but row {n} has {} values", row.len()),
                ));
            }
            if let Some(first) = rows.first()
                && first.len() != row.len()
            {
                return Err(self.error_at_token(
                    row_at,
                    format!("row {n} has {} values but row 1 has {}", row.len(), first.len()),
                ));
            }
            rows.push(row);
            if !self.accept_symbol(",") {
                break;
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::SessionValue;
    use super::super::lexer;
    use super::super::parser::parse;
    use super::*;

    fn expr(sql: &str) -> Result<Expr, ParseError> {
        let mut parser = Parser { tokens: lexer::tokenize(sql)?, at: 0 };
        let e = parser.expr()?;
        if parser.peek().kind != TokenKind::End {
            return Err(parser.error_here("expected end of expression"));
        }
        Ok(e)
    }

    fn col(name: &str) -> Expr {
        Expr::Column { qualifier: None, name: name.into() }
    }

    fn num(n: &str) -> Expr {
        Expr::Literal(Literal::Number(n.into()))
    }

    fn bin(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary { op, left: Box::new(left), right: Box::new(right) }
    }

    fn not(e: Expr) -> Expr {
        Expr::Unary { op: UnaryOp::Not, expr: Box::new(e) }
    }

    fn func(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Function { name: name.into(), args, star: false, distinct: false }
    }

    fn select(sql: &str) -> Select {
        match parse(sql) {
            Ok(Statement::Select(s)) => *s,
            other => panic!("{sql} must parse as a query, got {other:?}"),
        }
    }

    fn insert(sql: &str) -> Insert {
        match parse(sql) {
            Ok(Statement::Insert(i)) => *i,
            other => panic!("{sql} must parse as an insert, got {other:?}"),
        }
    }

    fn error(sql: &str) -> (u32, u32, String) {
        let e = parse(sql).expect_err(sql);
        (e.line, e.column, e.message)
    }

    #[test]
    fn precedence_follows_mysql() {
        use BinaryOp::*;
        assert_eq!(expr("1 + 2 * 3"), Ok(bin(Add, num("1"), bin(Mul, num("2"), num("3")))));
        assert_eq!(expr("(1 + 2) * 3"), Ok(bin(Mul, bin(Add, num("1"), num("2")), num("3"))));
        assert_eq!(expr("a - b - c"), Ok(bin(Sub, bin(Sub, col("a"), col("b")), col("c"))));
        assert_eq!(expr("a / b % c"), Ok(bin(Mod, bin(Div, col("a"), col("b")), col("c"))));
        assert_eq!(expr("a OR b AND c"), Ok(bin(Or, col("a"), bin(And, col("b"), col("c")))));
        assert_eq!(expr("a AND b OR c"), Ok(bin(Or, bin(And, col("a"), col("b")), col("c"))));
        assert_eq!(expr("NOT a = b"), Ok(not(bin(Eq, col("a"), col("b")))));
        assert_eq!(expr("NOT a AND b"), Ok(bin(And, not(col("a")), col("b"))));
        assert_eq!(expr("NOT NOT a"), Ok(not(not(col("a")))));
        assert_eq!(expr("a + 1 >= b * 2"), Ok(bin(GtEq, bin(Add, col("a"), num("1")), bin(Mul, col("b"), num("2")))));
        assert_eq!(expr("-2 * 3"), Ok(bin(Mul, num("-2"), num("3"))));
        assert_eq!(expr("- -2"), Ok(num("2")));
        assert_eq!(expr("-a"), Ok(Expr::Unary { op: UnaryOp::Neg, expr: Box::new(col("a")) }));
        assert_eq!(expr("1-2"), Ok(bin(Sub, num("1"), num("2"))));
        assert_eq!(expr("a <> b"), expr("a != b"));
        assert_eq!(
            expr("x BETWEEN 1 AND 2 + 1 AND y"),
            Ok(bin(
                And,
                Expr::Between {
                    expr: Box::new(col("x")),
                    low: Box::new(num("1")),
                    high: Box::new(bin(Add, num("2"), num("1"))),
                    negated: false
                },
                col("y")
            ))
        );
        assert_eq!(
            expr("a NOT IN (1, 'x', NULL) OR b IS NOT NULL"),
            Ok(bin(
                Or,
                Expr::InList {
                    expr: Box::new(col("a")),
                    list: vec![num("1"), Expr::Literal(Literal::String("x".into())), Expr::Literal(Literal::Null)],
                    negated: true
                },
                Expr::IsNull { expr: Box::new(col("b")), negated: true }
            ))
        );
        assert_eq!(
            expr("name NOT LIKE 'a%'"),
            Ok(not(func("like", vec![col("name"), Expr::Literal(Literal::String("a%".into()))])))
        );
        assert_eq!(expr("1.5e3"), Ok(num("1.5e3")));
        assert_eq!(expr("2E-3"), Ok(num("2e-3")));
        assert_eq!(
            expr("TRUE AND FALSE"),
            Ok(bin(And, Expr::Literal(Literal::Bool(true)), Expr::Literal(Literal::Bool(false))))
        );
    }

    #[test]
    fn and_or_chains_are_balanced() {
        use BinaryOp::*;
        let chain: Vec<String> = (0..5000).map(|i| format!("a = {i}")).collect();
        assert!(expr(&chain.join(" OR ")).is_ok());
        assert_eq!(expr("a OR b OR c"), Ok(bin(Or, bin(Or, col("a"), col("b")), col("c"))));
        // Non-associative operators stay left-deep, and are capped.
        let sum: Vec<&str> = std::iter::repeat_n("1", 150).collect();
        assert!(expr(&sum.join(" + ")).is_ok());
        let sum: Vec<&str> = std::iter::repeat_n("1", 300).collect();
        let err = expr(&sum.join(" + ")).expect_err("too deep");
        assert!(err.message.contains("more than 200"), "{err}");
    }

    #[test]
    fn primaries_columns_functions_and_casts() {
        assert_eq!(expr("t.c"), Ok(Expr::Column { qualifier: Some("t".into()), name: "c".into() }));
        assert_eq!(expr("`select`"), Ok(col("select")));
        assert_eq!(expr("`t`.`my col`"), Ok(Expr::Column { qualifier: Some("t".into()), name: "my col".into() }));
        assert_eq!(
            expr("COUNT(*)"),
            Ok(Expr::Function { name: "count".into(), args: vec![], star: true, distinct: false })
        );
        assert_eq!(
            expr("Count(DISTINCT k)"),
            Ok(Expr::Function { name: "count".into(), args: vec![col("k")], star: false, distinct: true })
        );
        assert_eq!(
            expr("concat(a, 'x', 1)"),
            Ok(func("concat", vec![col("a"), Expr::Literal(Literal::String("x".into())), num("1")]))
        );
        assert_eq!(expr("now()"), Ok(func("now", vec![])));
        assert_eq!(
            expr("CAST(a AS DECIMAL(10, 2))"),
            Ok(Expr::Cast { expr: Box::new(col("a")), ty: ColumnType::Decimal { precision: 10, scale: 2 } })
        );
        assert_eq!(expr("cast(a as signed)"), Ok(Expr::Cast { expr: Box::new(col("a")), ty: ColumnType::BigInt }));
        assert_eq!(expr("cast(a as char)"), Ok(Expr::Cast { expr: Box::new(col("a")), ty: ColumnType::String }));
        assert_eq!(
            expr("DATE '2024-01-02'"),
            Ok(Expr::Cast {
                expr: Box::new(Expr::Literal(Literal::String("2024-01-02".into()))),
                ty: ColumnType::Date
            })
        );
        // Column names that are also type or function names.
        assert_eq!(expr("date + year"), Ok(bin(BinaryOp::Add, col("date"), col("year"))));
    }

    #[test]
    fn column_types_check_their_ranges() {
        let ty = |sql: &str| {
            let mut parser = Parser { tokens: lexer::tokenize(sql).expect("lexes"), at: 0 };
            parser.column_type()
        };
        assert_eq!(ty("decimal"), Ok(ColumnType::Decimal { precision: 9, scale: 0 }));
        assert_eq!(ty("DECIMAL(38, 38)"), Ok(ColumnType::Decimal { precision: 38, scale: 38 }));
        assert_eq!(ty("decimalv3(5)"), Ok(ColumnType::Decimal { precision: 5, scale: 0 }));
        assert_eq!(ty("char"), Ok(ColumnType::Char { len: 1 }));
        assert_eq!(ty("varchar"), Ok(ColumnType::Varchar { len: 65533 }));
        assert_eq!(ty("VARCHAR(20)"), Ok(ColumnType::Varchar { len: 20 }));
        assert_eq!(ty("int(11)"), Ok(ColumnType::Int));
        assert_eq!(ty("integer"), Ok(ColumnType::Int));
        assert_eq!(ty("largeint"), Ok(ColumnType::LargeInt));
        assert_eq!(ty("string"), Ok(ColumnType::String));
        assert_eq!(ty("datetime"), Ok(ColumnType::DateTime));
        assert_eq!(ty("boolean"), Ok(ColumnType::Boolean));
        let err = ty("DECIMAL(39, 2)").expect_err("precision");
        assert_eq!((err.column, err.message.as_str()), (9, "DECIMAL precision must be from 1 to 38, not 39"));
        let err = ty("decimal(5, 6)").expect_err("scale");
        assert_eq!((err.column, err.message.as_str()), (12, "DECIMAL(5, s) scale must be from 0 to 5, not 6"));
        assert!(ty("char(256)").expect_err("char").message.contains("from 1 to 255"));
        assert!(ty("varchar(0)").expect_err("varchar").message.contains("from 1 to 65533"));
        assert!(ty("varchar(65534)").is_err());
        assert!(ty("datetime(3)").is_err());
        let err = ty("blob").expect_err("unknown");
        assert!(err.message.starts_with("expected a column type"), "{err}");
    }

    #[test]
    fn full_select() {
        let s = select(
            "SELECT DISTINCT k, sum(v) AS total, count(*) c, `x y` FROM db.t AS a PARTITION (p1, p2) \
             WHERE k > 1 GROUP BY k, 4 HAVING total > 10 ORDER BY total DESC, 1 LIMIT 5 OFFSET 2",
        );
        assert!(s.distinct);
        assert_eq!(s.items.len(), 4);
        assert_eq!(s.items[0], SelectItem::Expr { expr: col("k"), alias: None, text: "k".into() });
        assert_eq!(
            s.items[1],
            SelectItem::Expr { expr: func("sum", vec![col("v")]), alias: Some("total".into()), text: "sum(v)".into() }
        );
        let SelectItem::Expr { alias, text, .. } = &s.items[2] else { panic!("an expression") };
        assert_eq!((alias.as_deref(), text.as_str()), (Some("c"), "count(*)"));
        let SelectItem::Expr { text, .. } = &s.items[3] else { panic!("an expression") };
        assert_eq!(text, "`x y`");
        assert_eq!(
            s.from,
            Some(FromClause::Table {
                table: TableName { database: Some("db".into()), table: "t".into() },
                alias: Some("a".into()),
                partitions: vec!["p1".into(), "p2".into()]
            })
        );
        assert_eq!(s.filter, Some(bin(BinaryOp::Gt, col("k"), num("1"))));
        assert_eq!(s.group_by, vec![col("k"), num("4")]);
        assert_eq!(s.having, Some(bin(BinaryOp::Gt, col("total"), num("10"))));
        assert_eq!(
            s.order_by,
            vec![OrderItem { expr: col("total"), descending: true }, OrderItem { expr: num("1"), descending: false }]
        );
        assert_eq!((s.limit, s.offset), (Some(5), Some(2)));

        let s = select("select * from t partition p1 limit 3, 4");
        assert_eq!((s.limit, s.offset), (Some(4), Some(3)));
        assert_eq!(s.items, vec![SelectItem::Wildcard]);
        assert!(matches!(s.from, Some(FromClause::Table { ref partitions, alias: None, .. }) if partitions == &["p1"]));
        let s = select("SELECT t.* FROM t");
        assert_eq!(s.items, vec![SelectItem::Wildcard]);

        let s = select("SELECT number * 2, concat('a', number) FROM numbers(\"number\" = \"1000\") n");
        assert_eq!(s.from, Some(FromClause::Numbers { count: 1000, alias: Some("n".into()) }));
        let SelectItem::Expr { text, .. } = &s.items[1] else { panic!("an expression") };
        assert_eq!(text, "concat('a', number)");
        let SelectItem::Expr { text, .. } = &s.items[0] else { panic!("an expression") };
        assert_eq!(text, "number * 2");

        // Without FROM, anything beyond session values is a query.
        let s = select("SELECT 1 + 2 AS three");
        assert_eq!(s.from, None);
        assert_eq!(
            s.items[0],
            SelectItem::Expr {
                expr: bin(BinaryOp::Add, num("1"), num("2")),
                alias: Some("three".into()),
                text: "1 + 2".into()
            }
        );
        assert!(matches!(parse("SELECT -1"), Ok(Statement::Select(_))));
        assert!(matches!(parse("SELECT 1 LIMIT 1 OFFSET 1"), Ok(Statement::Select(_))));
    }

    #[test]
    fn session_selects_stay_session_selects() {
        let Ok(Statement::SelectSession { items, limit }) = parse("SELECT @@version_comment LIMIT 1;") else {
            panic!("a session select");
        };
        assert_eq!(items[0].value, SessionValue::Variable("version_comment".into()));
        assert_eq!(limit, Some(1));
        for sql in ["SELECT DATABASE()", "select user(), 'x', 1", "SELECT CONNECTION_ID() AS id", "SELECT VERSION()"] {
            assert!(matches!(parse(sql), Ok(Statement::SelectSession { .. })), "{sql}");
        }
        // A user variable: the session parser's message got further, so it wins.
        let (_, column, message) = error("SELECT @x");
        assert_eq!(column, 9);
        assert!(message.contains("user variables are not supported"), "{message}");
        let (_, column, message) = error("SELECT @@version_comment, k FROM t");
        assert_eq!(column, 27);
        assert!(message.contains("@@"), "{message}");
    }

    #[test]
    fn inserts() {
        let i = insert("INSERT INTO db1.t (k, v) VALUES (1, 'a'), (-2, DEFAULT);");
        assert_eq!(i.table, TableName { database: Some("db1".into()), table: "t".into() });
        assert_eq!(i.columns, Some(vec!["k".into(), "v".into()]));
        assert_eq!(
            i.source,
            InsertSource::Values(vec![
                vec![num("1"), Expr::Literal(Literal::String("a".into()))],
                vec![num("-2"), Expr::Default]
            ])
        );
        assert_eq!(i.label, None);
        let i = insert("insert into t with label l1 values (1 + 1)");
        assert_eq!((i.label.as_deref(), i.columns), (Some("l1"), None));
        assert_eq!(i.source, InsertSource::Values(vec![vec![bin(BinaryOp::Add, num("1"), num("1"))]]));
        let i = insert("INSERT INTO t (k) WITH LABEL `x` SELECT number FROM numbers(\"number\" = \"5\")");
        assert_eq!(i.label.as_deref(), Some("x"));
        let InsertSource::Select(s) = i.source else { panic!("a select") };
        assert_eq!(s.from, Some(FromClause::Numbers { count: 5, alias: None }));
        let i = insert("INSERT INTO t (SELECT 1)");
        assert!(matches!(i.source, InsertSource::Select(_)));
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(error("SELECT k FROM t WHERE"), (1, 22, "expected an expression, found end of statement".into()));
        assert_eq!(error("SELECT a +\n  FROM t"), (2, 3, "expected an expression, found FROM".into()));
        assert_eq!(error("SELECT (1 + 2 FROM t"), (1, 15, "expected ), found FROM".into()));
        assert_eq!(
            error("SELECT k FROM t, u").2,
            "expected WHERE, GROUP BY, ORDER BY or LIMIT (joins are not supported yet), found ,"
        );
        assert_eq!(error("SELECT k FROM t JOIN u ON 1").1, 17);
        assert!(error("SELECT k FROM t UNION SELECT 1").2.contains("UNION"));
        assert!(error("SELECT k FROM (SELECT 1)").2.contains("subqueries"));
        assert!(error("SELECT k FROM t WHERE k IN (SELECT 1)").2.contains("subqueries"));
        assert_eq!(error("SELECT 1.2.3 FROM t").2, "bad number 1.2.3: more than one decimal point");
        assert!(error("SELECT 1abc FROM t").2.contains("put a space"));
        assert_eq!(error("SELECT k FROM t LIMIT x").2, "expected a whole number (row count), found x");
        assert_eq!(error("SELECT k FROM t LIMIT -1").2, "expected a whole number (row count), found -");
        assert!(error("SELECT * FROM numbers(\"number\" = \"ten\")").2.contains("whole number of rows"));
        assert!(error("SELECT * FROM numbers(\"rows\" = \"10\")").2.contains("unknown numbers() property"));
        assert_eq!(error("SELECT CAST(1 AS blob) FROM t").1, 18);
        assert!(error("SELECT CASE WHEN 1 THEN 2 END").2.contains("use IF"));
        assert_eq!(error("SELECT k FROM t WHERE a IS 1").2, "expected NULL, found 1");
        assert_eq!(error("SELECT k FROM t WHERE a BETWEEN 1 OR 2").2, "expected AND, found OR");
        assert_eq!(error("SELECT FROM t").2, "expected an expression, found FROM");
        assert_eq!(error("SELECT a.b.c FROM t").1, 11);

        assert_eq!(error("INSERT t VALUES (1)").2, "expected INTO, found t");
        assert_eq!(error("INSERT INTO t VALUES (1), (1, 2)"), (1, 27, "row 2 has 2 values but row 1 has 1".into()));
        assert_eq!(
            error("INSERT INTO t (a, b) VALUES (1)"),
            (1, 29, "the INSERT names 2 columns but row 1 has 1 values".into())
        );
        assert_eq!(error("INSERT INTO t (a, A) VALUES (1, 2)"), (1, 19, "column 'A' is listed twice".into()));
        assert_eq!(error("INSERT INTO t VALUES ()").2, "expected an expression, found )");
        assert_eq!(error("INSERT INTO t SET a = 1").2, "expected VALUES or SELECT, found SET");
        assert!(error("INSERT INTO t PARTITION (p1) VALUES (1)").2.contains("leave out PARTITION"));
        assert_eq!(error("INSERT INTO t VALUES (DEFAULT + 1)").2, "expected an expression, found DEFAULT");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for depth in [201usize, 100_000] {
            let sql = format!("SELECT {}1{} FROM t", "(".repeat(depth), ")".repeat(depth));
            let (_, _, message) = error(&sql);
            assert!(message.contains("nests more than 200 levels"), "{message}");
            let sql = format!("SELECT {}1 FROM t", "NOT ".repeat(depth));
            assert!(error(&sql).2.contains("200"));
            let sql = format!("SELECT {}1 FROM t", "- ".repeat(depth));
            assert!(error(&sql).2.contains("200"));
            let sql = format!("SELECT {}1{} FROM t", "abs(".repeat(depth), ")".repeat(depth));
            assert!(error(&sql).2.contains("200"));
        }
        let sql = format!("SELECT {}1{} FROM t", "(".repeat(150), ")".repeat(150));
        assert!(parse(&sql).is_ok());
    }
}
