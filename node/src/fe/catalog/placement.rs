//! Where replicas go: the least loaded alive backends, distinct per tablet.

use std::collections::BTreeMap;

use crate::error::SqlError;
use crate::fe::FeState;
use crate::fe::catalog::membership::BackendRecord;
use crate::fe::catalog::{ReplicaRecord, TabletRecord};

/// `replication_num` is at most this.
pub const MAX_REPLICATION_NUM: u16 = 7;

/// Picks `replication_num` distinct alive backends per tablet, the least loaded first.
pub(crate) fn place_replicas(
    backends: &[BackendRecord],
    load: &mut BTreeMap<i64, usize>,
    replication: u16,
    tablets: usize,
    next_id: &mut i64,
) -> Result<Vec<TabletRecord>, SqlError> {
    if backends.len() < usize::from(replication) {
        return Err(SqlError::doris(format!(
            "Failed to find enough backends: replication_num is {replication} but only {} backends are alive; \
             add backends (ALTER SYSTEM ADD BACKEND) or lower replication_num",
            backends.len()
        )));
    }
    let mut out = Vec::with_capacity(tablets);
    for _ in 0..tablets {
        let mut candidates: Vec<&BackendRecord> = backends.iter().collect();
        candidates.sort_by_key(|b| (load.get(&b.id).copied().unwrap_or(0), b.id));
        let tablet_id = *next_id;
        *next_id += 1;
        let mut replicas = Vec::with_capacity(usize::from(replication));
        for b in candidates.into_iter().take(usize::from(replication)) {
            *load.entry(b.id).or_default() += 1;
            replicas.push(ReplicaRecord { id: *next_id, backend_id: b.id });
            *next_id += 1;
        }
        assert_eq!(replicas.len(), usize::from(replication));
        out.push(TabletRecord { id: tablet_id, replicas });
    }
    Ok(out)
}

/// Replicas per backend in the catalog now, the starting load for placement.
pub(crate) fn current_load(state: &FeState) -> BTreeMap<i64, usize> {
    let mut load = BTreeMap::new();
    for (_, _, _, r) in state.catalog.replicas() {
        *load.entry(r.backend_id).or_default() += 1;
    }
    load
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn replicas_land_on_distinct_least_loaded_backends() {
        let backends: Vec<BackendRecord> =
            (1..=4).map(|id| BackendRecord { id, host: format!("h{id}"), port: 9060, token: String::new() }).collect();
        let mut load = BTreeMap::new();
        let mut next = 100;
        let tablets = place_replicas(&backends, &mut load, 3, 4, &mut next).expect("enough");
        for t in &tablets {
            let set: BTreeSet<i64> = t.replicas.iter().map(|r| r.backend_id).collect();
            assert_eq!(set.len(), 3, "distinct backends");
        }
        assert_eq!(load.values().sum::<usize>(), 12);
        assert!(load.values().all(|n| *n == 3), "balanced: {load:?}");
        let e = place_replicas(&backends[..2], &mut load, 3, 1, &mut next).expect_err("too few");
        assert!(e.message.contains("only 2 backends are alive"), "{}", e.message);
    }
}
