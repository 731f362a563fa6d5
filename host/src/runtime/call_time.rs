//! Time spent in plugin export calls since the process started, by plugin
//! kind, exported at `/metrics` as a Prometheus summary (sum and count).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::World;

const WORLDS: [World; 4] = [World::LeafLinkConnector, World::BusinessCentralConnector, World::Mapper, World::TenantOverrides];

struct CallTotals {
    microseconds: AtomicU64,
    calls: AtomicU64,
}

static TOTALS: [CallTotals; 4] = [const { CallTotals { microseconds: AtomicU64::new(0), calls: AtomicU64::new(0) } }; 4];

fn index(world: World) -> usize {
    match world {
        World::LeafLinkConnector => 0,
        World::BusinessCentralConnector => 1,
        World::Mapper => 2,
        World::TenantOverrides => 3,
    }
}

/// Adds one export call of a `world` plugin that took `elapsed`, whether it
/// succeeded, failed or timed out.
pub(crate) fn record(world: World, elapsed: Duration) {
    let totals = &TOTALS[index(world)];
    let microseconds = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    totals.microseconds.fetch_add(microseconds, Ordering::Relaxed);
    totals.calls.fetch_add(1, Ordering::Relaxed);
}

/// Returns `(kind, seconds, calls)` for each plugin kind, with the kind as the
/// world's name in the WIT contract.
pub fn snapshot() -> Vec<(&'static str, f64, u64)> {
    WORLDS
        .iter()
        .map(|&world| {
            let totals = &TOTALS[index(world)];
            let seconds = totals.microseconds.load(Ordering::Relaxed) as f64 / 1_000_000.0;
            (world.wit_name(), seconds, totals.calls.load(Ordering::Relaxed))
        })
        .collect()
}
