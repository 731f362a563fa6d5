//! The wasmtime runtime: one engine for the process, the component cache,
//! per-tenant stores and their limits.

pub mod bindings;
