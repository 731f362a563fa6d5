//! The end-to-end suite: one module per flow and per guarantee.

mod hostile;
mod http_capability;
mod plugin_loading;
