//! `leafbridge sandbox`: starts the LeafLink and Business Central stand-ins on
//! loopback, prints one JSON line with everything a client needs, and serves
//! until Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use leafbridge_sandbox::leaflink::Status;
use leafbridge_sandbox::{BusinessCentralSeed, FaultProfile, Sandbox, SandboxConfig, SeedConfig};

/// Options of `leafbridge sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port of the LeafLink server (0 lets the OS choose).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub leaflink_port: u16,
    /// Port of the Business Central server (0 lets the OS choose).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub business_central_port: u16,
    /// Number of generated LeafLink customers, besides the published examples (at most 100000).
    #[arg(long, default_value_t = 20, value_name = "COUNT")]
    pub customers: usize,
    /// Number of generated LeafLink products, besides the published examples (at most 100000).
    #[arg(long, default_value_t = 40, value_name = "COUNT")]
    pub products: usize,
    /// Number of generated LeafLink orders, besides the published examples (at most 1000000).
    #[arg(long, default_value_t = 50, value_name = "COUNT")]
    pub orders: usize,
    /// Number of generated Business Central customers, besides the published examples (at most 100000).
    #[arg(long, default_value_t = BusinessCentralSeed::default().customers, value_name = "COUNT")]
    pub bc_customers: usize,
    /// Number of generated Business Central items, besides the published examples (at most 100000).
    #[arg(long, default_value_t = BusinessCentralSeed::default().items, value_name = "COUNT")]
    pub bc_items: usize,
    /// Number of generated Business Central sales orders, of which every fifth is shipped and invoiced (at most 20000).
    #[arg(long, default_value_t = BusinessCentralSeed::default().orders, value_name = "COUNT")]
    pub bc_orders: usize,
    /// Seed of the data generator of both servers. The same seed gives the same data.
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    pub seed: u64,
    /// Comma-separated LeafLink statuses that generated orders may take, for
    /// example `Submitted,Accepted`; without it orders get the usual mix of
    /// all statuses.
    #[arg(long, value_delimiter = ',', value_parser = order_status, value_name = "STATUSES")]
    pub order_statuses: Vec<Status>,
    /// Serve without the APIs' rate limits.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Send LeafLink money amounts as decimal strings instead of JSON numbers.
    #[arg(long)]
    pub money_as_string: bool,
    /// Delay before Business Central sends webhook notifications, in milliseconds (at most 600000).
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = milliseconds())]
    pub notification_delay_ms: u64,

    #[command(flatten)]
    pub leaflink_faults: LeafLinkFaultArgs,
    #[command(flatten)]
    pub business_central_faults: BusinessCentralFaultArgs,
}

fn order_status(text: &str) -> Result<Status, String> {
    Status::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Status::ALL.iter().map(|status| status.name()).collect();
        format!("invalid order status {text:?}: expected one of {}", names.join(", "))
    })
}

fn rate(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("invalid rate {text:?}: expected a number from 0 to 1"))?;
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(format!("invalid rate {value}: expected a number from 0 to 1")) }
}

/// Faults of the LeafLink server; each rate is a probability per request.
#[derive(Debug, Args)]
pub struct LeafLinkFaultArgs {
    /// Latency added to every LeafLink request, in milliseconds (at most 600000).
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = milliseconds())]
    pub leaflink_latency_ms: u64,
    /// Fraction of LeafLink requests that get a 429 response.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub leaflink_429_rate: f64,
    /// Fraction of LeafLink requests that get a 502, 503 or 504 response.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub leaflink_5xx_rate: f64,
    /// Fraction of LeafLink connections dropped before the request is handled.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub leaflink_drop_rate: f64,
    /// Fraction of LeafLink requests whose write happens but whose response is dropped.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub leaflink_timeout_after_commit_rate: f64,
}

/// Faults of the Business Central server; each rate is a probability per request.
#[derive(Debug, Args)]
pub struct BusinessCentralFaultArgs {
    /// Latency added to every Business Central request, in milliseconds (at most 600000).
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = milliseconds())]
    pub business_central_latency_ms: u64,
    /// Fraction of Business Central requests that get a 429 response.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub business_central_429_rate: f64,
    /// Fraction of Business Central requests that get a 502, 503 or 504 response.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub business_central_5xx_rate: f64,
    /// Fraction of Business Central connections dropped before the request is handled.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub business_central_drop_rate: f64,
    /// Fraction of Business Central requests whose write happens but whose response is dropped.
    #[arg(long, default_value_t = 0.0, value_parser = rate, value_name = "RATE")]
    pub business_central_timeout_after_commit_rate: f64,
}

