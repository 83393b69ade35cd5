//! The engine's memory pool under `--memory-limit`.
//!
//! DataFusion's `FairSpillPool` lets operators that can spill (sorts,
//! aggregations) take the whole limit, and then what cannot spill (the
//! Parquet writer's buffers, a hash join's build side) fails for want of a
//! few megabytes. Here spillers share at most three quarters of what the
//! others do not hold, so a build that spills keeps room to write its
//! output; what cannot spill may use all that is free.

use std::sync::Mutex;

use datafusion::common::{Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The share of memory spillers may hold together, in quarters.
const SPILL_QUARTERS: usize = 3;

#[derive(Debug)]
pub struct HeadroomPool {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    spillers: usize,
    spillable: usize,
    unspillable: usize,
}

impl HeadroomPool {
    pub fn new(limit: usize) -> Self {
        HeadroomPool {
            limit,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryPool for HeadroomPool {
    fn name(&self) -> &str {
        "headroom"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.spillers = state.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        let mut state = self.state();
        match reservation.consumer().can_spill() {
            true => state.spillable += additional,
            false => state.unspillable += additional,
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let mut state = self.state();
        match reservation.consumer().can_spill() {
            true => state.spillable = state.spillable.saturating_sub(shrink),
            false => state.unspillable = state.unspillable.saturating_sub(shrink),
        }
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let mut state = self.state();
        let free = self
            .limit
            .saturating_sub(state.spillable + state.unspillable);
        if reservation.consumer().can_spill() {
            let share = self.limit.saturating_sub(state.unspillable) / 4 * SPILL_QUARTERS
                / state.spillers.max(1);
            if reservation.size() + additional > share || additional > free {
                return Err(resources_datafusion_err!(
                    "Failed to allocate additional {additional} bytes for {} with {} bytes already allocated: its share of the memory limit is {share} bytes",
                    reservation.consumer().name(),
                    reservation.size()
                ));
            }
            state.spillable += additional;
        } else {
            if additional > free {
                return Err(resources_datafusion_err!(
                    "Failed to allocate additional {additional} bytes for {} with {} bytes already allocated: {free} bytes of the memory limit ({} bytes) are free",
                    reservation.consumer().name(),
                    reservation.size(),
                    self.limit
                ));
            }
            state.unspillable += additional;
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.state();
        state.spillable + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

impl std::fmt::Display for HeadroomPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "headroom(limit: {} bytes)", self.limit)
    }
}
