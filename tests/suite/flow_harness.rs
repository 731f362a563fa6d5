//! Shared set-up of the flow and guarantee tests: a sandbox on loopback, a
//! tenant pointing at it with its own store, and the tenant's plugins.

use std::sync::Arc;

use leafbridge::capabilities::{Secret, TenantSecrets};
use leafbridge::flows::runner::TenantRunner;
use leafbridge::flows::{Flow, FlowReport};
use leafbridge::runtime::default_plugin_dir;
use leafbridge::store::{RunOutcome, Store};
use leafbridge::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};
use leafbridge_sandbox::{Sandbox, SandboxConfig, SeedConfig};
use serde_json::Value;

/// A sandbox with a tenant and a store of its own.
pub struct Harness {
    pub sandbox: Sandbox,
    pub settings: TenantSettings,
    pub store: Store,
    pub home: tempfile::TempDir,
    pub runner: TenantRunner,
}

/// Registers `settings` in the store under `home` with the sandbox's
/// credentials and, when given, a LeafLink webhook key. The store closes
/// again, so a `leafbridge` process started afterwards can open it.
pub fn register_in_home(home: &std::path::Path, sandbox: &Sandbox, settings: &TenantSettings, webhook_key: Option<&str>) {
    use leafbridge::store::secrets::{SecretKey, SecretName};

    let store = Store::open(&home.join("store")).unwrap();
    store.tenants().unwrap().register(settings).unwrap();
    let (key, _) = SecretKey::load_or_create(&home.join("secrets.key")).unwrap();
    let secrets = store.secrets(&key).unwrap();
    secrets.set(&settings.name, SecretName::LeafLinkApiKey, &sandbox.info().leaflink.api_key).unwrap();
    secrets.set(&settings.name, SecretName::BusinessCentralClientSecret, &sandbox.info().business_central.client_secret).unwrap();
    if let Some(webhook_key) = webhook_key {
        secrets.set(&settings.name, SecretName::LeafLinkWebhookKey, webhook_key).unwrap();
    }
    store.flush().unwrap();
}

/// A sandbox without rate limits, seeded with `seed`.
pub fn sandbox_config(seed: SeedConfig) -> SandboxConfig {
    SandboxConfig { seed, rate_limits: false, ..SandboxConfig::default() }
}

/// Tenant settings for `sandbox`. Go-live is before the sandbox's generated
/// data (dated up to 2025-06-01), so its orders are importable.
pub fn settings_for(name: &str, sandbox: &Sandbox) -> TenantSettings {
    let info = sandbox.info();
    TenantSettings {
        name: name.to_owned(),
        go_live: "2024-01-01T00:00:00Z".parse().expect("valid timestamp"),
        time_zone: "America/Denver".to_owned(),
        product_master: ProductMaster::LeafLink,
        order_statuses_to_import: default_order_statuses(),
        freight_account: "40100".to_owned(),
        unit_map: default_unit_map(),
        salesperson_map: Default::default(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint { base_url: info.leaflink.base_url.clone(), company_id: Some(1), recorded_by: None },
        business_central: BusinessCentralEndpoint {
            base_url: info.business_central.base_url.clone(),
            token_url: info.business_central.token_url.clone(),
            tenant_id: info.business_central.tenant_id.clone(),
            environment: info.business_central.environment.clone(),
            company_id: info.business_central.company_id.clone(),
            client_id: info.business_central.client_id.clone(),
            scope: None,
        },
        limits: LimitSettings::default(),
        notify: None,
        plugin_settings: Default::default(),
    }
}

pub fn secrets_for(sandbox: &Sandbox) -> TenantSecrets {
    let info = sandbox.info();
    TenantSecrets {
        leaflink_api_key: Secret::new(info.leaflink.api_key),
        business_central_client_secret: Secret::new(info.business_central.client_secret),
    }
}

impl Harness {
    pub async fn start(name: &str, config: SandboxConfig) -> Harness {
        let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
        let settings = settings_for(name, &sandbox);
        Self::with_settings(sandbox, settings)
    }

    pub fn with_settings(sandbox: Sandbox, settings: TenantSettings) -> Harness {
        let home = tempfile::tempdir().expect("a temporary home");
        let store = Store::open(&home.path().join("store")).expect("the store opens");
        let runner = open_runner(&sandbox, settings.clone());
        Harness { sandbox, settings, store, home, runner }
    }

    /// Drops the store and starts over with an empty one, as after a lost disk.
    pub fn lose_store(&mut self) {
        self.home = tempfile::tempdir().expect("a temporary home");
        self.store = Store::open(&self.home.path().join("store")).expect("the store opens");
    }

    pub async fn run(&self, flow: Flow) -> FlowReport {
        self.runner.run(&self.store, flow).await.expect("the run record is written")
    }

    /// Runs `flow` until a run reports done, at most `attempts` times.
    pub async fn run_until_done(&self, flow: Flow, attempts: usize) -> Vec<FlowReport> {
        let mut reports = Vec::new();
        for _ in 0..attempts {
            let report = self.run(flow).await;
            let done = report.outcome == RunOutcome::Done;
            reports.push(report);
            if done {
                return reports;
            }
        }
        panic!("{flow} did not finish in {attempts} runs: {reports:#?}");
    }

    /// GET below the BC company, in process.
    pub async fn bc_get(&self, path: &str) -> Value {
        let company = self.sandbox.info().business_central.company_id;
        let reply = self
            .sandbox
            .business_central()
            .request(axum::http::Method::GET, &format!("companies({company})/{path}"), None)
            .await;
        match reply.body {
            leafbridge_sandbox::business_central::ReplyBody::Json(value) => value,
            other => panic!("BC sandbox GET {path} returned {}: {other:?}", reply.status),
        }
    }

    /// Returns every entity of a BC set in one in-process page.
    pub async fn bc_all(&self, set: &str) -> Vec<Value> {
        let page = self.bc_get(&format!("{set}?$top=100000")).await;
        page["value"].as_array().cloned().unwrap_or_default()
    }
}

pub fn open_runner(sandbox: &Sandbox, settings: TenantSettings) -> TenantRunner {
    let plugin_dir = default_plugin_dir();
    assert!(
        plugin_dir.join("leafbridge-core.wasm").exists(),
        "{} has no plugins; build them with `cargo xtask plugins`",
        plugin_dir.display()
    );
    TenantRunner::open(&crate_runtime(), &plugin_dir, settings, secrets_for(sandbox)).expect("the tenant opens")
}

fn crate_runtime() -> Arc<leafbridge::runtime::Runtime> {
    leafbridge_tests::runtime()
}

/// A decimal from a JSON number or string.
pub fn decimal(value: &Value) -> rust_decimal::Decimal {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text.parse().unwrap_or_else(|_| panic!("{value} is not a decimal"))
}
