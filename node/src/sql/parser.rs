//! Recursive-descent parser: tokens to [`Statement`]s.

use super::ast::{GrantOn, HostPort, SessionItem, SessionValue, Statement, UserSpec};
use super::lexer::{self, Token, TokenKind};

/// A statement that could not be parsed, with where and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl From<lexer::LexError> for ParseError {
    fn from(e: lexer::LexError) -> Self {
        ParseError { line: e.line, column: e.column, message: e.message }
    }
}

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(sql: &str) -> Result<Statement, ParseError> {
    let tokens = lexer::tokenize(sql)?;
    let mut parser = Parser { tokens, at: 0 };
    let statement = parser.statement()?;
    parser.accept_symbol(";");
    if parser.peek().kind != TokenKind::End {
        return Err(parser.error_here("expected end of statement"));
    }
    Ok(statement)
}

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) at: usize,
}

impl Parser {
    pub(super) fn peek(&self) -> &Token {
        // The lexer always ends the list with `End`, and `next` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    pub(super) fn error_here(&self, expected: &str) -> ParseError {
        let token = self.peek();
        ParseError { line: token.line, column: token.column, message: format!("{expected}, found {}", token.kind) }
    }

    pub(super) fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    pub(super) fn accept_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_keyword(keyword) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_keyword(&mut self, keyword: &str) -> Result<(), ParseError> {
        if self.accept_keyword(keyword) { Ok(()) } else { Err(self.error_here(&format!("expected {keyword}"))) }
    }

    /// Accepts the first of `keywords` that is next, returning it in upper case.
    pub(super) fn expect_one_of(&mut self, keywords: &[&str]) -> Result<String, ParseError> {
        for keyword in keywords {
            if self.accept_keyword(keyword) {
                return Ok(keyword.to_ascii_uppercase());
            }
        }
        Err(self.error_here(&format!("expected {}", keywords.join(" or "))))
    }

