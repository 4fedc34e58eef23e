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
    /// `ALTER SYSTEM DROP BACKEND "host:port"[, ...]`; `DROPP` (Doris's forced drop) also drops
    /// a backend that holds the last up-to-date replica of a tablet.
    DropBackends { addrs: Vec<HostPort>, force: bool },
    /// `ALTER SYSTEM ADD BROKER name "host:port"[, ...]`
    AddBrokers { name: String, addrs: Vec<HostPort> },
    /// `ALTER SYSTEM DROP BROKER name "host:port"[, ...]`
    DropBrokers { name: String, addrs: Vec<HostPort> },
    /// `ALTER SYSTEM DROP ALL BROKER name`
    DropAllBrokers { name: String },
    /// `SHOW BACKENDS`
    ShowBackends,
    /// `SHOW TRASH [ON "host:port"]`: bytes in each backend's trash.
    ShowTrash { on: Option<Vec<HostPort>> },
    /// `ADMIN CLEAN TRASH [ON ("host:port", ...)]`: empties backends' trash now.
    CleanTrash { on: Option<Vec<HostPort>> },
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
    /// `SHOW TABLES [FROM db]`
    ShowTables { database: Option<String> },
    /// `SHOW CREATE TABLE [db.]t`
    ShowCreateTable { table: TableName },
    /// `DESC [db.]t` / `DESCRIBE` / `SHOW COLUMNS FROM`
    Describe { table: TableName },
    /// `CREATE TABLE ...` in Doris syntax.
    CreateTable(Box<CreateTable>),
    /// `DROP TABLE [IF EXISTS] [db.]t`
    DropTable { table: TableName, if_exists: bool },
    /// `TRUNCATE TABLE [db.]t`
    TruncateTable { table: TableName },
    /// `ALTER TABLE t ADD PARTITION p VALUES ...`
    AddPartition { table: TableName, partition: PartitionDef },
    /// `ALTER TABLE t DROP PARTITION [IF EXISTS] p`
    DropPartition { table: TableName, partition: String, if_exists: bool },
    /// `SHOW PARTITIONS FROM [db.]t`
    ShowPartitions { table: TableName },
    /// `SHOW TABLETS FROM [db.]t`
    ShowTablets { table: TableName },
    /// `INSERT INTO t [(cols)] VALUES (...), ...` or `INSERT INTO t [(cols)] SELECT ...`
    Insert(Box<Insert>),
    /// `CREATE [READ ONLY] REPOSITORY name WITH BROKER b | WITH S3 ON LOCATION "uri" [PROPERTIES (...)]`
    CreateRepository(Box<CreateRepository>),
    /// `DROP REPOSITORY name`
    DropRepository { name: String },
    /// `SHOW REPOSITORIES`
    ShowRepositories,
    /// `SHOW CREATE REPOSITORY FOR name`
    ShowCreateRepository { name: String },
    /// A query over a table (or none: `SELECT 1 + 1`).
    Select(Box<Select>),
    /// `BACKUP SNAPSHOT ...`
    Backup(Box<Backup>),
    /// `SHOW BACKUP [FROM db] [WHERE SnapshotName = "x" | SnapshotName LIKE "p"]`
    ShowBackup { database: Option<String>, filter: Option<LabelFilter> },
    /// `SHOW SNAPSHOT ON repo [WHERE SNAPSHOT = "x" [AND TIMESTAMP = "ts"]]`
    ShowSnapshot { repository: String, snapshot: Option<String>, timestamp: Option<String> },
    /// `CANCEL BACKUP [FROM db]`
    CancelBackup { database: Option<String> },
    /// `RESTORE SNAPSHOT ...`
    Restore(Box<Restore>),
    /// `SHOW RESTORE [FROM db] [WHERE Label = "x" | Label LIKE "p"]`
    ShowRestore { database: Option<String>, filter: Option<LabelFilter> },
    /// `CANCEL RESTORE [FROM db]`
    CancelRestore { database: Option<String> },
}

