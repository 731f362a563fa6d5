//! Opening a tenant for flow runs: its context, its four plugins, and the
//! `run` entry point the CLI, the scheduler and the demo call.

use std::path::Path;
use std::sync::Arc;

use super::plugins::{TenantPlugins, WasmPlugins};
use super::context::ProgressSink;
use super::{Flow, FlowError, FlowReport, SyncContext, run_flow};
use crate::capabilities::{ContextError, TenantContext, TenantSecrets};
use crate::runtime::{LoadError, Runtime};
use crate::store::Store;
use crate::tenant::TenantSettings;

/// A tenant could not be opened for flow runs.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("tenant {tenant}: {source}")]
    Load { tenant: String, source: LoadError },
}

/// One tenant, ready to run flows.
pub struct TenantRunner {
    pub settings: TenantSettings,
    pub context: Arc<TenantContext>,
    pub plugins: TenantPlugins,
}

impl TenantRunner {
    /// Builds the tenant's context and loads its plugins from `plugin_dir`.
    pub fn open(runtime: &Arc<Runtime>, plugin_dir: &Path, settings: TenantSettings, secrets: TenantSecrets) -> Result<Self, OpenError> {
        Self::open_with_overrides(runtime, plugin_dir, None, settings, secrets)
    }

    /// Opens the tenant, taking its override plugin from `overrides_dir`
    /// first (see `TenantPlugins::load_with_overrides`).
    pub fn open_with_overrides(
        runtime: &Arc<Runtime>,
        plugin_dir: &Path,
        overrides_dir: Option<&Path>,
        settings: TenantSettings,
        secrets: TenantSecrets,
    ) -> Result<Self, OpenError> {
        let context = TenantContext::new(&settings, secrets)?;
        let plugins = TenantPlugins::load_with_overrides(runtime, plugin_dir, overrides_dir, &context)
            .map_err(|source| OpenError::Load { tenant: settings.name.clone(), source })?;
        Ok(Self { settings, context, plugins })
    }

    /// Runs one flow once and records the run.
    pub async fn run(&self, store: &Store, flow: Flow) -> Result<FlowReport, FlowError> {
        Ok(self.run_all(store, &[flow]).await?.remove(0))
    }

    /// Runs flows one after another, sharing the run's lookup cache.
    pub async fn run_all(&self, store: &Store, flows: &[Flow]) -> Result<Vec<FlowReport>, FlowError> {
        self.run_all_with_progress(store, flows, None).await
    }

    /// `run_all`, sending each flow's counts to `progress` as it reads.
    pub async fn run_all_with_progress(
        &self,
        store: &Store,
        flows: &[Flow],
        progress: Option<ProgressSink>,
    ) -> Result<Vec<FlowReport>, FlowError> {
        let context = self.context.clone();
        let counter = Arc::new(move || {
            let counters = context.api_counters();
            (counters.leaflink_requests, counters.business_central_requests)
        });
        let context = self.context.clone();
        let credential_check = Arc::new(move || context.http().credential_rejection().cloned());
        let Some(&first) = flows.first() else { return Ok(Vec::new()) };
        let mut cx = SyncContext::<WasmPlugins>::new(
            &self.settings,
            store,
            &self.plugins.leaflink,
            &self.plugins.business_central,
            &self.plugins.mapping,
            &self.plugins.overrides,
            first,
        )
        .with_request_counter(counter)
        .with_credential_check(credential_check)
        .with_progress(progress);
        let mut reports = Vec::with_capacity(flows.len());
        for (index, &flow) in flows.iter().enumerate() {
            if index > 0 {
                cx.restart(flow);
            }
            reports.push(run_flow(&mut cx).await?);
        }
        Ok(reports)
    }
}

/// The flow engine `leafbridge serve` hands to the scheduler: each run reads
/// the tenant's settings and credentials from the store, opens its plugins
/// and runs the flow once.
pub struct FlowEngine {
    runtime: Arc<Runtime>,
    plugin_dir: std::path::PathBuf,
    /// The directory where `leafbridge plugin add` installs override plugins.
    overrides_dir: Option<std::path::PathBuf>,
    store: Store,
    secrets: crate::store::secrets::Secrets,
}

impl FlowEngine {
    pub fn new(runtime: Arc<Runtime>, plugin_dir: std::path::PathBuf, store: Store, secrets: crate::store::secrets::Secrets) -> Self {
        Self { runtime, plugin_dir, overrides_dir: None, store, secrets }
    }

    /// Takes each tenant's override plugin from `dir` first.
    pub fn with_overrides_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.overrides_dir = Some(dir);
        self
    }

    /// Opens `tenant` and runs `flow` once.
    pub async fn run_once(&self, tenant: &str, flow: Flow) -> Result<FlowReport, String> {
        use crate::store::secrets::SecretName;

        let settings = self
            .store
            .tenants()
            .map_err(|error| error.to_string())?
            .get(tenant)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("tenant {tenant} is not registered"))?;
        let secret = |name: SecretName| {
            self.secrets
                .require(tenant, name)
                .map(|value| crate::capabilities::Secret::new(value.expose()))
                .map_err(|error| error.to_string())
        };
        let secrets = TenantSecrets {
            leaflink_api_key: secret(SecretName::LeafLinkApiKey)?,
            business_central_client_secret: secret(SecretName::BusinessCentralClientSecret)?,
        };
        let runner = TenantRunner::open_with_overrides(&self.runtime, &self.plugin_dir, self.overrides_dir.as_deref(), settings, secrets)
            .map_err(|error| error.to_string())?;
        runner.run(&self.store, flow).await.map_err(|error| error.to_string())
    }
}

impl crate::schedule::FlowRunner for FlowEngine {
    fn run(&self, tenant: &str, flow: &str, _trigger: crate::schedule::Trigger) -> crate::schedule::RunFuture {
        let engine = Self {
            runtime: self.runtime.clone(),
            plugin_dir: self.plugin_dir.clone(),
            overrides_dir: self.overrides_dir.clone(),
            store: self.store.clone(),
            secrets: self.secrets.clone(),
        };
        let tenant = tenant.to_owned();
        let flow = flow.parse::<Flow>();
        Box::pin(async move {
            let flow = flow?;
            let report = engine.run_once(&tenant, flow).await?;
            if report.outcome == crate::store::RunOutcome::Stopped {
                return Err(report.reason.unwrap_or_else(|| "the run stopped".to_owned()));
            }
            Ok(crate::schedule::RunOutcome {
                run_id: Some(report.run_id),
                read: report.counts.read,
                written: report.counts.written,
                skipped: report.counts.skipped,
                failed: report.counts.failed,
            })
        })
    }
}
