//! `leafbridge conflicts TENANT`: fields both sides changed and decisions the
//! flows left to a person.

use clap::Args;

use super::Home;
use super::output::{print_json, print_table};
use super::records::Records;

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// The registered tenant's name.
    pub tenant: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(home: &Home, args: ConflictsArgs) -> anyhow::Result<()> {
    let records = Records::open(home).await?;
    records.require_tenant(&args.tenant).await?;
    let conflicts = records.conflicts(&args.tenant).await?;
    if args.json {
        return print_json(&conflicts);
    }
    if conflicts.is_empty() {
        println!("Tenant {} has no conflicts.", args.tenant);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = conflicts
        .iter()
        .map(|conflict| {
            vec![
                conflict.flow.clone(),
                conflict.record.clone(),
                conflict.field.clone().unwrap_or_else(|| "-".to_owned()),
                conflict.winner.clone(),
                conflict.leaflink_value.clone().unwrap_or_else(|| "-".to_owned()),
                conflict.business_central_value.clone().unwrap_or_else(|| "-".to_owned()),
                conflict.reason.clone(),
            ]
        })
        .collect();
    print_table(&["flow", "record", "field", "kept", "LeafLink value", "BC value", "reason"], &rows);
    Ok(())
}
