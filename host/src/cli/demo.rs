//! `leafbridge demo`: plays a realistic day for the two example tenants.
//! TODO: being written.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one JSON object with a `tenants` list instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(_home: Option<PathBuf>, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not written yet")
}