impl SandboxArgs {
    fn config(&self) -> SandboxConfig {
        let leaflink = &self.leaflink_faults;
        let central = &self.business_central_faults;
        SandboxConfig {
            leaflink_port: self.leaflink_port,
            business_central_port: self.business_central_port,
            seed: SeedConfig {
                customers: self.customers,
                products: self.products,
                orders: self.orders,
                random_seed: self.seed,
            },
            business_central_seed: BusinessCentralSeed {
                customers: self.bc_customers,
                items: self.bc_items,
                orders: self.bc_orders,
            },
            leaflink_faults: FaultProfile {
                latency: Duration::from_millis(leaflink.leaflink_latency_ms),
                rate_429: leaflink.leaflink_429_rate,
                rate_5xx: leaflink.leaflink_5xx_rate,
                drop_connection: leaflink.leaflink_drop_rate,
                timeout_after_commit: leaflink.leaflink_timeout_after_commit_rate,
            },
            business_central_faults: FaultProfile {
                latency: Duration::from_millis(central.business_central_latency_ms),
                rate_429: central.business_central_429_rate,
                rate_5xx: central.business_central_5xx_rate,
                drop_connection: central.business_central_drop_rate,
                timeout_after_commit: central.business_central_timeout_after_commit_rate,
            },
            rate_limits: !self.no_rate_limits,
            money_as_string: self.money_as_string,
            notification_delay: Duration::from_millis(self.notification_delay_ms),
            order_statuses: self.order_statuses.clone(),
            ..SandboxConfig::default()
        }
    }
}

/// Starts both servers, prints the connection JSON line and serves until Ctrl-C.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let config = args.config();
    // Checked before anything is allocated, so an absurd size gets one line
    // that names the option instead of an allocation abort.
    if let Err(error) = config.seed.check().and_then(|()| config.business_central_seed.check()) {
        anyhow::bail!(
            "invalid --{} {}: at most {} are supported",
            error.kind,
            error.requested,
            error.maximum
        );
    }
    let sandbox = Sandbox::start(config).await?;
    let line = serde_json::to_string(&sandbox.info()).context("cannot encode the sandbox connection details")?;
    // The handler is in place before the line goes out: a script may stop
    // the sandbox as soon as it reads the line, and SIGINT before the
    // handler would kill the process instead of stopping it cleanly.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the Ctrl-C handler")?;
    println!("{line}");
    interrupt.recv().await;
    drop(sandbox);
    Ok(())
}

/// Parses a delay of up to ten minutes. A longer one would hold every request past any
/// client's timeout, which no test needs.
fn milliseconds() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=600_000)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    #[test]
    fn help_states_seed_limits() {
        let command = Wrapper::command();
        for (name, maximum) in [
            ("customers", SeedConfig::MAX_CUSTOMERS),
            ("products", SeedConfig::MAX_PRODUCTS),
            ("orders", SeedConfig::MAX_ORDERS),
            ("bc_customers", BusinessCentralSeed::MAX_CUSTOMERS),
            ("bc_items", BusinessCentralSeed::MAX_ITEMS),
            ("bc_orders", BusinessCentralSeed::MAX_ORDERS),
        ] {
            let argument = command.get_arguments().find(|argument| argument.get_id() == name).expect("the option exists");
            let help = argument.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains(&format!("at most {maximum})")), "--{name} help: {help}");
        }
    }

    #[tokio::test]
    async fn absurd_seed_size_is_rejected() {
        let args = Wrapper::try_parse_from(["sandbox", "--customers", "99999999999"]).expect("the count parses");
        let error = run(args.sandbox).await.expect_err("the size is rejected");
        assert_eq!(error.to_string(), "invalid --customers 99999999999: at most 100000 are supported");
    }

    #[tokio::test]
    async fn absurd_bc_order_count_is_rejected() {
        let args = Wrapper::try_parse_from(["sandbox", "--bc-orders", "20001"]).expect("the count parses");
        let error = run(args.sandbox).await.expect_err("the size is rejected");
        assert_eq!(error.to_string(), "invalid --bc-orders 20001: at most 20000 are supported");
    }

    #[test]
    fn bc_sizes_reach_the_config() {
        let args = Wrapper::try_parse_from(["sandbox", "--bc-customers", "5", "--bc-items", "6", "--bc-orders", "7", "--seed", "9"])
            .expect("the flags parse");
        let config = args.sandbox.config();
        assert_eq!(config.business_central_seed, BusinessCentralSeed { customers: 5, items: 6, orders: 7 });
        assert_eq!(config.seed.random_seed, 9);
        let defaults = Wrapper::try_parse_from(["sandbox"]).expect("no flags parse");
        assert_eq!(defaults.sandbox.config().business_central_seed, BusinessCentralSeed::default());
    }
}
