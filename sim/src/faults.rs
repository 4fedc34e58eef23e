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
    /// A node's disk full (ENOSPC past a little headroom) for a while.
    DiskFull,
}

/// Percent of the nemesis's rolls each kind takes, in roll order; the rest strike nothing.
pub const WEIGHTS: [(FaultKind, u32); 6] = [
    (FaultKind::Kill, 25),
    (FaultKind::CutLink, 20),
    (FaultKind::PacketLoss, 10),
    (FaultKind::DiskFaults, 15),
    (FaultKind::MoveBackend, 5),
    (FaultKind::DiskFull, 5),
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
            FaultKind::DiskFull => "disk-full",
        }
    }

    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::CutLink,
        FaultKind::PacketLoss,
        FaultKind::DiskFaults,
        FaultKind::MoveBackend,
        FaultKind::DiskFull,
    ];

    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
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

    /// The shares: 0-24 kill, 25-44 cut, 45-54 loss, 55-69 disk, 70-74 move, 75-79 disk full,
    /// 80-99 nothing.
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
        assert_eq!(
            (at(74), at(75), at(79)),
            (Some(FaultKind::MoveBackend), Some(FaultKind::DiskFull), Some(FaultKind::DiskFull))
        );
        assert_eq!((at(80), at(99)), (None, None));
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::parse(kind.name()), Some(kind));
        }
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

/// One fault the nemesis struck, as a schedule holds it: what, where and for how long. A random
/// run records every fault it strikes; `simulate --schedule` strikes exactly a given list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultEvent {
    /// Power loss of the node named, back after `outage_ms`.
    Kill { node: String, outage_ms: u64 },
    /// The link between the FE and the node named cut for `ms`.
    CutLink { node: String, ms: u64 },
    /// `percent` of every packet lost for `ms`.
    PacketLoss { percent: u32, ms: u64 },
    /// The node's disk failing and stalling for `ms`.
    DiskFaults { node: String, eio_per_million: u32, slow_per_million: u32, slow_ms: u64, ms: u64 },
    /// The backend named restarted on `port`, then added there by an operator after `pause_ms`.
    MoveBackend { node: String, port: u16, pause_ms: u64 },
    /// The node's disk full `headroom_bytes` past what it holds now, for `ms`.
    DiskFull { node: String, headroom_bytes: u64, ms: u64 },
}

/// A fault at a moment of a run (simulated milliseconds since it started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFault {
    pub at_ms: u64,
    pub event: FaultEvent,
}

impl std::fmt::Display for ScheduledFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {} ", self.at_ms)?;
        match &self.event {
            FaultEvent::Kill { node, outage_ms } => write!(f, "kill {node} for {outage_ms}"),
            FaultEvent::CutLink { node, ms } => write!(f, "cut-link {node} for {ms}"),
            FaultEvent::PacketLoss { percent, ms } => write!(f, "packet-loss {percent} for {ms}"),
            FaultEvent::DiskFaults { node, eio_per_million, slow_per_million, slow_ms, ms } => {
                write!(f, "disk-faults {node} eio {eio_per_million} slow {slow_per_million} {slow_ms} for {ms}")
            }
            FaultEvent::MoveBackend { node, port, pause_ms } => {
                write!(f, "move-backend {node} to {port} after {pause_ms}")
            }
            FaultEvent::DiskFull { node, headroom_bytes, ms } => {
                write!(f, "disk-full {node} headroom {headroom_bytes} for {ms}")
            }
        }
    }
}

impl ScheduledFault {
    /// Parses a line as [`ScheduledFault`]'s `Display` writes it (`at 2345 kill be2 for 1200`).
    pub fn parse(line: &str) -> Result<ScheduledFault, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("not a fault line: {line:?} (e.g. \"at 2345 kill be2 for 1200\")");
        let num = |i: usize| -> Result<u64, String> { words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad) };
        let word = |i: usize, want: &str| -> Result<(), String> {
            if words.get(i) == Some(&want) { Ok(()) } else { Err(bad()) }
        };
        word(0, "at")?;
        let at_ms = num(1)?;
        let node = || words.get(3).map(|w| w.to_string()).ok_or_else(bad);
        let event = match words.get(2).copied() {
            Some("kill") if words.len() == 6 => {
                word(4, "for")?;
                FaultEvent::Kill { node: node()?, outage_ms: num(5)? }
            }
            Some("cut-link") if words.len() == 6 => {
                word(4, "for")?;
                FaultEvent::CutLink { node: node()?, ms: num(5)? }
            }
            Some("packet-loss") if words.len() == 6 => {
                word(4, "for")?;
                let percent = u32::try_from(num(3)?).ok().filter(|p| *p <= 100).ok_or_else(bad)?;
                FaultEvent::PacketLoss { percent, ms: num(5)? }
            }
            Some("disk-faults") if words.len() == 11 => {
                word(4, "eio")?;
                word(6, "slow")?;
                word(9, "for")?;
                let per_million = |i| u32::try_from(num(i)?).ok().filter(|n| *n <= 1_000_000).ok_or_else(bad);
                FaultEvent::DiskFaults {
                    node: node()?,
                    eio_per_million: per_million(5)?,
                    slow_per_million: per_million(7)?,
                    slow_ms: num(8)?,
                    ms: num(10)?,
                }
            }
            Some("disk-full") if words.len() == 8 => {
                word(4, "headroom")?;
                word(6, "for")?;
                FaultEvent::DiskFull { node: node()?, headroom_bytes: num(5)?, ms: num(7)? }
            }
            Some("move-backend") if words.len() == 8 => {
                word(4, "to")?;
                word(6, "after")?;
                let port = u16::try_from(num(5)?).map_err(|_| bad())?;
                FaultEvent::MoveBackend { node: node()?, port, pause_ms: num(7)? }
            }
            _ => return Err(bad()),
        };
        Ok(ScheduledFault { at_ms, event })
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn fault_lines_parse_back() {
        let all = [
            FaultEvent::Kill { node: "be2".into(), outage_ms: 1_200 },
            FaultEvent::CutLink { node: "broker".into(), ms: 3_000 },
            FaultEvent::PacketLoss { percent: 12, ms: 2_000 },
            FaultEvent::DiskFaults {
                node: "fe".into(),
                eio_per_million: 1_200,
                slow_per_million: 5_000,
                slow_ms: 300,
                ms: 2_000,
            },
            FaultEvent::MoveBackend { node: "be1".into(), port: 9_063, pause_ms: 700 },
            FaultEvent::DiskFull { node: "be3".into(), headroom_bytes: 4_096, ms: 1_500 },
        ];
        for (i, event) in all.into_iter().enumerate() {
            let fault = ScheduledFault { at_ms: 100 * i as u64, event };
            assert_eq!(ScheduledFault::parse(&fault.to_string()), Ok(fault.clone()), "{fault}");
        }
        assert!(ScheduledFault::parse("at 5 kill be1").is_err());
        assert!(ScheduledFault::parse("at x kill be1 for 5").is_err());
        assert!(ScheduledFault::parse("at 5 packet-loss 120 for 5").is_err());
    }
}
