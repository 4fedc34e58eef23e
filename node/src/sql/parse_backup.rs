//! Backup and restore statements: BACKUP SNAPSHOT, RESTORE SNAPSHOT, SHOW BACKUP, SHOW RESTORE,
//! SHOW SNAPSHOT, CANCEL BACKUP, CANCEL RESTORE.

use super::ast::{BackupObjects, BackupTableRef, LabelFilter, SnapshotJob, Statement};
use super::lexer::TokenKind;
use super::parser::{ParseError, Parser};

/// Tables one ON or EXCLUDE list may name.
pub const MAX_BACKUP_TABLE_REFS: usize = 1_000;
/// Partitions one table reference may name.
pub const MAX_BACKUP_PARTITION_REFS: usize = 10_000;

/// Doris's text for a SHOW BACKUP/RESTORE WHERE it does not understand.
pub const SHOW_JOB_WHERE_HINT: &str =
    "Where clause should like: SnapshotName = \"your_snapshot_name\",  or SnapshotName LIKE \"matcher\"";
/// Doris's text for a SHOW SNAPSHOT WHERE it does not understand.
pub const SHOW_SNAPSHOT_WHERE_HINT: &str =
    "Where clause should looks like: SNAPSHOT = 'your_snapshot_name' [AND TIMESTAMP = '2018-04-18-19-19-10']";

impl Parser {
    /// `BACKUP SNAPSHOT [db.]label TO repo [ON (..) | EXCLUDE (..)] [PROPERTIES (..)]` after `BACKUP`.
    pub(super) fn backup(&mut self) -> Result<Statement, ParseError> {
        Ok(Statement::Backup(Box::new(self.snapshot_job("TO")?)))
    }

    /// `RESTORE SNAPSHOT [db.]label FROM repo [ON (..) | EXCLUDE (..)] [PROPERTIES (..)]` after
    /// `RESTORE`.
    pub(super) fn restore(&mut self) -> Result<Statement, ParseError> {
        Ok(Statement::Restore(Box::new(self.snapshot_job("FROM")?)))
    }

    /// `SNAPSHOT [db.]label <TO|FROM> repo [ON (..) | EXCLUDE (..)] [PROPERTIES (..)]`: the shape
    /// BACKUP and RESTORE share.
    fn snapshot_job(&mut self, direction: &str) -> Result<SnapshotJob, ParseError> {
        self.expect_keyword("SNAPSHOT")?;
        let first = self.identifier("a snapshot label")?;
        let (database, label) = if self.accept_symbol(".") {
            (Some(first), self.identifier("a snapshot label after the database")?)
        } else {
            (None, first)
        };
        self.expect_keyword(direction)?;
        let repository = self.identifier("a repository name")?;
        let objects = if self.accept_keyword("ON") {
            BackupObjects::On(self.backup_table_refs()?)
        } else if self.accept_keyword("EXCLUDE") {
            BackupObjects::Exclude(self.backup_table_refs()?)
        } else {
            BackupObjects::All
        };
        let properties = if self.accept_keyword("PROPERTIES") { self.properties()? } else { Vec::new() };
        Ok(SnapshotJob { database, label, repository, objects, properties })
    }

    /// `(t [PARTITION (p, ..)] [[AS] alias], ..)`
    pub(super) fn backup_table_refs(&mut self) -> Result<Vec<BackupTableRef>, ParseError> {
        if !self.accept_symbol("(") {
            return Err(self.error_here("expected ( before the list of tables"));
        }
        let mut refs = Vec::new();
        loop {
            if refs.len() >= MAX_BACKUP_TABLE_REFS {
                return Err(self.error_here(&format!("at most {MAX_BACKUP_TABLE_REFS} tables")));
            }
            let table = self.table_name()?;
            let mut partitions = Vec::new();
            if self.accept_keyword("PARTITION") || self.accept_keyword("PARTITIONS") {
                if !self.accept_symbol("(") {
                    return Err(self.error_here("expected ( after PARTITION"));
                }
                loop {
                    if partitions.len() >= MAX_BACKUP_PARTITION_REFS {
                        return Err(self.error_here(&format!("at most {MAX_BACKUP_PARTITION_REFS} partitions")));
                    }
                    partitions.push(self.identifier("a partition name")?);
                    if !self.accept_symbol(",") {
                        break;
                    }
                }
                if !self.accept_symbol(")") {
                    return Err(self.error_here("expected ) or , in the partition list"));
                }
            }
            let alias = if self.accept_keyword("AS")
                || matches!(self.peek().kind, TokenKind::Word(_) | TokenKind::QuotedIdent(_))
            {
                Some(self.identifier("an alias")?)
            } else {
                None
            };
            refs.push(BackupTableRef { table, partitions, alias });
            if !self.accept_symbol(",") {
                break;
            }
        }
        if !self.accept_symbol(")") {
            return Err(self.error_here("expected ) or , in the list of tables"));
        }
        Ok(refs)
    }

