//! `leafbridge schedule set|list|pause|resume|remove`.

use clap::{ArgGroup, Args, Subcommand};

use super::Home;
use super::output::{print_json, print_table};
use crate::schedule::{Cadence, ScheduleError};

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Run a flow at an interval or on a cron schedule in the tenant's time zone.
    ///
    /// Each run starts up to 30 s after its due time (at most a tenth of the
    /// interval), at random, so tenants on the same schedule do not call the
    /// APIs in the same second.
    ///
    /// Examples:
    ///   leafbridge schedule set acme orders-import --every 15m
    ///   leafbridge schedule set acme inventory-push --cron "0 */2 * * *"
    ///   leafbridge schedule set acme payments-push --cron "30 6 * * MON-FRI"
    #[command(verbatim_doc_comment)]
    Set(SetArgs),
    /// List schedules of one tenant, or of all tenants.
    ///
    /// Example: leafbridge schedule list acme --json
    List {
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop a scheduled flow from running until it is resumed.
    ///
    /// Example: leafbridge schedule pause acme orders-import
    Pause { tenant: String, flow: String },
    /// Resume a paused flow; it next runs at its first slot from now.
    ///
    /// Example: leafbridge schedule resume acme orders-import
    Resume { tenant: String, flow: String },
    /// Delete a flow's schedule.
    ///
    /// Example: leafbridge schedule remove acme orders-import
    Remove { tenant: String, flow: String },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("cadence").required(true).args(["every", "cron"])))]
pub struct SetArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// Flow name, e.g. orders-import.
    pub flow: String,
    /// Interval between runs, 1m to 744h (31 days), e.g. 15m, 2h, 1h30m.
    #[arg(long, value_name = "INTERVAL")]
    pub every: Option<String>,
    /// Five-field cron expression (minute hour day-of-month month day-of-week),
    /// in the tenant's time zone; day-of-week as names (MON-FRI). A day must
    /// match both day fields, unlike crontab, where either one is enough.
    #[arg(long, value_name = "EXPRESSION")]
    pub cron: Option<String>,
}

pub fn run(home: &Home, command: ScheduleCommand) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    let tenants = store.tenants()?;
    let schedules = store.schedules()?;
    let now = jiff::Timestamp::now();
    match command {
        ScheduleCommand::Set(args) => {
            let settings = tenants.require(&args.tenant)?;
            let cadence = match (args.every, args.cron) {
                (Some(every), _) => Cadence::every(&every)?,
                (None, Some(cron)) => Cadence::cron(&cron)?,
                (None, None) => unreachable!("clap requires --every or --cron"),
            };
            let entry = schedules.set(&settings, &args.flow, cadence, now)?;
            println!("{} {}: {}, next run at {}", entry.tenant, entry.flow, entry.cadence, entry.next_due);
        }
        ScheduleCommand::List { tenant, json } => {
            if let Some(tenant) = &tenant {
                tenants.require(tenant)?;
            }
            let entries = schedules.list(tenant.as_deref())?;
            if json {
                return print_json(&entries);
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|entry| {
                    vec![
                        entry.tenant.clone(),
                        entry.flow.clone(),
                        entry.cadence.to_string(),
                        if entry.paused { "paused" } else { "active" }.to_owned(),
                        entry.next_due.to_string(),
                        entry.last_started.map(|time| time.to_string()).unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            print_table(&["TENANT", "FLOW", "CADENCE", "STATE", "NEXT DUE", "LAST STARTED"], &rows);
        }
        ScheduleCommand::Pause { tenant, flow } => {
            let settings = tenants.require(&tenant)?;
            schedules.set_paused(&settings, &flow, true, now)?;
            println!("paused {flow} for {tenant}");
        }
        ScheduleCommand::Resume { tenant, flow } => {
            let settings = tenants.require(&tenant)?;
            let entry = schedules.set_paused(&settings, &flow, false, now)?;
            println!("resumed {flow} for {tenant}; next run at {}", entry.next_due);
        }
        ScheduleCommand::Remove { tenant, flow } => {
            tenants.require(&tenant)?;
            if !schedules.remove(&tenant, &flow)? {
                return Err(ScheduleError::NotFound { tenant, flow }.into());
            }
            println!("removed the {flow} schedule of {tenant}");
        }
    }
    Ok(())
}
