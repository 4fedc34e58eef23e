//! What a campaign covered: for each (job kind, state, fault kind), how many seeds struck a job
//! in that state with that fault. The FE tells the simulator each job's state at every record it
//! applies, and every fault point says when it strikes (`palo_buggify::{job_state, struck}`), so
//! the table counts what really happened, not what was planned.

use std::collections::BTreeMap;

use palo_node::fe::jobs::backup::job::BackupState;
use palo_node::fe::jobs::restore::job::RestoreState;
use palo_node::fe::jobs::state::JobState;

/// (job kind, state, fault kind).
pub type Cell = (String, String, String);

/// The fault kinds every working state of both job kinds must meet (`--coverage-min`).
pub const REQUIRED_FAULTS: [&str; 7] =
    ["fe-crash", "be-crash", "broker-crash", "cut-link", "object-store", "task-failure", "cancel"];
/// Other fault kinds the table shows.
pub const OTHER_FAULTS: [&str; 4] = ["packet-loss", "disk-faults", "move-backend", "disk-full"];

/// Seeds per cell, over a campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    seeds: u64,
    struck: BTreeMap<Cell, u64>,
    /// Invariant -> (seeds that checked something, items checked).
    checked: BTreeMap<String, (u64, u64)>,
}

impl Coverage {
    /// Adds one seed's cells (each with how often it was struck in that seed).
    pub fn add_seed<'a>(&mut self, cells: impl IntoIterator<Item = ((&'a str, &'a str, &'a str), u64)>) {
        self.seeds += 1;
        for ((kind, state, fault), hits) in cells {
            if hits > 0 {
                *self.struck.entry((kind.to_string(), state.to_string(), fault.to_string())).or_default() += 1;
            }
        }
    }

    /// Adds what one seed's invariants checked (`Invariant::checked`).
    pub fn add_checked<'a>(&mut self, checked: impl IntoIterator<Item = (&'a str, u64)>) {
        for (invariant, items) in checked {
            let entry = self.checked.entry(invariant.to_string()).or_default();
            entry.0 += u64::from(items > 0);
            entry.1 += items;
        }
    }

    /// Per invariant: the seeds that checked something, and the items checked in all.
    pub fn invariants_table(&self) -> String {
        let mut out = format!("invariants: seeds (of {}) that checked something, and the items checked\n", self.seeds);
        for invariant in crate::invariants::Invariant::ALL {
            let (seeds, items) = self.checked.get(invariant.name()).copied().unwrap_or((0, 0));
            out.push_str(&format!("{:<26} {seeds:>8} seeds {items:>12} items\n", invariant.name()));
        }
        out
    }

    /// How many seeds struck `(kind, state, fault)`.
    pub fn seeds_of(&self, kind: &str, state: &str, fault: &str) -> u64 {
        self.struck.get(&(kind.to_string(), state.to_string(), fault.to_string())).copied().unwrap_or(0)
    }

    /// Every (kind, working state) of both job kinds, in the order a job goes through them.
    pub fn rows() -> Vec<(&'static str, &'static str)> {
        let backup = BackupState::ALL.iter().filter(|s| !s.is_done()).map(|s| (BackupState::KIND, s.name()));
        let restore = RestoreState::ALL.iter().filter(|s| !s.is_done()).map(|s| (RestoreState::KIND, s.name()));
        backup.chain(restore).collect()
    }

    /// The required cells struck by fewer than `min` seeds.
    pub fn below(&self, min: u64) -> Vec<Cell> {
        let mut out = Vec::new();
        for (kind, state) in Coverage::rows() {
            for fault in REQUIRED_FAULTS {
                if self.seeds_of(kind, state, fault) < min {
                    out.push((kind.to_string(), state.to_string(), fault.to_string()));
                }
            }
        }
        out
    }

    /// The table: one row per job state, one column per fault kind, seeds in each cell.
    pub fn table(&self) -> String {
        let faults: Vec<&str> = REQUIRED_FAULTS.iter().chain(OTHER_FAULTS.iter()).copied().collect();
        let mut out = format!(
            "coverage: seeds (of {}) that struck a job in the state with the fault\n{:<26}",
            self.seeds, "job state"
        );
        for fault in &faults {
            out.push_str(&format!(" {fault:>12}"));
        }
        out.push('\n');
        for (kind, state) in Coverage::rows() {
            out.push_str(&format!("{:<26}", format!("{kind} {state}")));
            for fault in &faults {
                out.push_str(&format!(" {:>12}", self.seeds_of(kind, state, fault)));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_count_seeds_not_strikes() {
        let mut c = Coverage::default();
        c.add_seed([(("backup", "UPLOADING", "be-crash"), 3)]);
        c.add_seed([(("backup", "UPLOADING", "be-crash"), 1), (("restore", "COMMITTING", "fe-crash"), 2)]);
        assert_eq!(c.seeds_of("backup", "UPLOADING", "be-crash"), 2);
        assert_eq!(c.seeds_of("restore", "COMMITTING", "fe-crash"), 1);
        assert_eq!(c.seeds_of("restore", "COMMITTING", "cancel"), 0);
        let missing = c.below(1);
        assert!(!missing.contains(&("backup".into(), "UPLOADING".into(), "be-crash".into())));
        assert!(missing.contains(&("backup".into(), "PENDING".into(), "cancel".into())));
        assert_eq!(missing.len(), 12 * REQUIRED_FAULTS.len() - 2);
        let table = c.table();
        assert!(table.contains("of 2 seeds") || table.contains("(of 2)"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("backup UPLOADING") && l.contains(" 2")), "{table}");
    }
}
