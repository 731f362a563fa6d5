//! `leafbridge bench import`: times one `orders-import` run against a
//! sandbox that runs as a child process, so the peak RSS measured here is
//! the importer's own.
//!
//! The child is `leafbridge sandbox --no-rate-limits` started from this same
//! executable. This process reads its JSON line, registers a tenant in a
//! temporary home, runs the import once and prints one JSON line of figures.
//!
//! By default every generated order has a status the tenant imports, so
//! `--orders` is also the number of imported orders. With `--catalog warm`,
//! `customers-import` and `products-import` first put the catalog into BC
//! and cross-reference it, untimed, and their requests are reported apart
//! from the import's. With `--catalog cold` the import creates the customers
//! and items its orders need.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use leafbridge_sandbox::SandboxInfo;
use serde::Serialize;

use super::Home;
use super::run::open_runtime;
use crate::capabilities::{Secret, TenantContext, TenantSecrets};
use crate::flows::{Flow, FlowReport};
use crate::flows::runner::TenantRunner;
use crate::runtime::default_plugin_dir;
use crate::store::{RecordKind, Store};
use crate::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};

/// The seller company of the sandbox's API key.
const SANDBOX_SELLER_COMPANY: i64 = 1;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time one orders-import run against a sandbox in a child process and
    /// print one JSON line of figures.
    ///
    /// Example: leafbridge bench import --orders 10000 --customers 2000 --products 5000
    Import(ImportArgs),
    /// Register many tenants against a sandbox in a child process, give some
    /// an override plugin, run one scheduled inventory-push cycle of each
    /// through the scheduler, and print one JSON line of time and memory.
    ///
    /// Example: leafbridge bench tenants --tenants 1000 --with-plugin 50
    Tenants(super::bench_tenants::TenantsArgs),
}

/// Options of `leafbridge bench import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Number of orders the sandbox generates.
    #[arg(long, default_value_t = 10_000, value_name = "COUNT")]
    pub orders: usize,
    /// Number of customers the sandbox generates.
    #[arg(long, default_value_t = 2_000, value_name = "COUNT")]
    pub customers: usize,
    /// Number of products the sandbox generates.
    #[arg(long, default_value_t = 5_000, value_name = "COUNT")]
    pub products: usize,
    /// Seed of the sandbox's data generator.
    #[arg(long, default_value_t = 101, value_name = "SEED")]
    pub seed: u64,
    /// Catalog state at the start of the import: `warm` runs
    /// customers-import and products-import first (untimed), `cold` leaves
    /// the customers and items for the import to create.
    #[arg(long, value_enum, default_value_t = Catalog::Warm)]
    pub catalog: Catalog,
    /// Let the sandbox generate orders in every status, so only those in an
    /// imported status (about 55%) are imported. Without it every generated
    /// order is importable.
    #[arg(long)]
    pub all_statuses: bool,
    /// Directory of the plugin components; defaults to
    /// $LEAFBRIDGE_PLUGIN_DIR, else where `cargo xtask plugins` writes them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Keep the host's request pacing under LeafLink's and BC's documented
    /// limits. By default the benchmark turns it off, because the sandbox
    /// runs without rate limits. With pacing, LeafLink's 300 requests a
    /// minute hold a crawl longer than 300 pages to 500 orders a second.
    #[arg(long)]
    pub pacing: bool,
}

/// Catalog state at the start of the timed import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Catalog {
    /// Customers and items are already in BC and cross-referenced.
    Warm,
    /// BC has none of them; the import creates them.
    Cold,
}

/// Figures of one untimed flow run that prepares the catalog.
#[derive(Debug, Serialize)]
struct PreparationFigures {
    flow: Flow,
    written: u64,
    seconds: f64,
    leaflink_requests: u64,
    business_central_requests: u64,
    business_central_operations: u64,
    requests_by_endpoint: BTreeMap<String, u64>,
}

