//! Repository statements: CREATE [READ ONLY] REPOSITORY, DROP REPOSITORY, SHOW REPOSITORIES,
//! SHOW CREATE REPOSITORY.

use super::ast::{CreateRepository, RepositoryStorage, Statement};
use super::parser::{ParseError, Parser};

/// A repository has at most this many properties.
pub const MAX_PROPERTIES: usize = 64;

impl Parser {
    /// `PROPERTIES ("k" = "v", ...)` after the keyword.
    pub(super) fn properties(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        if !self.accept_symbol("(") {
            return Err(self.error_here("expected ( after PROPERTIES"));
        }
        let mut properties = Vec::new();
        loop {
            if properties.len() >= MAX_PROPERTIES {
                return Err(self.error_here(&format!("at most {MAX_PROPERTIES} properties")));
            }
            let key = self.string("a quoted property name")?;
            if !self.accept_symbol("=") {
                return Err(self.error_here("expected ="));
            }
            let value = self.string("a quoted property value")?;
            properties.push((key, value));
            if !self.accept_symbol(",") {
                break;
            }
        }
        if !self.accept_symbol(")") {
            return Err(self.error_here("expected ) or , in PROPERTIES"));
        }
        Ok(properties)
    }

    /// `CREATE [READ ONLY] REPOSITORY` after `CREATE`; `read_only` when `READ ONLY` was read.
    pub(super) fn create_repository(&mut self, read_only: bool) -> Result<Statement, ParseError> {
        let name = self.identifier("a repository name")?;
        self.expect_keyword("WITH")?;
        let storage = match self.expect_one_of(&["BROKER", "S3", "HDFS", "AZURE"])?.as_str() {
            "BROKER" => RepositoryStorage::Broker(self.identifier("a broker name")?),
            "S3" => RepositoryStorage::S3,
            other => {
                return Err(ParseError {
                    line: self.tokens[self.at - 1].line,
                    column: self.tokens[self.at - 1].column,
                    message: format!("WITH {other} repositories are not supported; use WITH BROKER or WITH S3"),
                });
            }
        };
        self.expect_keyword("ON")?;
        self.expect_keyword("LOCATION")?;
        let location = self.string("a quoted location such as \"s3://bucket/prefix\" or \"file:///data/repo\"")?;
        let properties = if self.accept_keyword("PROPERTIES") { self.properties()? } else { Vec::new() };
        Ok(Statement::CreateRepository(Box::new(CreateRepository { name, read_only, storage, location, properties })))
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::ast::{RepositoryStorage, Statement};
    use crate::sql::parse;

    #[test]
    fn parses_repository_statements() {
        let sql = r#"CREATE READ ONLY REPOSITORY `repo1` WITH S3 ON LOCATION "s3://bucket/backups"
            PROPERTIES ("s3.endpoint" = "http://127.0.0.1:9000", "s3.access_key" = "ak", "s3.secret_key" = "sk")"#;
        let Ok(Statement::CreateRepository(r)) = parse(sql) else { panic!("{:?}", parse(sql)) };
        assert!(r.read_only);
        assert_eq!(r.name, "repo1");
        assert_eq!(r.storage, RepositoryStorage::S3);
        assert_eq!(r.location, "s3://bucket/backups");
        assert_eq!(r.properties.len(), 3);
        let sql = r#"CREATE REPOSITORY hdfs_repo WITH BROKER local_broker ON LOCATION "file:///tmp/repo""#;
        let Ok(Statement::CreateRepository(r)) = parse(sql) else { panic!("{:?}", parse(sql)) };
        assert!(!r.read_only);
        assert_eq!(r.storage, RepositoryStorage::Broker("local_broker".into()));
        assert!(r.properties.is_empty());
        assert_eq!(parse("DROP REPOSITORY repo1"), Ok(Statement::DropRepository { name: "repo1".into() }));
        assert_eq!(parse("SHOW REPOSITORIES"), Ok(Statement::ShowRepositories));
        assert_eq!(
            parse("SHOW CREATE REPOSITORY FOR repo1"),
            Ok(Statement::ShowCreateRepository { name: "repo1".into() })
        );
        let e = parse("CREATE REPOSITORY r WITH HDFS ON LOCATION \"hdfs://x\"").expect_err("hdfs");
        assert!(e.message.contains("WITH HDFS repositories are not supported"), "{e}");
        let e = parse("CREATE REPOSITORY r WITH S3 LOCATION \"s3://b\"").expect_err("no ON");
        assert!(e.message.contains("expected ON"), "{e}");
    }
}
