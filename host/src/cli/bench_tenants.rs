//! `leafbridge bench tenants`: registers many tenants against a sandbox in a
//! child process and installs an override plugin for some of them. It then
//! runs one scheduled `inventory-push` cycle per tenant through the scheduler
//! and flow engine that `serve` uses, and prints one JSON line of figures.
//!
//! The sandbox runs in its own process, so the resident set measured here is
//! leafbridge's own: the store, the scheduler and the runs in progress.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;

use super::Home;
use super::bench::{ImportArgs, peak_rss_kib, rss_kib, start_sandbox, tenant_settings};
use crate::flows::plugins::overrides_plugin_file;
use crate::flows::runner::FlowEngine;
use crate::runtime::{World, default_plugin_dir};
use crate::schedule::{Cadence, FlowRunner, RunFuture, Scheduler, SchedulerLimits, Trigger};
use crate::serve::Metrics;
use crate::store::Store;
use crate::store::secrets::{SecretKey, SecretName};
use crate::tenant::ProductMaster;

/// The flow each tenant runs once. It reads the sandbox's BC items and
/// LeafLink products, so every tenant makes real API calls.
const FLOW: &str = "inventory-push";

/// Options of `leafbridge bench tenants`.
#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// Number of tenants registered.
    #[arg(long, default_value_t = 1_000, value_name = "COUNT")]
    pub tenants: usize,
    /// Number of those tenants that get their own copy of the override plugin.
    #[arg(long, default_value_t = 50, value_name = "COUNT")]
    pub with_plugin: usize,
    /// Override plugin component installed for those tenants; defaults to
    /// `cascade-cultivation-overrides.wasm` in the plugin directory.
    #[arg(long, value_name = "FILE")]
    pub plugin: Option<PathBuf>,
    /// Flow runs in progress at once, across all tenants.
    #[arg(long, default_value_t = SchedulerLimits::default().max_concurrent_runs, value_name = "COUNT")]
    pub max_runs: usize,
    /// Directory of the core plugin components; defaults to
    /// $LEAFBRIDGE_PLUGIN_DIR, else where `cargo xtask plugins` writes them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
}

/// Figures of one benchmark run. RSS figures are of this process, in MiB.
#[derive(Debug, Serialize)]
struct TenantFigures {
    profile: &'static str,
    tenants: usize,
    tenants_with_plugin: usize,
    runs_succeeded: u64,
    runs_failed: u64,
    /// Seconds from the first due run to the last finished one.
    cycle_seconds: f64,
    /// Seconds to register the tenants, store their secrets and schedules,
    /// and install the plugins.
    register_seconds: f64,
    /// After the runtime opened and before any tenant was registered.
    baseline_rss_mib: f64,
    /// With every tenant registered and scheduled, before any run.
    registered_rss_mib: f64,
    /// After every cycle finished, with all tenants idle.
    idle_rss_mib: f64,
    peak_rss_mib: f64,
    /// (idle RSS - baseline RSS) / tenants, in KiB.
    idle_rss_kib_per_tenant: f64,
}

/// Counts finished runs around the flow engine.
struct CountingRunner {
    inner: FlowEngine,
    succeeded: AtomicU64,
    failed: AtomicU64,
    finished: tokio::sync::Notify,
}

impl FlowRunner for Arc<CountingRunner> {
    fn run(&self, tenant: &str, flow: &str, trigger: Trigger) -> RunFuture {
        let this = self.clone();
        let future = self.inner.run(tenant, flow, trigger);
        let tenant = tenant.to_owned();
        Box::pin(async move {
            let result = future.await;
            match &result {
                Ok(_) => this.succeeded.fetch_add(1, Ordering::SeqCst),
                Err(error) => {
                    tracing::warn!(tenant = %tenant, flow = FLOW, %error, "benchmark run failed");
                    this.failed.fetch_add(1, Ordering::SeqCst)
                }
            };
            this.finished.notify_waiters();
            result
        })
    }
}

