//! The order models run in: each as soon as everything it reads among the
//! models of the run is done, up to `threads` at a time; among the models
//! that are ready, the first in build order starts first.

use std::collections::{BTreeMap, BTreeSet};

/// Schedules models named by `M` (a `ModelId`; numbers in the tests).
pub struct Scheduler<M> {
    /// Each model's place in build order.
    rank: BTreeMap<M, usize>,
    /// For each model, how many of the models it waits for are not done.
    waiting: BTreeMap<M, usize>,
    /// For each model, the models that wait for it.
    waiters: BTreeMap<M, Vec<M>>,
    /// Ready models by rank.
    ready: BTreeSet<(usize, M)>,
    running: usize,
    threads: usize,
    /// Models to run again once nothing else runs, and whether one does.
    alone: Vec<M>,
    exclusive: bool,
}

impl<M: Copy + Ord> Scheduler<M> {
    /// `order`: the models of the run, in build order; `waits_for(m)`: the
    /// models `m` must wait for (others than those of the run are ignored).
    pub fn new<I>(order: &[M], waits_for: impl Fn(M) -> I, threads: usize) -> Scheduler<M>
    where
        I: IntoIterator<Item = M>,
    {
        let rank: BTreeMap<M, usize> = order.iter().enumerate().map(|(i, &m)| (m, i)).collect();
        let mut waiting = BTreeMap::new();
        let mut waiters: BTreeMap<M, Vec<M>> = BTreeMap::new();
        for &m in order {
            let mut n = 0;
            for d in waits_for(m).into_iter().filter(|d| rank.contains_key(d)) {
                waiters.entry(d).or_default().push(m);
                n += 1;
            }
            waiting.insert(m, n);
        }
        let ready = order
            .iter()
            .filter(|m| waiting[m] == 0)
            .map(|&m| (rank[&m], m))
            .collect();
        Scheduler {
            rank,
            waiting,
            waiters,
            ready,
            running: 0,
            threads: threads.max(1),
            alone: Vec::new(),
            exclusive: false,
        }
    }

    /// The next model to start, if one is ready and fewer than `threads`
    /// are running. It counts as running until `done`.
    pub fn start(&mut self) -> Option<M> {
        if self.running >= self.threads || self.exclusive {
            return None;
        }
        if !self.alone.is_empty() {
            // Nothing starts until the running models are done.
            if self.running > 0 {
                return None;
            }
            self.exclusive = true;
            self.running = 1;
            return Some(self.alone.remove(0));
        }
        let (_, m) = self.ready.pop_first()?;
        self.running += 1;
        Some(m)
    }

    /// Model `m`, running, is to run again with nothing beside it: it
    /// starts once the models running now are done, before any other.
    pub fn again_alone(&mut self, m: M) {
        self.running = self.running.saturating_sub(1);
        self.alone.push(m);
    }

    /// Model `m` finished (built, failed or skipped): the models that
    /// waited only for it are ready. Whether they can run is the caller's
    /// to decide (a model whose input failed is skipped).
    pub fn done(&mut self, m: M) {
        self.running = self.running.saturating_sub(1);
        self.exclusive = false;
        for r in self.waiters.remove(&m).unwrap_or_default() {
            let n = self
                .waiting
                .get_mut(&r)
                .expect("a waiter is a model of the run");
            *n -= 1;
            if *n == 0 {
                self.ready.insert((self.rank[&r], r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scheduler;

    /// a diamond: 0 <- 1, 0 <- 2, (1, 2) <- 3; and 4 alone.
    fn diamond(threads: usize) -> Scheduler<usize> {
        let deps = |m: usize| match m {
            1 | 2 => vec![0],
            3 => vec![1, 2],
            _ => vec![],
        };
        Scheduler::new(&[0, 1, 2, 3, 4], deps, threads)
    }

    /// Start all that can start, then finish them in the order started.
    fn waves(mut s: Scheduler<usize>) -> Vec<Vec<usize>> {
        let mut waves = Vec::new();
        loop {
            let wave: Vec<usize> = std::iter::from_fn(|| s.start()).collect();
            if wave.is_empty() {
                return waves;
            }
            for &m in &wave {
                s.done(m);
            }
            waves.push(wave);
        }
    }

    #[test]
    fn a_model_waits_for_all_it_reads() {
        assert_eq!(waves(diamond(8)), vec![vec![0, 4], vec![1, 2], vec![3]]);
    }

    #[test]
    fn threads_limit_what_runs_at_once_in_build_order() {
        assert_eq!(
            waves(diamond(1)),
            vec![vec![0], vec![1], vec![2], vec![3], vec![4]]
        );
        let mut s = diamond(2);
        assert_eq!((s.start(), s.start(), s.start()), (Some(0), Some(4), None));
        s.done(4);
        assert_eq!(s.start(), None, "1 and 2 still wait for 0");
        s.done(0);
        assert_eq!((s.start(), s.start()), (Some(1), Some(2)));
    }

    #[test]
    fn a_failed_model_still_releases_its_readers_for_the_caller_to_skip() {
        // The scheduler does not stop at a failure: 3 comes up once 1 and
        // 2 are done however they ended, and the others run meanwhile.
        let mut s = diamond(4);
        assert_eq!((s.start(), s.start()), (Some(0), Some(4)));
        s.done(0);
        let (a, b) = (s.start(), s.start());
        assert_eq!((a, b), (Some(1), Some(2)));
        s.done(1); // failed
        assert_eq!(s.start(), None);
        s.done(2);
        assert_eq!(s.start(), Some(3));
    }

    #[test]
    fn a_model_run_again_alone_waits_for_the_running_and_holds_the_rest() {
        let mut s = diamond(2);
        assert_eq!((s.start(), s.start()), (Some(0), Some(4)));
        s.again_alone(0);
        assert_eq!(s.start(), None, "4 still runs");
        s.done(4);
        assert_eq!(s.start(), Some(0));
        assert_eq!(s.start(), None, "0 runs alone");
        s.done(0);
        assert_eq!((s.start(), s.start()), (Some(1), Some(2)));
    }

    #[test]
    fn models_outside_the_run_are_not_waited_for() {
        let s = Scheduler::new(&[5, 7], |m| if m == 7 { vec![5, 6] } else { vec![9] }, 4);
        assert_eq!(waves(s), vec![vec![5], vec![7]]);
    }
}
