//! Graceful shutdown of `leafbridge serve`: SIGTERM during a slow import lets
//! the run finish, records it and saves its cursor, so the next run of the
//! flow writes nothing again.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use leafbridge::store::{RunOutcome, Store};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use leafbridge_tests::leafbridge_binary;
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::flow_harness::{register_in_home, sandbox_config, settings_for};

const ADMIN_TOKEN: &str = "shutdown-admin-token-0123456789";
const WEBHOOK_KEY: &str = "shutdown-webhook-key";
/// Added to every sandbox request, so the import takes several seconds and
/// SIGTERM arrives while it is in progress.
const REQUEST_LATENCY: Duration = Duration::from_millis(100);
const ORDER_WEBHOOK: &str = r#"{"action":"create","data":{"number":"4b8a7c2e-0000-4000-8000-000000000001","status":"Submitted"}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_run_and_saves_cursor() {
    let mut config = sandbox_config(SeedConfig { customers: 10, products: 20, orders: 40, random_seed: 23 });
    config.leaflink_faults.latency = REQUEST_LATENCY;
    config.business_central_faults.latency = REQUEST_LATENCY;
    let sandbox = Sandbox::start(config).await.unwrap();
    let settings = settings_for("shutdown", &sandbox);
    let home = tempfile::tempdir().unwrap();
    register_in_home(home.path(), &sandbox, &settings, Some(WEBHOOK_KEY));
    let (mut serve, base) = start_serve(home.path(), 120).await;

    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_KEY.as_bytes()).unwrap();
    mac.update(ORDER_WEBHOOK.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let response = reqwest::Client::new()
        .post(format!("{base}/webhooks/leaflink/shutdown"))
        .header("LL-Signature", signature)
        .body(ORDER_WEBHOOK)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // The import needs well over a second at this latency, so it is in
    // progress when SIGTERM arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = serve.id().expect("serve is still running").to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid} failed");
    let status = tokio::time::timeout(Duration::from_secs(150), serve.wait()).await.expect("serve exits after SIGTERM").unwrap();
    assert!(status.success(), "serve exited with {status}");

    {
        let store = Store::open(&home.path().join("store")).unwrap();
        let runs = store.runs("shutdown").unwrap();
        let import = runs.iter().find(|run| run.flow == "orders-import").unwrap_or_else(|| panic!("no orders-import run in {runs:#?}"));
        assert_eq!(import.outcome, RunOutcome::Done, "{import:#?}");
        assert!(import.counts.written > 0, "{import:#?}");
        let cursor = store.cursor("shutdown", "orders-import").unwrap();
        assert!(cursor.is_some(), "the orders-import cursor was not saved");
    }

    let output = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "run", "shutdown", "orders-import", "--json"])
        .env("LEAFBRIDGE_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["written"], 0, "the second run wrote again: {report}");

    let company = sandbox.info().business_central.company_id;
    let reply = sandbox
        .business_central()
        .request(axum::http::Method::GET, &format!("companies({company})/salesOrders"), None)
        .await;
    let orders = match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value["value"].as_array().cloned().unwrap_or_default(),
        other => panic!("GET salesOrders: {other:?}"),
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    // Orders the sandbox seeds in BC have no external document number, so
    // only the imported ones are checked.
    for order in &orders {
        let number = order["externalDocumentNumber"].as_str().unwrap_or_default();
        if !number.is_empty() {
            *counts.entry(number.to_uppercase()).or_default() += 1;
        }
    }
    assert!(!counts.is_empty(), "no sales order from LeafLink was imported");
    for (number, count) in &counts {
        assert_eq!(*count, 1, "sales order {number} exists {count} times");
    }
}

/// SIGTERM ends serve within its drain even while a client waits for a run
/// (`?wait=true`) that takes far longer. The run cut off is recorded as
/// interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_bounds_waiting_client() {
    // At this latency the import takes many seconds, far more than the 1 s
    // drain: dozens of customer and item creates, one request at a time.
    let mut config = sandbox_config(SeedConfig { customers: 40, products: 80, orders: 400, random_seed: 24 });
    config.leaflink_faults.latency = Duration::from_millis(500);
    config.business_central_faults.latency = Duration::from_millis(500);
    let sandbox = Sandbox::start(config).await.unwrap();
    let settings = settings_for("shutdown", &sandbox);
    let home = tempfile::tempdir().unwrap();
    register_in_home(home.path(), &sandbox, &settings, Some(WEBHOOK_KEY));
    let (mut serve, base) = start_serve(home.path(), 1).await;
    let base_for_status = base.clone();

    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/tenants/shutdown/flows/orders-import/run?wait=true"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
    });
    // The admin API's status shows the run in progress once it began (serve
    // first compiles the plugins into its fresh home).
    let mut polls = 0;
    let running = loop {
        let status: serde_json::Value = reqwest::Client::new()
            .get(format!("{base_for_status}/api/v1/tenants/shutdown/status"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let running = status["running"].as_array().unwrap().clone();
        polls += 1;
        if !running.is_empty() || polls == 300 {
            break running;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0]["flow"], "orders-import", "{running:?}");
    // `runs` goes through serve and lists the run in progress below the finished ones.
    let listed = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "runs", "shutdown"])
        .env("LEAFBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("LEAFBRIDGE_LOG", "error")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(printed.contains("Running now"), "{printed}");
    assert!(printed.contains(running[0]["id"].as_str().unwrap()), "the run id is listed: {printed}");

    let pid = serve.id().expect("serve is still running").to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid} failed");
    // One second of drain and one of grace, and the rest is slack for a loaded machine.
    let status = tokio::time::timeout(Duration::from_secs(20), serve.wait()).await.expect("serve exits within its drain").unwrap();
    assert!(status.success(), "serve exited with {status}");
    let response = waiting.await.unwrap();
    assert!(response.is_err() || !response.unwrap().status().is_success(), "the waiting client was told the run finished");

    let store = Store::open(&home.path().join("store")).unwrap();
    let runs = store.runs("shutdown").unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].outcome, RunOutcome::Interrupted, "{runs:#?}");
}

/// Starts `leafbridge serve` on a free loopback port and returns it with the
/// base URL it printed.
async fn start_serve(home: &std::path::Path, drain_seconds: u64) -> (tokio::process::Child, String) {
    let mut serve = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0", "--drain-seconds", &drain_seconds.to_string()])
        .env("LEAFBRIDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("LEAFBRIDGE_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("leafbridge serve starts");
    let mut stdout = BufReader::new(serve.stdout.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .expect("serve prints its address")
            .unwrap()
            .expect("serve prints its address before closing stdout");
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_owned();
        }
    };
    (serve, base)
}
