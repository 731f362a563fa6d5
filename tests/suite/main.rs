//! The end-to-end suite: one module per flow and per guarantee.

mod cli;
mod secrets;
mod serve;