    pub(super) fn accept_symbol(&mut self, symbol: &str) -> bool {
        if self.peek().kind == TokenKind::Symbol(symbol_static(symbol)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn identifier(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().kind.clone() {
            TokenKind::Word(w) | TokenKind::QuotedIdent(w) => {
                self.at += 1;
                Ok(w)
            }
            _ => Err(self.error_here(&format!("expected {what}"))),
        }
    }

    fn host_port(&mut self) -> Result<HostPort, ParseError> {
        let token = self.peek().clone();
        let TokenKind::String(text) = &token.kind else {
            return Err(self.error_here("expected a quoted \"host:port\""));
        };
        let bad = |detail: &str| ParseError {
            line: token.line,
            column: token.column,
            message: format!("bad address \"{text}\": {detail}; write it as \"host:port\""),
        };
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(bad("no port"));
        };
        let host = host.trim();
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port: u16 = port.trim().parse().map_err(|_| bad("port must be a number from 1 to 65535"))?;
        if port == 0 {
            return Err(bad("port must be a number from 1 to 65535"));
        }
        self.at += 1;
        Ok(HostPort { host: host.to_string(), port })
    }

    fn host_ports(&mut self) -> Result<Vec<HostPort>, ParseError> {
        let mut list = vec![self.host_port()?];
        while self.accept_symbol(",") {
            list.push(self.host_port()?);
        }
        Ok(list)
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        match self
            .expect_one_of(&[
                "ALTER", "SHOW", "CREATE", "DROP", "USE", "SET", "SELECT", "INSERT", "GRANT", "REVOKE", "HELP",
                "DESCRIBE", "DESC", "TRUNCATE", "BACKUP", "RESTORE", "CANCEL", "ADMIN",
            ])?
            .as_str()
        {
            "ALTER" if self.accept_keyword("TABLE") => self.alter_table(),
            "BACKUP" => self.backup(),
            "RESTORE" => self.restore(),
            "CANCEL" => self.cancel_job(),
            "ADMIN" => self.clean_trash(),
            "ALTER" => self.alter(),
            "DESC" | "DESCRIBE" => Ok(Statement::Describe { table: self.table_name()? }),
            "TRUNCATE" => {
                self.expect_keyword("TABLE")?;
                Ok(Statement::TruncateTable { table: self.table_name()? })
            }
            "CREATE" if self.accept_keyword("TABLE") => self.create_table(),
            "CREATE" if self.accept_keyword("REPOSITORY") => self.create_repository(false),
            "CREATE" if self.accept_keyword("READ") => {
                self.expect_keyword("ONLY")?;
                self.expect_keyword("REPOSITORY")?;
                self.create_repository(true)
            }
            "DROP" if self.accept_keyword("REPOSITORY") => {
                Ok(Statement::DropRepository { name: self.identifier("a repository name")? })
            }
            "DROP" if self.accept_keyword("TABLE") => self.drop_table(),
            "GRANT" | "REVOKE" => self.grant_or_revoke(),
            "HELP" => self.help(),
            "SET" if self.accept_keyword("PASSWORD") => self.set_password(),
            "SET" => {
                if matches!(self.peek().kind, TokenKind::End | TokenKind::Symbol(";")) {
                    return Err(self.error_here("expected a variable to set"));
                }
                while !matches!(self.peek().kind, TokenKind::End | TokenKind::Symbol(";")) {
                    self.at += 1;
                }
                Ok(Statement::Set)
            }
            "SELECT" => self.select_statement(),
            "INSERT" => self.insert_statement(),
            "SHOW" => self.show(),
            "CREATE" if self.accept_keyword("USER") => self.create_user(),
            "DROP" if self.accept_keyword("USER") => self.drop_user(),
            "CREATE" => self.create_database(),
            "DROP" => self.drop_database(),
            _ => Ok(Statement::Use { name: self.identifier("a database name")? }),
        }
    }

    /// ADMIN CLEAN TRASH [ON ...] (after its first keyword).
    fn clean_trash(&mut self) -> Result<Statement, ParseError> {
        self.expect_keyword("CLEAN")?;
        self.expect_keyword("TRASH")?;
        let on = if self.accept_keyword("ON") {
            let parenthesized = self.accept_symbol("(");
            let list = self.host_ports()?;
            if parenthesized && !self.accept_symbol(")") {
                return Err(self.error_here("expected )"));
            }
            Some(list)
        } else {
            None
        };
        Ok(Statement::CleanTrash { on })
    }

    /// HELP [topic words] (after its first keyword).
    fn help(&mut self) -> Result<Statement, ParseError> {
        let mut words = Vec::new();
        while !matches!(self.peek().kind, TokenKind::End | TokenKind::Symbol(";")) {
            match self.peek().kind.clone() {
                TokenKind::Word(w) | TokenKind::String(w) | TokenKind::QuotedIdent(w) => words.push(w),
                other => words.push(other.to_string()),
            }
            self.at += 1;
        }
        Ok(Statement::Help { topic: words.join(" ") })
    }

    /// SET PASSWORD [FOR user] = ... (after its first keyword).
    fn set_password(&mut self) -> Result<Statement, ParseError> {
        let user = if self.accept_keyword("FOR") { Some(self.user_spec()?) } else { None };
        if !self.accept_symbol("=") {
            return Err(self.error_here("expected ="));
        }
        let password = if self.accept_keyword("PASSWORD") {
            if !self.accept_symbol("(") {
                return Err(self.error_here("expected ("));
            }
            let p = self.string("a quoted password")?;
            if !self.accept_symbol(")") {
                return Err(self.error_here("expected )"));
            }
            p
        } else {
            self.string("PASSWORD('...') or a quoted password")?
        };
        Ok(Statement::SetPassword { user, password })
    }

    /// SELECT: a session query or a query (after its first keyword).
    fn select_statement(&mut self) -> Result<Statement, ParseError> {
        // What clients send on connect (session values only) stays a SelectSession;
        // anything else is a query. When both fail, the error that got further wins.
        let start = self.at;
        let session = match self.select_session() {
            Ok(statement) if matches!(self.peek().kind, TokenKind::End | TokenKind::Symbol(";")) => {
                return Ok(statement);
            }
            Ok(_) => None,
            Err(e) => Some(e),
        };
        self.at = start;
        match (self.select_body(), session) {
            (Ok(select), _) => Ok(Statement::Select(Box::new(select))),
            (Err(query), Some(session)) if (session.line, session.column) > (query.line, query.column) => Err(session),
            (Err(query), _) => Err(query),
        }
    }

    /// CREATE USER [IF NOT EXISTS] user [IDENTIFIED BY ...] (after its first keyword).
    fn create_user(&mut self) -> Result<Statement, ParseError> {
        let if_not_exists = self.accept_keyword("IF");
        if if_not_exists {
            self.expect_keyword("NOT")?;
            self.expect_keyword("EXISTS")?;
        }
        let user = self.user_spec()?;
        let password = if self.accept_keyword("IDENTIFIED") {
            self.expect_keyword("BY")?;
            Some(self.string("a quoted password")?)
        } else {
            None
        };
        Ok(Statement::CreateUser { user, password, if_not_exists })
    }

    /// DROP USER [IF EXISTS] user (after its first keyword).
    fn drop_user(&mut self) -> Result<Statement, ParseError> {
        let if_exists = self.accept_keyword("IF");
        if if_exists {
            self.expect_keyword("EXISTS")?;
        }
        Ok(Statement::DropUser { user: self.user_spec()?, if_exists })
    }

    /// CREATE DATABASE|SCHEMA [IF NOT EXISTS] name (after its first keyword).
    fn create_database(&mut self) -> Result<Statement, ParseError> {
        self.expect_one_of(&["DATABASE", "SCHEMA"])?;
        let if_not_exists = self.accept_keyword("IF");
        if if_not_exists {
            self.expect_keyword("NOT")?;
            self.expect_keyword("EXISTS")?;
        }
        let name = self.identifier("a database name")?;
        Ok(Statement::CreateDatabase { name, if_not_exists })
    }

    /// DROP DATABASE|SCHEMA [IF EXISTS] name (after its first keyword).
    fn drop_database(&mut self) -> Result<Statement, ParseError> {
        self.expect_one_of(&["DATABASE", "SCHEMA"])?;
        let if_exists = self.accept_keyword("IF");
        if if_exists {
            self.expect_keyword("EXISTS")?;
        }
        let name = self.identifier("a database name")?;
        Ok(Statement::DropDatabase { name, if_exists })
    }

    fn alter(&mut self) -> Result<Statement, ParseError> {
        if !self.accept_keyword("SYSTEM") {
            return Err(self.error_here("expected SYSTEM or TABLE"));
        }
        let verb = self.expect_one_of(&["ADD", "DROPP", "DROP"])?;
        if verb != "ADD" && self.accept_keyword("ALL") {
            self.expect_keyword("BROKER")?;
            let name = self.identifier("a broker name")?;
            return Ok(Statement::DropAllBrokers { name });
        }
        match (verb.as_str(), self.expect_one_of(&["BACKEND", "BROKER"])?.as_str()) {
            ("ADD", "BACKEND") => Ok(Statement::AddBackends(self.host_ports()?)),
            (verb, "BACKEND") => Ok(Statement::DropBackends { addrs: self.host_ports()?, force: verb == "DROPP" }),
            ("ADD", _) => {
                let name = self.identifier("a broker name")?;
                Ok(Statement::AddBrokers { name, addrs: self.host_ports()? })
            }
            _ => {
                let name = self.identifier("a broker name")?;
                Ok(Statement::DropBrokers { name, addrs: self.host_ports()? })
            }
        }
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        if self.accept_keyword("REPOSITORIES") {
            return Ok(Statement::ShowRepositories);
        }
        if self.peek_keyword("CREATE")
            && matches!(&self.tokens.get(self.at + 1).map(|t| &t.kind), Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case("REPOSITORY"))
        {
            self.at += 2;
            self.expect_keyword("FOR")?;
            return Ok(Statement::ShowCreateRepository { name: self.identifier("a repository name")? });
        }
        if let Some(statement) = self.show_job_statement()? {
            return Ok(statement);
        }
        if let Some(statement) = self.show_table_statement()? {
            return Ok(statement);
        }
        if self.accept_keyword("ALL") {
            self.expect_keyword("GRANTS")?;
            return Ok(Statement::ShowGrants { user: None, all: true });
        }
        if self.accept_keyword("GRANTS") {
            let user = if self.accept_keyword("FOR") { Some(self.user_spec()?) } else { None };
            return Ok(Statement::ShowGrants { user, all: false });
        }
        let scoped = self.accept_keyword("SESSION") || self.accept_keyword("GLOBAL");
        if scoped || self.peek_keyword("VARIABLES") {
            self.expect_keyword("VARIABLES")?;
            let like = if self.accept_keyword("LIKE") { Some(self.string("a LIKE pattern")?) } else { None };
            return Ok(Statement::ShowVariables { like });
        }
        match self.expect_one_of(&["BACKENDS", "BROKER", "FRONTENDS", "DATABASES", "SCHEMAS", "TRASH"])?.as_str() {
            "BACKENDS" => Ok(Statement::ShowBackends),
            "TRASH" => Ok(Statement::ShowTrash {
                on: if self.accept_keyword("ON") { Some(vec![self.host_port()?]) } else { None },
            }),
            "BROKER" => Ok(Statement::ShowBrokers),
            "FRONTENDS" => Ok(Statement::ShowFrontends),
            _ => Ok(Statement::ShowDatabases),
        }
    }
}

impl Parser {
    pub(super) fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().kind.clone() {
            TokenKind::String(text) => {
                self.at += 1;
                Ok(text)
            }
            _ => Err(self.error_here(&format!("expected {what}"))),
        }
    }

