//! A throughput measurement of `orders-import` against the in-process
//! sandbox with rate limits off. Ignored by default; run it with
//! `cargo test -p leafbridge-tests --test suite --release -- --ignored import_throughput --nocapture`.
//! NOTE: the sandbox runs in the same process, so the figures include its
//! CPU time and memory, as BENCHMARKS.md states.

use std::time::Instant;

use leafbridge::flows::Flow;
use leafbridge_sandbox::SeedConfig;

use crate::flow_harness::{Harness, sandbox_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; prints its figures"]
async fn import_throughput() {
    let orders: usize = std::env::var("LEAFBRIDGE_BENCH_ORDERS").ok().and_then(|text| text.parse().ok()).unwrap_or(4000);
    let seed = SeedConfig { customers: orders / 5, products: orders / 2, orders, random_seed: 101 };
    let harness = Harness::start("throughput", sandbox_config(seed)).await;
    let started = Instant::now();
    let report = harness.run(Flow::OrdersImport).await;
    let seconds = started.elapsed().as_secs_f64();
    let imported = harness.bc_all("salesOrders").await.len().max(1);
    eprintln!(
        "seeded {orders} orders, imported {imported} in {seconds:.2} s: {:.0} orders/s, {:.3} BC requests per order, {:.2} LeafLink requests per 100 orders, failed {}",
        imported as f64 / seconds,
        report.counts.requests_business_central as f64 / imported as f64,
        report.counts.requests_leaflink as f64 * 100.0 / imported as f64,
        report.counts.failed,
    );
}