    /// `CANCEL BACKUP|RESTORE [FROM db]` after `CANCEL`.
    pub(super) fn cancel_job(&mut self) -> Result<Statement, ParseError> {
        let restore = self.expect_one_of(&["BACKUP", "RESTORE"])? == "RESTORE";
        let database = if self.accept_keyword("FROM") || self.accept_keyword("IN") {
            Some(self.identifier("a database name")?)
        } else {
            None
        };
        Ok(if restore { Statement::CancelRestore { database } } else { Statement::CancelBackup { database } })
    }

    /// SHOW BACKUP, SHOW RESTORE and SHOW SNAPSHOT after `SHOW`; `None` when none is next.
    pub(super) fn show_job_statement(&mut self) -> Result<Option<Statement>, ParseError> {
        let backup = self.accept_keyword("BACKUP");
        if backup || self.accept_keyword("RESTORE") {
            let database = if self.accept_keyword("FROM") || self.accept_keyword("IN") {
                Some(self.identifier("a database name")?)
            } else {
                None
            };
            let filter = if self.accept_keyword("WHERE") { Some(self.label_filter()?) } else { None };
            return Ok(Some(if backup {
                Statement::ShowBackup { database, filter }
            } else {
                Statement::ShowRestore { database, filter }
            }));
        }
        if self.accept_keyword("SNAPSHOT") {
            self.expect_keyword("ON")?;
            let repository = self.identifier("a repository name")?;
            let (mut snapshot, mut timestamp) = (None, None);
            if self.accept_keyword("WHERE") {
                let hint =
                    |p: &Parser| ParseError { message: SHOW_SNAPSHOT_WHERE_HINT.to_string(), ..p.error_here("") };
                if !self.accept_keyword("SNAPSHOT") || !self.accept_symbol("=") {
                    return Err(hint(self));
                }
                snapshot = Some(self.string("a quoted snapshot name").map_err(|_| hint(self))?);
                if self.accept_keyword("AND") {
                    if !self.accept_keyword("TIMESTAMP") || !self.accept_symbol("=") {
                        return Err(hint(self));
                    }
                    timestamp = Some(self.string("a quoted timestamp").map_err(|_| hint(self))?);
                }
            }
            return Ok(Some(Statement::ShowSnapshot { repository, snapshot, timestamp }));
        }
        Ok(None)
    }