    /// `'user'@'host'`, `user@'host'`, `'user'` or `user`.
    fn user_spec(&mut self) -> Result<UserSpec, ParseError> {
        let user = match self.peek().kind.clone() {
            TokenKind::String(u) | TokenKind::Word(u) | TokenKind::QuotedIdent(u) => {
                self.at += 1;
                u
            }
            _ => return Err(self.error_here("expected a user such as 'jack'@'%'")),
        };
        if user.is_empty() {
            return Err(self.error_here("expected a non-empty user name"));
        }
        let host = if self.accept_symbol("@") {
            match self.peek().kind.clone() {
                TokenKind::String(h) | TokenKind::Word(h) | TokenKind::QuotedIdent(h) => {
                    self.at += 1;
                    h
                }
                _ => return Err(self.error_here("expected a quoted host such as '%'")),
            }
        } else {
            "%".to_string()
        };
        Ok(UserSpec { user, host })
    }

    fn grant_or_revoke(&mut self) -> Result<Statement, ParseError> {
        let grant = self.tokens[self.at - 1].kind.to_string().eq_ignore_ascii_case("GRANT");
        let mut privileges = vec![self.identifier("a privilege such as SELECT_PRIV")?];
        while self.accept_symbol(",") {
            privileges.push(self.identifier("a privilege such as SELECT_PRIV")?);
        }
        self.expect_keyword("ON")?;
        let on =
            if self.accept_symbol("*") { GrantOn::Global } else { GrantOn::Database(self.identifier("*.* or db.*")?) };
        if !self.accept_symbol(".") {
            return Err(self.error_here("expected . (grants apply to *.* or db.*)"));
        }
        if !self.accept_symbol("*") {
            return Err(self.error_here("expected * (table-level grants are not supported yet)"));
        }
        self.expect_keyword(if grant { "TO" } else { "FROM" })?;
        let user = self.user_spec()?;
        Ok(if grant { Statement::Grant { privileges, on, user } } else { Statement::Revoke { privileges, on, user } })
    }

