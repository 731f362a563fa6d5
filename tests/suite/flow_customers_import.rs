//! `customers-import`: every LeafLink customer becomes one BC customer,
//! numbered `LL<customer id>` under the default numbering, with the mapped
//! fields. A rerun creates nothing, and a LeafLink edit updates BC.

use std::collections::HashMap;

use leafbridge::flows::Flow;
use leafbridge::store::RunOutcome;
use leafbridge_sandbox::{Sandbox, SeedConfig};
use serde_json::{Value, json};

use crate::flow_harness::{Harness, sandbox_config, settings_for};

fn customers_by_number(customers: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut by_number: HashMap<String, Vec<Value>> = HashMap::new();
    for customer in customers {
        by_number.entry(customer["number"].as_str().unwrap().to_owned()).or_default().push(customer.clone());
    }
    by_number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_created_once_then_updated() {
    let harness = Harness::start("customers-import", sandbox_config(SeedConfig { customers: 6, products: 4, orders: 1, random_seed: 71 })).await;
    let leaflink = harness.sandbox.leaflink();
    let chosen = leaflink.active_customer_ids()[0];
    leaflink
        .edit_customer(chosen, |customer| {
            customer.name = "Høgberg Wellness Collective".into();
            customer.dba = "".into();
            customer.nickname = None;
            customer.email = "buyer@hogberg.example".into();
            customer.phone = "303-555-0199".into();
            customer.address.address = "88 Larimer St".into();
            customer.address.unit_number = "Unit 2".into();
            customer.address.city = "Denver".into();
            customer.address.state = "CO".into();
            customer.address.zipcode = "80202".into();
        })
        .unwrap();

    let import = harness.run(Flow::CustomersImport).await;
    assert_eq!(import.outcome, RunOutcome::Done, "{import:#?}");
    assert_eq!(import.counts.failed, 0, "{import:#?}");
    let customers = harness.bc_all("customers").await;
    let by_number = customers_by_number(&customers);
    for id in leaflink.active_customer_ids() {
        let found = by_number.get(&format!("LL{id}")).map(Vec::len).unwrap_or(0);
        assert_eq!(found, 1, "LeafLink customer {id} has exactly one BC customer");
    }

    let bc = &by_number[&format!("LL{chosen}")][0];
    assert_eq!(bc["displayName"], "Høgberg Wellness Collective");
    assert_eq!(bc["email"], "buyer@hogberg.example");
    assert_eq!(bc["phoneNumber"], "303-555-0199");
    assert_eq!(bc["addressLine1"], "88 Larimer St");
    assert_eq!(bc["addressLine2"], "Unit 2");
    assert_eq!(bc["city"], "Denver");
    assert_eq!(bc["state"], "CO");
    assert_eq!(bc["postalCode"], "80202");

    let again = harness.run(Flow::CustomersImport).await;
    assert_eq!(again.counts.written, 0, "{again:#?}");
    assert_eq!(harness.bc_all("customers").await.len(), customers.len(), "a rerun creates no customer");

    leaflink.edit_customer(chosen, |customer| customer.phone = "303-555-0100".into()).unwrap();
    let update = harness.run(Flow::CustomersImport).await;
    assert_eq!(update.counts.failed, 0, "{update:#?}");
    assert_eq!(update.counts.written, 1, "{update:#?}");
    let customers = harness.bc_all("customers").await;
    let by_number = customers_by_number(&customers);
    let matching = &by_number[&format!("LL{chosen}")];
    assert_eq!(matching.len(), 1, "the update does not create another customer");
    assert_eq!(matching[0]["phoneNumber"], "303-555-0100");
}

/// BC returns `""` for text fields leafbridge leaves out (here the unit
/// number), and that must not read as a change on any later run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_unchanged_skipped_every_rerun() {
    let harness = Harness::start("customers-import", sandbox_config(SeedConfig { customers: 3, products: 2, orders: 1, random_seed: 72 })).await;
    let leaflink = harness.sandbox.leaflink();
    for id in leaflink.active_customer_ids() {
        leaflink.edit_customer(id, |customer| customer.address.unit_number = "".into()).unwrap();
    }

    let first = harness.run(Flow::CustomersImport).await;
    assert_eq!(first.outcome, RunOutcome::Done, "{first:#?}");
    assert_eq!(first.counts.failed, 0, "{first:#?}");
    assert!(first.counts.written > 0, "{first:#?}");

    for run in ["second", "third"] {
        let rerun = harness.run(Flow::CustomersImport).await;
        assert_eq!(rerun.counts.failed, 0, "{run} run: {rerun:#?}");
        assert_eq!(rerun.counts.written, 0, "{run} run writes nothing: {rerun:#?}");
    }
}

/// The salespeople `link` pairs by email fill `salespersonCode` on the
/// customers created afterwards. The tenant's explicit `salesperson_map`
/// wins where it names the manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_get_linked_salesperson() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 4, products: 2, orders: 1, random_seed: 73 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let customers = leaflink.active_customer_ids();
    let (by_link, by_map) = (customers[0], customers[1]);
    // Staff 13 is john.d and 5659 is jane.d in the LeafLink sandbox seed.
    leaflink.edit_customer(by_link, |customer| customer.managers = vec![13]).unwrap();
    leaflink.edit_customer(by_map, |customer| customer.managers = vec![5659]).unwrap();
    let company = sandbox.info().business_central.company_id;
    for (code, email) in [("JD", "john.d@milehighwholesale.example"), ("JA", "jane.d@milehighwholesale.example")] {
        let body = json!({ "code": code, "displayName": code, "email": email });
        let path = format!("companies({company})/salespeoplePurchasers");
        let reply = sandbox.business_central().request(axum::http::Method::POST, &path, Some(body)).await;
        assert!(reply.status.is_success(), "POST salespeoplePurchasers returned {}: {:?}", reply.status, reply.body);
    }

    let mut settings = settings_for("customers-salespeople", &sandbox);
    settings.salesperson_map.insert("5659".to_owned(), "PS".to_owned());
    let harness = Harness::with_settings(sandbox, settings);
    let link = harness.run(Flow::Link).await;
    assert_eq!(link.outcome, RunOutcome::Done, "{link:#?}");
    let import = harness.run(Flow::CustomersImport).await;
    assert_eq!(import.counts.failed, 0, "{import:#?}");

    let by_number = customers_by_number(&harness.bc_all("customers").await);
    assert_eq!(by_number[&format!("LL{by_link}")][0]["salespersonCode"], "JD", "the linked salesperson applies");
    assert_eq!(by_number[&format!("LL{by_map}")][0]["salespersonCode"], "PS", "the explicit map wins over the link");
}