/// Figures of one import run.
#[derive(Debug, Serialize)]
struct ImportFigures {
    profile: &'static str,
    catalog: Catalog,
    /// Whether the host paced its requests under the APIs' limits.
    pacing: bool,
    /// Flows run before the timed import, with their own request counts.
    preparation: Vec<PreparationFigures>,
    seeded_orders: usize,
    imported_orders: usize,
    failed: u64,
    seconds: f64,
    orders_per_second: f64,
    leaflink_requests: u64,
    leaflink_requests_per_100_orders: f64,
    business_central_requests: u64,
    business_central_requests_per_order: f64,
    business_central_operations: u64,
    business_central_operations_per_order: f64,
    /// Peak resident set of this process (`VmHWM`) when the import has
    /// finished, in MiB.
    peak_rss_mib: f64,
    /// Peak resident set after the benchmark counted the order
    /// cross-references in the store, in MiB. The count reads every order
    /// page once, and `Store::xref_count` describes how it keeps those pages
    /// from piling up in sled's cache.
    peak_rss_after_count_mib: f64,
    /// CPU time (user plus system) of this process during the import, in
    /// seconds.
    importer_cpu_seconds: f64,
    /// CPU time of the sandbox child during the import, in seconds.
    sandbox_cpu_seconds: f64,
    /// The import's wall time per step, in milliseconds.
    phase_millis: BTreeMap<&'static str, u64>,
    /// The import's requests by endpoint; see `api_requests_by_endpoint`.
    requests_by_endpoint: BTreeMap<String, u64>,
}

/// Kills the sandbox child when the benchmark ends, on error paths too.
pub(super) struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Import(args) => import(args).await,
        BenchCommand::Tenants(args) => super::bench_tenants::tenants(args).await,
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    if !args.pacing {
        crate::capabilities::pacing::turn_off_for_benchmark();
    }
    let (child, info) = start_sandbox(&args)?;

    let home = Home::at(std::env::temp_dir().join(format!("leafbridge-bench-{}", uuid::Uuid::new_v4())))?;
    let store = Store::open(&home.store_dir())?;
    let settings = tenant_settings(&info);
    let secrets = TenantSecrets {
        leaflink_api_key: Secret::new(info.leaflink.api_key.clone()),
        business_central_client_secret: Secret::new(info.business_central.client_secret.clone()),
    };
    let runtime = open_runtime(&home)?;
    let plugin_dir = args.plugin_dir.clone().unwrap_or_else(default_plugin_dir);
    let runner = TenantRunner::open(&runtime, &plugin_dir, settings.clone(), secrets)?;

    let mut preparation = Vec::new();
    if args.catalog == Catalog::Warm {
        for flow in [Flow::CustomersImport, Flow::ProductsImport] {
            preparation.push(prepare(&runner, &store, flow).await?);
        }
    }

    let before = runner.context.api_counters();
    let endpoints_before = runner.context.api_requests_by_endpoint();
    let sandbox_pid = child.0.id();
    let cpu_before = (cpu_seconds("self")?, cpu_seconds(&sandbox_pid.to_string())?);
    let started = Instant::now();
    let report = runner.run(&store, Flow::OrdersImport).await?;
    store.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = (cpu_seconds("self")?, cpu_seconds(&sandbox_pid.to_string())?);
    let after = runner.context.api_counters();
    let requests_by_endpoint = endpoint_difference(&endpoints_before, &runner.context);
    if report.counts.failed > 0 {
        tracing::warn!(failed = report.counts.failed, "some orders failed; the warnings above name each order and its reason");
    }

    let peak_rss_mib = peak_rss_kib()? as f64 / 1024.0;
    let imported = store.xref_count(&settings.name, RecordKind::Order)?;
    let per_order = |value: u64| value as f64 / imported.max(1) as f64;
    let business_central_operations = after.business_central_operations - before.business_central_operations;
    let figures = ImportFigures {
        profile: if cfg!(debug_assertions) { "dev" } else { "release" },
        catalog: args.catalog,
        pacing: args.pacing,
        preparation,
        seeded_orders: args.orders,
        imported_orders: imported,
        failed: report.counts.failed,
        seconds,
        orders_per_second: imported as f64 / seconds,
        leaflink_requests: report.counts.requests_leaflink,
        leaflink_requests_per_100_orders: per_order(report.counts.requests_leaflink) * 100.0,
        business_central_requests: report.counts.requests_business_central,
        business_central_requests_per_order: per_order(report.counts.requests_business_central),
        business_central_operations,
        business_central_operations_per_order: per_order(business_central_operations),
        peak_rss_mib,
        peak_rss_after_count_mib: peak_rss_kib()? as f64 / 1024.0,
        importer_cpu_seconds: cpu_after.0 - cpu_before.0,
        sandbox_cpu_seconds: cpu_after.1 - cpu_before.1,
        phase_millis: report.phase_millis.clone(),
        requests_by_endpoint,
    };
    println!("{}", serde_json::to_string(&figures)?);

    drop(store);
    if let Err(error) = std::fs::remove_dir_all(home.root()) {
        tracing::warn!(%error, home = %home.root().display(), "could not remove the benchmark's temporary home");
    }
    Ok(())
}

