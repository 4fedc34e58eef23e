//! Statements other than the jobs': table DDL, SHOW of tables, loads, queries, repositories.

pub mod load;
pub mod repository;
pub mod select;
pub mod table_ddl;
pub mod table_show;
