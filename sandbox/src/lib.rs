//! Local stand-ins for the two APIs leafbridge talks to: LeafLink Marketplace
//! API v2 and Business Central API v2.0. They start on loopback, seed realistic
//! data and inject faults, and are how the tests, `leafbridge demo` and
//! `leafbridge sandbox` run with no external service.

#![recursion_limit = "256"]

pub mod business_central;
pub mod faults;
mod json_writer;
pub mod leaflink;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

pub use faults::{ErrorStyle, FaultProfile, Faults};

/// How much generated data to seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedConfig {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    /// Seed of the random generator; the same value gives the same data.
    pub random_seed: u64,
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self { customers: 20, products: 40, orders: 50, random_seed: 1 }
    }
}

/// Error for a seed count above its maximum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed size: {requested} generated {kind} requested, at most {maximum} are supported")]
pub struct SeedSizeError {
    /// `customers`, `products` or `orders` for LeafLink, and `bc-customers`,
    /// `bc-items` or `bc-orders` for Business Central; each is also the name
    /// of the `leafbridge sandbox` option.
    pub kind: &'static str,
    pub requested: usize,
    pub maximum: usize,
}

impl SeedConfig {
    /// Maximum generated customers: 50 times the 2,000 of the import benchmark.
    pub const MAX_CUSTOMERS: usize = 100_000;
    /// Maximum generated products: 20 times the 5,000 of the import benchmark.
    pub const MAX_PRODUCTS: usize = 100_000;
    /// Maximum generated orders: 10 times the 100,000 of the import benchmark.
    /// Orders take most of the memory, about 2 MB per 1,000 orders, so the
    /// maximum needs about 2 GB (BENCHMARKS.md, "Sandbox").
    pub const MAX_ORDERS: usize = 1_000_000;

    /// Checks every count against its maximum, so an absurd size fails with
    /// an error instead of aborting on allocation.
    pub fn check(&self) -> Result<(), SeedSizeError> {
        let limits = [
            ("customers", self.customers, Self::MAX_CUSTOMERS),
            ("products", self.products, Self::MAX_PRODUCTS),
            ("orders", self.orders, Self::MAX_ORDERS),
        ];
        for (kind, requested, maximum) in limits {
            if requested > maximum {
                return Err(SeedSizeError { kind, requested, maximum });
            }
        }
        Ok(())
    }
}

/// How much generated Business Central data to seed, besides the published
/// example records. The random generator's seed is `SeedConfig::random_seed`,
/// so one value reproduces the data of both servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCentralSeed {
    pub customers: usize,
    pub items: usize,
    /// Generated sales orders of 1 to 30 item lines each. Every fifth one is
    /// shipped and invoiced while seeding, which deletes the order as BC does
    /// and leaves a posted sales shipment and sales invoice in its place.
    pub orders: usize,
}

impl Default for BusinessCentralSeed {
    /// 12 customers, 24 items and no orders, so a client that imports every
    /// BC sales order finds only the published example orders.
    fn default() -> Self {
        Self { customers: 12, items: 24, orders: 0 }
    }
}

impl BusinessCentralSeed {
    pub const MAX_CUSTOMERS: usize = 100_000;
    pub const MAX_ITEMS: usize = 100_000;
    /// Lower than the LeafLink maximum because each order also stores an
    /// average of 15.5 line rows. `leafbridge sandbox --bc-orders 20000`
    /// (dev profile, 2-core x86-64 Linux) started in about 5 s with a peak
    /// RSS of 422 MiB, measured with `/usr/bin/time -v`.
    pub const MAX_ORDERS: usize = 20_000;

    /// Checks every count against its maximum, so an absurd size fails with
    /// an error instead of aborting on allocation.
    pub fn check(&self) -> Result<(), SeedSizeError> {
        let limits = [
            ("bc-customers", self.customers, Self::MAX_CUSTOMERS),
            ("bc-items", self.items, Self::MAX_ITEMS),
            ("bc-orders", self.orders, Self::MAX_ORDERS),
        ];
        for (kind, requested, maximum) in limits {
            if requested > maximum {
                return Err(SeedSizeError { kind, requested, maximum });
            }
        }
        Ok(())
    }
}