/// Starts `leafbridge sandbox` from this executable and reads its JSON line.
pub(super) fn start_sandbox(args: &ImportArgs) -> anyhow::Result<(ChildGuard, SandboxInfo)> {
    let exe = std::env::current_exe().context("cannot find the leafbridge executable to start the sandbox")?;
    let counts = [("--orders", args.orders), ("--customers", args.customers), ("--products", args.products)];
    let mut command = Command::new(exe);
    command.arg("sandbox").arg("--no-rate-limits").arg("--seed").arg(args.seed.to_string());
    if !args.all_statuses {
        command.arg("--order-statuses").arg(default_order_statuses().join(","));
    }
    for (flag, count) in counts {
        command.arg(flag).arg(count.to_string());
    }
    let mut child = ChildGuard(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start `leafbridge sandbox`")?,
    );
    let stdout = child.0.stdout.take().context("the sandbox has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).context("cannot read the sandbox's JSON line")?;
    if line.trim().is_empty() {
        bail!("the sandbox exited before printing its connection details");
    }
    let info: SandboxInfo =
        serde_json::from_str(line.trim()).with_context(|| format!("the sandbox printed an invalid JSON line: {line:?}"))?;
    Ok((child, info))
}

pub(super) fn tenant_settings(info: &SandboxInfo) -> TenantSettings {
    TenantSettings {
        name: "bench".to_owned(),
        // Before all of the sandbox's generated data (products are dated from
        // about 2023-07 on), so every generated order is importable by date and
        // products-import reads the whole catalog.
        go_live: jiff::Timestamp::from_second(1_672_531_200).expect("2023-01-01T00:00:00Z is a valid timestamp"),
        time_zone: "America/Denver".to_owned(),
        product_master: ProductMaster::LeafLink,
        order_statuses_to_import: default_order_statuses(),
        freight_account: "40100".to_owned(),
        unit_map: default_unit_map(),
        salesperson_map: Default::default(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint {
            base_url: info.leaflink.base_url.clone(),
            company_id: Some(SANDBOX_SELLER_COMPANY),
            recorded_by: None,
        },
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

/// Runs one catalog flow before the timed import and counts its requests.
async fn prepare(runner: &TenantRunner, store: &Store, flow: Flow) -> anyhow::Result<PreparationFigures> {
    let before = runner.context.api_counters();
    let endpoints_before = runner.context.api_requests_by_endpoint();
    let started = Instant::now();
    let report: FlowReport = runner.run(store, flow).await?;
    let seconds = started.elapsed().as_secs_f64();
    let after = runner.context.api_counters();
    if report.counts.failed > 0 {
        bail!("{flow} failed for {} records, so the catalog is not complete; see the log", report.counts.failed);
    }
    Ok(PreparationFigures {
        flow,
        written: report.counts.written,
        seconds,
        leaflink_requests: report.counts.requests_leaflink,
        business_central_requests: report.counts.requests_business_central,
        business_central_operations: after.business_central_operations - before.business_central_operations,
        requests_by_endpoint: endpoint_difference(&endpoints_before, &runner.context),
    })
}

/// Computes the requests by endpoint sent since `before` was read.
fn endpoint_difference(before: &BTreeMap<String, u64>, context: &TenantContext) -> BTreeMap<String, u64> {
    context
        .api_requests_by_endpoint()
        .into_iter()
        .map(|(endpoint, count)| {
            let earlier = before.get(&endpoint).copied().unwrap_or(0);
            (endpoint, count - earlier)
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// CPU time (user plus system) of the process `pid` (`self` for this one),
/// in seconds, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name in brackets may contain spaces, so the fields are
    // counted from the closing bracket: utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).with_context(|| format!("invalid {path}: {stat:?}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields.get(index).and_then(|field| field.parse().ok()).with_context(|| format!("invalid {path}: {stat:?}"))
    };
    // Fields after the name start at field 3, so utime (14) is index 11.
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        bail!("sysconf(_SC_CLK_TCK) failed");
    }
    Ok(total as f64 / per_second as f64)
}

/// The peak resident set size of this process (`VmHWM` in
/// `/proc/self/status`), in KiB.
pub(super) fn peak_rss_kib() -> anyhow::Result<u64> {
    status_kib("VmHWM:")
}

/// Reads the current resident set size of this process (`VmRSS`), in KiB.
pub(super) fn rss_kib() -> anyhow::Result<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with(field)).with_context(|| format!("/proc/self/status has no {field} line"))?;
    line.trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("invalid VmHWM line {line:?}"))
}
