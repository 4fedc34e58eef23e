//! What each replica holds, as far as the FE knows: learned from BE heartbeats (every tablet's
//! version, rows and size) and from the answers to loads and publishes. Not journaled: a
//! restarted FE relearns it from the next reports, and until then treats replicas as unknown.

use std::collections::BTreeMap;

use crate::rpc::proto;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaState {
    /// The highest version the replica holds without a gap (0: unknown or missing).
    pub version: u64,
    pub last_success_version: u64,
    /// The last version this replica missed (a failed write or publish); 0 when none.
    pub last_failed_version: u64,
    pub last_failed_time_ms: Option<u64>,
    pub version_count: u64,
    pub row_count: u64,
    pub data_size_bytes: u64,
    /// The [`Replicas::epoch`] of the last direct answer (publish, create, clone); a report
    /// asked for before it is older news and does not override it.
    updated_epoch: u64,
}

/// Replica states by tablet, then backend.
#[derive(Debug, Default)]
pub struct Replicas {
    by_tablet: BTreeMap<i64, BTreeMap<i64, ReplicaState>>,
    epoch: u64,
}

impl Replicas {
    pub fn get(&self, tablet_id: i64, backend_id: i64) -> ReplicaState {
        self.by_tablet.get(&tablet_id).and_then(|m| m.get(&backend_id)).cloned().unwrap_or_default()
    }

    /// Whether the FE has heard of this replica since it started (a report or a direct answer).
    pub fn known(&self, tablet_id: i64, backend_id: i64) -> bool {
        self.by_tablet.get(&tablet_id).is_some_and(|m| m.contains_key(&backend_id))
    }

    fn entry(&mut self, tablet_id: i64, backend_id: i64) -> &mut ReplicaState {
        self.by_tablet.entry(tablet_id).or_default().entry(backend_id).or_default()
    }

    /// Taken before asking for a report; pass it to [`Replicas::report`].
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A backend's full tablet report (asked for at `asked_epoch`): every tablet it holds.
    /// Tablets of this backend missing from the report are at version 0 (it lost them, or
    /// never had them). Replicas updated by a direct answer since the report was asked for keep
    /// that answer.
    pub fn report(&mut self, backend_id: i64, tablets: &[proto::TabletInfo], asked_epoch: u64) {
        let reported: BTreeMap<i64, &proto::TabletInfo> = tablets.iter().map(|t| (t.tablet_id, t)).collect();
        for (tablet_id, backends) in self.by_tablet.iter_mut() {
            if !reported.contains_key(tablet_id)
                && let Some(state) = backends.get_mut(&backend_id)
                && state.updated_epoch <= asked_epoch
            {
                state.version = 0;
                state.version_count = 0;
                state.row_count = 0;
                state.data_size_bytes = 0;
            }
        }
        for (tablet_id, info) in reported {
            let state = self.entry(tablet_id, backend_id);
            if state.updated_epoch > asked_epoch {
                state.version = state.version.max(info.version);
                continue;
            }
            state.version = info.version;
            state.version_count = info.version_count;
            state.row_count = info.row_count;
            state.data_size_bytes = info.data_size_bytes;
            state.last_success_version = state.last_success_version.max(info.version);
            if state.last_failed_version != 0 && info.version >= state.last_failed_version {
                state.last_failed_version = 0;
                state.last_failed_time_ms = None;
            }
        }
    }

    /// The replica answered a create, publish or clone: it is at `version` now.
    pub fn reached(&mut self, tablet_id: i64, backend_id: i64, version: u64) {
        self.epoch += 1;
        let epoch = self.epoch;
        let state = self.entry(tablet_id, backend_id);
        state.updated_epoch = epoch;
        state.version = state.version.max(version);
        state.last_success_version = state.last_success_version.max(version);
        if state.last_failed_version != 0 && state.version >= state.last_failed_version {
            state.last_failed_version = 0;
            state.last_failed_time_ms = None;
        }
    }

    /// The replica missed `version` (its write or publish failed).
    pub fn failed(&mut self, tablet_id: i64, backend_id: i64, version: u64, now_ms: u64) {
        let state = self.entry(tablet_id, backend_id);
        state.last_failed_version = state.last_failed_version.max(version);
        state.last_failed_time_ms = Some(now_ms);
    }

    /// Forgets tablets the catalog no longer has.
    pub fn retain_tablets(&mut self, keep: impl Fn(i64) -> bool) {
        self.by_tablet.retain(|id, _| keep(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(tablet_id: i64, version: u64) -> proto::TabletInfo {
        proto::TabletInfo {
            tablet_id,
            version,
            version_count: 1,
            row_count: 10,
            data_size_bytes: 100,
            restore_pending: false,
        }
    }

    #[test]
    fn reports_set_versions_and_clear_failures_once_caught_up() {
        let mut r = Replicas::default();
        r.reached(1, 10, 1);
        r.failed(1, 10, 3, 5);
        let e = r.epoch();
        r.report(10, &[info(1, 2)], e);
        assert_eq!(r.get(1, 10).version, 2);
        assert_eq!(r.get(1, 10).last_failed_version, 3, "still behind the failed version");
        r.report(10, &[info(1, 3)], e);
        assert_eq!(r.get(1, 10).last_failed_version, 0);
        r.report(10, &[], e);
        assert_eq!(r.get(1, 10).version, 0, "a tablet missing from the report is lost");
    }

    #[test]
    fn a_report_asked_before_a_publish_does_not_undo_it() {
        let mut r = Replicas::default();
        let asked = r.epoch();
        r.reached(1, 10, 5);
        r.report(10, &[info(1, 4)], asked);
        assert_eq!(r.get(1, 10).version, 5);
        r.report(10, &[], asked);
        assert_eq!(r.get(1, 10).version, 5, "nor does a report that predates the tablet");
        let later = r.epoch();
        r.report(10, &[info(1, 6)], later);
        assert_eq!(r.get(1, 10).version, 6);
    }
}