/// Everything that shapes a sandbox at start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub bind: IpAddr,
    /// 0 lets the OS choose.
    pub leaflink_port: u16,
    pub business_central_port: u16,
    /// LeafLink seed sizes and the random seed that both servers use.
    pub seed: SeedConfig,
    pub business_central_seed: BusinessCentralSeed,
    pub leaflink_faults: FaultProfile,
    pub business_central_faults: FaultProfile,
    /// Enforce each API's documented rate limits (429 beyond).
    pub rate_limits: bool,
    /// Send LeafLink money `amount` as a decimal string instead of a JSON number.
    pub money_as_string: bool,
    /// Delay before BC sends webhook notifications (about 30 s in the real service).
    pub notification_delay: Duration,
    /// Statuses generated LeafLink orders may take; empty gives the usual mix
    /// of all statuses.
    pub order_statuses: Vec<leaflink::Status>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            leaflink_port: 0,
            business_central_port: 0,
            seed: SeedConfig::default(),
            business_central_seed: BusinessCentralSeed::default(),
            leaflink_faults: FaultProfile::default(),
            business_central_faults: FaultProfile::default(),
            rate_limits: true,
            money_as_string: false,
            notification_delay: Duration::from_secs(1),
            order_statuses: Vec::new(),
        }
    }
}

/// What a client needs to reach the sandbox; printed as one JSON line by
/// `leafbridge sandbox`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SandboxInfo {
    pub leaflink: leaflink::ConnectionInfo,
    pub business_central: business_central::ConnectionInfo,
}

/// Both servers, started together on loopback.
#[derive(Debug)]
pub struct Sandbox {
    leaflink: leaflink::Server,
    business_central: business_central::Server,
}

impl Sandbox {
    /// Binds both ports (0 lets the OS choose), seeds the data and starts
    /// serving. The servers run on the current Tokio runtime until the
    /// `Sandbox` is dropped.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        use anyhow::Context;

        config.seed.check()?;
        config.business_central_seed.check()?;

        let leaflink_address = SocketAddr::new(config.bind, config.leaflink_port);
        let leaflink_listener = tokio::net::TcpListener::bind(leaflink_address)
            .await
            .with_context(|| format!("cannot bind the LeafLink sandbox to {leaflink_address}"))?;
        let bc_address = SocketAddr::new(config.bind, config.business_central_port);
        let bc_listener = tokio::net::TcpListener::bind(bc_address)
            .await
            .with_context(|| format!("cannot bind the Business Central sandbox to {bc_address}"))?;

        let leaflink = leaflink::start(
            leaflink_listener,
            leaflink::Options {
                faults: Faults::new(config.leaflink_faults.clone(), ErrorStyle::LeafLink),
                rate_limits: config.rate_limits,
                money_as_string: config.money_as_string,
                seed: config.seed.clone(),
                order_statuses: config.order_statuses.clone(),
            },
        )
        .await
        .context("cannot start the LeafLink sandbox")?;
        let business_central = business_central::start(
            bc_listener,
            business_central::Options {
                faults: Faults::new(config.business_central_faults.clone(), ErrorStyle::BusinessCentral),
                rate_limits: config.rate_limits,
                notification_delay: config.notification_delay,
                random_seed: config.seed.random_seed,
                seed: config.business_central_seed.clone(),
            },
        )
        .await
        .context("cannot start the Business Central sandbox")?;
        Ok(Sandbox { leaflink, business_central })
    }

    /// Everything a client needs to reach both servers.
    pub fn info(&self) -> SandboxInfo {
        SandboxInfo { leaflink: self.leaflink.info(), business_central: self.business_central.info() }
    }

    pub fn leaflink(&self) -> &leaflink::Server {
        &self.leaflink
    }

    pub fn business_central(&self) -> &business_central::Server {
        &self.business_central
    }
}
