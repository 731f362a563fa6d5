//! The end-to-end suite: one module per flow and per guarantee.

mod cli;
mod hostile;
mod http_capability;
mod plugin_loading;
mod secrets;
mod serve;
