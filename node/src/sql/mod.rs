//! SQL: a hand-written lexer and recursive-descent parser for the Doris dialect Palo speaks.
//! Errors carry the line and column of the token that went wrong and say what was expected.

pub mod ast;
pub mod lexer;
mod parse_backup;
mod parse_query;
mod parse_repository;
mod parse_table;
pub mod parser;

pub use ast::Statement;
pub use parser::{ParseError, parse};
