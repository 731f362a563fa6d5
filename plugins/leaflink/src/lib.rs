//! The LeafLink Marketplace API v2 connector (the `leaflink-connector` world).
//!
//! Request building (`request`) and response parsing (`parse`) are pure
//! functions, tested natively; `guest` wires them to the host's `http` and
//! `settings` imports when built for wasm.

pub mod fields;
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
    });
}

pub use bindings::exports::leafbridge::plugin::leaflink;
pub use bindings::leafbridge::plugin::{http, types};
