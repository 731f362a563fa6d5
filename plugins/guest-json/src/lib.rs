//! Code shared by the guests: the contract's record types, the tolerant
//! reader of JSON objects (`fields`) and the reader and writer of a record's
//! `extras` object (`extras`).
//!
//! The connectors map the `types` interface to this crate with `with`, so a
//! `Money` that `fields` builds is the type their exports return.

pub mod extras;
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
