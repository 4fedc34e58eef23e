//! Per-backend batches of a job's tablet work (snapshots, creates, moves): each backend's share
//! cut into batches of a bounded size, ordered so that the calls in flight spread over the
//! backends instead of queueing on the first one.

use std::collections::BTreeMap;

/// Tablets one batch of snapshots, creates or moves names (at most the BE's
/// [`crate::be::MAX_TRANSFER_BATCH_ITEMS`]).
pub const MAX_TABLETS_PER_BATCH: usize = 128;
/// Batches of one job in flight at once.
pub const MAX_BATCHES_IN_FLIGHT: usize = 8;

const _: () = assert!(MAX_TABLETS_PER_BATCH <= crate::be::MAX_TRANSFER_BATCH_ITEMS);

/// `per_backend`'s work in batches of at most `max` items each: every backend's first batch,
/// then every backend's second, and so on. Each backend's items keep their order.
pub(crate) fn interleaved<T>(per_backend: BTreeMap<i64, Vec<T>>, max: usize) -> Vec<(i64, Vec<T>)> {
    assert!(max > 0, "a batch holds at least one item");
    let mut rounds: Vec<Vec<(i64, Vec<T>)>> = Vec::new();
    for (backend_id, items) in per_backend {
        let mut items = items.into_iter().peekable();
        let mut round = 0;
        while items.peek().is_some() {
            let batch: Vec<T> = items.by_ref().take(max).collect();
            if rounds.len() <= round {
                rounds.push(Vec::new());
            }
            rounds[round].push((backend_id, batch));
            round += 1;
        }
    }
    rounds.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_and_take_turns_between_backends() {
        let per_backend = BTreeMap::from([(2, (0..5).collect::<Vec<_>>()), (1, vec![10, 11, 12]), (3, Vec::new())]);
        let batches = interleaved(per_backend, 2);
        assert_eq!(
            batches,
            vec![(1, vec![10, 11]), (2, vec![0, 1]), (1, vec![12]), (2, vec![2, 3]), (2, vec![4])],
            "the first batch of each backend comes first; no batch is empty or above the bound"
        );
    }
}
