//! `leafbridge runs TENANT`: the run history of one tenant, newest first.

use clap::Args;

use super::Home;
use super::output::{print_json, print_table};
use super::records::Records;
use super::status::{RUN_HEADERS, print_running, run_row};
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
    /// Print the finished runs as JSON instead of tables (`status --json`
    /// lists the runs in progress).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(home: &Home, args: RunsArgs) -> anyhow::Result<()> {
    let records = Records::open(home).await?;
    records.require_tenant(&args.tenant).await?;
    let mut runs = records.runs(&args.tenant).await?;
    if let Some(flow) = args.flow {
        runs.retain(|run| run.flow == flow.name());
    }
    runs.reverse();
    runs.truncate(args.limit);
    if args.json {
        return print_json(&runs);
    }
    if runs.is_empty() {
        match (args.flow, args.limit) {
            (_, 0) => println!("No runs shown: --limit is 0."),
            (Some(flow), _) => println!("Tenant {} has no recorded runs of {flow}.", args.tenant),
            (None, _) => println!("Tenant {} has no recorded runs.", args.tenant),
        }
    } else {
        let rows: Vec<Vec<String>> = runs.iter().map(run_row).collect();
        print_table(&RUN_HEADERS, &rows);
    }
    // Only serve's runs can be in progress here: a `run` in its own process
    // locks the store, so this command could not have opened it.
    let mut running = records.status(&args.tenant).await?.running;
    if let Some(flow) = args.flow {
        running.retain(|run| run.flow == flow.name());
    }
    print_running(&running);
    Ok(())
}
