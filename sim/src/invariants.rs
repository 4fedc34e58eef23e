//! The invariants every seed checks once its faults stop, by name: a failure says which one broke
//! (`invariant loads: ...`), with the seed's world and the line that reproduces it.

/// One named check of the seeded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// Acknowledged membership changes survive, every member is shown alive within the liveness
    /// bound, each core backend under the id it got at setup (even on a new address), and
    /// acknowledged databases survive while nothing appears that nobody created.
    Membership,
    /// Loads are exactly once and atomic; replicas converge and agree; acknowledged partitions
    /// exist (`workloads/loads.rs`).
    Loads,
    /// The big tables (wide rows, many tablets) hold what was loaded (`workloads/big_tables.rs`).
    BigTables,
    /// Backups: legal states, one running job per database, every job ends, FINISHED snapshots
    /// hold verified files of exactly the right loads (`workloads/backups.rs`).
    Backups,
    /// Restores: legal states, every job ends, FINISHED ones reproduce their backups exactly,
    /// CANCELLED ones leave their targets as they were (`workloads/restores.rs`).
    Restores,
    /// A restore over a table being read: its old rows until the commit, the backup's after it,
    /// never a mix or an error that lasts (`workloads/overwrite.rs`).
    Overwrite,
    /// The second cluster sharing the repository (in worlds with one): its loads and backups hold;
    /// at most one job per label finishes across the clusters; the loser of a label sees and
    /// restores the winner's snapshot (`workloads/second_cluster.rs`).
    SecondCluster,
    /// No backend holds a snapshot once every job has ended.
    NoSnapshotsLeft,
    /// Journal replay reproduces the state: after one more FE power loss, membership, databases,
    /// the load table and the restored tables are exactly what they were.
    Replay,
}

impl Invariant {
    pub const ALL: [Invariant; 9] = [
        Invariant::Membership,
        Invariant::Loads,
        Invariant::BigTables,
        Invariant::Backups,
        Invariant::Restores,
        Invariant::Overwrite,
        Invariant::SecondCluster,
        Invariant::NoSnapshotsLeft,
        Invariant::Replay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Invariant::Membership => "membership",
            Invariant::Loads => "loads",
            Invariant::BigTables => "big-tables",
            Invariant::Backups => "backups",
            Invariant::Restores => "restores",
            Invariant::Overwrite => "overwrite",
            Invariant::SecondCluster => "second-cluster",
            Invariant::NoSnapshotsLeft => "no-snapshots-left",
            Invariant::Replay => "replay",
        }
    }

    /// `outcome` of this check, its failure prefixed with the invariant's name.
    pub fn check<T>(self, outcome: Result<T, String>) -> Result<T, String> {
        outcome.map_err(|e| format!("invariant {} broke: {e}", self.name()))
    }

    /// Records that this check had `items` things to check in this seed (loads, jobs, reads..):
    /// a campaign reports how often each invariant was checked with something to check.
    pub fn checked(self, items: u64) {
        CHECKED.with(|c| *c.borrow_mut().entry(self.name()).or_default() += items);
    }
}

thread_local! {
    /// Items each invariant checked in this thread's world (one world per thread).
    static CHECKED: std::cell::RefCell<std::collections::BTreeMap<&'static str, u64>> =
        const { std::cell::RefCell::new(std::collections::BTreeMap::new()) };
}

/// What each invariant checked in this thread's world; a fresh start for the next.
pub fn take_checked() -> Vec<(&'static str, u64)> {
    CHECKED.with(|c| std::mem::take(&mut *c.borrow_mut()).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_invariant() {
        let broken: Result<(), String> = Err("row 7 twice".into());
        assert_eq!(Invariant::Loads.check(broken).unwrap_err(), "invariant loads broke: row 7 twice");
        let names: std::collections::BTreeSet<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        assert_eq!(names.len(), Invariant::ALL.len(), "names are distinct");
    }
}
