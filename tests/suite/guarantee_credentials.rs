//! A rejected credential stops the run with one message: a wrong BC client
//! secret or LeafLink key records no dead letter, moves no cursor and writes
//! nothing, and the next run with the right credential imports every order
//! once. Transient token failures (503) are still retried.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use leafbridge::capabilities::{Secret, TenantSecrets};
use leafbridge::flows::Flow;
use leafbridge::flows::runner::{FlowEngine, TenantRunner};
use leafbridge::runtime::bindings::http::{HttpError, Method, Request};
use leafbridge::runtime::default_plugin_dir;
use leafbridge::schedule::{Scheduler, SchedulerLimits, Trigger};
use leafbridge::serve::Metrics;
use leafbridge::store::secrets::{SecretKey, SecretName};
use leafbridge::store::{RunOutcome, Store};
use leafbridge_sandbox::{Sandbox, SeedConfig};
use leafbridge_tests::{LEAFLINK_KEY, RecordingServer, Scripted, leafbridge_binary, tenant, tenant_settings};

use crate::flow_harness::{Harness, sandbox_config, secrets_for, settings_for};
use crate::flow_orders_import::importable_orders;

const WRONG_SECRET: &str = "wrong-bc-secret-3c9e";
const WRONG_KEY: &str = "wrong-leaflink-key-81b4";

fn seed() -> SeedConfig {
    SeedConfig { customers: 6, products: 12, orders: 24, random_seed: 31 }
}

/// Returns LeafLink's record counts and the number of BC sales orders,
/// customers and items.
async fn both_sides(harness: &Harness) -> (leafbridge_sandbox::leaflink::Counts, [usize; 3]) {
    let business_central =
        [harness.bc_all("salesOrders").await.len(), harness.bc_all("customers").await.len(), harness.bc_all("items").await.len()];
    (harness.sandbox.leaflink().counts(), business_central)
}

/// Opens the harness tenant with `secrets` in place of the right ones.
fn runner_with(harness: &Harness, secrets: TenantSecrets) -> TenantRunner {
    TenantRunner::open(&leafbridge_tests::runtime(), &default_plugin_dir(), harness.settings.clone(), secrets)
        .expect("the tenant opens")
}

/// Asserts that the run left nothing behind: no dead letter, no cursor.
fn assert_no_trace(harness: &Harness, flow: Flow) {
    let tenant = &harness.settings.name;
    let letters = harness.store.dead_letters(tenant).unwrap();
    assert!(letters.is_empty(), "records were sent to dead letters: {letters:#?}");
    let cursor = harness.store.cursor(tenant, flow.name()).unwrap();
    assert!(cursor.is_none(), "the cursor moved to {cursor:?}");
}