    fn select_session(&mut self) -> Result<Statement, ParseError> {
        let mut items = Vec::new();
        loop {
            let start = self.at;
            let value = self.session_value()?;
            let text = self.tokens[start..self.at].iter().map(|t| t.kind.to_string()).collect::<String>();
            let column = if self.accept_keyword("AS") {
                self.identifier("an alias")?
            } else if let TokenKind::QuotedIdent(alias) = self.peek().kind.clone() {
                self.at += 1;
                alias
            } else {
                text
            };
            items.push(SessionItem { value, column });
            if !self.accept_symbol(",") {
                break;
            }
        }
        let limit = if self.accept_keyword("LIMIT") {
            match self.peek().kind.clone() {
                TokenKind::Number(n) => {
                    self.at += 1;
                    Some(n.parse().map_err(|_| self.error_here("expected a whole number"))?)
                }
                _ => return Err(self.error_here("expected a whole number")),
            }
        } else {
            None
        };
        Ok(Statement::SelectSession { items, limit })
    }

    fn session_value(&mut self) -> Result<SessionValue, ParseError> {
        match self.peek().kind.clone() {
            TokenKind::Symbol("@") => {
                self.at += 1;
                if !self.accept_symbol("@") {
                    return Err(self.error_here("expected @@variable (user variables are not supported)"));
                }
                let mut name = self.identifier("a variable name")?;
                if (name.eq_ignore_ascii_case("session") || name.eq_ignore_ascii_case("global"))
                    && self.accept_symbol(".")
                {
                    name = self.identifier("a variable name")?;
                }
                Ok(SessionValue::Variable(name.to_ascii_lowercase()))
            }
            TokenKind::Number(n) => {
                self.at += 1;
                Ok(SessionValue::Literal(n))
            }
            TokenKind::String(text) => {
                self.at += 1;
                Ok(SessionValue::Literal(text))
            }
            TokenKind::Word(word) => {
                let value = match word.to_ascii_uppercase().as_str() {
                    "DATABASE" | "SCHEMA" => SessionValue::Database,
                    "USER" | "CURRENT_USER" | "SESSION_USER" => SessionValue::User,
                    "VERSION" => SessionValue::Version,
                    "CONNECTION_ID" => SessionValue::ConnectionId,
                    _ => {
                        return Err(self.error_here(
                            "expected @@variable, DATABASE(), USER(), VERSION(), CONNECTION_ID() or a literal",
                        ));
                    }
                };
                self.at += 1;
                if !(self.accept_symbol("(") && self.accept_symbol(")")) {
                    return Err(self.error_here(&format!("expected () after {word}")));
                }
                Ok(value)
            }
            _ => Err(self.error_here("expected a value to select")),
        }
    }
}

