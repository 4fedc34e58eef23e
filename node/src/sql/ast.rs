//! The statements Palo understands. Later issues add DDL, DML, queries and jobs here.

/// A `"host:port"` a statement names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `ALTER SYSTEM ADD BACKEND "host:port"[, ...]`
    AddBackends(Vec<HostPort>),
    /// `ALTER SYSTEM DROP BACKEND "host:port"[, ...]` (also `DROPP`, Doris's forced drop)
    DropBackends(Vec<HostPort>),
    /// `ALTER SYSTEM ADD BROKER name "host:port"[, ...]`
    AddBrokers { name: String, addrs: Vec<HostPort> },
    /// `ALTER SYSTEM DROP BROKER name "host:port"[, ...]`
    DropBrokers { name: String, addrs: Vec<HostPort> },
    /// `ALTER SYSTEM DROP ALL BROKER name`
    DropAllBrokers { name: String },
    /// `SHOW BACKENDS`
    ShowBackends,
    /// `SHOW BROKER`
    ShowBrokers,
    /// `SHOW FRONTENDS`
    ShowFrontends,
    /// `CREATE DATABASE [IF NOT EXISTS] name`
    CreateDatabase { name: String, if_not_exists: bool },
    /// `DROP DATABASE [IF EXISTS] name` (also `SCHEMA`)
    DropDatabase { name: String, if_exists: bool },
    /// `USE name`
    Use { name: String },
    /// `SHOW DATABASES` (also `SCHEMAS`)
    ShowDatabases,
    /// `SET ...`: what clients send on connect; accepted and ignored.
    Set,
    /// `SELECT` of session values only (`@@var`, `DATABASE()`, literals), what clients send on
    /// connect. Full queries come with tables.
    SelectSession { items: Vec<SessionItem>, limit: Option<u64> },
    /// `SHOW [SESSION|GLOBAL] VARIABLES [LIKE 'pattern']`
    ShowVariables { like: Option<String> },
    /// `CREATE USER [IF NOT EXISTS] 'u'@'h' [IDENTIFIED BY 'p']`
    CreateUser { user: UserSpec, password: Option<String>, if_not_exists: bool },
    /// `DROP USER [IF EXISTS] 'u'@'h'`
    DropUser { user: UserSpec, if_exists: bool },
    /// `SET PASSWORD [FOR 'u'@'h'] = PASSWORD('p')` (or `= 'p'`)
    SetPassword { user: Option<UserSpec>, password: String },
    /// `GRANT priv[, ...] ON *.*|db.* TO 'u'@'h'`
    Grant { privileges: Vec<String>, on: GrantOn, user: UserSpec },
    /// `REVOKE priv[, ...] ON *.*|db.* FROM 'u'@'h'`
    Revoke { privileges: Vec<String>, on: GrantOn, user: UserSpec },
    /// `SHOW GRANTS [FOR 'u'@'h']`, `SHOW ALL GRANTS`
    ShowGrants { user: Option<UserSpec>, all: bool },
    /// `HELP [topic words]`
    Help { topic: String },
}

/// `'user'@'host'` as written; the host is `%` when left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub host: String,
}

/// The target of a GRANT or REVOKE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOn {
    Global,
    Database(String),
}

/// One item of a session-only SELECT, with the column name the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionItem {
    pub value: SessionValue,
    pub column: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionValue {
    /// `@@name` (a `session.`/`global.` scope is accepted and dropped).
    Variable(String),
    /// `DATABASE()` / `SCHEMA()`
    Database,
    /// `USER()` / `CURRENT_USER()`
    User,
    /// `VERSION()`
    Version,
    /// `CONNECTION_ID()`
    ConnectionId,
    Literal(String),
}
