//! The catalog: databases (tables, partitions and tablets come with the tables issue). Durable:
//! every change is a journal record applied by [`Catalog::apply`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CatalogEdit {
    CreateDatabase(DatabaseRecord),
    DropDatabase { id: i64 },
}

/// A cluster holds at most this many databases.
pub const MAX_DATABASES: usize = 10_000;
/// Doris's rule: a letter, then letters, digits, `-` or `_`, 64 characters at most.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The id the next catalog object gets. Never reused.
    pub next_id: i64,
    /// By name (names are case-sensitive, as in Doris).
    pub databases: BTreeMap<String, DatabaseRecord>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog { next_id: 20_001, databases: BTreeMap::new() }
    }
}

/// Why a name is not a valid database name, if it is not.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.chars().count() <= MAX_NAME_CHARS;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "Incorrect {kind} name '{name}': it must start with a letter and hold only letters, digits, '-' \
             and '_', {MAX_NAME_CHARS} characters at most"
        ))
    }
}

impl Catalog {
    pub fn database_by_id(&self, id: i64) -> Option<&DatabaseRecord> {
        self.databases.values().find(|d| d.id == id)
    }

    pub fn apply(&mut self, edit: &CatalogEdit) {
        match edit {
            CatalogEdit::CreateDatabase(db) => {
                assert!(db.id >= self.next_id, "catalog id {} reused", db.id);
                assert!(!self.databases.contains_key(&db.name), "database {} created twice", db.name);
                self.next_id = db.id + 1;
                self.databases.insert(db.name.clone(), db.clone());
            }
            CatalogEdit::DropDatabase { id } => {
                let name = self.database_by_id(*id).map(|d| d.name.clone());
                let removed = name.and_then(|n| self.databases.remove(&n));
                assert!(removed.is_some(), "dropped database {id} does not exist");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_doris_rules() {
        assert!(check_name("database", "sales_2024-eu").is_ok());
        assert!(check_name("database", "2024").is_err());
        assert!(check_name("database", "a b").is_err());
        assert!(check_name("database", "").is_err());
        assert!(check_name("database", &"a".repeat(65)).is_err());
    }
}
