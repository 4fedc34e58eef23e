//! Broker membership statements: ALTER SYSTEM ADD BROKER, DROP BROKER, DROP ALL BROKER.

use crate::error::SqlError;
use crate::fe::catalog::membership::{BrokerRecord, MAX_BROKERS, MembershipEdit};
use crate::fe::session::QueryOutput;
use crate::fe::{Fe, FeEdit};
use crate::sql::ast::HostPort;

impl Fe {
    pub(crate) async fn add_brokers(&self, name: String, addrs: Vec<HostPort>) -> Result<QueryOutput, SqlError> {
        let mut durable = self.durable.lock().await;
        let membership = &durable.state.membership;
        if membership.brokers.len() + addrs.len() > MAX_BROKERS {
            return Err(SqlError::doris(format!("a cluster holds at most {MAX_BROKERS} brokers; drop some first")));
        }
        let mut edits = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let broker = BrokerRecord { name: name.clone(), host: addr.host.clone(), port: addr.port };
            if membership.has_broker(&broker) || addrs[..i].contains(addr) {
                return Err(SqlError::doris(format!("Broker({name}) already has the address {addr}")));
            }
            edits.push(MembershipEdit::AddBroker(broker));
        }
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_brokers(&self, name: String, addrs: Vec<HostPort>) -> Result<QueryOutput, SqlError> {
        let mut durable = self.durable.lock().await;
        let membership = &durable.state.membership;
        let mut edits = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let broker = BrokerRecord { name: name.clone(), host: addr.host.clone(), port: addr.port };
            if !membership.has_broker(&broker) || addrs[..i].contains(addr) {
                return Err(SqlError::doris(format!("Broker({name}) has no address {addr}")));
            }
            edits.push(MembershipEdit::DropBroker(broker));
        }
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }

    pub(crate) async fn drop_all_brokers(&self, name: String) -> Result<QueryOutput, SqlError> {
        let mut durable = self.durable.lock().await;
        let edits: Vec<_> = durable
            .state
            .membership
            .brokers
            .iter()
            .filter(|b| b.name == name)
            .cloned()
            .map(MembershipEdit::DropBroker)
            .collect();
        if edits.is_empty() {
            return Err(SqlError::doris(format!("Unknown broker name({name})")));
        }
        self.commit_locked(&mut durable, FeEdit::Membership { edits }).await?;
        Ok(QueryOutput::Ok { affected_rows: 0 })
    }
}
