//! The catalog of faults the nemesis strikes with: each kind, its share of the nemesis's rolls,
//! and its name in traces. The node-side fault points (agent tasks, job steps, deliberate bugs)
//! are `palo_buggify::{Task, Bug}`.

/// A kind of fault the nemesis may strike with at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Power loss of a node; it comes back after an outage (one in ten outlasts the heartbeat
    /// failure threshold).
    Kill,
    /// The link between the FE and another node cut for a while.
    CutLink,
    /// A share of every packet lost for a while.
    PacketLoss,
    /// A node's disk failing (EIO) and stalling now and then for a while.
    DiskFaults,
    /// A backend restarted on another port and added again there (in worlds that enable it).
    MoveBackend,
}

/// Percent of the nemesis's rolls each kind takes, in roll order; the rest strike nothing.
pub const WEIGHTS: [(FaultKind, u32); 5] = [
    (FaultKind::Kill, 25),
    (FaultKind::CutLink, 20),
    (FaultKind::PacketLoss, 10),
    (FaultKind::DiskFaults, 15),
    (FaultKind::MoveBackend, 5),
];

/// The range of a roll.
pub const ROLL_RANGE: u32 = 100;

const _: () = {
    let mut total = 0;
    let mut i = 0;
    while i < WEIGHTS.len() {
        total += WEIGHTS[i].1;
        i += 1;
    }
    assert!(total <= ROLL_RANGE, "the weights take at most every roll");
};

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::CutLink => "cut-link",
            FaultKind::PacketLoss => "packet-loss",
            FaultKind::DiskFaults => "disk-faults",
            FaultKind::MoveBackend => "move-backend",
        }
    }

    /// The kind a roll of `0..ROLL_RANGE` picks, if any.
    pub fn of_roll(roll: u32) -> Option<FaultKind> {
        debug_assert!(roll < ROLL_RANGE);
        let mut start = 0;
        for (kind, weight) in WEIGHTS {
            if roll < start + weight {
                return Some(kind);
            }
            start += weight;
        }
        None
    }
}

/// A fault the nemesis aims at a job state: it holds a job in the state (two failures of the
/// state's work, so it stays there a few seconds) and strikes once a job is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AimedFault {
    FeCrash,
    BeCrash,
    BrokerCrash,
    CutLink,
    /// The next repository operations fail.
    ObjectStore,
    /// The state's work fails (the hold itself).
    TaskFailure,
    /// CANCEL BACKUP / CANCEL RESTORE.
    Cancel,
}

impl AimedFault {
    pub const ALL: [AimedFault; 7] = [
        AimedFault::FeCrash,
        AimedFault::BeCrash,
        AimedFault::BrokerCrash,
        AimedFault::CutLink,
        AimedFault::ObjectStore,
        AimedFault::TaskFailure,
        AimedFault::Cancel,
    ];

    /// The coverage table's name of the fault (`crate::coverage::REQUIRED_FAULTS`).
    pub fn name(self) -> &'static str {
        match self {
            AimedFault::FeCrash => "fe-crash",
            AimedFault::BeCrash => "be-crash",
            AimedFault::BrokerCrash => "broker-crash",
            AimedFault::CutLink => "cut-link",
            AimedFault::ObjectStore => "object-store",
            AimedFault::TaskFailure => "task-failure",
            AimedFault::Cancel => "cancel",
        }
    }
}

/// A fault aimed at a state of a kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aim {
    /// "backup" or "restore".
    pub kind: &'static str,
    /// The state's name, as SHOW prints it.
    pub state: &'static str,
    pub fault: AimedFault,
}

impl Aim {
    /// Every cell an aim can take: each working state of both kinds x each aimed fault.
    pub fn all() -> Vec<Aim> {
        let mut out = Vec::new();
        for (kind, state) in crate::coverage::Coverage::rows() {
            for fault in AimedFault::ALL {
                out.push(Aim { kind, state, fault });
            }
        }
        out
    }

    /// `kind:STATE:fault`, as `--world aim=` takes it.
    pub fn parse(text: &str) -> Option<Aim> {
        Aim::all().into_iter().find(|a| a.to_string() == text)
    }
}

impl std::fmt::Display for Aim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.state, self.fault.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shares are the ranges the nemesis always had: 0-24 kill, 25-44 cut, 45-54 loss,
    /// 55-69 disk, 70-74 move, 75-99 nothing.
    #[test]
    fn rolls_map_to_kinds_by_weight() {
        let at = |r| FaultKind::of_roll(r);
        assert_eq!((at(0), at(24), at(25)), (Some(FaultKind::Kill), Some(FaultKind::Kill), Some(FaultKind::CutLink)));
        assert_eq!(
            (at(44), at(45), at(54)),
            (Some(FaultKind::CutLink), Some(FaultKind::PacketLoss), Some(FaultKind::PacketLoss))
        );
        assert_eq!(
            (at(55), at(69), at(70)),
            (Some(FaultKind::DiskFaults), Some(FaultKind::DiskFaults), Some(FaultKind::MoveBackend))
        );
        assert_eq!((at(74), at(75), at(99)), (Some(FaultKind::MoveBackend), None, None));
    }

    #[test]
    fn aims_cover_every_required_cell_and_parse_back() {
        let all = Aim::all();
        assert_eq!(all.len(), 12 * crate::coverage::REQUIRED_FAULTS.len());
        for fault in AimedFault::ALL {
            assert!(crate::coverage::REQUIRED_FAULTS.contains(&fault.name()));
        }
        let aim = Aim { kind: "restore", state: "COMMITTING", fault: AimedFault::FeCrash };
        assert_eq!(aim.to_string(), "restore:COMMITTING:fe-crash");
        assert_eq!(Aim::parse("restore:COMMITTING:fe-crash"), Some(aim));
        assert_eq!(Aim::parse("restore:FINISHED:fe-crash"), None);
    }
}
