//! The `leafbridge` command line: nouns then verbs, one file per command.

pub mod demo;
mod home;
pub mod run;

pub use home::Home;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps LeafLink and Microsoft Dynamics 365 Business Central in step for many
/// client companies (tenants), through sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "leafbridge", version, about, long_about = None)]
pub struct Cli {
    /// Directory that holds all state: store, component cache, key file.
    /// Defaults to $LEAFBRIDGE_HOME, else the platform's data directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one flow once for one tenant and print what it did.
    ///
    /// Example: leafbridge run evergreen-farms orders-import
    Run(run::RunArgs),
    /// Play a realistic day for the two example tenants against an
    /// in-process sandbox and print a per-tenant, per-flow table.
    Demo(demo::DemoArgs),
}

/// Parses the command line, runs the command and turns an error into a
/// one-line reason and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&Home::resolve(cli.home)?, args).await,
        Command::Demo(args) => demo::run(cli.home, args).await,
    }
}