fn symbol_static(symbol: &str) -> &'static str {
    lexer::SYMBOLS.iter().find(|s| **s == symbol).copied().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort { host: host.into(), port }
    }

    #[test]
    fn parses_membership_statements() {
        assert_eq!(
            parse("alter system add backend \"10.0.0.1:9060\", '10.0.0.2:9060';"),
            Ok(Statement::AddBackends(vec![hp("10.0.0.1", 9060), hp("10.0.0.2", 9060)]))
        );
        assert_eq!(
            parse("ALTER SYSTEM DROPP BACKEND \"h:1\""),
            Ok(Statement::DropBackends { addrs: vec![hp("h", 1)], force: true })
        );
        assert_eq!(
            parse("ALTER SYSTEM DROP BACKEND \"h:1\""),
            Ok(Statement::DropBackends { addrs: vec![hp("h", 1)], force: false })
        );
        assert_eq!(
            parse("ALTER SYSTEM ADD BROKER hdfs_b \"h:8000\""),
            Ok(Statement::AddBrokers { name: "hdfs_b".into(), addrs: vec![hp("h", 8000)] })
        );
        assert_eq!(
            parse("ALTER SYSTEM DROP ALL BROKER hdfs_b"),
            Ok(Statement::DropAllBrokers { name: "hdfs_b".into() })
        );
        assert_eq!(parse("show backends"), Ok(Statement::ShowBackends));
        assert_eq!(parse("SHOW TRASH"), Ok(Statement::ShowTrash { on: None }));
        let hp = |port| HostPort { host: "h".into(), port };
        assert_eq!(parse("SHOW TRASH ON \"h:9050\""), Ok(Statement::ShowTrash { on: Some(vec![hp(9050)]) }));
        assert_eq!(parse("ADMIN CLEAN TRASH"), Ok(Statement::CleanTrash { on: None }));
        assert_eq!(
            parse("admin clean trash on (\"h:1\", \"h:2\")"),
            Ok(Statement::CleanTrash { on: Some(vec![hp(1), hp(2)]) })
        );
        assert!(parse("ADMIN CLEAN").is_err());
        assert_eq!(parse("SHOW BROKER;"), Ok(Statement::ShowBrokers));
    }

    #[test]
    fn parses_what_clients_send_on_connect() {
        assert_eq!(parse("SET NAMES utf8mb4"), Ok(Statement::Set));
        assert_eq!(parse("SET @@session.autocommit = OFF;"), Ok(Statement::Set));
        let Ok(Statement::SelectSession { items, limit }) = parse("select @@version_comment limit 1") else {
            panic!("select @@var must parse");
        };
        assert_eq!(
            items,
            vec![SessionItem {
                value: SessionValue::Variable("version_comment".into()),
                column: "@@version_comment".into()
            }]
        );
        assert_eq!(limit, Some(1));
        let Ok(Statement::SelectSession { items, .. }) =
            parse("SELECT @@max_allowed_packet,@@session.wait_timeout,DATABASE(), 1 AS one")
        else {
            panic!("a list must parse");
        };
        let columns: Vec<&str> = items.iter().map(|i| i.column.as_str()).collect();
        assert_eq!(columns, vec!["@@max_allowed_packet", "@@session.wait_timeout", "DATABASE()", "one"]);
        assert_eq!(items[1].value, SessionValue::Variable("wait_timeout".into()));
        assert_eq!(parse("SHOW VARIABLES LIKE 'max%'"), Ok(Statement::ShowVariables { like: Some("max%".into()) }));
        assert_eq!(parse("show global variables"), Ok(Statement::ShowVariables { like: None }));
        assert!(matches!(parse("SELECT k FROM t"), Ok(Statement::Select(_))), "a query is not a session select");
    }

    #[test]
    fn parses_user_statements() {
        let jack = UserSpec { user: "jack".into(), host: "%".into() };
        assert_eq!(
            parse("CREATE USER 'jack'@'%' IDENTIFIED BY 'pw'"),
            Ok(Statement::CreateUser { user: jack.clone(), password: Some("pw".into()), if_not_exists: false })
        );
        assert_eq!(parse("drop user if exists jack"), Ok(Statement::DropUser { user: jack.clone(), if_exists: true }));
        assert_eq!(
            parse("SET PASSWORD FOR 'jack'@'%' = PASSWORD('x')"),
            Ok(Statement::SetPassword { user: Some(jack.clone()), password: "x".into() })
        );
        assert_eq!(parse("SET PASSWORD = 'y'"), Ok(Statement::SetPassword { user: None, password: "y".into() }));
        assert_eq!(
            parse("GRANT SELECT_PRIV, LOAD_PRIV ON db1.* TO 'jack'@'%'"),
            Ok(Statement::Grant {
                privileges: vec!["SELECT_PRIV".into(), "LOAD_PRIV".into()],
                on: GrantOn::Database("db1".into()),
                user: jack.clone()
            })
        );
        assert_eq!(
            parse("revoke admin_priv on *.* from jack"),
            Ok(Statement::Revoke { privileges: vec!["admin_priv".into()], on: GrantOn::Global, user: jack.clone() })
        );
        assert_eq!(parse("SHOW GRANTS FOR 'jack'"), Ok(Statement::ShowGrants { user: Some(jack), all: false }));
        assert_eq!(parse("SHOW ALL GRANTS"), Ok(Statement::ShowGrants { user: None, all: true }));
        let err = parse("GRANT SELECT_PRIV ON db1.t1 TO jack").expect_err("table grants later");
        assert!(err.message.contains("table-level grants"), "{err}");
    }

    #[test]
    fn parses_database_statements() {
        assert_eq!(
            parse("create database if not exists `sales`"),
            Ok(Statement::CreateDatabase { name: "sales".into(), if_not_exists: true })
        );
        assert_eq!(parse("DROP SCHEMA s1;"), Ok(Statement::DropDatabase { name: "s1".into(), if_exists: false }));
        assert_eq!(
            parse("drop database if exists s1"),
            Ok(Statement::DropDatabase { name: "s1".into(), if_exists: true })
        );
        assert_eq!(parse("use s1"), Ok(Statement::Use { name: "s1".into() }));
        assert_eq!(parse("SHOW DATABASES"), Ok(Statement::ShowDatabases));
        let err = parse("CREATE DATABASE IF EXISTS x").expect_err("must fail");
        assert_eq!((err.line, err.column, err.message.as_str()), (1, 20, "expected NOT, found EXISTS"));
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let err = parse("SHOW BACKEND").expect_err("must fail");
        assert_eq!((err.line, err.column), (1, 6));
        assert_eq!(
            err.message,
            "expected BACKENDS or BROKER or FRONTENDS or DATABASES or SCHEMAS or TRASH, found BACKEND"
        );

        let err = parse("ALTER SYSTEM ADD BACKEND \"nohost\"").expect_err("must fail");
        assert!(err.message.contains("no port"), "{err}");
        let err = parse("ALTER SYSTEM ADD BACKEND \"h:70000\"").expect_err("must fail");
        assert!(err.message.contains("1 to 65535"), "{err}");
        let err = parse("SHOW BACKENDS extra").expect_err("must fail");
        assert_eq!(err.message, "expected end of statement, found extra");
    }
}
