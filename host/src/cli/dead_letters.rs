//! `leafbridge dead-letters list|retry|discard`: records a flow could not
//! process, and what a person does about them.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Home;
use super::output::{print_json, print_table};
use super::records::Records;
use crate::flows::Flow;
use crate::flows::runner::TenantRunner;
use crate::runtime::default_plugin_dir;
use crate::store::{DeadLetter, RecordKind, Store};
use crate::tenant::TenantSettings;

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List a tenant's dead letters with their reasons and next retry.
    ///
    /// Example: leafbridge dead-letters list acme --json
    List {
        /// The registered tenant's name.
        tenant: String,
        /// Show only the dead letters of this flow.
        #[arg(long)]
        flow: Option<Flow>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a dead letter due now, so the next run of its flow retries the
    /// record; with --run, run that flow once right away. --all makes every
    /// dead letter of the flow due, for example after a setting was fixed.
    ///
    /// Examples:
    ///   leafbridge dead-letters retry acme orders-import "order 3F9A-12" --run
    ///   leafbridge dead-letters retry acme products-import --all --run
    #[command(verbatim_doc_comment)]
    Retry(RetryArgs),
    /// Remove a dead letter; the flow stops retrying the record.
    ///
    /// Example: leafbridge dead-letters discard acme orders-import "order 3F9A-12"
    Discard {
        /// The registered tenant's name.
        tenant: String,
        /// The flow that recorded the dead letter.
        flow: Flow,
        /// The record as `list` shows it, e.g. "order 3F9A-12".
        record: String,
    },
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// The flow that recorded the dead letter.
    pub flow: Flow,
    /// The record as `list` shows it, e.g. "order 3F9A-12".
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub record: Option<String>,
    /// Every dead letter of the flow, in place of one record.
    #[arg(long)]
    pub all: bool,
    /// Run the flow once now instead of waiting for its next scheduled run.
    #[arg(long)]
    pub run: bool,
    /// Directory of the plugin components, for --run; defaults to
    /// $LEAFBRIDGE_PLUGIN_DIR, else where `cargo xtask plugins` writes them.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,
}

pub async fn run(home: &Home, command: DeadLettersCommand) -> anyhow::Result<()> {
    match command {
        DeadLettersCommand::List { tenant, flow, json } => list(home, &tenant, flow, json).await,
        DeadLettersCommand::Retry(args) => retry(home, args).await,
        DeadLettersCommand::Discard { tenant, flow, record } => discard(home, &tenant, flow, &record),
    }
}

async fn list(home: &Home, tenant: &str, flow: Option<Flow>, json: bool) -> anyhow::Result<()> {
    let records = Records::open(home).await?;
    records.require_tenant(tenant).await?;
    let mut letters = records.dead_letters(tenant).await?;
    if let Some(flow) = flow {
        letters.retain(|letter| letter.flow == flow.name());
    }
    if json {
        let listed: Vec<ListedLetter> = letters.iter().map(|letter| ListedLetter { tenant, letter }).collect();
        return print_json(&listed);
    }
    if letters.is_empty() {
        println!("Tenant {tenant} has no dead letters.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|letter| {
            vec![
                letter.flow.clone(),
                // Quoted, so records that differ only in spacing (the SKUs
                // "" and "   ") look different, and can be pasted into
                // `retry` or `discard` as they are.
                format!("{:?}", letter.record),
                letter.attempts.to_string(),
                letter.next_retry.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                letter.reason.clone(),
            ]
        })
        .collect();
    print_table(&["flow", "record", "attempts", "next retry", "reason"], &rows);
    Ok(())
}

async fn retry(home: &Home, args: RetryArgs) -> anyhow::Result<()> {
    let Some(record) = args.record.clone() else {
        return retry_all(home, args).await;
    };
    let store = super::open_store(home)?;
    let settings = store.tenants()?.require(&args.tenant)?;
    let flow = args.flow.name();
    let before = store.make_dead_letter_due(&args.tenant, flow, &record)?.with_context(|| not_found(&args.tenant, flow, &record))?;
    if clear_if_done(&store, &args.tenant, args.flow, &record)? {
        store.flush()?;
        return Ok(());
    }
    store.flush()?;
    if !args.run {
        println!("Tenant {}, flow {flow}: {} is due and will be retried on the next run.", args.tenant, record);
        return Ok(());
    }

    run_once(home, &store, settings, args.flow, args.plugin_dir).await?;
    match store.dead_letter(&args.tenant, flow, &record)? {
        None => println!("{record} is done and its dead letter is removed."),
        Some(letter) if letter.attempts > before.attempts => anyhow::bail!(
            "tenant {}, flow {flow}: {} failed again (attempt {}): {}",
            args.tenant,
            record,
            letter.attempts,
            letter.reason
        ),
        Some(_) => {
            if !clear_if_done(&store, &args.tenant, args.flow, &record)? {
                println!(
                    "The run did not reach {}, so its dead letter stays, due now; the flow retries it when it reads the record again.",
                    record
                );
            }
            store.flush()?;
        }
    }
    Ok(())
}

