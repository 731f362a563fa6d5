//! The LeafLink Marketplace API v2 connector (the `leaflink-connector` world).
//!
//! Request building (`request`) and response parsing (`parse`) are pure
//! functions, tested natively; `guest` wires them to the host's `http` and
//! `settings` imports when built for wasm.

pub mod parse;
pub mod request;

#[cfg(target_arch = "wasm32")]
mod guest;

/// Guest-side bindings of the `leaflink-connector` world.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "leaflink-connector",
        additional_derives: [PartialEq],
        // The record types come from the shared crate, so `fields` can build them.
        with: { "leafbridge:plugin/types@0.1.0": leafbridge_guest_json::types },
    });
}

pub use bindings::exports::leafbridge::plugin::leaflink;
pub use bindings::leafbridge::plugin::http;
pub use leafbridge_guest_json::{extras, fields, types};