/// Asserts that each importable order is in BC exactly once.
async fn assert_each_order_once(harness: &Harness, expected: &HashMap<String, serde_json::Value>) {
    let mut by_short_id: HashMap<String, usize> = HashMap::new();
    for order in harness.bc_all("salesOrders").await {
        *by_short_id.entry(order["externalDocumentNumber"].as_str().unwrap_or_default().to_uppercase()).or_default() += 1;
    }
    for short_id in expected.keys() {
        assert_eq!(by_short_id.get(&short_id.to_uppercase()).copied().unwrap_or(0), 1, "order {short_id} should exist exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bc_secret_stops_run() {
    let harness = Harness::start("wrong-secret", sandbox_config(seed())).await;
    let expected = importable_orders(&harness);
    assert!(!expected.is_empty(), "the seed should give importable orders");
    let before = both_sides(&harness).await;
    let right = secrets_for(&harness.sandbox);
    let wrong = TenantSecrets { business_central_client_secret: Secret::new(WRONG_SECRET), ..right.clone() };

    let report = runner_with(&harness, wrong).run(&harness.store, Flow::OrdersImport).await.expect("the run record is written");

    assert_eq!(report.outcome, RunOutcome::Stopped, "{report:#?}");
    let reason = report.reason.clone().unwrap_or_default();
    for part in [
        "tenant wrong-secret, flow orders-import stopped",
        "the Business Central token endpoint rejected the business_central.client_secret",
        "status 401",
        "invalid_client",
        "AADSTS7000215",
        "leafbridge tenant credentials wrong-secret",
    ] {
        assert!(reason.contains(part), "the reason {reason:?} lacks {part:?}");
    }
    assert!(!reason.contains(WRONG_SECRET), "the reason shows the wrong secret");
    assert!(!reason.contains(right.business_central_client_secret.expose()), "the reason shows the right secret");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
    assert_eq!(report.counts.written, 0, "{report:#?}");
    assert_eq!(report.counts.requests_business_central, 0, "no BC request goes out without a token");
    assert_no_trace(&harness, Flow::OrdersImport);
    assert_eq!(both_sides(&harness).await, before, "a side changed");
    let runs = harness.store.runs("wrong-secret").unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, RunOutcome::Stopped);
    assert_eq!(runs[0].reason.as_deref(), Some(reason.as_str()), "the run record keeps the reason");

    let report = harness.run(Flow::OrdersImport).await;
    assert_eq!(report.outcome, RunOutcome::Done, "{report:#?}");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
    assert_each_order_once(&harness, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_leaflink_key_stops_run() {
    let harness = Harness::start("wrong-key", sandbox_config(seed())).await;
    let expected = importable_orders(&harness);
    let before = both_sides(&harness).await;
    let right = secrets_for(&harness.sandbox);
    let wrong = TenantSecrets { leaflink_api_key: Secret::new(WRONG_KEY), ..right.clone() };

    let runner = runner_with(&harness, wrong);
    let report = runner.run(&harness.store, Flow::OrdersImport).await.expect("the run record is written");

    assert_eq!(report.outcome, RunOutcome::Stopped, "{report:#?}");
    let reason = report.reason.clone().unwrap_or_default();
    for part in ["tenant wrong-key, flow orders-import stopped", "LeafLink rejected the leaflink.api_key", "status 401", "leaflink.api_key"] {
        assert!(reason.contains(part), "the reason {reason:?} lacks {part:?}");
    }
    assert!(!reason.contains(WRONG_KEY), "the reason shows the wrong key");
    assert!(!reason.contains(right.leaflink_api_key.expose()), "the reason shows the right key");
    assert_eq!(report.counts.requests_leaflink, 1, "requests went on after the key was rejected");
    assert_no_trace(&harness, Flow::OrdersImport);
    assert_eq!(both_sides(&harness).await, before, "a side changed");

    // The rejection holds for the rest of the context's life: the next run
    // sends nothing and stops with the same reason.
    let again = runner.run(&harness.store, Flow::OrdersImport).await.expect("the run record is written");
    assert_eq!(again.outcome, RunOutcome::Stopped);
    assert_eq!(again.counts.requests_leaflink, 0, "a rejected key was sent again");

    let report = harness.run(Flow::OrdersImport).await;
    assert_eq!(report.outcome, RunOutcome::Done, "{report:#?}");
    assert_each_order_once(&harness, &expected).await;
}

/// A flow that reads BC first and then writes to LeafLink stops at its first
/// LeafLink request, before any product is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_leaflink_key_stops_export() {
    let sandbox = Sandbox::start(sandbox_config(seed())).await.expect("the sandbox starts");
    let mut settings = settings_for("wrong-key-export", &sandbox);
    settings.product_master = leafbridge::tenant::ProductMaster::BusinessCentral;
    let harness = Harness::with_settings(sandbox, settings);
    let before = both_sides(&harness).await;
    let wrong = TenantSecrets { leaflink_api_key: Secret::new(WRONG_KEY), ..secrets_for(&harness.sandbox) };

    let report = runner_with(&harness, wrong).run(&harness.store, Flow::ProductsExport).await.expect("the run record is written");

    assert_eq!(report.outcome, RunOutcome::Stopped, "{report:#?}");
    let reason = report.reason.clone().unwrap_or_default();
    assert!(reason.contains("LeafLink rejected the leaflink.api_key"), "{reason}");
    assert!(report.counts.requests_business_central > 0, "the flow should read BC items first: {report:#?}");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
    assert_no_trace(&harness, Flow::ProductsExport);
    assert_eq!(both_sides(&harness).await, before, "a side changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_503_twice_then_imports() {
    let harness = Harness::start("token-503", sandbox_config(seed())).await;
    let expected = importable_orders(&harness);
    // Every BC request needs a token first, so the token request is the
    // first request the BC server receives: attempts one and two get the 503s.
    harness.sandbox.business_central().faults().unavailable_next(2);

    let report = harness.run(Flow::OrdersImport).await;

    assert_eq!(harness.sandbox.business_central().faults().unavailable_left(), 0, "the queued 503s were not all sent");
    assert_eq!(report.outcome, RunOutcome::Done, "{report:#?}");
    assert_eq!(report.counts.failed, 0, "{report:#?}");
    assert_each_order_once(&harness, &expected).await;
}

fn get(url: String) -> Request {
    Request { method: Method::Get, url, headers: Vec::new(), body: None, idempotent: true }
}

#[tokio::test]
async fn token_503_retried_in_capability() {
    let server = RecordingServer::start().await;
    server.script("/oauth2/v2.0/token", [Scripted::status(503), Scripted::status(503)]);
    let tenant = tenant(&tenant_settings("token-retry", server.address));

    let url = format!("http://{}/bc/v2.0/tenant/sandbox/api/v2.0/companies", server.address);
    let response = tenant.http().send(get(url)).await.expect("the third token attempt succeeds");

    assert_eq!(response.status, 200);
    assert_eq!(server.requests_to("/oauth2/").len(), 3);
    assert!(tenant.http().credential_rejection().is_none(), "a 503 is not a rejection");
}

#[tokio::test]
async fn token_503_exhausted_stays_transient() {
    let server = RecordingServer::start().await;
    server.script("/oauth2/v2.0/token", [Scripted::status(503), Scripted::status(503), Scripted::status(503)]);
    let tenant = tenant(&tenant_settings("token-down", server.address));

    let url = format!("http://{}/bc/v2.0/tenant/sandbox/api/v2.0/companies", server.address);
    let error = tenant.http().send(get(url.clone())).await.expect_err("three 503s exhaust the token attempts");

    assert!(matches!(&error, HttpError::Credentials(message) if message.contains("503")), "{error:?}");
    assert!(tenant.http().credential_rejection().is_none(), "a 503 is not a rejection");
    let response = tenant.http().send(get(url)).await.expect("the next request tries again and succeeds");
    assert_eq!(response.status, 200);
    assert_eq!(server.requests_to("/oauth2/").len(), 4);
}

#[tokio::test]
async fn token_400_names_client_id() {
    let server = RecordingServer::start().await;
    let body = r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier 'x' was not found."}"#;
    server.script("/oauth2/v2.0/token", [Scripted { status: 400, headers: Vec::new(), body: body.to_owned() }]);
    let tenant = tenant(&tenant_settings("unknown-client", server.address));

    let url = format!("http://{}/bc/v2.0/tenant/sandbox/api/v2.0/companies", server.address);
    let error = tenant.http().send(get(url)).await.expect_err("the token request is rejected");

    let HttpError::Credentials(message) = error else { panic!("expected a credentials error, got {error:?}") };
    assert!(message.contains("business_central.client_id"), "{message}");
    assert!(message.contains("status 400, unauthorized_client, AADSTS700016"), "{message}");
    assert!(message.contains("leafbridge tenant edit unknown-client --bc-client-id"), "{message}");
    assert_eq!(server.requests_to("/oauth2/").len(), 1, "a rejection is not retried");
}

#[tokio::test]
async fn rejection_blocks_later_requests() {
    let server = RecordingServer::start().await;
    let path = "/leaflink/api/v2/orders-received/";
    server.script(path, [Scripted { status: 401, headers: Vec::new(), body: r#"{"detail":"Invalid token."}"#.to_owned() }]);
    let tenant = tenant(&tenant_settings("blocked", server.address));

    let error = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect_err("the key is rejected");
    let HttpError::Credentials(message) = error else { panic!("expected a credentials error, got {error:?}") };
    assert!(message.contains("LeafLink rejected the leaflink.api_key (status 401, Invalid token.)"), "{message}");
    assert!(!message.contains(LEAFLINK_KEY), "{message}");

    let bc_url = format!("http://{}/bc/v2.0/tenant/sandbox/api/v2.0/companies", server.address);
    let later = tenant.http().send(get(bc_url)).await.expect_err("requests after a rejection fail");
    assert!(matches!(later, HttpError::Credentials(_)), "{later:?}");
    assert_eq!(server.requests().len(), 1, "a request was sent after the rejection");
}

#[tokio::test]
async fn bc_401_with_new_token_rejects() {
    let server = RecordingServer::start().await;
    let path = "/bc/v2.0/tenant/sandbox/api/v2.0/companies";
    let denied = || Scripted {
        status: 401,
        headers: Vec::new(),
        body: r#"{"error":{"code":"Authentication_InvalidCredentials","message":"The server has rejected the client credentials."}}"#.to_owned(),
    };
    server.script(path, [denied(), denied()]);
    let tenant = tenant(&tenant_settings("unregistered", server.address));

    let error = tenant.http().send(get(format!("http://{}{path}", server.address))).await.expect_err("BC rejects the new token");

    let HttpError::Credentials(message) = error else { panic!("expected a credentials error, got {error:?}") };
    assert!(message.contains("Business Central rejected the business-central application"), "{message}");
    assert!(message.contains("status 401, Authentication_InvalidCredentials"), "{message}");
    assert_eq!(server.requests_to(path).len(), 2, "one retry with a new token, then stop");
    assert_eq!(server.requests_to("/oauth2/").len(), 2);
}

/// Registers `settings` in a store under `home` with `leaflink_key` and
/// `client_secret`.
fn register(home: &std::path::Path, settings: &leafbridge::tenant::TenantSettings, leaflink_key: &str, client_secret: &str) {
    let store = Store::open(&home.join("store")).unwrap();
    store.tenants().unwrap().register(settings).unwrap();
    let (key, _) = SecretKey::load_or_create(&home.join("secrets.key")).unwrap();
    let secrets = store.secrets(&key).unwrap();
    secrets.set(&settings.name, SecretName::LeafLinkApiKey, leaflink_key).unwrap();
    secrets.set(&settings.name, SecretName::BusinessCentralClientSecret, client_secret).unwrap();
    store.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_run_exits_nonzero_on_rejection() {
    let sandbox = Sandbox::start(sandbox_config(seed())).await.unwrap();
    let settings = settings_for("cli-secret", &sandbox);
    let home = tempfile::tempdir().unwrap();
    register(home.path(), &settings, &sandbox.info().leaflink.api_key, WRONG_SECRET);

    let output = tokio::process::Command::new(leafbridge_binary())
        .args(["--home", home.path().to_str().unwrap(), "run", "cli-secret", "orders-import"])
        .env("LEAFBRIDGE_LOG", "error")
        .env_remove("LEAFBRIDGE_SECRET_KEY")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the run exited 0: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("error: tenant cli-secret, flow orders-import stopped: the Business Central token endpoint rejected the business_central.client_secret (status 401, invalid_client, AADSTS7000215)"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("leafbridge tenant credentials cli-secret"), "{}", errors[0]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for text in [&stderr, &stdout.to_string()] {
        assert!(!text.contains(WRONG_SECRET), "the output shows the secret");
    }

    let store = Store::open(&home.path().join("store")).unwrap();
    assert!(store.dead_letters("cli-secret").unwrap().is_empty(), "records were sent to dead letters");
    assert!(store.cursor("cli-secret", "orders-import").unwrap().is_none(), "the cursor moved");
}

/// Under the scheduler, the tenant with the wrong secret gets a stopped run
/// with the reason, and a tenant with the right one still imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_keeps_other_tenants() {
    let sandbox = Sandbox::start(sandbox_config(seed())).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let info = sandbox.info();
    register(home.path(), &settings_for("served-wrong", &sandbox), &info.leaflink.api_key, WRONG_SECRET);
    register(home.path(), &settings_for("served-right", &sandbox), &info.leaflink.api_key, &info.business_central.client_secret);

    let store = Store::open(&home.path().join("store")).unwrap();
    let (key, _) = SecretKey::load_or_create(&home.path().join("secrets.key")).unwrap();
    let secrets = store.secrets(&key).unwrap();
    let engine = FlowEngine::new(leafbridge_tests::runtime(), default_plugin_dir(), store.clone(), secrets);
    let scheduler = Scheduler::new(Arc::new(engine), SchedulerLimits::default(), Arc::new(Metrics::new()));
    scheduler.trigger("served-wrong", "orders-import", Trigger::OnDemand);
    scheduler.trigger("served-right", "orders-import", Trigger::OnDemand);
    assert_eq!(scheduler.shutdown(Duration::from_secs(120)).await, 0, "runs were still going after two minutes");

    let wrong = store.runs("served-wrong").unwrap();
    assert_eq!(wrong.len(), 1, "{wrong:#?}");
    assert_eq!(wrong[0].outcome, RunOutcome::Stopped);
    let reason = wrong[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("rejected the business_central.client_secret"), "{reason}");
    assert!(store.dead_letters("served-wrong").unwrap().is_empty());

    let right = store.runs("served-right").unwrap();
    assert_eq!(right.len(), 1, "{right:#?}");
    assert_eq!(right[0].outcome, RunOutcome::Done, "{right:#?}");
    assert!(right[0].counts.written > 0, "{right:#?}");
}
