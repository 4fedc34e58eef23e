//! Users, passwords and privileges, as in Doris: `'user'@'host'` identities, passwords kept only
//! as MySQL's `SHA1(SHA1(password))`, and ADMIN_PRIV / LOAD_PRIV / SELECT_PRIV granted on `*.*` or
//! `db.*`. Durable: every change is a journal record applied by [`Auth::apply`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::error::SqlError;
use crate::fe::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    Admin,
    Load,
    Select,
}

impl Privilege {
    pub const ALL: [Privilege; 3] = [Privilege::Admin, Privilege::Load, Privilege::Select];

    pub fn name(self) -> &'static str {
        match self {
            Privilege::Admin => "ADMIN_PRIV",
            Privilege::Load => "LOAD_PRIV",
            Privilege::Select => "SELECT_PRIV",
        }
    }

    pub fn parse(name: &str) -> Option<Privilege> {
        Privilege::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// `'user'@'host'`; the host is a LIKE pattern (`%` for any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserIdentity {
    pub user: String,
    pub host: String,
}

impl UserIdentity {
    pub fn new(user: &str, host: &str) -> Self {
        UserIdentity { user: user.to_string(), host: host.to_string() }
    }

    pub fn root() -> Self {
        UserIdentity::new("root", "%")
    }
}

impl std::fmt::Display for UserIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'@'{}'", self.user, self.host)
    }
}

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantScope {
    /// `*.*`
    Global,
    /// `db.*`
    Database(String),
}

impl std::fmt::Display for GrantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantScope::Global => write!(f, "*.*"),
            GrantScope::Database(db) => write!(f, "{db}.*"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Hex of SHA1(SHA1(password)); None for no password.
    pub password_sha1_sha1: Option<String>,
    pub global: BTreeSet<Privilege>,
    pub databases: BTreeMap<String, BTreeSet<Privilege>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AuthEdit {
    CreateUser { identity: UserIdentity, password_sha1_sha1: Option<String> },
    DropUser { identity: UserIdentity },
    SetPassword { identity: UserIdentity, password_sha1_sha1: Option<String> },
    Grant { identity: UserIdentity, scope: GrantScope, privileges: Vec<Privilege> },
    Revoke { identity: UserIdentity, scope: GrantScope, privileges: Vec<Privilege> },
}

/// A cluster holds at most this many users.
pub const MAX_USERS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// Stored in images as a list of `[identity, record]` pairs: JSON map keys must be strings.
    #[serde(with = "users_as_pairs")]
    pub users: BTreeMap<UserIdentity, UserRecord>,
}

mod users_as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{UserIdentity, UserRecord};

    pub fn serialize<S: Serializer>(users: &BTreeMap<UserIdentity, UserRecord>, s: S) -> Result<S::Ok, S::Error> {
        users.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<UserIdentity, UserRecord>, D::Error> {
        Ok(Vec::<(UserIdentity, UserRecord)>::deserialize(d)?.into_iter().collect())
    }
}