/// `[db.]table` as written; `database` is `None` when the session's database is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub database: Option<String>,
    pub table: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.database {
            Some(db) => write!(f, "{db}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

/// One column of CREATE TABLE, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: crate::schema::ColumnType,
    /// `Some(false)` for NOT NULL, `Some(true)` for NULL, `None` when not said.
    pub nullable: Option<bool>,
    pub default: Option<String>,
    pub comment: String,
    pub aggregation: Option<crate::schema::Aggregation>,
}

/// A partition's bounds as written: each bound is one literal per partition column
/// (`MAXVALUE` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionValues {
    /// `VALUES LESS THAN (v)` / `VALUES LESS THAN MAXVALUE`
    LessThan(Option<Literal>),
    /// `VALUES [(lower), (upper))`
    Range(Literal, Literal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDef {
    pub name: String,
    pub values: PartitionValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distribution {
    Hash { columns: Vec<String>, buckets: u32 },
    Random { buckets: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTable {
    pub table: TableName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    /// `None` when no key clause was written (Doris then makes a DUPLICATE KEY of the leading columns).
    pub keys: Option<(crate::schema::KeysType, Vec<String>)>,
    /// `PARTITION BY RANGE(col) (...)`; `None` means one partition named after the table.
    pub partition: Option<(String, Vec<PartitionDef>)>,
    pub distribution: Distribution,
    /// `PROPERTIES ("k" = "v", ...)`, in order written.
    pub properties: Vec<(String, String)>,
    pub comment: String,
}

/// A literal as written in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    /// Digits, maybe with a sign, `.` and exponent, as written.
    Number(String),
    String(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

/// An expression of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Literal(Literal),
    /// A column name (`t.c` is accepted; the qualifier is kept for error messages only).
    Column {
        qualifier: Option<String>,
        name: String,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `e [NOT] IN (list)`
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high`
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `e IS [NOT] NULL`
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// A function call (`COUNT(*)` is `Function { name: "count", args: [], star: true }`).
    /// Names are lower case. `a LIKE p` is the call `like(a, p)` (`NOT LIKE` wraps it in NOT).
    Function {
        name: String,
        args: Vec<Expr>,
        star: bool,
        distinct: bool,
    },
    /// `CAST(e AS type)`
    Cast {
        expr: Box<Expr>,
        ty: crate::schema::ColumnType,
    },
    /// `DEFAULT` as a whole value of `INSERT ... VALUES`: the column's default. Nowhere else.
    Default,
}

/// One item of a select list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`
    Wildcard,
    /// `expr [AS alias]`; `text` is how the expression was written (the column title when
    /// there is no alias).
    Expr { expr: Expr, alias: Option<String>, text: String },
}

/// What a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromClause {
    /// `[db.]t [alias]`, optionally `PARTITION (p1, p2)` / `PARTITIONS (...)`.
    Table { table: TableName, alias: Option<String>, partitions: Vec<String> },
    /// `numbers("number" = "N")`: rows 0..N of one BIGINT column `number`.
    Numbers { count: u64, alias: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub expr: Expr,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    /// `SELECT DISTINCT`: duplicate result rows are dropped.
    pub distinct: bool,
    pub items: Vec<SelectItem>,
    pub from: Option<FromClause>,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertSource {
    /// `VALUES (..), (..)`: each row's expressions (literals or constant expressions).
    Values(Vec<Vec<Expr>>),
    Select(Box<Select>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: TableName,
    /// `None`: every column, in table order.
    pub columns: Option<Vec<String>>,
    pub source: InsertSource,
    /// `WITH LABEL l` as written (Doris's load label); the FE decides what to do with it.
    pub label: Option<String>,
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

/// How a repository is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryStorage {
    /// `WITH BROKER name`: through the named broker processes.
    Broker(String),
    /// `WITH S3`: FE and BEs reach the object store directly.
    S3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRepository {
    pub name: String,
    pub read_only: bool,
    pub storage: RepositoryStorage,
    pub location: String,
    pub properties: Vec<(String, String)>,
}

/// `BACKUP SNAPSHOT [db.]label TO repo ...` and `RESTORE SNAPSHOT [db.]label FROM repo ...`:
/// `[ON (..) | EXCLUDE (..)] [PROPERTIES (..)]` follow in both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotJob {
    pub database: Option<String>,
    pub label: String,
    /// Where a backup goes, or where a restore comes from.
    pub repository: String,
    pub objects: BackupObjects,
    pub properties: Vec<(String, String)>,
}

pub type Backup = SnapshotJob;
pub type Restore = SnapshotJob;

/// Which tables a BACKUP (or RESTORE) takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupObjects {
    /// No ON or EXCLUDE: every table of the database.
    All,
    On(Vec<BackupTableRef>),
    Exclude(Vec<BackupTableRef>),
}

/// `[db.]table [PARTITION (p, ..)] [[AS] alias]` as written; the FE refuses a database and an
/// alias with Doris's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTableRef {
    pub table: TableName,
    /// Empty: every partition.
    pub partitions: Vec<String>,
    pub alias: Option<String>,
}

/// `WHERE SnapshotName = "x"` or `WHERE SnapshotName LIKE "pattern"` of SHOW BACKUP/RESTORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFilter {
    Equals(String),
    Like(String),
}
