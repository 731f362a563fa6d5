//! The sync engine: the go-live `link` step and the ten flows, each a pipeline
//! over the plugin calls in `ports`, with its state in the store.
//!
//! Every flow follows the same rules. A create is preceded by a lookup on a
//! natural key that lives in the target system, so a lost store, a crash or a
//! timeout after commit never duplicates a record. A record whose fields equal
//! what leafbridge last wrote is an echo and is skipped. A field both sides
//! changed goes to its owner and leaves a conflict record. One failing record
//! becomes a dead letter and the rest of the page continues.

mod context;
pub mod fields;
mod inventory;
mod link;
mod orders_import;
mod orders_sync;
mod payments;
pub mod plugins;
pub mod runner;
pub mod ports;
mod read_ahead;
mod products;
mod resolve;

use std::fmt;
use std::str::FromStr;

pub use context::{CredentialCheck, FlowReport, ProgressSink, SyncContext};
pub use ports::{ApiError, BusinessCentralApi, LeafLinkApi, MappingApi, NoOverrides, OverridesApi, Plugins};

use tracing::Instrument;

use crate::capabilities::CredentialRejection;
use crate::store::StoreError;

/// A flow, under the name the CLI, logs and metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    Link,
    OrdersImport,
    CustomersImport,
    ProductsExport,
    ProductsImport,
    ProductsPush,
    ProductsPull,
    OrdersPush,
    OrdersPull,
    InventoryPush,
    PaymentsPush,
}

impl Flow {
    pub const ALL: [Flow; 11] = [
        Flow::Link,
        Flow::OrdersImport,
        Flow::CustomersImport,
        Flow::ProductsExport,
        Flow::ProductsImport,
        Flow::ProductsPush,
        Flow::ProductsPull,
        Flow::OrdersPush,
        Flow::OrdersPull,
        Flow::InventoryPush,
        Flow::PaymentsPush,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flow::Link => "link",
            Flow::OrdersImport => "orders-import",
            Flow::CustomersImport => "customers-import",
            Flow::ProductsExport => "products-export",
            Flow::ProductsImport => "products-import",
            Flow::ProductsPush => "products-push",
            Flow::ProductsPull => "products-pull",
            Flow::OrdersPush => "orders-push",
            Flow::OrdersPull => "orders-pull",
            Flow::InventoryPush => "inventory-push",
            Flow::PaymentsPush => "payments-push",
        }
    }
}

impl Flow {
    /// Returns the kind of record the flow's `read`, `written`, `skipped` and
    /// `failed` counts count.
    pub fn record_noun(self) -> &'static str {
        match self {
            Flow::Link => "pairs",
            Flow::OrdersImport | Flow::OrdersPush | Flow::OrdersPull => "orders",
            Flow::CustomersImport => "customers",
            Flow::ProductsExport | Flow::ProductsImport | Flow::ProductsPush | Flow::ProductsPull | Flow::InventoryPush => "products",
            Flow::PaymentsPush => "payments",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Flow {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Flow::ALL.into_iter().find(|flow| flow.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Flow::ALL.iter().map(|flow| flow.name()).collect();
            format!("unknown flow {name:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Why a flow run stopped before reading everything.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("tenant {tenant}, flow {flow}: {source}")]
    Store { tenant: String, flow: Flow, source: StoreError },
    /// A call that the whole run depends on (listing a page) failed.
    #[error("tenant {tenant}, flow {flow}: {what} failed: {source}")]
    Api { tenant: String, flow: Flow, what: String, source: ApiError },
    /// The flow does not run for this tenant (for example `products-export`
    /// when LeafLink is the product master).
    #[error("tenant {tenant}, flow {flow} is disabled: {reason}")]
    Disabled { tenant: String, flow: Flow, reason: String },
    /// An API rejected the tenant's credential, so no record can succeed
    /// until someone replaces it.
    #[error("tenant {tenant}, flow {flow} stopped: {rejection}")]
    Credentials { tenant: String, flow: Flow, rejection: CredentialRejection },
}

/// Runs one flow once for one tenant and records the run.
pub async fn run_flow<P: Plugins>(cx: &mut SyncContext<'_, P>) -> Result<FlowReport, FlowError> {
    let span = tracing::info_span!("flow", tenant = %cx.tenant.name, flow = %cx.flow, run_id = %cx.run_id);
    tracing::info!(parent: &span, "flow run started");

    let flow = cx.flow;
    if let Err(error) = cx.begin() {
        return cx.finish(Err(error));
    }
    let result = async {
        match flow {
            Flow::Link => link::run(cx).await,
            Flow::OrdersImport => orders_import::run(cx).await,
            Flow::CustomersImport => resolve::customers_import(cx).await,
            Flow::ProductsExport => products::export(cx).await,
            Flow::ProductsImport => products::import(cx).await,
            Flow::ProductsPush => products::push(cx).await,
            Flow::ProductsPull => products::pull(cx).await,
            Flow::OrdersPush => orders_sync::push(cx).await,
            Flow::OrdersPull => orders_sync::pull(cx).await,
            Flow::InventoryPush => inventory::push(cx).await,
            Flow::PaymentsPush => payments::push(cx).await,
        }
    }
    .instrument(span.clone())
    .await;
    let _entered = span.enter();
    cx.finish(result)
}