/// Makes every dead letter of the flow due, clears those whose record is
/// already done and, with --run, runs the flow once and prints how many
/// letters are left.
async fn retry_all(home: &Home, args: RetryArgs) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    let settings = store.tenants()?.require(&args.tenant)?;
    let flow = args.flow.name();
    let records: Vec<String> =
        store.dead_letters(&args.tenant)?.into_iter().filter(|letter| letter.flow == flow).map(|letter| letter.record).collect();
    if records.is_empty() {
        println!("Tenant {}, flow {flow}: no dead letters to retry.", args.tenant);
        return Ok(());
    }
    let mut due = 0;
    for record in &records {
        store.make_dead_letter_due(&args.tenant, flow, record)?;
        if !clear_if_done(&store, &args.tenant, args.flow, record)? {
            due += 1;
        }
    }
    store.flush()?;
    if !args.run {
        let letters = if due == 1 { "dead letter is" } else { "dead letters are" };
        println!("Tenant {}, flow {flow}: {due} {letters} due and will be retried on the next run.", args.tenant);
        return Ok(());
    }
    run_once(home, &store, settings, args.flow, args.plugin_dir).await?;
    let left = store.dead_letters(&args.tenant)?.into_iter().filter(|letter| letter.flow == flow).count();
    println!("Tenant {}, flow {flow}: {} of {} dead letters cleared, {left} left.", args.tenant, records.len().saturating_sub(left), records.len());
    Ok(())
}

/// Runs `flow` once for the tenant and prints its report.
async fn run_once(home: &Home, store: &Store, settings: TenantSettings, flow: Flow, plugin_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let secrets = super::run::load_secrets(home, store, &settings)?;
    let runtime = super::run::open_runtime(home)?;
    let plugin_dir = plugin_dir.unwrap_or_else(default_plugin_dir);
    let runner = TenantRunner::open(&runtime, &plugin_dir, settings, secrets)?;
    let report = runner.run(store, flow).await?;
    store.flush()?;
    super::run::print_table(&[report]);
    Ok(())
}

/// A dead letter in the `--json` listing, with its tenant.
#[derive(serde::Serialize)]
struct ListedLetter<'a> {
    tenant: &'a str,
    #[serde(flatten)]
    letter: &'a DeadLetter,
}

/// Removes the dead letter of a record that is already done, and prints why.
/// A record counts as done when a flow that creates it finds its
/// cross-reference: the BC customer, item or order exists and is paired, for
/// example because another flow or `link` made it after the failure. Returns
/// whether the letter was removed.
fn clear_if_done(store: &Store, tenant: &str, flow: Flow, record: &str) -> anyhow::Result<bool> {
    let Some((kind, key)) = created_record(flow, record) else { return Ok(false) };
    let Some(xref) = store.xref(tenant, kind, key)? else { return Ok(false) };
    store.clear_dead_letter(tenant, flow.name(), record)?;
    let bc = xref.bc_number.or(xref.bc_id).unwrap_or_else(|| "?".to_owned());
    println!(
        "Tenant {tenant}, flow {}: {record:?} is already done (paired with BC {} {bc}), so its dead letter is removed.",
        flow.name(),
        kind.as_str()
    );
    Ok(true)
}

/// Returns the kind and key of the cross-reference that shows a record of
/// `flow` done, for the flows that create records. Record keys are the ones
/// flows write: "customer 148515", "sku ABC-1", "order 6f1c...".
fn created_record(flow: Flow, record: &str) -> Option<(RecordKind, &str)> {
    let (prefix, key) = record.split_once(' ')?;
    let kind = match prefix {
        "customer" => RecordKind::Customer,
        "sku" => RecordKind::Item,
        "order" => RecordKind::Order,
        _ => return None,
    };
    let creates = match flow {
        Flow::OrdersImport => true,
        Flow::CustomersImport => kind == RecordKind::Customer,
        Flow::ProductsImport | Flow::ProductsExport => kind == RecordKind::Item,
        _ => false,
    };
    creates.then_some((kind, key))
}

fn discard(home: &Home, tenant: &str, flow: Flow, record: &str) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    store.tenants()?.require(tenant)?;
    let flow = flow.name();
    store.dead_letter(tenant, flow, record)?.with_context(|| not_found(tenant, flow, record))?;
    store.clear_dead_letter(tenant, flow, record)?;
    store.flush()?;
    println!("Tenant {tenant}, flow {flow}: the dead letter of {record} is discarded.");
    Ok(())
}

fn not_found(tenant: &str, flow: &str, record: &str) -> String {
    format!("tenant {tenant}, flow {flow}: no dead letter for {record:?}; `leafbridge dead-letters list {tenant}` shows them")
}
