//! Fault injection on both sandbox servers over loopback HTTP: each fault
//! kind is set while the server runs, gets the imitated API's error body or
//! a broken connection, and timeout-after-commit keeps the write.

mod business_central_support;

use std::time::{Duration, Instant};

use business_central_support::start;
use leafbridge_sandbox::faults::{ErrorStyle, FaultProfile, Faults};
use leafbridge_sandbox::leaflink;
use leafbridge_sandbox::SeedConfig;
use serde_json::{Value, json};

fn only(profile: impl FnOnce(&mut FaultProfile)) -> FaultProfile {
    let mut faults = FaultProfile::default();
    profile(&mut faults);
    faults
}

/// Sends a request and returns the status and body, or `None` when the
/// connection broke before a complete response arrived.
async fn try_send(request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn business_central_faults_while_running() {
    let bc = start().await;
    let url = bc.company_url("customers?$top=1");
    let get = || bc.client.get(&url).bearer_auth(&bc.token);

    let (status, _) = try_send(get()).await.expect("no fault yet");
    assert_eq!(status, 200);

    bc.server.faults().set(only(|faults| faults.rate_429 = 1.0));
    let (status, body) = try_send(get()).await.expect("a 429 response");
    assert_eq!(status, 429);
    assert!(body["error"]["code"].is_string(), "BC error body: {body}");

    bc.server.faults().set(only(|faults| faults.rate_5xx = 1.0));
    let (status, body) = try_send(get()).await.expect("a 5xx response");
    assert!([502, 503, 504].contains(&status), "status {status}");
    assert!(body["error"]["message"].is_string(), "BC error body: {body}");

    bc.server.faults().set(only(|faults| faults.drop_connection = 1.0));
    assert!(get().send().await.is_err(), "a dropped connection gives not even a status line");

    bc.server.faults().set(only(|faults| faults.latency = Duration::from_millis(300)));
    let started = Instant::now();
    let (status, _) = try_send(get()).await.expect("a slow response");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300), "latency {:?}", started.elapsed());

    let customers_before = bc.server.count("customers").await;
    bc.server.faults().set(only(|faults| faults.timeout_after_commit = 1.0));
    let create = bc.client.post(bc.company_url("customers")).bearer_auth(&bc.token).json(&json!({"displayName": "Committed without an answer"}));
    assert!(create.send().await.is_err(), "the client gets not even a status line");
    bc.server.faults().set(FaultProfile::default());
    assert_eq!(bc.server.count("customers").await, customers_before + 1, "the write happened");
    let (status, found) = try_send(bc.client.get(bc.company_url("customers?$filter=displayName eq 'Committed without an answer'")).bearer_auth(&bc.token))
        .await
        .expect("faults are off again");
    assert_eq!(status, 200);
    assert_eq!(found["value"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn leaflink_faults_while_running() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = leaflink::Options {
        faults: Faults::new(only(|faults| faults.rate_429 = 1.0), ErrorStyle::LeafLink),
        rate_limits: false,
        money_as_string: false,
        seed: SeedConfig { customers: 5, products: 5, orders: 5, random_seed: 11 },
        order_statuses: Vec::new(),
    };
    let server = leaflink::start(listener, options).await.unwrap();
    let info = server.info();
    let client = reqwest::Client::new();
    let request = |method: reqwest::Method, path: &str| client.request(method, format!("{}{path}", info.base_url)).header("Authorization", format!("App {}", info.api_key));

    let (status, body) = try_send(request(reqwest::Method::GET, "/companies/")).await.expect("a 429 set at start");
    assert_eq!(status, 429);
    assert!(body["detail"].is_string(), "DRF error body: {body}");

    server.faults().set(only(|faults| faults.rate_5xx = 1.0));
    let (status, body) = try_send(request(reqwest::Method::GET, "/companies/")).await.expect("a 5xx response");
    assert!([502, 503, 504].contains(&status), "status {status}");
    assert!(body["detail"].is_string(), "DRF error body: {body}");

    server.faults().set(only(|faults| faults.drop_connection = 1.0));
    assert!(request(reqwest::Method::GET, "/companies/").send().await.is_err(), "no status line");

    let products_before = server.counts().products;
    let product = json!({
        "name": "Committed without an answer", "sku": "FAULT-1", "description": "<p>Test</p>",
        "retail_price": {"amount": 40, "currency": "USD"}, "wholesale_price": {"amount": "120.00", "currency": "USD"},
        "sale_price": {"amount": 0, "currency": "USD"}, "minimum_order": "6.0000", "maximum_order": null,
        "listing_state": "Available", "inventory_management": 1, "unit_of_measure": "Gram",
        "unit_denomination": {"id": 1}, "category": 4, "sub_category": 40, "seller": 1, "brand": 100,
        "manufacturer": 1, "strain_classification": "hybrid", "license": {"id": 2619}, "unit_multiplier": 6,
        "quantity": "600",
    });
    server.faults().set(only(|faults| faults.timeout_after_commit = 1.0));
    assert!(request(reqwest::Method::POST, "/products/").json(&product).send().await.is_err(), "no status line");
    server.faults().set(FaultProfile::default());
    assert_eq!(server.counts().products, products_before + 1, "the write happened");
    let (status, found) = try_send(request(reqwest::Method::GET, "/products/?sku=FAULT-1")).await.expect("faults are off again");
    assert_eq!(status, 200);
    assert_eq!(found["count"], json!(1));
}

#[tokio::test]
async fn queued_throttles_answer_exactly_the_next_requests() {
    let bc = start().await;
    let url = bc.company_url("customers?$top=1");
    let status = || async { try_send(bc.client.get(&url).bearer_auth(&bc.token)).await.expect("a response").0 };

    bc.server.faults().throttle_next(2);
    assert_eq!(status().await, 429);
    assert_eq!(status().await, 429);
    assert_eq!(status().await, 200, "only the queued requests are throttled");
    assert_eq!(status().await, 200);
}
