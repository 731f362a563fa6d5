//! `leafbridge runs TENANT`: the run history of one tenant, newest first.

use clap::Args;

use super::Home;
use super::output::{print_json, print_table};
use super::status::{RUN_HEADERS, run_row};
use crate::flows::Flow;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// Show only the runs of this flow.
    #[arg(long)]
    pub flow: Option<Flow>,
    /// Maximum number of runs to show, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(home: &Home, args: RunsArgs) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    store.tenants()?.require(&args.tenant)?;
    let mut runs = store.runs(&args.tenant)?;
    if let Some(flow) = args.flow {
        runs.retain(|run| run.flow == flow.name());
    }
    runs.reverse();
    runs.truncate(args.limit);
    if args.json {
        return print_json(&runs);
    }
    if runs.is_empty() {
        println!("Tenant {} has no recorded runs.", args.tenant);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs.iter().map(run_row).collect();
    print_table(&RUN_HEADERS, &rows);
    Ok(())
}