impl Default for Auth {
    /// A new cluster has `root` with every privilege and no password, as Doris does.
    fn default() -> Self {
        let root =
            UserRecord { password_sha1_sha1: None, global: BTreeSet::from([Privilege::Admin]), ..Default::default() };
        Auth { users: BTreeMap::from([(UserIdentity::root(), root)]) }
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// What is stored for `password`: hex SHA1(SHA1(password)), or None for an empty password.
pub fn password_hash(password: &str) -> Option<String> {
    if password.is_empty() {
        return None;
    }
    Some(hex(&sha1(&[&sha1(&[password.as_bytes()])])))
}

/// mysql_native_password: the client sends `SHA1(pw) XOR SHA1(salt ‖ SHA1(SHA1(pw)))`.
pub fn check_native_password(stored: Option<&str>, salt: &[u8], auth_data: &[u8]) -> bool {
    let Some(stored) = stored else { return auth_data.is_empty() };
    let Some(stored) = unhex(stored) else { return false };
    if auth_data.len() != 20 || stored.len() != 20 {
        return false;
    }
    let mask = sha1(&[salt, &stored]);
    let candidate: Vec<u8> = auth_data.iter().zip(mask).map(|(a, m)| a ^ m).collect();
    sha1(&[&candidate]).as_slice() == stored.as_slice()
}

/// A password sent in clear text (the gRPC endpoint) against what is stored: its
/// `SHA1(SHA1(password))` must match; no stored password admits only the empty password.
pub fn check_plain_password(stored: Option<&str>, password: &str) -> bool {
    let Some(stored) = stored else { return password.is_empty() };
    let Some(stored) = unhex(stored) else { return false };
    if stored.len() != 20 || password.is_empty() {
        return false;
    }
    let candidate = sha1(&[&sha1(&[password.as_bytes()])]);
    // Compare every byte, whatever the first difference, so the time taken tells nothing.
    candidate.iter().zip(&stored).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

impl Auth {
    /// A clear-text login of `user` from `peer_host` (the gRPC endpoint): the identity it matches
    /// if the password is right, None otherwise (no such user, or a wrong password).
    pub fn login_plain(&self, user: &str, peer_host: &str, password: &str) -> Option<&UserIdentity> {
        let (identity, record) = self.match_login(user, peer_host)?;
        check_plain_password(record.password_sha1_sha1.as_deref(), password).then_some(identity)
    }

    /// The identity a login of `user` from `peer_host` matches: an exact host before a pattern.
    pub fn match_login(&self, user: &str, peer_host: &str) -> Option<(&UserIdentity, &UserRecord)> {
        let mut candidates: Vec<_> = self
            .users
            .iter()
            .filter(|(id, _)| id.user == user && crate::fe::catalog::lookup::like(&id.host, peer_host))
            .collect();
        // Most specific first: fewer wildcards, then the longer pattern.
        candidates.sort_by_key(|(id, _)| (id.host.matches('%').count(), std::cmp::Reverse(id.host.len())));
        candidates.into_iter().next()
    }

    pub fn has(&self, identity: &UserIdentity, privilege: Privilege, database: Option<&str>) -> bool {
        let Some(user) = self.users.get(identity) else { return false };
        if user.global.contains(&Privilege::Admin) || user.global.contains(&privilege) {
            return true;
        }
        database.is_some_and(|db| user.databases.get(db).is_some_and(|p| p.contains(&privilege)))
    }

    /// Whether `identity` may see `database` at all (any privilege on it, or a global one).
    pub fn can_see(&self, identity: &UserIdentity, database: &str) -> bool {
        let Some(user) = self.users.get(identity) else { return false };
        !user.global.is_empty() || user.databases.get(database).is_some_and(|p| !p.is_empty())
    }

    pub fn apply(&mut self, edit: &AuthEdit) {
        match edit {
            AuthEdit::CreateUser { identity, password_sha1_sha1 } => {
                let record = UserRecord { password_sha1_sha1: password_sha1_sha1.clone(), ..Default::default() };
                let old = self.users.insert(identity.clone(), record);
                assert!(old.is_none(), "user {identity} created twice");
            }
            AuthEdit::DropUser { identity } => {
                assert_ne!(identity, &UserIdentity::root(), "root cannot be dropped");
                assert!(self.users.remove(identity).is_some(), "dropped user {identity} does not exist");
            }
            AuthEdit::SetPassword { identity, password_sha1_sha1 } => {
                let user = self.users.get_mut(identity);
                assert!(user.is_some(), "password set for missing user {identity}");
                if let Some(user) = user {
                    user.password_sha1_sha1.clone_from(password_sha1_sha1);
                }
            }
            AuthEdit::Grant { identity, scope, privileges } | AuthEdit::Revoke { identity, scope, privileges } => {
                let grant = matches!(edit, AuthEdit::Grant { .. });
                let user = self.users.get_mut(identity);
                assert!(user.is_some(), "grant or revoke for missing user {identity}");
                let Some(user) = user else { return };
                let set = match scope {
                    GrantScope::Global => &mut user.global,
                    GrantScope::Database(db) => user.databases.entry(db.clone()).or_default(),
                };
                for p in privileges {
                    if grant {
                        set.insert(*p);
                    } else {
                        set.remove(p);
                    }
                }
                user.databases.retain(|_, p| !p.is_empty());
            }
        }
    }
}

/// SELECT needs SELECT_PRIV on the table's database.
pub(crate) fn check_select(auth: &Auth, session: &Session, db: &str, table: &str) -> Result<(), SqlError> {
    if auth.has(&session.identity, Privilege::Select, Some(db)) {
        Ok(())
    } else {
        Err(SqlError::new(
            1142,
            "42000",
            format!("SELECT command denied to user {} for table '{db}.{table}'", session.identity),
        ))
    }
}

pub(crate) fn check_can_see(auth: &Auth, session: &Session, db: &str) -> Result<(), SqlError> {
    if auth.can_see(&session.identity, db) {
        Ok(())
    } else {
        Err(SqlError::new(1044, "42000", format!("Access denied for user {} to database '{db}'", session.identity)))
    }
}

pub(crate) fn check_load(auth: &Auth, session: &Session, db: &str) -> Result<(), SqlError> {
    if auth.has(&session.identity, Privilege::Load, Some(db)) { Ok(()) } else { Err(access_denied("LOAD")) }
}

pub(crate) fn access_denied(privilege: &str) -> SqlError {
    SqlError::new(
        1227,
        "42000",
        format!("Access denied; you need (at least one of) the ({privilege}) privilege(s) for this operation"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client computes from the password and the server's salt.
    fn client_scramble(password: &str, salt: &[u8]) -> Vec<u8> {
        let stage1 = sha1(&[password.as_bytes()]);
        let stage2 = sha1(&[&stage1]);
        let mask = sha1(&[salt, &stage2]);
        stage1.iter().zip(mask).map(|(a, m)| a ^ m).collect()
    }

    #[test]
    fn native_password_accepts_the_right_password_only() {
        let salt = b"0123456789abcdefghij";
        let stored = password_hash("s3cret");
        assert!(check_native_password(stored.as_deref(), salt, &client_scramble("s3cret", salt)));
        assert!(!check_native_password(stored.as_deref(), salt, &client_scramble("wrong", salt)));
        assert!(!check_native_password(stored.as_deref(), salt, b""));
        assert!(check_native_password(None, salt, b""), "no password: empty answer");
        assert!(!check_native_password(None, salt, &client_scramble("x", salt)));
        // MySQL's well-known hash of "password".
        assert_eq!(password_hash("password").as_deref(), Some("2470c0c06dee42fd1618bb99005adca2ec9d1e19"));
    }

    #[test]
    fn plain_password_accepts_the_right_password_only() {
        let stored = password_hash("s3cret");
        assert!(check_plain_password(stored.as_deref(), "s3cret"));
        assert!(!check_plain_password(stored.as_deref(), "S3cret"));
        assert!(!check_plain_password(stored.as_deref(), ""));
        assert!(check_plain_password(None, ""), "no password: empty password");
        assert!(!check_plain_password(None, "x"));
        assert!(!check_plain_password(Some("not hex"), "x"));
        // Stored hex in upper case (as MySQL's PASSWORD() prints it) still matches.
        let upper = stored.as_deref().map(str::to_ascii_uppercase);
        assert!(check_plain_password(upper.as_deref(), "s3cret"));

        let mut auth = Auth::default();
        let jack = UserIdentity::new("jack", "10.0.%");
        auth.apply(&AuthEdit::CreateUser { identity: jack.clone(), password_sha1_sha1: password_hash("pw") });
        assert_eq!(auth.login_plain("jack", "10.0.0.7", "pw"), Some(&jack));
        assert_eq!(auth.login_plain("jack", "10.0.0.7", "bad"), None);
        assert_eq!(auth.login_plain("jack", "127.0.0.1", "pw"), None, "host does not match");
        assert_eq!(auth.login_plain("root", "%", ""), Some(&UserIdentity::root()));
    }

    #[test]
    fn grants_and_revokes_decide_privileges() {
        let mut auth = Auth::default();
        let jack = UserIdentity::new("jack", "%");
        assert!(auth.has(&UserIdentity::root(), Privilege::Load, Some("any")));
        auth.apply(&AuthEdit::CreateUser { identity: jack.clone(), password_sha1_sha1: None });
        assert!(!auth.has(&jack, Privilege::Select, Some("db1")));
        assert!(!auth.can_see(&jack, "db1"));
        let db1 = GrantScope::Database("db1".into());
        auth.apply(&AuthEdit::Grant {
            identity: jack.clone(),
            scope: db1.clone(),
            privileges: vec![Privilege::Select],
        });
        assert!(auth.has(&jack, Privilege::Select, Some("db1")));
        assert!(!auth.has(&jack, Privilege::Select, Some("db2")));
        assert!(!auth.has(&jack, Privilege::Admin, None));
        assert!(auth.can_see(&jack, "db1"));
        auth.apply(&AuthEdit::Revoke { identity: jack.clone(), scope: db1, privileges: vec![Privilege::Select] });
        assert!(!auth.can_see(&jack, "db1"));
    }

    #[test]
    fn login_matches_the_most_specific_host() {
        let mut auth = Auth::default();
        auth.apply(&AuthEdit::CreateUser { identity: UserIdentity::new("jack", "%"), password_sha1_sha1: None });
        auth.apply(&AuthEdit::CreateUser { identity: UserIdentity::new("jack", "10.0.%"), password_sha1_sha1: None });
        assert_eq!(auth.match_login("jack", "10.0.3.1").map(|(id, _)| id.host.as_str()), Some("10.0.%"));
        assert_eq!(auth.match_login("jack", "127.0.0.1").map(|(id, _)| id.host.as_str()), Some("%"));
        assert!(auth.match_login("nobody", "127.0.0.1").is_none());
    }
}
