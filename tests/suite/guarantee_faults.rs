//! Faults on both APIs (20 % 5xx, 10 % 429, 5 % timeout after commit): rerun
//! until done, and every order, customer and item arrives exactly once.

use std::collections::HashMap;

use leafbridge::flows::Flow;
use leafbridge_sandbox::{FaultProfile, SandboxConfig, SeedConfig};

use crate::flow_harness::Harness;
use crate::flow_orders_import::importable_orders;

fn faults() -> FaultProfile {
    FaultProfile { rate_5xx: 0.20, rate_429: 0.10, timeout_after_commit: 0.05, ..FaultProfile::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_every_record_exactly_once() {
    let config = SandboxConfig {
        seed: SeedConfig { customers: 12, products: 25, orders: 40, random_seed: 21 },
        rate_limits: false,
        leaflink_faults: faults(),
        business_central_faults: faults(),
        ..SandboxConfig::default()
    };
    let harness = Harness::start("faults", config).await;
    let expected = importable_orders(&harness);
    harness.run_until_done(Flow::OrdersImport, 30).await;

    // Count BC records by natural key with the faults off.
    harness.sandbox.business_central().faults().set(FaultProfile::default());
    let mut by_short_id: HashMap<String, usize> = HashMap::new();
    for order in harness.bc_all("salesOrders").await {
        *by_short_id.entry(order["externalDocumentNumber"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    for short_id in expected.keys() {
        assert_eq!(by_short_id.get(short_id).copied().unwrap_or(0), 1, "order {short_id} should exist exactly once");
    }
    let mut customer_numbers: HashMap<String, usize> = HashMap::new();
    for customer in harness.bc_all("customers").await {
        *customer_numbers.entry(customer["number"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(customer_numbers.values().all(|count| *count == 1), "a customer number repeats: {customer_numbers:?}");
    let mut item_numbers: HashMap<String, usize> = HashMap::new();
    for item in harness.bc_all("items").await {
        *item_numbers.entry(item["number"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(item_numbers.values().all(|count| *count == 1), "an item number repeats: {item_numbers:?}");
}
