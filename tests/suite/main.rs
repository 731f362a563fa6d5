//! The end-to-end suite: one module per flow and per guarantee.

mod cli;
mod hostile;
mod http_capability;
mod ops_isolation;
mod ops_notify;
mod ops_plugin;
mod ops_store_commands;
mod plugin_loading;
mod secrets;
mod serve;
mod ops_subscriptions;
mod ops_shutdown;
mod flow_harness;
mod flow_orders_import;
mod guarantee_faults;
mod guarantee_link;
mod guarantee_lost_store;
mod guarantee_crash;
mod guarantee_echo;
mod flow_import_throughput;
mod flow_mapping_rows;
mod flow_paging;
mod flow_inventory_push;
mod flow_orders_pull;
