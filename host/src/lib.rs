//! leafbridge keeps LeafLink and Business Central in step for many tenants at
//! once. Everything that talks to either API, and everything that decides how a
//! record of one becomes a record of the other, runs as a sandboxed WebAssembly
//! component; this crate is the host that owns time, state, credentials, the
//! network and the schedule.

pub mod capabilities;
pub mod cli;
pub mod flows;
pub mod runtime;
pub mod schedule;
pub mod serve;
pub mod store;
pub mod tenant;
