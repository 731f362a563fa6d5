//! `leafbridge status`: one line per tenant with its open work, and the last
//! run of each flow.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use super::Home;
use super::output::{print_json, print_table};
use crate::store::{ProposalStatus, RunOutcome, RunRecord, Store};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this tenant; all registered tenants when omitted.
    pub tenant: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The state of one tenant as `status` reports it.
#[derive(Debug, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub dead_letters: usize,
    pub conflicts: usize,
    pub open_link_proposals: usize,
    /// The latest run of each flow that ran, by flow name.
    pub last_runs: BTreeMap<String, RunRecord>,
}

pub fn run(home: &Home, args: StatusArgs) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    let tenants = match &args.tenant {
        Some(name) => vec![store.tenants()?.require(name)?.name],
        None => store.tenants()?.list()?.into_iter().map(|settings| settings.name).collect(),
    };
    let statuses = tenants.iter().map(|tenant| tenant_status(&store, tenant)).collect::<anyhow::Result<Vec<_>>>()?;
    if args.json {
        return print_json(&statuses);
    }
    print_summary(&statuses);
    Ok(())
}

/// Collects the counts and last runs of one tenant from the store.
pub fn tenant_status(store: &Store, tenant: &str) -> anyhow::Result<TenantStatus> {
    let mut last_runs = BTreeMap::new();
    // Runs are stored oldest first, so the last one per flow wins.
    for run in store.runs(tenant)? {
        last_runs.insert(run.flow.clone(), run);
    }
    let open_link_proposals =
        store.link_proposals(tenant)?.iter().filter(|proposal| proposal.status == ProposalStatus::Open).count();
    Ok(TenantStatus {
        tenant: tenant.to_owned(),
        dead_letters: store.dead_letters(tenant)?.len(),
        conflicts: store.conflicts(tenant)?.len(),
        open_link_proposals,
        last_runs,
    })
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
}

/// Column headers of a run table, matching `run_row`.
pub const RUN_HEADERS: [&str; 9] = ["tenant", "flow", "finished", "read", "written", "skipped", "failed", "outcome", "run id"];

/// One run as a table row under `RUN_HEADERS`.
pub fn run_row(run: &RunRecord) -> Vec<String> {
    let outcome = match run.outcome {
        RunOutcome::Done => "done".to_owned(),
        RunOutcome::Incomplete => "incomplete".to_owned(),
        RunOutcome::Stopped => format!("stopped: {}", run.reason.as_deref().unwrap_or("no reason recorded")),
    };
    vec![
        run.tenant.clone(),
        run.flow.clone(),
        run.finished.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        run.counts.read.to_string(),
        run.counts.written.to_string(),
        run.counts.skipped.to_string(),
        run.counts.failed.to_string(),
        outcome,
        run.id.clone(),
    ]
}
