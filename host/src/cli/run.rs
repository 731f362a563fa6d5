//! `leafbridge run TENANT FLOW`: runs one flow once for one registered tenant
//! and prints what it did.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::Home;
use super::progress::RunProgress;
use crate::capabilities::{Secret, TenantSecrets};
use crate::flows::runner::TenantRunner;
use crate::flows::{Flow, FlowReport};
use crate::runtime::{Runtime, RuntimeConfig, default_plugin_dir};
use super::records::AdminClient;
use crate::store::{RunOutcome, RunRecord, Store, StoreError};
use crate::store::secrets::{SecretName, load_store_key};
use crate::tenant::TenantSettings;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// The flow: link, orders-import, customers-import, products-export,
    /// products-import, products-push, products-pull, orders-push, orders-pull,
    /// inventory-push or payments-push.
    pub flow: Flow,
    /// Directory of the plugin components (`<name>.wasm`); defaults to
    /// $LEAFBRIDGE_PLUGIN_DIR, else where `cargo xtask plugins` writes them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Print the report as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl clap::ValueEnum for Flow {
    fn value_variants<'a>() -> &'a [Self] {
        &Flow::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

pub async fn run(home: &Home, args: RunArgs) -> anyhow::Result<()> {
    let store = match Store::open(&home.store_dir()) {
        Ok(store) => store,
        Err(locked @ StoreError::Locked { .. }) => {
            let client = AdminClient::for_locked_store(home, locked)?;
            return run_through_serve(&client, &args).await;
        }
        Err(error) => return Err(error.into()),
    };
    let settings = store.tenants()?.require(&args.tenant)?;
    let secrets = load_secrets(home, &store, &settings)?;
    let runtime = open_runtime(home)?;
    let plugin_dir = args.plugin_dir.unwrap_or_else(default_plugin_dir);
    let overrides_dir = super::plugin::installed_plugin_dir(home);
    let runner = TenantRunner::open_with_overrides(&runtime, &plugin_dir, Some(&overrides_dir), settings, secrets)?;

    let mailer = crate::serve::notify::Mailer::from_env()?;
    let progress = RunProgress::start(&args.tenant, args.flow);
    let flows = [args.flow];
    let report = tokio::select! {
        reports = runner.run_all_with_progress(&store, &flows, Some(progress.sink())) => {
            progress.finish();
            reports?.remove(0)
        }
        _ = super::serve::wait_for_signal() => {
            progress.finish();
            return interrupted(&store, &args.tenant, args.flow);
        }
    };
    store.flush()?;
    crate::serve::notify::notify_after_run(&store, &args.tenant, args.flow.name(), mailer.as_deref()).await;
    print_report(report, args.json)
}

/// While `serve` has the store locked, requests the run from serve, waits
/// for the run started for this request (serve queues it after a run of the
/// same flow in progress) and prints its record as a local run would. serve
/// runs the flow with its own plugins, so `--plugin-dir` does not apply.
async fn run_through_serve(client: &AdminClient, args: &RunArgs) -> anyhow::Result<()> {
    let (tenant, flow) = (&args.tenant, args.flow.name());
    if args.plugin_dir.is_some() {
        anyhow::bail!(
            "the store is locked by leafbridge serve (pid {}), which runs flows with its own plugins, so --plugin-dir cannot apply; stop serve or leave the flag out",
            client.serve_pid()
        );
    }
    // An unknown tenant gets serve's not-found error before any note.
    client.get::<serde_json::Value>(&format!("tenants/{tenant}")).await?;
    eprintln!(
        "note: the store is locked by leafbridge serve (pid {}), so serve runs the flow; waiting for it to finish (Ctrl-C stops waiting, not the run)",
        client.serve_pid(),
    );

    let requested = jiff::Timestamp::now();
    let path = format!("tenants/{tenant}/flows/{flow}/run?wait=true");
    let request = client.post_and_wait::<ServedRun>(&path);
    let served = tokio::select! {
        served = request => match served {
            Ok(served) => served,
            // A connection that closed while the run went on, unlike an error
            // serve returned, does not mean that the run failed.
            Err(error) if error.chain().any(|cause| cause.is::<reqwest::Error>()) => {
                return Err(error.context(format!(
                    "serve did not return the run of tenant {tenant}, flow {flow} (it may have stopped before the run finished); \
                     `leafbridge runs {tenant}` shows the run, as interrupted if serve cut it off"
                )));
            }
            Err(error) => return Err(error),
        },
        _ = tokio::signal::ctrl_c() => {
            anyhow::bail!("stopped waiting; serve goes on with tenant {tenant}, flow {flow}: `leafbridge runs {tenant}` shows the run when it finishes")
        }
    };
    if let Some(reason) = served.error {
        let prefix = format!("tenant {tenant}, flow {flow}");
        if reason.starts_with(&prefix) {
            anyhow::bail!("{reason}");
        }
        anyhow::bail!("{prefix}: serve's run failed: {reason}");
    }
    let outcome = served.outcome.context("serve's response has neither an outcome nor an error")?;

    let report = served_report(client, args, requested, outcome).await?;
    print_report(report, args.json)
}

/// Builds the report of a run serve finished: from its record, found by run
/// id among the runs started since `requested`, else from the counts serve
/// returned (a runner that keeps no record).
async fn served_report(client: &AdminClient, args: &RunArgs, requested: jiff::Timestamp, outcome: ServedOutcome) -> anyhow::Result<FlowReport> {
    let tenant = &args.tenant;
    let record = match &outcome.run_id {
        // serve may stop (SIGTERM) right after its response, and the run it
        // finished is still done.
        Some(run_id) => match client.get::<Vec<RunRecord>>(&format!("tenants/{tenant}/runs?since={requested}")).await {
            Ok(runs) => runs.into_iter().find(|run| &run.id == run_id),
            Err(error) => {
                eprintln!(
                    "note: serve finished the run but its record cannot be read ({error:#}); these are the counts serve returned, and `leafbridge runs {tenant}` shows the record"
                );
                None
            }
        },
        None => None,
    };
    let report = match record {
        Some(run) => FlowReport {
            millis: (run.finished - run.started).total(jiff::Unit::Millisecond).unwrap_or(0.0).max(0.0) as u64,
            tenant: run.tenant,
            flow: args.flow,
            run_id: run.id,
            counts: run.counts,
            outcome: run.outcome,
            reason: run.reason,
            phase_millis: Default::default(),
        },
        None => FlowReport {
            tenant: tenant.clone(),
            flow: args.flow,
            run_id: outcome.run_id.unwrap_or_default(),
            counts: crate::store::RunCounts {
                read: outcome.read,
                written: outcome.written,
                skipped: outcome.skipped,
                failed: outcome.failed,
                ..Default::default()
            },
            outcome: if outcome.failed > 0 { RunOutcome::Incomplete } else { RunOutcome::Done },
            reason: None,
            millis: 0,
            phase_millis: Default::default(),
        },
    };
    Ok(report)
}

/// serve's response to a run request with `wait=true`.
#[derive(Debug, serde::Deserialize)]
struct ServedRun {
    outcome: Option<ServedOutcome>,
    error: Option<String>,
}

/// The counts serve returns for a finished run.
#[derive(Debug, serde::Deserialize)]
struct ServedOutcome {
    run_id: Option<String>,
    read: u64,
    written: u64,
    skipped: u64,
    failed: u64,
}

/// Prints a finished run as JSON or as a table, and fails when it stopped.
fn print_report(report: FlowReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table_with(std::slice::from_ref(&report), StopReason::Below);
    }
    if report.outcome == RunOutcome::Stopped {
        // Every flow error already starts with the tenant and flow.
        let prefix = format!("tenant {}, flow {}", report.tenant, report.flow);
        match report.reason {
            Some(reason) if reason.starts_with(&prefix) => anyhow::bail!("{reason}"),
            reason => anyhow::bail!("{prefix} stopped: {}", reason.unwrap_or_default()),
        }
    }
    Ok(())
}