pub async fn tenants(args: TenantsArgs) -> anyhow::Result<()> {
    if args.with_plugin > args.tenants {
        bail!("--with-plugin {} is more than --tenants {}", args.with_plugin, args.tenants);
    }
    let sandbox_args = ImportArgs {
        orders: 20,
        customers: 10,
        products: 50,
        seed: 7,
        catalog: super::bench::Catalog::Warm,
        all_statuses: true,
        plugin_dir: args.plugin_dir.clone(),
        pacing: true,
    };
    let (_child, info) = start_sandbox(&sandbox_args)?;

    let home = Home::at(std::env::temp_dir().join(format!("leafbridge-bench-{}", uuid::Uuid::new_v4())))?;
    let result = measure(&args, &home, &info).await;
    if let Err(error) = std::fs::remove_dir_all(home.root()) {
        tracing::warn!(%error, home = %home.root().display(), "could not remove the benchmark's temporary home");
    }
    let figures = result?;
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

async fn measure(args: &TenantsArgs, home: &Home, info: &leafbridge_sandbox::SandboxInfo) -> anyhow::Result<TenantFigures> {
    let store = Store::open(&home.store_dir())?;
    let secrets = store.secrets(&SecretKey::generate())?;
    // A cache that outlives the temporary home, so a second benchmark run
    // measures the tenants and not Cranelift compiling the components again.
    let runtime = crate::runtime::Runtime::new(crate::runtime::RuntimeConfig {
        cache_dir: std::env::temp_dir().join("leafbridge-bench-component-cache"),
        bounds: Default::default(),
        defaults: Default::default(),
    })?;
    let plugin_dir = args.plugin_dir.clone().unwrap_or_else(default_plugin_dir);
    let plugin = args.plugin.clone().unwrap_or_else(|| plugin_dir.join("cascade-cultivation-overrides.wasm"));
    // The same check `plugin add` makes, once: every installed copy has these bytes.
    runtime
        .load(&plugin, World::TenantOverrides)
        .with_context(|| format!("{} is not a valid override plugin", plugin.display()))?;
    let overrides_dir = super::plugin::installed_plugin_dir(home);
    std::fs::create_dir_all(&overrides_dir).with_context(|| format!("cannot create {}", overrides_dir.display()))?;
    let baseline = rss_kib()?;

    let register_started = Instant::now();
    let schedules = store.schedules()?;
    // Two hours ago with a one-hour interval: every schedule is due now.
    let earlier = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let cadence = Cadence::every("1h")?;
    let mut template = tenant_settings(info);
    template.product_master = ProductMaster::BusinessCentral;
    for index in 0..args.tenants {
        let mut settings = template.clone();
        settings.name = format!("bench-{index:05}");
        crate::tenant::validate::validate(&settings)?;
        store.tenants()?.register(&settings)?;
        secrets.set(&settings.name, SecretName::LeafLinkApiKey, &info.leaflink.api_key)?;
        secrets.set(&settings.name, SecretName::BusinessCentralClientSecret, &info.business_central.client_secret)?;
        schedules.set(&settings, FLOW, cadence.clone(), earlier)?;
        if index < args.with_plugin {
            let target = overrides_dir.join(overrides_plugin_file(&settings.name));
            std::fs::copy(&plugin, &target).with_context(|| format!("cannot install {}", target.display()))?;
        }
    }
    store.flush()?;
    let register_seconds = register_started.elapsed().as_secs_f64();
    let registered = rss_kib()?;

    let engine = FlowEngine::new(runtime, plugin_dir, store.clone(), secrets).with_overrides_dir(overrides_dir);
    let counter = Arc::new(CountingRunner {
        inner: engine,
        succeeded: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        finished: tokio::sync::Notify::new(),
    });
    let limits = SchedulerLimits { max_concurrent_runs: args.max_runs.max(1), ..SchedulerLimits::default() };
    let scheduler = Scheduler::new(Arc::new(counter.clone()), limits, Arc::new(Metrics::new()));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let ticker = tokio::spawn({
        let scheduler = scheduler.clone();
        let store = store.clone();
        async move { scheduler.run_schedules(store, Duration::from_millis(200), shutdown).await }
    });
    let total = args.tenants as u64;
    loop {
        let finished = counter.finished.notified();
        if counter.succeeded.load(Ordering::SeqCst) + counter.failed.load(Ordering::SeqCst) >= total {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
    }
    let cycle_seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = ticker.await;
    scheduler.shutdown(Duration::from_secs(30)).await;
    let idle = rss_kib()?;

    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(TenantFigures {
        profile: if cfg!(debug_assertions) { "dev" } else { "release" },
        tenants: args.tenants,
        tenants_with_plugin: args.with_plugin,
        runs_succeeded: counter.succeeded.load(Ordering::SeqCst),
        runs_failed: counter.failed.load(Ordering::SeqCst),
        cycle_seconds,
        register_seconds,
        baseline_rss_mib: mib(baseline),
        registered_rss_mib: mib(registered),
        idle_rss_mib: mib(idle),
        peak_rss_mib: mib(peak_rss_kib()?),
        idle_rss_kib_per_tenant: idle.saturating_sub(baseline) as f64 / args.tenants.max(1) as f64,
    })
}
