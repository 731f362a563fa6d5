//! Local stand-ins for the two APIs leafbridge talks to: LeafLink Marketplace
//! API v2 and Business Central API v2.0. They start on loopback, seed realistic
//! data and inject faults, and are how the tests, `leafbridge demo` and
//! `leafbridge sandbox` run with no external service.

pub mod business_central;
pub mod faults;
pub mod leaflink;

use std::net::{IpAddr, Ipv4Addr};
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

/// Everything that shapes a sandbox at start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub bind: IpAddr,
    /// 0 lets the OS choose.
    pub leaflink_port: u16,
    pub business_central_port: u16,
    pub seed: SeedConfig,
    pub leaflink_faults: FaultProfile,
    pub business_central_faults: FaultProfile,
    /// Enforce each API's documented rate limits (429 beyond).
    pub rate_limits: bool,
    /// Send LeafLink money `amount` as a decimal string instead of a JSON number.
    pub money_as_string: bool,
    /// Delay before BC sends webhook notifications (about 30 s in the real service).
    pub notification_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            leaflink_port: 0,
            business_central_port: 0,
            seed: SeedConfig::default(),
            leaflink_faults: FaultProfile::default(),
            business_central_faults: FaultProfile::default(),
            rate_limits: true,
            money_as_string: false,
            notification_delay: Duration::from_secs(1),
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
