//! `leafbridge serve` in-process on 127.0.0.1: webhook verification, the BC
//! handshake, the admin API, metrics, and the scheduler's overlap and
//! missed-run rules, with a recording flow runner in place of the flow engine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use leafbridge::schedule::{Cadence, FlowRunner, RunFuture, RunOutcome, Scheduler, SchedulerLimits, Trigger, TriggerResult};
use leafbridge::serve::subscriptions::Subscriptions;
use leafbridge::serve::{AppState, Metrics};
use leafbridge::store::Store;
use leafbridge::store::secrets::{SecretKey, SecretName, Secret};
use leafbridge::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};
use leafbridge::flows::Flow;
use leafbridge_sandbox::SeedConfig;
use leafbridge_sandbox::leaflink::{NewLine, NewOrder};
use rust_decimal::Decimal;
use sha2::Sha256;

use crate::flow_harness::{Harness, sandbox_config};
use tokio::sync::watch;

const ADMIN_TOKEN: &str = "suite-admin-token-0123456789";
const WEBHOOK_KEY: &str = "suite-serve-webhook-key";

/// Records every run and the most runs of one flow seen at once.
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<(String, String, Trigger)>>,
    delay: Duration,
    active: Mutex<BTreeMap<(String, String), usize>>,
    max_overlap: AtomicUsize,
}

impl Recorder {
    fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(Self { delay, ..Self::default() })
    }

    fn runs(&self) -> Vec<(String, String, Trigger)> {
        self.runs.lock().unwrap().clone()
    }
}

/// The scheduler's view of a shared `Recorder`.
struct RecordingRunner(Arc<Recorder>);

fn runner(recorder: &Arc<Recorder>) -> Arc<RecordingRunner> {
    Arc::new(RecordingRunner(recorder.clone()))
}

impl FlowRunner for RecordingRunner {
    fn run(&self, tenant: &str, flow: &str, trigger: Trigger) -> RunFuture {
        let recorder = self.0.clone();
        let key = (tenant.to_owned(), flow.to_owned());
        Box::pin(async move {
            recorder.runs.lock().unwrap().push((key.0.clone(), key.1.clone(), trigger));
            let overlap = {
                let mut active = recorder.active.lock().unwrap();
                let count = active.entry(key.clone()).or_default();
                *count += 1;
                *count
            };
            recorder.max_overlap.fetch_max(overlap, Ordering::SeqCst);
            tokio::time::sleep(recorder.delay).await;
            *recorder.active.lock().unwrap().get_mut(&key).unwrap() -= 1;
            Ok(RunOutcome::default())
        })
    }
}

fn settings(name: &str) -> TenantSettings {
    TenantSettings {
        name: name.to_owned(),
        go_live: "2025-01-01T00:00:00Z".parse().unwrap(),
        time_zone: "America/Los_Angeles".to_owned(),
        product_master: ProductMaster::BusinessCentral,
        order_statuses_to_import: default_order_statuses(),
        freight_account: "6100".to_owned(),
        unit_map: default_unit_map(),
        salesperson_map: BTreeMap::new(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint { base_url: "http://127.0.0.1:9/api/v2".to_owned(), company_id: None, recorded_by: None },
        business_central: BusinessCentralEndpoint {
            base_url: "http://127.0.0.1:9/api/v2.0".to_owned(),
            token_url: "http://127.0.0.1:9/token".to_owned(),
            tenant_id: "t".to_owned(),
            environment: "Production".to_owned(),
            company_id: "00000000-0000-0000-0000-000000000003".to_owned(),
            client_id: "id".to_owned(),
            scope: None,
        },
        limits: LimitSettings::default(),
        notify: None,
        plugin_settings: BTreeMap::new(),
    }
}

struct Server {
    base: String,
    recorder: Arc<Recorder>,
    state: AppState,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _home: tempfile::TempDir,
}

impl Server {
    async fn start(recorder: Arc<Recorder>, limits: SchedulerLimits) -> Self {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(&home.path().join("store")).unwrap();
        store.tenants().unwrap().register(&settings("acme")).unwrap();
        let secrets = store.secrets(&SecretKey::generate()).unwrap();
        secrets.set("acme", SecretName::LeafLinkWebhookKey, WEBHOOK_KEY).unwrap();

        let metrics = Arc::new(Metrics::new());
        let scheduler = Scheduler::new(runner(&recorder), limits, metrics.clone());
        let state = AppState {
            store,
            secrets,
            scheduler,
            metrics,
            admin_token: Arc::new(Secret::new(ADMIN_TOKEN.to_owned())),
            subscriptions: Arc::new(Subscriptions::disabled()),
        };

        let listener = leafbridge::serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                leafbridge::serve::serve(state, listener, Duration::from_millis(50), Duration::from_secs(5), shutdown)
                    .await
                    .unwrap();
            }
        });
        Self { base, recorder, state, stop, task, _home: home }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("serve stops").unwrap();
    }
}

fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

const ORDER_WEBHOOK: &str = r#"{"action":"create","data":{"number":"4b8a7c2e-0000-4000-8000-000000000001","status":"Submitted","orderedproduct_set":[{"quantity":"24.0000","product":{"sku":"SKU-1","name":"Gummies"}}]}}"#;

async fn wait_for_runs(recorder: &Recorder, count: usize) {
    for _ in 0..100 {
        if recorder.runs().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn leaflink_bad_signature_rejected() {
    let server = Server::start(Recorder::with_delay(Duration::ZERO), SchedulerLimits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/leaflink/acme", server.base);

    let wrong_key = client.post(&url).header("LL-Signature", sign("not-the-key", ORDER_WEBHOOK.as_bytes())).body(ORDER_WEBHOOK).send().await.unwrap();
    assert_eq!(wrong_key.status(), 401);

    let tampered_body = ORDER_WEBHOOK.replace("Submitted", "Accepted");
    let tampered = client.post(&url).header("LL-Signature", sign(WEBHOOK_KEY, ORDER_WEBHOOK.as_bytes())).body(tampered_body).send().await.unwrap();
    assert_eq!(tampered.status(), 401);

    let missing = client.post(&url).body(ORDER_WEBHOOK).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    let garbage = client.post(&url).header("LL-Signature", "%%%not-base64").body(ORDER_WEBHOOK).send().await.unwrap();
    assert_eq!(garbage.status(), 401);

    let unknown_tenant = client
        .post(format!("{}/webhooks/leaflink/nobody", server.base))
        .header("LL-Signature", sign(WEBHOOK_KEY, ORDER_WEBHOOK.as_bytes()))
        .body(ORDER_WEBHOOK)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_tenant.status(), 401);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.recorder.runs().is_empty(), "a rejected webhook started a run");
    let metrics = client.get(format!("{}/metrics", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"leafbridge_webhooks_total{source="leaflink",outcome="rejected"} 5"#), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn leaflink_valid_signature_triggers() {
    let server = Server::start(Recorder::with_delay(Duration::ZERO), SchedulerLimits::default()).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/webhooks/leaflink/acme", server.base))
        .header("LL-Signature", sign(WEBHOOK_KEY, ORDER_WEBHOOK.as_bytes()))
        .body(ORDER_WEBHOOK)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    wait_for_runs(&server.recorder, 2).await;
    let flows: Vec<String> = server.recorder.runs().into_iter().map(|(_, flow, _)| flow).collect();
    assert!(flows.contains(&"orders-import".to_owned()), "{flows:?}");
    for (tenant, _, trigger) in server.recorder.runs() {
        assert_eq!(tenant, "acme");
        assert_eq!(trigger, Trigger::Webhook);
    }

    let unsigned_garbage = b"not json";
    let invalid = client
        .post(format!("{}/webhooks/leaflink/acme", server.base))
        .header("LL-Signature", sign(WEBHOOK_KEY, unsigned_garbage))
        .body(&unsigned_garbage[..])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400, "a signed but malformed body must be rejected as bad input");
    server.stop().await;
}

#[tokio::test]
async fn business_central_handshake_and_client_state() {
    let server = Server::start(Recorder::with_delay(Duration::ZERO), SchedulerLimits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/business-central/acme", server.base);

    // serve has no subscription request in flight, so a handshake is
    // someone else trying to subscribe this endpoint.
    let unsolicited = client.post(format!("{url}?validationToken=abc%20123-token")).send().await.unwrap();
    assert_eq!(unsolicited.status(), 401);
    assert!(!unsolicited.text().await.unwrap().contains("abc 123-token"), "the token must not be echoed");

    let client_state = server.state.secrets.client_state("acme").unwrap();
    let notification = |state: &str| {
        serde_json::json!({ "value": [{
            "subscriptionId": "0123456789abcdef0123456789abcdef",
            "clientState": state,
            "expirationDateTime": "2025-01-04T00:00:00Z",
            "resource": "api/v2.0/companies(c)/salesOrders(11111111-1111-1111-1111-111111111111)",
            "changeType": "updated",
            "lastModifiedDateTime": "2025-01-01T00:00:00Z"
        }]})
    };

    let forged = client.post(&url).json(&notification("guessed-state")).send().await.unwrap();
    assert_eq!(forged.status(), 401);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.recorder.runs().is_empty(), "a notification with a wrong clientState started a run");

    let genuine = client.post(&url).json(&notification(client_state.expose())).send().await.unwrap();
    assert_eq!(genuine.status(), 202);
    wait_for_runs(&server.recorder, 1).await;
    assert_eq!(server.recorder.runs(), vec![("acme".to_owned(), "orders-push".to_owned(), Trigger::Webhook)]);

    // A collection notification names no record; it triggers the flows of
    // its entity set, which re-query since their cursor.
    let collection = serde_json::json!({ "value": [{
        "subscriptionId": "0123456789abcdef0123456789abcdef",
        "clientState": client_state.expose(),
        "expirationDateTime": "2025-01-04T00:00:00Z",
        "resource": "/api/v2.0/companies(c)/salesInvoices?$filter=lastModifiedDateTime%20gt%202025-01-01T00:00:00Z",
        "changeType": "collection",
        "lastModifiedDateTime": "2025-01-01T00:00:00Z"
    }]});
    let response = client.post(&url).json(&collection).send().await.unwrap();
    assert_eq!(response.status(), 202);
    wait_for_runs(&server.recorder, 2).await;
    assert_eq!(server.recorder.runs()[1], ("acme".to_owned(), "payments-push".to_owned(), Trigger::Webhook));
    server.stop().await;
}

#[tokio::test]
async fn admin_api_requires_bearer_token() {
    let server = Server::start(Recorder::with_delay(Duration::ZERO), SchedulerLimits::default()).await;
    let client = reqwest::Client::new();
    let run_url = format!("{}/api/v1/tenants/acme/flows/orders-import/run", server.base);

    assert_eq!(client.post(&run_url).send().await.unwrap().status(), 401);
    assert_eq!(client.post(&run_url).bearer_auth("wrong-token").send().await.unwrap().status(), 401);
    assert!(server.recorder.runs().is_empty());
    // The metrics name every tenant, so they take the token as well.
    let metrics_url = format!("{}/metrics", server.base);
    assert_eq!(client.get(&metrics_url).send().await.unwrap().status(), 401);
    assert_eq!(client.get(&metrics_url).bearer_auth("wrong-token").send().await.unwrap().status(), 401);
    assert_eq!(client.get(&metrics_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200, "health checks stay open");

    let accepted = client.post(&run_url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(accepted.status(), 202);
    wait_for_runs(&server.recorder, 1).await;
    assert_eq!(server.recorder.runs(), vec![("acme".to_owned(), "orders-import".to_owned(), Trigger::OnDemand)]);

    let excluded = client
        .post(format!("{}/api/v1/tenants/acme/flows/products-import/run", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(excluded.status(), 400, "products-import must not run under a business-central product master");

    // `link` is accepted here as it is by `leafbridge run` and `schedule set`.
    let link = client
        .post(format!("{}/api/v1/tenants/acme/flows/link/run", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 202);
    wait_for_runs(&server.recorder, 2).await;
    assert_eq!(server.recorder.runs()[1], ("acme".to_owned(), "link".to_owned(), Trigger::OnDemand));

    let tenants: serde_json::Value =
        client.get(format!("{}/api/v1/tenants", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(tenants[0]["name"], "acme");
    let missing = client.get(format!("{}/api/v1/tenants/nobody", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    server.state.store.record_dead_letter("acme", "orders-import", "LeafLink order 7", "unknown SKU X-1").unwrap();
    for listing in ["runs", "dead-letters", "conflicts"] {
        let url = format!("{}/api/v1/tenants/acme/{listing}", server.base);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 401, "{listing} without a token");
        let response = client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200, "{listing}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body.is_array(), "{listing}: {body}");
    }
    let dead_letters: serde_json::Value = client
        .get(format!("{}/api/v1/tenants/acme/dead-letters", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dead_letters.as_array().unwrap().len(), 1);
    let unknown = client.get(format!("{}/api/v1/tenants/nobody/runs", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The recorder records the run at its start, and the counter moves only when it finishes.
    let finished = r#"leafbridge_runs_total{tenant="acme",flow="orders-import",outcome="succeeded"} 1"#;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = client.get(format!("{}/metrics", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
        if metrics.contains(finished) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metrics.contains("leafbridge_tenants 1"), "{metrics}");
    assert!(metrics.contains(finished), "{metrics}");
    // The recording runner reports no records, so every outcome counts 0.
    for outcome in ["read", "written", "skipped", "failed"] {
        let line = format!(r#"leafbridge_records_total{{tenant="acme",flow="orders-import",outcome="{outcome}"}} 0"#);
        assert!(metrics.contains(&line), "no {line} in {metrics}");
    }

    // The run list narrows to one flow and to the newest runs.
    for (id, flow, second) in [("first", "orders-import", 1), ("second", "link", 2), ("third", "orders-import", 3)] {
        let started = jiff::Timestamp::from_second(1_800_000_000 + second).unwrap();
        let record = leafbridge::store::runs::RunRecord {
            id: id.to_owned(),
            tenant: "acme".to_owned(),
            flow: flow.to_owned(),
            started,
            finished: started,
            counts: Default::default(),
            outcome: leafbridge::store::runs::RunOutcome::Done,
            reason: None,
        };
        server.state.store.record_run(&record).unwrap();
    }
    let runs = async |query: &str| {
        let url = format!("{}/api/v1/tenants/acme/runs?{query}", server.base);
        let response = client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status();
        let ids: Vec<String> = match response.json::<serde_json::Value>().await {
            Ok(serde_json::Value::Array(runs)) => runs.iter().map(|run| run["id"].as_str().unwrap().to_owned()).collect(),
            _ => Vec::new(),
        };
        (status, ids)
    };
    assert_eq!(runs("").await.1, ["first", "second", "third"]);
    assert_eq!(runs("limit=2").await.1, ["second", "third"]);
    assert_eq!(runs("flow=orders-import").await.1, ["first", "third"]);
    assert_eq!(runs("flow=orders-import&limit=1").await.1, ["third"]);
    assert_eq!(runs("flow=payments-push").await.1, Vec::<String>::new());
    assert_eq!(runs("flow=no-such-flow").await.0, 400);
    // The scheme name is case-insensitive, and an unknown route is a JSON 404.
    let url = format!("{}/api/v1/tenants/acme/runs", server.base);
    let lower = client.get(&url).header("authorization", format!("bearer {ADMIN_TOKEN}")).send().await.unwrap();
    assert_eq!(lower.status(), 200);
    let url = format!("{}/api/v1/tenants/acme/no-such-list", server.base);
    let unknown = client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("no-such-list"), "{body}");
    // A rejected query gets the same JSON error body as every other error.
    let url = format!("{}/api/v1/tenants/acme/runs?limit=many", server.base);
    let response = client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    // A known path with the wrong method is a JSON 405 with an Allow header.
    let url = format!("{}/api/v1/tenants/acme/runs", server.base);
    let wrong_method = client.delete(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let allowed = wrong_method.headers().get("allow").map(|value| value.to_str().unwrap().to_owned());
    assert!(allowed.as_deref().is_some_and(|methods| methods.contains("GET")), "{allowed:?}");
    let body: serde_json::Value = wrong_method.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("DELETE"), "{body}");
    // A path outside every route is a JSON 404 too.
    let outside = client.get(format!("{}/no-such-page", server.base)).send().await.unwrap();
    assert_eq!(outside.status(), 404);
    let body: serde_json::Value = outside.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("/no-such-page"), "{body}");
    server.stop().await;
}

/// Returns the value of the first sample in `metrics` whose name and labels
/// start with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find(|line| line.starts_with(series)).and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_api_requests_and_plugin_calls() {
    let harness = Harness::start("metrics-families", sandbox_config(SeedConfig { customers: 5, products: 10, orders: 20, random_seed: 7 })).await;
    let server = Server::start(Recorder::with_delay(Duration::ZERO), SchedulerLimits::default()).await;
    // The first run fetches the BC token, which the process then keeps, so
    // the second run's first request to each API is an API call, not a token
    // request. A new order gives the second run something to write to BC.
    let first = harness.run(Flow::OrdersImport).await;
    assert!(first.counts.written > 0, "{first:#?}");
    let leaflink = harness.sandbox.leaflink();
    let line = NewLine::new(leaflink.available_product_ids()[0], Decimal::from(3));
    leaflink.place_order(NewOrder::new(leaflink.active_customer_ids()[0], vec![line])).unwrap();
    leaflink.faults().throttle_next(1);
    harness.sandbox.business_central().faults().throttle_next(1);
    let second = harness.run(Flow::OrdersImport).await;
    assert!(second.counts.written > 0, "the new order is written: {second:#?}");
    assert_eq!(second.counts.failed, 0, "the retries hide the 429s from the flow: {second:#?}");

    let metrics = reqwest::Client::new().get(format!("{}/metrics", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap().text().await.unwrap();
    for api in ["leaflink", "business_central"] {
        let requests = format!(r#"leafbridge_api_requests_total{{api="{api}",tenant="metrics-families"}}"#);
        assert!(sample(&metrics, &requests).is_some_and(|value| value > 1.0), "no count above 1 for {requests} in {metrics}");
        let throttled = format!(r#"leafbridge_api_throttled_total{{api="{api}",tenant="metrics-families"}}"#);
        assert_eq!(sample(&metrics, &throttled), Some(1.0), "{throttled} in {metrics}");
    }
    for kind in ["leaflink-connector", "business-central-connector", "mapper"] {
        let count = format!(r#"leafbridge_plugin_call_seconds_count{{kind="{kind}"}}"#);
        assert!(sample(&metrics, &count).is_some_and(|value| value > 0.0), "no non-zero {count} in {metrics}");
        let sum = format!(r#"leafbridge_plugin_call_seconds_sum{{kind="{kind}"}}"#);
        assert!(sample(&metrics, &sum).is_some_and(|value| value > 0.0), "no non-zero {sum} in {metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn runs_of_one_flow_never_overlap() {
    let recorder = Recorder::with_delay(Duration::from_millis(100));
    let scheduler = Scheduler::new(runner(&recorder), SchedulerLimits::default(), Arc::new(Metrics::new()));
    assert_eq!(scheduler.trigger("acme", "orders-import", Trigger::Webhook), TriggerResult::Started);
    for _ in 0..4 {
        assert_eq!(scheduler.trigger("acme", "orders-import", Trigger::Webhook), TriggerResult::Queued);
    }
    // Another tenant's run of the same flow is independent.
    assert_eq!(scheduler.trigger("globex", "orders-import", Trigger::Webhook), TriggerResult::Started);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let acme_runs = recorder.runs().iter().filter(|(tenant, _, _)| tenant == "acme").count();
    assert_eq!(acme_runs, 2, "a burst of triggers must give the running flow exactly one follow-up run");
    assert_eq!(recorder.max_overlap.load(Ordering::SeqCst), 1);
    assert!(!scheduler.is_active("acme", "orders-import"));
    assert_eq!(scheduler.shutdown(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn concurrent_runs_bounded_per_tenant() {
    /// Counts runs of one tenant in progress at once, across flows.
    struct TenantCounter {
        active: AtomicUsize,
        max: AtomicUsize,
    }
    struct CountingRunner(Arc<TenantCounter>);
    impl FlowRunner for CountingRunner {
        fn run(&self, _tenant: &str, _flow: &str, _trigger: Trigger) -> RunFuture {
            let counter = self.0.clone();
            Box::pin(async move {
                let now = counter.active.fetch_add(1, Ordering::SeqCst) + 1;
                counter.max.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                counter.active.fetch_sub(1, Ordering::SeqCst);
                Ok(RunOutcome::default())
            })
        }
    }

    let counter = Arc::new(TenantCounter { active: AtomicUsize::new(0), max: AtomicUsize::new(0) });
    let limits = SchedulerLimits { max_concurrent_runs: 8, max_concurrent_runs_per_tenant: 2 };
    let scheduler = Scheduler::new(Arc::new(CountingRunner(counter.clone())), limits, Arc::new(Metrics::new()));
    for flow in ["orders-import", "customers-import", "inventory-push", "payments-push", "orders-pull"] {
        scheduler.trigger("acme", flow, Trigger::OnDemand);
    }
    assert_eq!(scheduler.shutdown(Duration::from_secs(5)).await, 0);
    assert_eq!(counter.max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn missed_slots_run_once() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(&home.path().join("store")).unwrap();
    let tenant = settings("acme");
    store.tenants().unwrap().register(&tenant).unwrap();

    // The schedule was last set ten hours ago with a 15-minute cadence, as if
    // the host had been down for forty slots.
    let ten_hours_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(10);
    let schedules = store.schedules().unwrap();
    schedules.set(&tenant, "orders-import", Cadence::every("15m").unwrap(), ten_hours_ago).unwrap();

    let recorder = Recorder::with_delay(Duration::ZERO);
    let scheduler = Scheduler::new(runner(&recorder), SchedulerLimits::default(), Arc::new(Metrics::new()));
    let now = jiff::Timestamp::now();
    assert_eq!(scheduler.start_due(&store, now).unwrap(), 1);
    assert_eq!(scheduler.start_due(&store, now).unwrap(), 0, "a second check at the same time started the flow again");
    assert_eq!(scheduler.shutdown(Duration::from_secs(5)).await, 0);
    assert_eq!(recorder.runs().len(), 1);

    let entry = schedules.get("acme", "orders-import").unwrap().unwrap();
    assert!(entry.next_due > now, "the next due time must be after the catch-up run");
    assert!(entry.next_due <= now + jiff::SignedDuration::from_secs(15 * 60 + 31));
}

#[tokio::test]
async fn schedule_fires_at_due_time() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(&home.path().join("store")).unwrap();
    let tenant = settings("acme");
    store.tenants().unwrap().register(&tenant).unwrap();
    let schedules = store.schedules().unwrap();
    let entry = schedules.set(&tenant, "inventory-push", Cadence::every("5m").unwrap(), jiff::Timestamp::now()).unwrap();

    let recorder = Recorder::with_delay(Duration::ZERO);
    let scheduler = Scheduler::new(runner(&recorder), SchedulerLimits::default(), Arc::new(Metrics::new()));
    let just_before = entry.next_due - jiff::SignedDuration::from_millis(1);
    assert_eq!(scheduler.start_due(&store, just_before).unwrap(), 0, "the schedule fired before its due time");
    assert_eq!(scheduler.start_due(&store, entry.next_due).unwrap(), 1, "the schedule did not fire at its due time");
    assert_eq!(scheduler.shutdown(Duration::from_secs(5)).await, 0);
    assert_eq!(recorder.runs(), vec![("acme".to_owned(), "inventory-push".to_owned(), Trigger::Schedule)]);
}
