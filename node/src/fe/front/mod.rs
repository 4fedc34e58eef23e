//! How statements reach the FE: sessions and dispatch, the gRPC service, the MySQL protocol,
//! variables and HELP.

pub mod dispatch;
pub mod help;
pub mod mysql;
pub mod service;
pub mod variables;
