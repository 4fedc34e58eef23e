//! User statements: CREATE USER, DROP USER, SET PASSWORD, GRANT, REVOKE, SHOW GRANTS.

use crate::error::SqlError;
use crate::fe::catalog::auth::{self, Auth, AuthEdit, GrantScope, MAX_USERS, Privilege, UserIdentity};
use crate::fe::session::{QueryOutput, Session};
use crate::fe::{Fe, FeEdit};
use crate::sql::ast::{GrantOn, UserSpec};

impl Fe {
    pub(crate) async fn create_user(
        &self,
        user: UserSpec,
        password: Option<String>,
        if_not_exists: bool,
    ) -> Result<QueryOutput, SqlError> {
        let identity = user_identity(&user)?;
        let mut durable = self.durable.lock().await;
        if durable.state.auth.users.contains_key(&identity) {
            if if_not_exists {
                return Ok(QueryOutput::Ok { affected_rows: 0 });
            }
            return Err(SqlError::new(1396, "HY000", format!("Operation CREATE USER failed for {identity}")));
        }
        if durable.state.auth.users.len() >= MAX_USERS {
            return Err(SqlError::doris(format!("a cluster holds at most {MAX_USERS} users")));
        }
        let password_sha1_sha1 = password.as_deref().and_then(auth::password_hash);
        let edit = AuthEdit::CreateUser { identity, password_sha1_sha1 };
        self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_user(&self, user: UserSpec, if_exists: bool) -> Result<QueryOutput, SqlError> {
        let identity = user_identity(&user)?;
        if identity == UserIdentity::root() {
            return Err(SqlError::doris("root cannot be dropped"));
        }
        let mut durable = self.durable.lock().await;
        if !durable.state.auth.users.contains_key(&identity) {
            if if_exists {
                return Ok(QueryOutput::Ok { affected_rows: 0 });
            }
            return Err(SqlError::new(1396, "HY000", format!("Operation DROP USER failed for {identity}")));
        }
        self.commit_locked(&mut durable, FeEdit::Auth { edit: AuthEdit::DropUser { identity } }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn set_password(
        &self,
        session: &Session,
        user: Option<UserSpec>,
        password: String,
    ) -> Result<QueryOutput, SqlError> {
        let identity = match &user {
            Some(spec) => user_identity(spec)?,
            None => session.identity.clone(),
        };
        let mut durable = self.durable.lock().await;
        if !durable.state.auth.users.contains_key(&identity) {
            return Err(no_such_user(&identity));
        }
        let edit = AuthEdit::SetPassword { identity, password_sha1_sha1: auth::password_hash(&password) };
        self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn grant_or_revoke(
        &self,
        is_grant: bool,
        names: Vec<String>,
        on: GrantOn,
        user: UserSpec,
    ) -> Result<QueryOutput, SqlError> {
        let identity = user_identity(&user)?;
        let privileges = privileges(&names)?;
        let scope = match on {
            GrantOn::Global => GrantScope::Global,
            GrantOn::Database(db) => GrantScope::Database(db),
        };
        if identity == UserIdentity::root() && !is_grant {
            return Err(SqlError::doris("root's privileges cannot be revoked"));
        }
        let mut durable = self.durable.lock().await;
        if !durable.state.auth.users.contains_key(&identity) {
            return Err(no_such_user(&identity));
        }
        let edit = if is_grant {
            AuthEdit::Grant { identity, scope, privileges }
        } else {
            AuthEdit::Revoke { identity, scope, privileges }
        };
        self.commit_locked(&mut durable, FeEdit::Auth { edit }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }
}

pub(crate) fn show_grants(
    auth: &Auth,
    session: &Session,
    user: Option<UserSpec>,
    all: bool,
) -> Result<QueryOutput, SqlError> {
    let wanted: Vec<&UserIdentity> = match (&user, all) {
        (_, true) => auth.users.keys().collect(),
        (Some(spec), false) => {
            let identity = user_identity(spec)?;
            match auth.users.get_key_value(&identity) {
                Some((id, _)) => vec![id],
                None => {
                    return Err(SqlError::new(
                        1141,
                        "42000",
                        format!("There is no such grant defined for user {identity}"),
                    ));
                }
            }
        }
        (None, false) => auth.users.get_key_value(&session.identity).map(|(id, _)| vec![id]).unwrap_or_default(),
    };
    let rows = wanted
        .into_iter()
        .filter_map(|id| auth.users.get(id).map(|record| (id, record)))
        .map(|(id, record)| {
            let names = |set: &std::collections::BTreeSet<Privilege>| {
                set.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
            };
            let databases =
                record.databases.iter().map(|(db, set)| format!("{db}: {}", names(set))).collect::<Vec<_>>().join("; ");
            vec![
                Some(id.to_string()),
                Some(if record.password_sha1_sha1.is_some() { "Yes" } else { "No" }.to_string()),
                Some(names(&record.global)),
                Some(databases),
            ]
        })
        .collect();
    let columns = ["UserIdentity", "Password", "GlobalPrivs", "DatabasePrivs"];
    Ok(QueryOutput::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows })
}

/// MySQL's ER_PASSWORD_NO_MATCH: the statement names a user that does not exist.
fn no_such_user(identity: &UserIdentity) -> SqlError {
    SqlError::new(1133, "42000", format!("Can't find any matching row in the user table for {identity}"))
}

fn user_identity(spec: &UserSpec) -> Result<UserIdentity, SqlError> {
    if spec.user.len() > 64 || spec.user.chars().any(|c| c.is_control() || c == '\'' || c == '@') {
        return Err(SqlError::doris(format!(
            "Incorrect user name '{}': at most 64 characters, no quotes or @",
            spec.user
        )));
    }
    Ok(UserIdentity::new(&spec.user, &spec.host))
}

fn privileges(names: &[String]) -> Result<Vec<Privilege>, SqlError> {
    names
        .iter()
        .map(|n| {
            Privilege::parse(n).ok_or_else(|| {
                SqlError::doris(format!("Unknown privilege {n}: use ADMIN_PRIV, LOAD_PRIV or SELECT_PRIV"))
            })
        })
        .collect()
}