/// Stops a run on Ctrl-C: the record in flight is abandoned at its next
/// await, which the flows tolerate like a crash (a rerun re-reads from the
/// cursor and the cross-references skip what was written). Flushes the store
/// and prints where the next run resumes.
fn interrupted(store: &Store, tenant: &str, flow: Flow) -> anyhow::Result<()> {
    // The run's future is dropped, so its record is written here rather than
    // by the next command.
    if let Err(error) = store.record_interrupted_runs() {
        eprintln!("The run's record cannot be written: {error}");
    }
    let flushed = store.flush();
    let cursor = store.cursor(tenant, flow.name());
    eprintln!("interrupted: tenant {tenant}, flow {flow} stopped before it finished.");
    match (&flushed, cursor) {
        (Ok(()), Ok(Some(cursor))) => eprintln!(
            "Records up to {} are finished and the cursor is saved; rerun `leafbridge run {tenant} {flow}` to resume from there.",
            cursor.position
        ),
        (Ok(()), Ok(None)) => {
            eprintln!("No cursor was saved yet; rerun `leafbridge run {tenant} {flow}` to start again, and the cross-references skip records already written.")
        }
        (Ok(()), Err(error)) => eprintln!("The store was saved, but its cursor cannot be read: {error}"),
        (Err(_), _) => {}
    }
    flushed.context("cannot save the store after the interruption")?;
    anyhow::bail!("tenant {tenant}, flow {flow} was interrupted")
}

