//! The engine's memory pool: DataFusion's fair share for operators that spill, weighted by what
//! each operator holds.
//!
//! DataFusion's `FairSpillPool` gives every spilling consumer the same share of the budget left by
//! the others, so that a consumer that registers late still finds its share free. The one read of
//! the log has four: the aggregation of each partition (`churn_timeline`, see [`crate::gather`]),
//! which holds every row of its customers until they are emitted, 56 bytes a row, and the hash
//! repartition's channel into each partition, which holds only the batches in flight. Even shares
//! gave each aggregation a quarter of the budget while the channels held next to nothing: at
//! 10.56 M rows an aggregation needs about 300 MB, so under the default 1 GiB the read spilled and
//! took 3.6 s instead of 1.9 s.
//!
//! This pool keeps `FairSpillPool`'s rule, including its guarantee (the shares add up to the budget
//! left by consumers that cannot spill, so no consumer's share is ever taken by another), with a
//! weight per consumer: a repartition's channel counts once, any other spilling consumer (an
//! aggregation, a sort, a join) [`HOLDING_WEIGHT`] times. Consumers that cannot spill are served
//! first come, as in `FairSpillPool`. Under 1 GiB each aggregation of the read may now hold 455 MiB
//! and each channel 57 MiB, and the 10.56 M-row read does not spill.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

/// The weight of a spilling consumer that holds its input (anything but a repartition's channel).
pub(crate) const HOLDING_WEIGHT: usize = 8;

/// The weight of a repartition's channel, which holds only the batches between two operators.
const PASSING_WEIGHT: usize = 1;

/// A repartition names its channels' consumers `RepartitionExec[partition]` (DataFusion 55); the
/// tests hold a real plan to that.
const PASSING_PREFIX: &str = "RepartitionExec";

fn weight(consumer: &MemoryConsumer) -> usize {
    if consumer.name().starts_with(PASSING_PREFIX) {
        PASSING_WEIGHT
    } else {
        HOLDING_WEIGHT
    }
}

/// A memory pool of a fixed size, shared by weight among the consumers that can spill (see the
/// module's documentation).
#[derive(Debug)]
pub(crate) struct WeightedSpillPool {
    size: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The weights of the registered consumers that can spill.
    weights: usize,
    /// Bytes reserved by consumers that can spill.
    spillable: usize,
    /// Bytes reserved by consumers that cannot.
    unspillable: usize,
    /// Repartition channels registered so far (for the tests and the error message).
    passing_registered: usize,
}

impl WeightedSpillPool {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            size,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is three counters updated in place; a panic elsewhere cannot leave them torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many repartition channels have registered with the pool.
    #[cfg(test)]
    pub(crate) fn passing_registered(&self) -> usize {
        self.state().passing_registered
    }

    /// The most `consumer` may hold when it can spill: its weight's part of the budget the
    /// consumers that cannot spill leave.
    fn share(&self, state: &State, consumer: &MemoryConsumer) -> usize {
        let left = self.size.saturating_sub(state.unspillable);
        if state.weights == 0 {
            return left;
        }
        // In u128: a budget of many gigabytes times a weight must not overflow.
        let share = left as u128 * weight(consumer) as u128 / state.weights as u128;
        usize::try_from(share).unwrap_or(usize::MAX)
    }
}

impl MemoryPool for WeightedSpillPool {
    fn name(&self) -> &str {
        "weighted-fair"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.weights += weight(consumer);
            if weight(consumer) == PASSING_WEIGHT {
                state.passing_registered += 1;
            }
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.weights = state.weights.saturating_sub(weight(consumer));
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
        let consumer = reservation.consumer();
        let available = match consumer.can_spill() {
            true => self.share(&state, consumer).saturating_sub(reservation.size()),
            false => self.size.saturating_sub(state.unspillable + state.spillable),
        };
        if additional > available {
            // From the state held here: `Display` would lock it again.
            return Err(DataFusionError::ResourcesExhausted(format!(
                "cannot allocate {additional} more bytes for {} (it holds {}, {available} more are available to \
                 it): {}",
                consumer.name(),
                reservation.size(),
                describe(self.size, &state)
            )));
        }
        match consumer.can_spill() {
            true => state.spillable += additional,
            false => state.unspillable += additional,
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.state();
        state.spillable + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.size)
    }
}

impl fmt::Display for WeightedSpillPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(self.size, &self.state()))
    }
}

fn describe(size: usize, state: &State) -> String {
    format!(
        "a pool of {size} bytes, {} held by operators that spill and {} by others; {} repartition channels \
         registered so far",
        state.spillable, state.unspillable, state.passing_registered
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pool(size: usize) -> Arc<dyn MemoryPool> {
        Arc::new(WeightedSpillPool::new(size))
    }

    #[test]
    fn shares_follow_the_weights_and_add_up_to_the_budget() {
        let pool = pool(18_000);
        let spilling = |name: &str| MemoryConsumer::new(name).with_can_spill(true).register(&pool);
        let a = spilling("GroupedHashAggregateStream[0]");
        let b = spilling("GroupedHashAggregateStream[1]");
        let r0 = spilling("RepartitionExec[0]");
        let r1 = spilling("RepartitionExec[1]");
        // Weights 8 + 8 + 1 + 1: 8,000 bytes for each aggregation, 1,000 for each channel.
        a.try_grow(8_000).expect("an aggregation's share");
        assert!(a.try_grow(1).is_err(), "past its share");
        r0.try_grow(1_000).expect("a channel's share");
        assert!(r0.try_grow(1).is_err());
        // The shares add up: the other two still get theirs in full.
        b.try_grow(8_000).expect("the other aggregation's share");
        r1.try_grow(1_000).expect("the other channel's share");
        assert_eq!(pool.reserved(), 18_000);
        // A consumer that cannot spill gets what is free, first come.
        let fixed = MemoryConsumer::new("fixed").register(&pool);
        assert!(fixed.try_grow(1).is_err(), "nothing is free");
        drop(b);
        fixed.try_grow(3_000).expect("freed by the aggregation that left");
        // With 3,000 held by a consumer that cannot spill and weights 8 + 1 + 1 left, an
        // aggregation's share is 8/10 of 15,000.
        a.try_grow(4_000).expect("its larger share");
        assert!(a.try_grow(1).is_err());
        assert_eq!(pool.reserved(), 12_000 + 1_000 + 1_000 + 3_000);
    }

    #[test]
    fn alone_a_consumer_may_take_the_whole_budget() {
        let pool = pool(1_000);
        let only = MemoryConsumer::new("SortExec[0]").with_can_spill(true).register(&pool);
        only.try_grow(1_000).expect("all of it");
        let err = only.try_grow(1).expect_err("past the budget");
        assert!(err.to_string().contains("SortExec[0]"), "{err}");
        only.shrink(400);
        assert_eq!(pool.reserved(), 600);
    }

    /// The engine's repartition registers its channels under the name the weights look for.
    #[test]
    fn a_repartition_registers_its_channels_by_the_name_the_pool_knows() {
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use datafusion::prelude::{SessionConfig, SessionContext};

        let weighted = Arc::new(WeightedSpillPool::new(64 << 20));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(weighted.clone())
            .build_arc()
            .expect("a runtime");
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(2), runtime);
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a runtime");
        tokio
            .block_on(async {
                ctx.sql(
                    "SELECT v % 7 AS k, count(*) FROM (SELECT * FROM generate_series(1, 100000) AS t(v)) GROUP BY k",
                )
                .await?
                .collect()
                .await
            })
            .expect("the query runs");
        assert!(weighted.passing_registered() >= 2, "no repartition channel was seen");
    }
}
