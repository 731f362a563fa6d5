//! The Business Central API v2.0 connector (the `business-central-connector`
//! world).
//!
//! Query and request building (`odata`, `batch`) and response parsing
//! (`parse`) are pure functions, tested natively; `guest` wires them to the
//! host's `http` and `settings` imports when built for wasm.

pub mod batch;
pub mod odata;
pub mod parse;

#[cfg(target_arch = "wasm32")]
mod guest;

/// Guest-side bindings of the `business-central-connector` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "business-central-connector",
        additional_derives: [PartialEq],
        // The record types come from the shared crate, so `fields` can build them.
        with: { "leafbridge:plugin/types@0.1.0": leafbridge_guest_json::types },
    });
}

pub use bindings::exports::leafbridge::plugin::business_central;
pub use bindings::leafbridge::plugin::http;
pub use leafbridge_guest_json::{extras, fields, types};
