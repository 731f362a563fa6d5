//! `serve` keeps the tenant's Business Central webhook subscriptions against
//! the BC sandbox: it creates them with its own public URL, echoes their
//! handshake, renews and re-creates them, and a BC change reaches LeafLink
//! through the notification it receives.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use leafbridge::capabilities::oauth::TokenSource;
use leafbridge::flows::Flow;
use leafbridge::flows::runner::FlowEngine;
use leafbridge::runtime::default_plugin_dir;
use leafbridge::schedule::{FlowRunner, RunFuture, RunOutcome, Scheduler, SchedulerLimits, Trigger};
use leafbridge::serve::subscriptions::{ENTITY_SETS, SubscriptionConfig, Subscriptions};
use leafbridge::serve::{AppState, Metrics};
use leafbridge::store::Store;
use leafbridge::store::secrets::{Secret, SecretKey, SecretName, Secrets};
use leafbridge::tenant::TenantSettings;
use leafbridge_sandbox::{Sandbox, SeedConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::flow_harness::{decimal, sandbox_config, settings_for};

const ADMIN_TOKEN: &str = "subscriptions-admin-token-0123";

async fn bc(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = sandbox.business_central().request(method.clone(), path, body).await;
    assert!(reply.status.is_success(), "{method} {path} returned {}: {:?}", reply.status, reply.body);
    match reply.body {
        leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
        _ => Value::Null,
    }
}

/// Lists the sandbox's subscriptions whose notification URL starts with `base`.
async fn subscriptions_to(sandbox: &Sandbox, base: &str) -> Vec<Value> {
    let list = bc(sandbox, Method::GET, "subscriptions", None).await;
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sub| sub["notificationUrl"].as_str().unwrap_or("").starts_with(base))
        .cloned()
        .collect()
}

/// Waits up to 30 s for `check` to hold, polling every 100 ms.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A flow runner that runs nothing, for tests of the subscriptions alone.
struct IdleRunner;

impl FlowRunner for IdleRunner {
    fn run(&self, _tenant: &str, _flow: &str, _trigger: Trigger) -> RunFuture {
        Box::pin(async { Ok(RunOutcome::default()) })
    }
}

struct Served {
    base: String,
    secrets: Secrets,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("serve stops").unwrap();
    }
}

/// Registers `settings` with the sandbox's credentials in `store`.
fn register(store: &Store, sandbox: &Sandbox, settings: &TenantSettings) -> Secrets {
    store.tenants().unwrap().register(settings).unwrap();
    let secrets = store.secrets(&SecretKey::generate()).unwrap();
    let info = sandbox.info();
    secrets.set(&settings.name, SecretName::LeafLinkApiKey, &info.leaflink.api_key).unwrap();
    secrets.set(&settings.name, SecretName::BusinessCentralClientSecret, &info.business_central.client_secret).unwrap();
    secrets
}

