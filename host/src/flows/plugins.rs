//! The runtime adapter: implements the `ports` traits on the wasmtime
//! sessions of `crate::runtime`.
//! TODO: filled in once the runtime lands on main.
