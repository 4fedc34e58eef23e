//! What the states of both job kinds share: a name as SHOW prints it, one order a job goes
//! through them (FINISHED and CANCELLED last), and the legal moves: to the next state, or to
//! CANCELLED from any state that has not ended. Each kind lists its states once ([`JobState::ALL`]);
//! everything else is derived here, so the two kinds cannot drift apart.

use std::fmt::Debug;

pub trait JobState: Copy + Eq + Ord + Debug + 'static {
    /// "backup" or "restore".
    const KIND: &'static str;
    /// Every state, in the order a job goes through them, then FINISHED, then CANCELLED.
    const ALL: &'static [Self];
    const FINISHED: Self;
    const CANCELLED: Self;

    /// The name SHOW prints (Doris's).
    fn name(self) -> &'static str;

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Where the state is in [`JobState::ALL`].
    fn order(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).expect("every state is in ALL")
    }

    fn is_done(self) -> bool {
        self == Self::FINISHED || self == Self::CANCELLED
    }

    /// The state after this one on the way to FINISHED.
    fn next(self) -> Option<Self> {
        if self.is_done() { None } else { Self::ALL.get(self.order() + 1).copied() }
    }

    /// Whether a job may move from `self` to `to` in one journal record.
    fn may_move_to(self, to: Self) -> bool {
        !self.is_done() && (to == Self::CANCELLED || self.next() == Some(to))
    }

    /// The fault point of this state's work (`backup_uploading`): a scenario's `fail-next-task`
    /// on the FE makes that work fail once, so the job stays in the state for a backoff.
    fn step_fault(self) -> String {
        format!("{}_{}", Self::KIND, self.name().to_ascii_lowercase())
    }

    /// Whether `later` can be seen after `self` by someone who looks now and then (states may
    /// be skipped between two looks).
    fn may_be_seen_after(self, later: Self) -> bool {
        !self.is_done() && (later == Self::CANCELLED || later.order() > self.order())
    }
}

/// Checks that `ALL` lists every state once, in `Ord` order, FINISHED then CANCELLED last, with
/// distinct names: what the derived methods rely on.
pub fn check_state_list<S: JobState>() {
    let all = S::ALL;
    assert!(all.len() >= 3, "a job has a working state besides its two ends");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ALL is in Ord order, each state once");
    assert_eq!(all[all.len() - 2], S::FINISHED, "FINISHED is next to last");
    assert_eq!(all[all.len() - 1], S::CANCELLED, "CANCELLED is last");
    for (i, s) in all.iter().enumerate() {
        assert!(all[..i].iter().all(|o| o.name() != s.name()), "state names are distinct");
        assert_eq!(S::parse(s.name()), Some(*s));
    }
}
