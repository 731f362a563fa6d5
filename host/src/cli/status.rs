//! `leafbridge status`: one line per tenant with its open work, and the last
//! run of each flow.

use clap::Args;

use super::Home;
use super::output::{print_json, print_table};
use super::records::Records;
use crate::store::{OpenRun, RunOutcome, RunRecord};
use crate::tenant::status::TenantStatus;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this tenant; all registered tenants when omitted.
    pub tenant: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(home: &Home, args: StatusArgs) -> anyhow::Result<()> {
    let records = Records::open(home).await?;
    let tenants = match &args.tenant {
        Some(name) => vec![records.require_tenant(name).await?],
        None => records.tenant_names().await?,
    };
    let mut statuses = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        statuses.push(records.status(tenant).await?);
    }
    if args.json {
        return print_json(&statuses);
    }
    print_summary(&statuses);
    Ok(())
}

fn print_summary(statuses: &[TenantStatus]) {
    if statuses.is_empty() {
        println!("No tenants are registered; add one with `leafbridge tenant add`.");
        return;
    }
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|status| {
            vec![
                status.tenant.clone(),
                status.dead_letters.to_string(),
                status.conflicts.to_string(),
                status.open_link_proposals.to_string(),
                status.last_runs.len().to_string(),
            ]
        })
        .collect();
    print_table(&["tenant", "dead letters", "conflicts", "open proposals", "flows run"], &rows);

    let mut run_rows = Vec::new();
    for status in statuses {
        for run in status.last_runs.values() {
            run_rows.push(run_row(run));
        }
    }
    if !run_rows.is_empty() {
        println!();
        print_table(&RUN_HEADERS, &run_rows);
    }

    print_running(statuses.iter().flat_map(|status| &status.running));
}

/// Prints the runs in progress, if there are any, under a heading.
pub fn print_running<'a>(runs: impl IntoIterator<Item = &'a OpenRun>) {
    let rows: Vec<Vec<String>> = runs
        .into_iter()
        .map(|run| {
            vec![
                run.tenant.clone(),
                run.flow.clone(),
                run.started.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                run.counts.read.to_string(),
                run.counts.written.to_string(),
                run.id.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        println!("Running now (counts as last saved):");
        print_table(&["tenant", "flow", "started", "read", "written", "run id"], &rows);
    }
}

/// Column headers of a run table, matching `run_row`. The outcome comes
/// last because a stopped run's reason is long and would widen every row.
pub const RUN_HEADERS: [&str; 9] = ["tenant", "flow", "finished", "read", "written", "skipped", "failed", "run id", "outcome"];

/// Characters of a stop reason that a run table shows. `--json` shows the
/// whole text.
const REASON_CHARS: usize = 100;

/// One run as a table row under `RUN_HEADERS`.
pub fn run_row(run: &RunRecord) -> Vec<String> {
    let outcome = match run.outcome {
        RunOutcome::Done => "done".to_owned(),
        RunOutcome::Incomplete => "incomplete".to_owned(),
        RunOutcome::Interrupted => "interrupted (cut off before it finished)".to_owned(),
        RunOutcome::Stopped => {
            let reason = run.reason.as_deref().unwrap_or("no reason recorded");
            match reason.char_indices().nth(REASON_CHARS) {
                Some((end, _)) => format!("stopped: {}... (--json shows the whole reason)", &reason[..end]),
                None => format!("stopped: {reason}"),
            }
        }
    };
    vec![
        run.tenant.clone(),
        run.flow.clone(),
        run.finished.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        run.counts.read.to_string(),
        run.counts.written.to_string(),
        run.counts.skipped.to_string(),
        run.counts.failed.to_string(),
        run.id.clone(),
        outcome,
    ]
}
