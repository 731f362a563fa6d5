//! Opening a tenant for flow runs: its context, its four plugins, and the
//! `run` entry point the CLI, the scheduler and the demo call.

use std::path::Path;
use std::sync::Arc;

use super::plugins::{TenantPlugins, WasmPlugins};
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
        let context = TenantContext::new(&settings, secrets)?;
        let plugins = TenantPlugins::load(runtime, plugin_dir, &context)
            .map_err(|source| OpenError::Load { tenant: settings.name.clone(), source })?;
        Ok(Self { settings, context, plugins })
    }

    /// Runs one flow once and records the run.
    pub async fn run(&self, store: &Store, flow: Flow) -> Result<FlowReport, FlowError> {
        Ok(self.run_all(store, &[flow]).await?.remove(0))
    }

    /// Runs flows one after another, sharing the run's lookup cache.
    pub async fn run_all(&self, store: &Store, flows: &[Flow]) -> Result<Vec<FlowReport>, FlowError> {
        let context = self.context.clone();
        let counter = Arc::new(move || {
            let counters = context.api_counters();
            (counters.leaflink_requests, counters.business_central_requests)
        });
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
        .with_request_counter(counter);
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
