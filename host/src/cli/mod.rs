//! The `leafbridge` command line: nouns then verbs, one file per command.

mod home;
mod sandbox;

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
    /// Start local LeafLink and Business Central stand-ins and serve until Ctrl-C.
    Sandbox(sandbox::SandboxArgs),
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
    let _home = Home::resolve(cli.home)?;
    match cli.command {
        Command::Sandbox(args) => sandbox::run(args).await,
    }
}
