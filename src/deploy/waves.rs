//! Hosts -> waves. `parallel` is one wave of every host; `rolling` is an
//! optional canary wave, then waves of `batch` hosts (a count, or a
//! percentage of the selected hosts rounded up, never less than one).

use crate::config::{Batch, StrategyKind};

/// Indexes into the host list, one `Vec` per wave, in release order.
pub(crate) fn waves(hosts: usize, kind: StrategyKind, batch: Batch, canary: usize) -> Vec<Vec<usize>> {
    if hosts == 0 {
        return vec![];
    }
    if kind == StrategyKind::Parallel {
        return vec![(0..hosts).collect()];
    }
    let size = match batch {
        Batch::Count(n) => n,
        Batch::Percent(p) => (hosts * p as usize).div_ceil(100),
    }
    .max(1);
    let mut out = Vec::new();
    let mut next = 0;
    if canary > 0 {
        let end = canary.min(hosts);
        out.push((0..end).collect());
        next = end;
    }
    while next < hosts {
        let end = (next + size).min(hosts);
        out.push((next..end).collect());
        next = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_is_one_wave() {
        assert_eq!(waves(3, StrategyKind::Parallel, Batch::Count(1), 1), [vec![0, 1, 2]]);
    }

    #[test]
    fn rolling_batches_with_a_canary() {
        assert_eq!(waves(4, StrategyKind::Rolling, Batch::Count(1), 0), [vec![0], vec![1], vec![2], vec![3]]);
        assert_eq!(waves(5, StrategyKind::Rolling, Batch::Count(2), 1), [vec![0], vec![1, 2], vec![3, 4]]);
        assert_eq!(waves(2, StrategyKind::Rolling, Batch::Count(5), 3), [vec![0, 1]]);
    }

    #[test]
    fn percentages_round_up_to_at_least_one() {
        assert_eq!(waves(8, StrategyKind::Rolling, Batch::Percent(25), 0).len(), 4);
        assert_eq!(waves(3, StrategyKind::Rolling, Batch::Percent(10), 0), [vec![0], vec![1], vec![2]]);
        assert_eq!(
            waves(10, StrategyKind::Rolling, Batch::Percent(34), 0).iter().map(Vec::len).collect::<Vec<_>>(),
            [4, 4, 2]
        );
    }
}