/// The tenant's LeafLink key and BC client secret from the encrypted store.
pub fn load_secrets(home: &Home, store: &Store, settings: &TenantSettings) -> anyhow::Result<TenantSecrets> {
    let (key, _) = load_store_key(store, &home.key_file())?;
    let secrets = store.secrets(&key)?;
    let leaflink = secrets.require(&settings.name, SecretName::LeafLinkApiKey)?;
    let business_central = secrets.require(&settings.name, SecretName::BusinessCentralClientSecret)?;
    Ok(TenantSecrets {
        leaflink_api_key: Secret::new(leaflink.expose()),
        business_central_client_secret: Secret::new(business_central.expose()),
    })
}

/// The process's plugin runtime, caching compiled components under `home`.
pub fn open_runtime(home: &Home) -> anyhow::Result<Arc<Runtime>> {
    let config = RuntimeConfig {
        cache_dir: home.component_cache_dir(),
        bounds: Default::default(),
        defaults: Default::default(),
    };
    Ok(Runtime::new(config)?)
}

/// Prints reports as an aligned table, one row per tenant and flow.
pub fn print_table(reports: &[FlowReport]) {
    print_table_with(reports, StopReason::InTable);
}

/// The place of a stopped run's reason in a table of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    InTable,
    /// The command prints the reason as its error line after the table.
    Below,
}

fn print_table_with(reports: &[FlowReport], stop_reason: StopReason) {
    println!("{}  outcome", table_header());
    for report in reports {
        let counts = &report.counts;
        let outcome = match (report.outcome, stop_reason) {
            (RunOutcome::Done, _) => "done".to_owned(),
            (RunOutcome::Incomplete, _) => "incomplete (rerun retries the failures)".to_owned(),
            (RunOutcome::Stopped, StopReason::Below) => "stopped (the reason follows)".to_owned(),
            (RunOutcome::Stopped, StopReason::InTable) => format!("stopped: {}", report.reason.as_deref().unwrap_or("")),
            // A live run never reports this; only a record found later does.
            (RunOutcome::Interrupted, _) => "interrupted".to_owned(),
        };
        println!("{}  {outcome}", table_row(&report.tenant, report.flow, counts, report.millis));
    }
    println!("{TABLE_NOTE}");
}

/// Formats the column heads of the per-run table. `read` to `failed` count
/// the records the `records` column names. `related` counts the customers
/// and items written for them, because orders-import creates an order's new
/// customer and items.
pub fn table_header() -> String {
    format!(
        "{:<22} {:<17} {:<9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "tenant", "flow", "records", "read", "written", "skipped", "failed", "related", "req LL", "req BC", "ms"
    )
}

/// A line under the table that explains what its columns count.
pub const TABLE_NOTE: &str =
    "read, written, skipped and failed count the records named in the records column; related counts the customers and items written for them";

/// Formats one row of the per-run table.
pub fn table_row(tenant: &str, flow: crate::flows::Flow, counts: &crate::store::RunCounts, millis: u64) -> String {
    format!(
        "{:<22} {:<17} {:<9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        tenant,
        flow.name(),
        flow.record_noun(),
        counts.read,
        counts.written,
        counts.skipped,
        counts.failed,
        counts.related_written,
        counts.requests_leaflink,
        counts.requests_business_central,
        millis,
    )
}
