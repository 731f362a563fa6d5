//! A lost store never duplicates: after the state is gone, a rerun finds
//! every order, customer and item in BC by its natural key.

use leafbridge::flows::Flow;
use leafbridge::store::RunOutcome;
use leafbridge_sandbox::SeedConfig;

use crate::flow_harness::{Harness, sandbox_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_store_rerun_creates_nothing() {
    let mut harness = Harness::start("lost-store", sandbox_config(SeedConfig { customers: 10, products: 20, orders: 30, random_seed: 5 })).await;
    let first = harness.run(Flow::OrdersImport).await;
    assert_eq!(first.outcome, RunOutcome::Done, "{first:#?}");
    assert!(first.counts.written > 0, "the first run imports orders: {first:#?}");
    let orders = harness.bc_all("salesOrders").await.len();
    let customers = harness.bc_all("customers").await.len();
    let items = harness.bc_all("items").await.len();

    harness.lose_store();
    let second = harness.run(Flow::OrdersImport).await;
    assert_eq!(second.outcome, RunOutcome::Done, "{second:#?}");
    assert_eq!(second.counts.written, 0, "nothing is created again: {second:#?}");
    assert_eq!(harness.bc_all("salesOrders").await.len(), orders, "sales orders");
    assert_eq!(harness.bc_all("customers").await.len(), customers, "customers");
    assert_eq!(harness.bc_all("items").await.len(), items, "items");
}
