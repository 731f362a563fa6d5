//! The runtime's error types: engine setup, loading a component and calling
//! into one.

use std::path::PathBuf;
use std::time::Duration;

use super::World;
use super::bindings::types::PluginError;

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid wasmtime configuration: {0}")]
    Engine(String),
    #[error("cannot create the component cache directory {path}: {source}")]
    CacheDir { path: PathBuf, source: std::io::Error },
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}

/// A component could not be loaded. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "plugin {path} does not exist; build the plugins with `cargo xtask plugins`, or set LEAFBRIDGE_PLUGIN_DIR to the folder that holds them"
    )]
    Missing { path: PathBuf },
    #[error("plugin {path} is not a valid WebAssembly component: {reason}")]
    InvalidComponent { path: PathBuf, reason: String },
    #[error(
        "plugin {path} was built against contract version {found}, but this host supports \
         {package}@{supported}; rebuild the plugin against the host's wit/ directory"
    )]
    ContractVersion { path: PathBuf, package: &'static str, found: String, supported: String },
    #[error("plugin {path} does not match the {expected} world: {reason}")]
    WorldMismatch { path: PathBuf, expected: World, reason: String },
}

/// A call into a plugin failed. `Display` names the tenant and the plugin.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest returned a `plugin-error`.
    #[error("plugin {plugin} failed for tenant {tenant}: {}", describe_plugin_error(.error))]
    Plugin { tenant: String, plugin: String, error: PluginError },
    /// The guest trapped: a panic, an `unreachable`, a stack overflow, ...
    #[error("plugin {plugin} trapped in {function} for tenant {tenant}: {reason}")]
    Trap { tenant: String, plugin: String, function: &'static str, reason: String },
    #[error("plugin {plugin} exceeded its CPU deadline of {limit:?} in {function} for tenant {tenant}")]
    CpuDeadline { tenant: String, plugin: String, function: &'static str, limit: Duration },
    #[error("plugin {plugin} timed out after {limit:?} in {function} for tenant {tenant}")]
    WallClockTimeout { tenant: String, plugin: String, function: &'static str, limit: Duration },
    #[error("plugin {plugin} exceeded its memory limit of {limit} bytes in {function} for tenant {tenant}")]
    MemoryLimit { tenant: String, plugin: String, function: &'static str, limit: u64 },
    #[error(
        "plugin {plugin} returned more than the {limit}-byte output limit from {function} for tenant {tenant}"
    )]
    OutputTooLarge { tenant: String, plugin: String, function: &'static str, limit: u64 },
    /// An earlier call in this session failed in a way that may have left the
    /// instance in an unknown state; start a new session.
    #[error("plugin {plugin} session for tenant {tenant} is unusable after an earlier failure; start a new session")]
    Poisoned { tenant: String, plugin: String },
    #[error("plugin {plugin} is a {actual} plugin, not a {expected} plugin (tenant {tenant})")]
    WrongWorld { tenant: String, plugin: String, expected: World, actual: World },
    #[error("cannot instantiate plugin {plugin} for tenant {tenant}: {reason}")]
    Instantiate { tenant: String, plugin: String, reason: String },
}

impl CallError {
    /// Returns the tenant the failed call ran for.
    pub fn tenant(&self) -> &str {
        match self {
            CallError::Plugin { tenant, .. }
            | CallError::Trap { tenant, .. }
            | CallError::CpuDeadline { tenant, .. }
            | CallError::WallClockTimeout { tenant, .. }
            | CallError::MemoryLimit { tenant, .. }
            | CallError::OutputTooLarge { tenant, .. }
            | CallError::Poisoned { tenant, .. }
            | CallError::WrongWorld { tenant, .. }
            | CallError::Instantiate { tenant, .. } => tenant,
        }
    }

    /// Returns the plugin the failed call ran in.
    pub fn plugin(&self) -> &str {
        match self {
            CallError::Plugin { plugin, .. }
            | CallError::Trap { plugin, .. }
            | CallError::CpuDeadline { plugin, .. }
            | CallError::WallClockTimeout { plugin, .. }
            | CallError::MemoryLimit { plugin, .. }
            | CallError::OutputTooLarge { plugin, .. }
            | CallError::Poisoned { plugin, .. }
            | CallError::WrongWorld { plugin, .. }
            | CallError::Instantiate { plugin, .. } => plugin,
        }
    }
}

/// Formats a `plugin-error` as one readable line.
pub fn describe_plugin_error(error: &PluginError) -> String {
    match error {
        PluginError::InvalidRecord(record) => match &record.field {
            Some(field) => format!("invalid record {} (field {field}): {}", record.record, record.reason),
            None => format!("invalid record {}: {}", record.record, record.reason),
        },
        PluginError::Http(message) => format!("http request failed: {message}"),
        PluginError::Remote(remote) => match &remote.code {
            Some(code) => format!("remote API answered {} {code}: {}", remote.status, remote.message),
            None => format!("remote API answered {}: {}", remote.status, remote.message),
        },
        PluginError::Configuration(message) => format!("configuration error: {message}"),
        PluginError::Internal(message) => format!("internal error: {message}"),
    }
}
