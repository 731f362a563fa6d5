//! Host-side bindings of the `leafbridge:plugin` contract, one module per world.
//!
//! The shared `types` interface and the host imports are generated once, in
//! `mapper`, and reused by the other worlds through `with`, so a `LlOrder` read
//! by the LeafLink connector is the same Rust type the mapper takes.

/// The mapper world; also the home of the shared types and of the `log`,
/// `clock` and `settings` imports.
pub mod mapper {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "mapper",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

pub mod leaflink_connector {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "leaflink-connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "leafbridge:plugin/types": super::mapper::leafbridge::plugin::types,
            "leafbridge:plugin/log": super::mapper::leafbridge::plugin::log,
            "leafbridge:plugin/clock": super::mapper::leafbridge::plugin::clock,
            "leafbridge:plugin/settings": super::mapper::leafbridge::plugin::settings,
        },
    });
}

pub mod business_central_connector {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "business-central-connector",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "leafbridge:plugin/types": super::mapper::leafbridge::plugin::types,
            "leafbridge:plugin/log": super::mapper::leafbridge::plugin::log,
            "leafbridge:plugin/clock": super::mapper::leafbridge::plugin::clock,
            "leafbridge:plugin/settings": super::mapper::leafbridge::plugin::settings,
            "leafbridge:plugin/http": super::leaflink_connector::leafbridge::plugin::http,
        },
    });
}

pub mod tenant_overrides {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tenant-overrides",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "leafbridge:plugin/types": super::mapper::leafbridge::plugin::types,
            "leafbridge:plugin/log": super::mapper::leafbridge::plugin::log,
            "leafbridge:plugin/clock": super::mapper::leafbridge::plugin::clock,
            "leafbridge:plugin/settings": super::mapper::leafbridge::plugin::settings,
        },
    });
}

/// The shared records: `LlOrder`, `BcSalesOrder`, `PluginError`, ...
pub use mapper::leafbridge::plugin::types;
/// Host imports.
pub use leaflink_connector::leafbridge::plugin::http;
pub use mapper::leafbridge::plugin::{clock, log, settings};
/// Export interfaces, with their records (`OrderQuery`, `Write`, ...).
pub use business_central_connector::exports::leafbridge::plugin::business_central;
pub use leaflink_connector::exports::leafbridge::plugin::leaflink;
pub use mapper::exports::leafbridge::plugin::mapping;
pub use tenant_overrides::exports::leafbridge::plugin::overrides;

/// The contract version this host implements.
pub const CONTRACT_PACKAGE: &str = "leafbridge:plugin";
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The `extras` value of a record with no other fields.
pub const NO_EXTRAS: &str = "{}";

/// True when an `extras` value has no fields: `{}` with any whitespace, or an
/// empty string, which is read as no fields.
pub fn extras_is_empty(extras: &str) -> bool {
    let text = extras.trim();
    text.is_empty() || text.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).is_some_and(|inner| inner.trim().is_empty())
}
