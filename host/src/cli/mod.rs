//! The `leafbridge` command line: nouns then verbs, one file per command.

mod bench;
mod bench_tenants;
pub mod conflicts;
pub mod dead_letters;
pub mod demo;
mod home;
pub mod link;
mod output;
pub mod plugin;
mod progress;
mod records;
mod plugin_test;
pub mod run;
pub mod runs;
mod sandbox;
pub mod schedule;
pub mod secrets;
pub mod serve;
pub mod status;
pub mod tenant;
pub mod xref;

pub use home::Home;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps LeafLink and Microsoft Dynamics 365 Business Central in step for many
/// client companies (tenants), through sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "leafbridge", version, about, long_about = None)]
pub struct Cli {
    /// Directory that contains all state: store, component cache, key file.
    /// Defaults to $LEAFBRIDGE_HOME, else the platform's data directory;
    /// `demo` plays its day in a temporary home unless this is given.
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
    ///
    /// Examples:
    ///   leafbridge demo
    ///   leafbridge demo --json
    ///   leafbridge --home /tmp/day demo    (keeps the day's state to inspect)
    #[command(verbatim_doc_comment)]
    Demo(demo::DemoArgs),
    /// Register, inspect, change and remove tenants, and set their credentials.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Manage the key that encrypts credentials at rest.
    #[command(subcommand, alias = "key")]
    Secrets(secrets::SecretsCommand),
    /// Set, list, pause and resume flow schedules.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Run the scheduler, webhook receivers, admin API and metrics.
    ///
    /// Example: LEAFBRIDGE_ADMIN_TOKEN=... leafbridge serve --listen 127.0.0.1:8080 --public-url https://leafbridge.example.com
    Serve(serve::ServeArgs),
    /// Show each tenant's dead letters, conflicts, open link proposals and
    /// the last run of each flow.
    ///
    /// Example: leafbridge status --json
    Status(status::StatusArgs),
    /// List a tenant's runs, newest first.
    ///
    /// Example: leafbridge runs acme --flow orders-import --json
    Runs(runs::RunsArgs),
    /// List a tenant's conflicts.
    ///
    /// Example: leafbridge conflicts acme --json
    Conflicts(conflicts::ConflictsArgs),
    /// List, retry or discard records a flow could not process.
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLettersCommand),
    /// Show cross-references between LeafLink and BC records.
    #[command(subcommand)]
    Xref(xref::XrefCommand),
    /// List, accept or reject the pairs the link flow left to a person.
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// Add, list, remove and test a tenant's override plugin.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Start local LeafLink and Business Central stand-ins and serve until Ctrl-C.
    ///
    /// Prints one JSON line with their URLs and credentials; the README's
    /// "A tenant against the sandbox" registers a tenant from it.
    ///
    /// Examples:
    ///   leafbridge sandbox > sandbox.json
    ///   leafbridge sandbox --orders 5000 --seed 7 --no-rate-limits
    #[command(verbatim_doc_comment)]
    Sandbox(sandbox::SandboxArgs),
    /// Measure throughput against a sandbox in a child process.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Parses the command line, runs the command and turns an error into a
/// one-line reason and a non-zero exit code.
/// Makes a closed stdout end the process quietly, as it ends `ls | head`.
///
/// Rust ignores SIGPIPE, so `println!` panics with "failed printing to
/// stdout" once the reader of a pipe has gone. Restoring SIGPIPE instead would
/// also let a closed network socket kill `serve`, so only that panic is
/// turned into exit status 141 (128 + SIGPIPE), the status a shell reports.
fn exit_quietly_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

pub fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    init_logging(&cli.command);
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
            eprintln!("error: {}", output::terminal_safe(&error_chain(&error)));
            ExitCode::FAILURE
        }
    }
}

/// Formats an error and its causes on one line, separated by ": ". A cause
/// whose text the line already contains is left out, because many errors
/// include their source in their own message and `{:#}` would print it twice.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { home, command } = cli;
    match command {
        // The demo uses a temporary home unless --home is given.
        Command::Demo(args) => demo::run(home, args).await,
        Command::Run(args) => run::run(&Home::resolve(home)?, args).await,
        Command::Tenant(tenant::TenantCommand::List { json }) => tenant::list_tenants(&Home::resolve(home)?, json).await,
        Command::Tenant(command) => tenant::run(&Home::resolve(home)?, command),
        Command::Secrets(command) => secrets::run(&Home::resolve(home)?, command),
        Command::Schedule(command) => schedule::run(&Home::resolve(home)?, command),
        Command::Serve(args) => serve::run(&Home::resolve(home)?, args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Bench(command) => bench::run(command).await,
        Command::Plugin(command) => plugin::run(&Home::resolve(home)?, command).await,
        Command::Status(args) => status::run(&Home::resolve(home)?, args).await,
        Command::Runs(args) => runs::run(&Home::resolve(home)?, args).await,
        Command::Conflicts(args) => conflicts::run(&Home::resolve(home)?, args).await,
        Command::DeadLetters(command) => dead_letters::run(&Home::resolve(home)?, command).await,
        Command::Xref(command) => xref::run(&Home::resolve(home)?, command),
        Command::Link(command) => link::run(&Home::resolve(home)?, command),
    }
}

/// Logs to standard error, in colour only on a terminal without `NO_COLOR`;
/// `LEAFBRIDGE_LOG` takes an env-filter directive such as `debug` or
/// `leafbridge::serve=debug`. The default is `info` for `serve`, whose log
/// is the operators' record. Other commands print their own results, so by
/// default they log warnings and errors only, and not the end of each run
/// (target `leafbridge::run_outcome`), which their report already shows.
/// For the demo it also leaves out the records sent to dead letters on
/// purpose (target `leafbridge::dead_letter`), because the demo's table
/// counts them and its closing lines give the command that lists them.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Serve(_) => "info",
        Command::Demo(_) => "warn,leafbridge::run_outcome=off,leafbridge::dead_letter=off",
        _ => "warn,leafbridge::run_outcome=off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEAFBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only help on a terminal; in a file or a pipe they are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).try_init();
}

/// Opens the store of `home`.
pub fn open_store(home: &Home) -> anyhow::Result<crate::store::Store> {
    Ok(crate::store::Store::open(&home.store_dir())?)
}

/// Opens the secret store of `home` with its key (environment or key file).
pub fn open_secrets(home: &Home, store: &crate::store::Store) -> anyhow::Result<crate::store::secrets::Secrets> {
    let (key, _source) = crate::store::secrets::load_store_key(store, &home.key_file())?;
    Ok(store.secrets(&key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store at /h: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn error_chain_prints_cause_once() {
        let error = anyhow::Error::new(Outer { source: std::io::Error::other("disk is full") }).context("tenant add failed");
        assert_eq!(error_chain(&error), "tenant add failed: cannot open the store at /h: disk is full");
    }

    #[test]
    fn error_chain_keeps_distinct_causes() {
        let error = anyhow::anyhow!("disk is full").context("cannot write").context("tenant add failed");
        assert_eq!(error_chain(&error), "tenant add failed: cannot write: disk is full");
    }
}
