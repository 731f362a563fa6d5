//! Crash safety: `leafbridge run TENANT orders-import` is killed at 20 random
//! instants during an import of about 500 orders, then rerun until it reports
//! done. No sales order, customer or item may be duplicated or missing.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use leafbridge::store::{RunOutcome, Store};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use leafbridge_tests::leafbridge_binary;

use crate::flow_harness::{register_in_home, sandbox_config, settings_for};

const KILLS: usize = 20;
/// Kill instants are drawn from this span after each start.
const KILL_WINDOW: Duration = Duration::from_millis(1500);
/// Added to every sandbox request, so that a full import takes several
/// times `KILL_WINDOW` however fast the host is, and every kill lands
/// during the import rather than after it.
const REQUEST_LATENCY: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_import_never_duplicates() {
    let mut config = sandbox_config(SeedConfig { customers: 80, products: 150, orders: 1000, random_seed: 77 });
    config.leaflink_faults.latency = REQUEST_LATENCY;
    config.business_central_faults.latency = REQUEST_LATENCY;
    let sandbox = Sandbox::start(config).await.unwrap();
    let settings = settings_for("crash", &sandbox);
    let home = tempfile::tempdir().unwrap();
    register_in_home(home.path(), &sandbox, &settings, None);
    let expected: Vec<String> = {
        let leaflink = sandbox.leaflink();
        leaflink
            .order_numbers()
            .iter()
            .filter_map(|number| leaflink.order_json(number))
            .filter(|order| {
                let created: jiff::Timestamp = order["created_on"].as_str().unwrap().parse().unwrap();
                let status = order["status"].as_str().unwrap();
                created >= settings.go_live && settings.order_statuses_to_import.iter().any(|wanted| wanted == status)
            })
            .map(|order| order["short_id"].as_str().unwrap().to_uppercase())
            .collect()
    };
    assert!(expected.len() >= 400, "the seed should give about 500 importable orders, got {}", expected.len());

    let binary = leafbridge_binary();
    let run = || {
        tokio::process::Command::new(&binary)
            .args(["--home", home.path().to_str().unwrap(), "run", "crash", "orders-import", "--json"])
            .env("LEAFBRIDGE_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the leafbridge binary starts")
    };

    // Each child is killed at a random instant within KILL_WINDOW of its
    // start. A child that finishes first ends the killing; the assertion below
    // then requires that 20 kills happened before it.
    let mut kills = 0;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    while kills < KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % KILL_WINDOW.as_millis() as u64);
        let mut child = run();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {
                child.kill().await.unwrap();
                kills += 1;
            }
            status = child.wait() => {
                assert!(status.unwrap().success(), "an uninterrupted run failed");
                break;
            }
        }
    }
    assert!(kills >= KILLS, "the import was killed only {kills} times before a run finished");

    let mut done = false;
    for _ in 0..10 {
        let output = run().wait_with_output().await.unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if report["outcome"] == "done" {
            done = true;
            break;
        }
    }
    assert!(done, "the import should finish after the kills");

    let mut orders: HashMap<String, usize> = HashMap::new();
    let company = sandbox.info().business_central.company_id;
    let list = |set: &'static str| {
        let sandbox = &sandbox;
        let company = company.clone();
        async move {
            let reply = sandbox
                .business_central()
                .request(axum::http::Method::GET, &format!("companies({company})/{set}"), None)
                .await;
            match reply.body {
                leafbridge_sandbox::business_central::ReplyBody::Json(value) => value["value"].as_array().cloned().unwrap_or_default(),
                other => panic!("GET {set}: {other:?}"),
            }
        }
    };
    for order in list("salesOrders").await {
        *orders.entry(order["externalDocumentNumber"].as_str().unwrap_or_default().to_uppercase()).or_default() += 1;
    }
    for short_id in &expected {
        assert_eq!(orders.get(short_id).copied().unwrap_or(0), 1, "order {short_id} should exist exactly once");
    }
    let mut customers: HashMap<String, usize> = HashMap::new();
    for customer in list("customers").await {
        *customers.entry(customer["number"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(customers.values().all(|count| *count == 1), "a customer number repeats");
    let mut items: HashMap<String, usize> = HashMap::new();
    for item in list("items").await {
        *items.entry(item["number"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(items.values().all(|count| *count == 1), "an item number repeats");
    // A kill after a run began leaves its record, marked interrupted. A kill
    // before that, while the process starts, leaves none.
    let store = Store::open(&home.path().join("store")).unwrap();
    let runs = store.runs("crash").unwrap();
    let interrupted = runs.iter().filter(|run| run.outcome == RunOutcome::Interrupted).count();
    assert!(interrupted <= kills, "{interrupted} interrupted runs after {kills} kills: {runs:#?}");
    eprintln!("killed {kills} times, {interrupted} runs recorded as interrupted; {} orders imported once each", expected.len());
}

/// A run killed (SIGKILL) or interrupted (SIGINT, as Ctrl-C sends) after it
/// began shows in `leafbridge runs` as interrupted, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_recorded_as_interrupted() {
    // The first progress line comes after the first page's customers and
    // items are created one request at a time. A short latency keeps that
    // quick, and most of the ten pages are still to come at the signal.
    let mut config = sandbox_config(SeedConfig { customers: 20, products: 40, orders: 1000, random_seed: 78 });
    config.leaflink_faults.latency = Duration::from_millis(20);
    config.business_central_faults.latency = Duration::from_millis(20);
    let sandbox = Sandbox::start(config).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    register_in_home(home.path(), &sandbox, &settings_for("killed", &sandbox), None);

    for signal in ["-KILL", "-INT"] {
        let mut child = start_run(home.path()).await;
        let sent = tokio::process::Command::new("kill").arg(signal).arg(child.id().unwrap().to_string()).status().await.unwrap();
        assert!(sent.success(), "kill {signal} failed");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
        assert!(!status.success(), "the run exited with {status} after {signal}");
    }

    let output = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "runs", "killed", "--json"])
        .env("LEAFBRIDGE_LOG", "error")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let runs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for run in runs {
        assert_eq!(run["outcome"], "interrupted", "{runs:#?}");
        assert_eq!(run["flow"], "orders-import");
        assert!(run["reason"].as_str().unwrap().contains("the run ended before it finished"), "{runs:#?}");
    }
}

/// Starts `leafbridge run killed orders-import` and returns once it printed a
/// progress line, which comes after the run began.
async fn start_run(home: &std::path::Path) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;

    let mut child = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.to_str().unwrap(), "run", "killed", "orders-import"])
        .env("LEAFBRIDGE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap();
        let line = line.expect("the run ended before it printed progress");
        if line.starts_with("progress: ") {
            break;
        }
    }
    // Later lines are not read, so the pipe must not fill and block the run.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}