/// Serves with `--public-url` set to the server's own loopback address.
async fn start(store: &Store, secrets: Secrets, runner: Arc<dyn FlowRunner>, renew_before: Duration) -> Served {
    let listener = leafbridge::serve::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let metrics = Arc::new(Metrics::new());
    let subscriptions = Subscriptions::new(SubscriptionConfig {
        public_url: Some(base.parse().unwrap()),
        renew_before,
        check_interval: Duration::from_millis(300),
    });
    let state = AppState {
        store: store.clone(),
        secrets: secrets.clone(),
        scheduler: Scheduler::new(runner, SchedulerLimits::default(), metrics.clone()),
        metrics,
        admin_token: Arc::new(Secret::new(ADMIN_TOKEN)),
        subscriptions: Arc::new(subscriptions),
    };
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(async move {
        leafbridge::serve::serve(state, listener, Duration::from_millis(100), Duration::from_secs(20), shutdown).await.unwrap();
    });
    Served { base, secrets, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bc_change_reaches_leaflink_by_webhook() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 3, products: 10, orders: 1, random_seed: 43 })).await.unwrap();
    let leaflink = sandbox.leaflink();
    let product_id = leaflink
        .available_product_ids()
        .into_iter()
        .find(|id| leaflink.product_json(*id).unwrap()["sku"].as_str().unwrap().len() <= 20)
        .unwrap();
    let product = leaflink.product_json(product_id).unwrap();
    let sku = product["sku"].as_str().unwrap().to_owned();
    let company = sandbox.info().business_central.company_id;
    // Link pairs an item only when its display name agrees with the product name.
    let item = bc(
        &sandbox,
        Method::POST,
        &format!("companies({company})/items"),
        Some(json!({ "number": sku, "displayName": product["name"], "type": "Inventory", "baseUnitOfMeasureCode": "PCS", "unitPrice": 5 })),
    )
    .await;
    let item_id = item["id"].as_str().unwrap().to_owned();

    let home = tempfile::tempdir().unwrap();
    let store = Store::open(&home.path().join("store")).unwrap();
    let secrets = register(&store, &sandbox, &settings_for("hooks", &sandbox));
    let engine = Arc::new(FlowEngine::new(leafbridge_tests::runtime(), default_plugin_dir(), store.clone(), secrets.clone()));
    let link = engine.run_once("hooks", Flow::Link).await.expect("link runs");
    assert_eq!(link.counts.failed, 0, "{link:#?}");
    let served = start(&store, secrets, engine, Duration::ZERO).await;

    wait_until("serve has created one subscription per entity set", || async {
        subscriptions_to(&sandbox, &served.base).await.len() == ENTITY_SETS.len()
    })
    .await;
    let created = subscriptions_to(&sandbox, &served.base).await;
    let client_state = served.secrets.client_state("hooks").unwrap();
    for subscription in &created {
        assert_eq!(subscription["clientState"], client_state.expose(), "the clientState is the stored secret");
        assert!(subscription["notificationUrl"].as_str().unwrap().ends_with("/webhooks/business-central/hooks"));
    }

    // An item edit in BC: the sandbox posts a notification after its delay,
    // and inventory-push sets the LeafLink quantity.
    bc(&sandbox, Method::PATCH, &format!("companies({company})/items({item_id})"), Some(json!({ "inventory": 40 }))).await;
    wait_until("the BC inventory reaches LeafLink", || async {
        decimal(&sandbox.leaflink().product_json(product_id).unwrap()["quantity"]) == Decimal::from(40)
    })
    .await;

    // A notification with a wrong clientState is rejected.
    let forged = json!({ "value": [{
        "subscriptionId": created[0]["subscriptionId"],
        "clientState": "not-the-client-state",
        "expirationDateTime": created[0]["expirationDateTime"],
        "resource": format!("api/v2.0/companies({company})/items({item_id})"),
        "changeType": "updated",
        "lastModifiedDateTime": "2025-01-01T00:00:00Z"
    }]});
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/business-central/hooks", served.base))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // The subscriptions were kept, not renewed, because none was close to expiry.
    let kept = subscriptions_to(&sandbox, &served.base).await;
    for subscription in &kept {
        assert_eq!(subscription["timestamp"], 1, "a subscription far from expiry is not renewed: {subscription}");
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_renewed_and_recreated() {
    let sandbox = Sandbox::start(sandbox_config(SeedConfig { customers: 1, products: 1, orders: 1, random_seed: 44 })).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(&home.path().join("store")).unwrap();
    let secrets = register(&store, &sandbox, &settings_for("renews", &sandbox));
    // Renewing once less than 73 hours are left means every check renews a
    // subscription that BC gave 72 hours.
    let served = start(&store, secrets, Arc::new(IdleRunner), Duration::from_secs(73 * 3600)).await;

    wait_until("every subscription is renewed at least once", || async {
        let subscriptions = subscriptions_to(&sandbox, &served.base).await;
        subscriptions.len() == ENTITY_SETS.len() && subscriptions.iter().all(|sub| sub["timestamp"].as_i64().unwrap() >= 2)
    })
    .await;
    let before = subscriptions_to(&sandbox, &served.base).await;
    assert_eq!(before.len(), ENTITY_SETS.len(), "renewal keeps one subscription per entity set");

    // BC deletes a subscription, e.g. after its endpoint responded with a 4xx status.
    let gone = before[0]["subscriptionId"].as_str().unwrap().to_owned();
    let info = sandbox.info().business_central;
    let tokens = TokenSource::new(info.token_url.clone(), info.client_id.clone(), Secret::new(info.client_secret.clone()), None);
    let client = reqwest::Client::new();
    let bearer = tokens.bearer(&client, None).await.unwrap();
    let deleted = client
        .delete(format!("{}/subscriptions('{gone}')", info.base_url))
        .bearer_auth(bearer.expose())
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204, "the sandbox deletes the subscription");

    wait_until("the deleted subscription is created again", || async {
        let subscriptions = subscriptions_to(&sandbox, &served.base).await;
        subscriptions.len() == ENTITY_SETS.len() && subscriptions.iter().all(|sub| sub["subscriptionId"] != gone.as_str())
    })
    .await;
    served.stop().await;
}
