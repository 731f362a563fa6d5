//! The core field mappings between LeafLink and Business Central (the `mapper`
//! world).
//!
//! Every mapping is a plain function of its input records and a [`Settings`]
//! value, so the same code runs as a wasm component (where the settings come
//! from the host's `settings` import) and natively as an rlib (where the caller
//! builds [`Settings`] itself). Native callers must never touch the generated
//! imports: on non-wasm targets they are unreachable stubs.

pub mod customer;
pub mod error;
pub mod order;
pub mod payment;
pub mod pricing;
pub mod product;
pub mod settings;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod guest;

/// Guest-side bindings of the `mapper` world. The records derive serde with
/// the same field names as the host's bindings, so a native caller can convert
/// host records into these through serde.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "mapper",
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

pub use bindings::exports::leafbridge::plugin::mapping::{
    BcOrderChanges, LeaflinkOrderChanges, LineItemChange, OrderContext,
};
pub use bindings::leafbridge::plugin::types;
pub use settings::Settings;