    /// `SnapshotName = "x"` or `SnapshotName LIKE "pattern"` (after WHERE).
    pub(super) fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let hint = |p: &Parser| ParseError { message: SHOW_JOB_WHERE_HINT.to_string(), ..p.error_here("") };
        if !self.accept_keyword("SnapshotName") && !self.accept_keyword("Label") {
            return Err(hint(self));
        }
        let like = if self.accept_symbol("=") {
            false
        } else if self.accept_keyword("LIKE") {
            true
        } else {
            return Err(hint(self));
        };
        let value = self.string("a quoted name").map_err(|_| hint(self))?;
        Ok(if like { LabelFilter::Like(value) } else { LabelFilter::Equals(value) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::TableName;
    use crate::sql::parse;

    fn backup(sql: &str) -> SnapshotJob {
        match parse(sql) {
            Ok(Statement::Backup(b)) => *b,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn parses_backup() {
        let b = backup("BACKUP SNAPSHOT example_db.snapshot_label1 TO example_repo");
        assert_eq!(b.database.as_deref(), Some("example_db"));
        assert_eq!((b.label.as_str(), b.repository.as_str()), ("snapshot_label1", "example_repo"));
        assert_eq!(b.objects, BackupObjects::All);
        let b = backup(
            "BACKUP SNAPSHOT l2 TO r ON (example_tbl PARTITION (p1, p2), example_tbl2 AS t2, d.t3 x) \
             PROPERTIES (\"type\" = \"full\", \"timeout\" = \"3600\")",
        );
        let BackupObjects::On(refs) = &b.objects else { panic!("{b:?}") };
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[0].partitions, vec!["p1".to_string(), "p2".to_string()]);
        assert_eq!(refs[1].alias.as_deref(), Some("t2"));
        assert_eq!(refs[2].table, TableName { database: Some("d".into()), table: "t3".into() });
        assert_eq!(refs[2].alias.as_deref(), Some("x"));
        assert_eq!(b.properties.len(), 2);
        let b = backup("BACKUP SNAPSHOT l3 TO r EXCLUDE (t1)");
        assert!(matches!(b.objects, BackupObjects::Exclude(ref r) if r.len() == 1));
        let e = parse("BACKUP SNAPSHOT l TO r ON ()").expect_err("empty list");
        assert!(e.message.contains("expected a table name"), "{e}");
        let e = parse("BACKUP l TO r").expect_err("no SNAPSHOT");
        assert!(e.message.contains("expected SNAPSHOT"), "{e}");
    }

    #[test]
    fn parses_show_and_cancel() {
        assert_eq!(parse("SHOW BACKUP"), Ok(Statement::ShowBackup { database: None, filter: None }));
        assert_eq!(
            parse("SHOW BACKUP FROM d WHERE SnapshotName LIKE \"l%\""),
            Ok(Statement::ShowBackup { database: Some("d".into()), filter: Some(LabelFilter::Like("l%".into())) })
        );
        assert_eq!(
            parse("show backup where snapshotname = 'x'"),
            Ok(Statement::ShowBackup { database: None, filter: Some(LabelFilter::Equals("x".into())) })
        );
        let e = parse("SHOW BACKUP WHERE State = 'x'").expect_err("bad where");
        assert_eq!(e.message, SHOW_JOB_WHERE_HINT);
        assert_eq!(
            parse("SHOW SNAPSHOT ON r WHERE SNAPSHOT = \"l\" AND TIMESTAMP = \"2018-04-18-19-19-10\""),
            Ok(Statement::ShowSnapshot {
                repository: "r".into(),
                snapshot: Some("l".into()),
                timestamp: Some("2018-04-18-19-19-10".into())
            })
        );
        let e = parse("SHOW SNAPSHOT ON r WHERE TIMESTAMP = 'x'").expect_err("timestamp alone");
        assert_eq!(e.message, SHOW_SNAPSHOT_WHERE_HINT);
        assert_eq!(parse("CANCEL BACKUP FROM d"), Ok(Statement::CancelBackup { database: Some("d".into()) }));
        assert_eq!(parse("CANCEL BACKUP"), Ok(Statement::CancelBackup { database: None }));
        assert_eq!(parse("CANCEL RESTORE FROM d"), Ok(Statement::CancelRestore { database: Some("d".into()) }));
        assert_eq!(
            parse("SHOW RESTORE FROM d WHERE Label = \"x\""),
            Ok(Statement::ShowRestore { database: Some("d".into()), filter: Some(LabelFilter::Equals("x".into())) })
        );
        let e = parse("CANCEL LOAD FROM d").expect_err("only backups and restores");
        assert!(e.message.contains("BACKUP"), "{e}");
    }

    #[test]
    fn parses_restore() {
        let Ok(Statement::Restore(r)) = parse(
            "RESTORE SNAPSHOT d.snap FROM repo ON (t1 PARTITION (p1, p2) AS t1_copy, t2) \
             PROPERTIES (\"backup_timestamp\" = \"2024-01-01-00-00-00\", \"replication_num\" = \"1\")",
        ) else {
            panic!("not a restore")
        };
        assert_eq!((r.database.as_deref(), r.label.as_str(), r.repository.as_str()), (Some("d"), "snap", "repo"));
        let BackupObjects::On(refs) = &r.objects else { panic!("{r:?}") };
        assert_eq!(refs[0].alias.as_deref(), Some("t1_copy"));
        assert_eq!(refs[0].partitions, vec!["p1".to_string(), "p2".to_string()]);
        assert_eq!(r.properties.len(), 2);
        assert!(matches!(parse("RESTORE SNAPSHOT s FROM r EXCLUDE (t)"), Ok(Statement::Restore(_))));
        let e = parse("RESTORE SNAPSHOT s TO r").expect_err("FROM, not TO");
        assert!(e.message.contains("expected FROM"), "{e}");
    }
}
