//! Statements other than the jobs' and the cluster's: databases, users, table DDL, SHOW of tables,
//! loads, queries, repositories.

pub mod database;
pub mod load;
pub mod repository;
pub mod select;
pub mod table_ddl;
pub mod table_show;
pub mod users;
