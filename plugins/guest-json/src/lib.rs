//! Code shared by the two connector guests: the contract's record types and
//! the tolerant reader of JSON objects (`fields`).
//!
//! The connectors map the `types` interface to this crate with `with`, so a
//! `Money` or an `Extra` that `fields` builds is the type their exports return.

pub mod fields;

/// Bindings of the contract's `types` interface alone.
pub mod bindings {
    wit_bindgen::generate!({
        inline: "
            package leafbridge:guest-json;
            world shared-types {
                import leafbridge:plugin/types@0.1.0;
            }
        ",
        path: "../../wit",
        additional_derives: [PartialEq],
        generate_all,
    });
}

pub use bindings::leafbridge::plugin::types;
