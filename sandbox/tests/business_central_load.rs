//! Load check of the Business Central sandbox's in-memory store: deep-insert
//! orders of 8 lines, then look them up by `externalDocumentNumber` chains
//! and post some of them. Ignored by default; run it with
//! `cargo test -p leafbridge-sandbox --release --test business_central_load -- --ignored --nocapture`
//! and set `BC_LOAD_ORDERS` to change the count (10,000 by default).

mod business_central_support;

use std::time::Instant;

use axum::http::Method;
use business_central_support::start;
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "load measurement; run explicitly"]
async fn deep_insert_load() {
    let bc = start().await;
    let orders: usize = std::env::var("BC_LOAD_ORDERS").ok().and_then(|text| text.parse().ok()).unwrap_or(10_000);
    let (_, items) = bc.get("items?$select=number").await;
    let numbers: Vec<String> = items["value"].as_array().unwrap().iter().map(|item| item["number"].as_str().unwrap().to_owned()).collect();

    let started = Instant::now();
    for index in 0..orders {
        let lines: Vec<Value> = (0..8)
            .map(|line| json!({"lineObjectNumber": numbers[(index + line) % numbers.len()], "quantity": 6, "unitPrice": 12.5}))
            .collect();
        let body = json!({"customerNumber": format!("C{:05}", 10001 + index % 11), "externalDocumentNumber": format!("LL-{index}"), "salesOrderLines": lines});
        let reply = bc.server.request(Method::POST, &format!("companies({})/salesOrders", bc.info.company_id), Some(body)).await;
        assert_eq!(reply.status.as_u16(), 201, "{reply:?}");
    }
    let insert = started.elapsed();

    let started = Instant::now();
    let mut found = 0;
    for chunk in 0..(orders / 100) {
        let filter: Vec<String> = (0..100).map(|offset| format!("externalDocumentNumber eq 'LL-{}'", chunk * 100 + offset)).collect();
        let path = format!("companies({})/salesOrders?$select=id&$filter={}", bc.info.company_id, filter.join(" or ").replace(' ', "%20"));
        let reply = bc.server.request(Method::GET, &path, None).await;
        if let leafbridge_sandbox::business_central::ReplyBody::Json(body) = reply.body {
            found += body["value"].as_array().map_or(0, Vec::len);
        }
    }
    let lookup = started.elapsed();
    assert_eq!(found, orders / 100 * 100);
    println!(
        "{orders} orders of 8 lines: insert {:.1} s ({:.0} orders/s); {} lookups of 100 numbers: {:.2} s",
        insert.as_secs_f64(),
        orders as f64 / insert.as_secs_f64(),
        orders / 100,
        lookup.as_secs_f64()
    );
    assert_eq!(bc.server.count("salesOrders").await, orders + 2);

    let peak_mb = peak_resident_kb() / 1024;
    println!("peak resident memory with {orders} orders: {peak_mb} MB");
    // The bound is 10 KB per order of 8 lines, about 1.1 KB per stored row,
    // plus 100 MB for the process, the seed and the test harness.
    let bound_mb = (orders as u64 * 10 / 1024) + 100;
    assert!(peak_mb < bound_mb, "peak resident memory {peak_mb} MB is above {bound_mb} MB");
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
