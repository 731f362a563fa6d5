//! Sessions: one plugin instance in a fresh store that belongs to one tenant,
//! with one async method per export of its world.
//!
//! Every call runs under the tenant's CPU deadline and wall-clock timeout,
//! and its return value is measured against the output limit. A trap, a
//! deadline or a timeout leaves the instance in an unknown state, so it
//! poisons the session and later calls fail with `CallError::Poisoned`.

use std::sync::Arc;

use serde::Serialize;
use wasmtime::Store;

use super::bindings::business_central::{
    CustomerPage as BcCustomerPage, ItemPage, LedgerPage, PaymentPage, Query, SalesInvoicePage, SalesOrderPage,
    SalespersonPage, Write, Written,
};
use super::bindings::leaflink::{
    CustomerPage, CustomerQuery, LineItemPatch, OrderPage, OrderQuery, ProductPage, ProductQuery, StaffPage,
};
use super::bindings::mapping::{BcOrderChanges, LeaflinkOrderChanges, OrderContext};
use super::bindings::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcSalesInvoice, BcSalesOrder, LlCustomer, LlLineItem, LlNewProduct,
    LlOrder, LlPayment, LlProduct, LlProductPatch, PluginError,
};
use super::exports::{BusinessCentralExports, LeafLinkExports, MapperExports, OverridesExports};
use super::host_state::{CpuDeadlineExceeded, HostState};
use super::json_size::json_len_within;
use super::{CallError, Plugin, PluginPre, Runtime, World};
use crate::capabilities::TenantContext;

/// The state every session kind shares.
struct Session<E> {
    store: Store<HostState>,
    exports: E,
    tenant: Arc<TenantContext>,
    plugin: Arc<str>,
    world: World,
    poisoned: bool,
}

impl<E> Session<E> {
    fn begin(&mut self) -> Result<(), CallError> {
        if self.poisoned {
            return Err(CallError::Poisoned { tenant: self.tenant.name().to_owned(), plugin: self.plugin.to_string() });
        }
        self.store.data_mut().begin_call();
        self.store.set_epoch_deadline(1);
        Ok(())
    }

    /// Maps the outcome of one export call: timeouts and traps poison the
    /// session, and an over-large return value is refused.
    fn finish<T: Serialize>(
        &mut self,
        function: &'static str,
        started: std::time::Instant,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        self.store.data_mut().end_call(function);
        super::call_time::record(self.world, started.elapsed());
        let value = match outcome {
            Err(_elapsed) => {
                self.poisoned = true;
                return Err(CallError::WallClockTimeout {
                    tenant: self.tenant.name().to_owned(),
                    plugin: self.plugin.to_string(),
                    function,
                    limit: self.store.data().limits.wall_clock,
                });
            }
            Ok(Err(error)) => {
                self.poisoned = true;
                return Err(self.classify(function, error));
            }
            Ok(Ok(value)) => value,
        };

        let limit = self.store.data().limits.output_bytes;
        if !fits_in(&value, limit) {
            return Err(CallError::OutputTooLarge {
                tenant: self.tenant.name().to_owned(),
                plugin: self.plugin.to_string(),
                function,
                limit,
            });
        }
        Ok(value)
    }

    fn classify(&self, function: &'static str, error: wasmtime::Error) -> CallError {
        let tenant = self.tenant.name().to_owned();
        let plugin = self.plugin.to_string();
        let state = self.store.data();
        if error.downcast_ref::<CpuDeadlineExceeded>().is_some() {
            return CallError::CpuDeadline { tenant, plugin, function, limit: state.limits.cpu };
        }
        if state.memory.exceeded {
            return CallError::MemoryLimit { tenant, plugin, function, limit: state.limits.memory_bytes };
        }
        let mut reason = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        if let Some(text) = state.stderr_text() {
            reason.push_str(&format!(" (the plugin wrote: {text})"));
        }
        tracing::warn!(tenant = %tenant, plugin = %plugin, function, reason = %reason, "Plugin trapped.");
        CallError::Trap { tenant, plugin, function, reason }
    }

    fn plugin_error<T>(&self, result: Result<T, PluginError>) -> Result<T, CallError> {
        result.map_err(|error| CallError::Plugin {
            tenant: self.tenant.name().to_owned(),
            plugin: self.plugin.to_string(),
            error,
        })
    }
}

/// Checks whether `value`'s JSON encoding fits in `limit` bytes. The length
/// is computed from the value's structure, without writing the encoding, and
/// counting stops at the first byte over the limit.
fn fits_in<T: Serialize>(value: &T, limit: u64) -> bool {
    json_len_within(value, limit).is_some()
}

/// Runs one export call under the session's wall-clock timeout.
macro_rules! call {
    ($session:expr, $function:literal, |$store:ident, $exports:ident| $call:expr) => {{
        let session = &mut $session;
        session.begin()?;
        let wall_clock = session.store.data().limits.wall_clock;
        let $exports = &session.exports;
        let $store = &mut session.store;
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(wall_clock, $call).await;
        session.finish($function, started, outcome)
    }};
}

/// Like `call!`, for exports that return `result<_, plugin-error>`: the
/// guest's error becomes `CallError::Plugin`.
macro_rules! call_fallible {
    ($session:expr, $function:literal, |$store:ident, $exports:ident| $call:expr) => {{
        let result = call!($session, $function, |$store, $exports| $call)?;
        $session.plugin_error(result)
    }};
}

impl Runtime {
    async fn instantiate<E>(
        &self,
        plugin: &Plugin,
        tenant: &Arc<TenantContext>,
        expected: World,
        instantiate: impl AsyncFnOnce(&PluginPre, &mut Store<HostState>) -> Option<wasmtime::Result<E>>,
    ) -> Result<Session<E>, CallError> {
        if plugin.world != expected {
            return Err(CallError::WrongWorld {
                tenant: tenant.name().to_owned(),
                plugin: plugin.name.to_string(),
                expected,
                actual: plugin.world,
            });
        }
        let mut store = self.new_store(plugin, tenant);
        store.data_mut().begin_call();
        let wall_clock = store.data().limits.wall_clock;
        let outcome = tokio::time::timeout(wall_clock, instantiate(&plugin.pre, &mut store)).await;
        let instantiate_error = |reason: String| CallError::Instantiate {
            tenant: tenant.name().to_owned(),
            plugin: plugin.name.to_string(),
            reason,
        };
        let exports = match outcome {
            Ok(Some(Ok(exports))) => exports,
            Ok(Some(Err(error))) if store.data().memory.exceeded => {
                return Err(CallError::MemoryLimit {
                    tenant: tenant.name().to_owned(),
                    plugin: plugin.name.to_string(),
                    function: "instantiate",
                    limit: store.data().limits.memory_bytes,
                })
                .inspect_err(|_| tracing::debug!(error = %error, "Instantiation hit the memory limit."));
            }
            Ok(Some(Err(error))) => return Err(instantiate_error(format!("{error:#}"))),
            // `PluginPre` always matches the world checked above.
            Ok(None) => return Err(instantiate_error("the plugin's pre-instance does not match its world".into())),
            Err(_elapsed) => {
                return Err(CallError::WallClockTimeout {
                    tenant: tenant.name().to_owned(),
                    plugin: plugin.name.to_string(),
                    function: "instantiate",
                    limit: wall_clock,
                });
            }
        };
        Ok(Session { store, exports, tenant: tenant.clone(), plugin: plugin.name.clone(), world: expected, poisoned: false })
    }

    /// Instantiates a `leaflink-connector` plugin for `tenant`.
    pub async fn leaflink(&self, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<LeafLinkSession, CallError> {
        let session = self
            .instantiate(plugin, tenant, World::LeafLinkConnector, async |pre, store| match pre {
                PluginPre::LeafLink(pre) => Some(pre.instantiate_async(store).await),
                _ => None,
            })
            .await?;
        Ok(LeafLinkSession { session })
    }

    /// Instantiates a `business-central-connector` plugin for `tenant`.
    pub async fn business_central(
        &self,
        plugin: &Plugin,
        tenant: &Arc<TenantContext>,
    ) -> Result<BusinessCentralSession, CallError> {
        let session = self
            .instantiate(plugin, tenant, World::BusinessCentralConnector, async |pre, store| match pre {
                PluginPre::BusinessCentral(pre) => Some(pre.instantiate_async(store).await),
                _ => None,
            })
            .await?;
        Ok(BusinessCentralSession { session })
    }

    /// Instantiates a `mapper` plugin for `tenant`.
    pub async fn mapper(&self, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<MapperSession, CallError> {
        let session = self
            .instantiate(plugin, tenant, World::Mapper, async |pre, store| match pre {
                PluginPre::Mapper(pre) => Some(pre.instantiate_async(store).await),
                _ => None,
            })
            .await?;
        Ok(MapperSession { session })
    }

    /// Instantiates a `tenant-overrides` plugin for `tenant`.
    pub async fn overrides(&self, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<OverridesSession, CallError> {
        let session = self
            .instantiate(plugin, tenant, World::TenantOverrides, async |pre, store| match pre {
                PluginPre::Overrides(pre) => Some(pre.instantiate_async(store).await),
                _ => None,
            })
            .await?;
        Ok(OverridesSession { session })
    }
}

/// A `leaflink-connector` instance for one tenant.
pub struct LeafLinkSession {
    session: Session<LeafLinkExports>,
}

impl LeafLinkSession {
    pub async fn list_orders(&mut self, query: &OrderQuery, next: Option<&str>) -> Result<OrderPage, CallError> {
        call_fallible!(self.session, "list-orders", |store, exports| exports.call_list_orders(store, query, next))
    }

    pub async fn get_order(&mut self, number: &str) -> Result<Option<LlOrder>, CallError> {
        call_fallible!(self.session, "get-order", |store, exports| exports.call_get_order(store, number))
    }

    pub async fn transition_order(&mut self, number: &str, action: &str) -> Result<LlOrder, CallError> {
        call_fallible!(self.session, "transition-order", |store, exports| exports.call_transition_order(store, number, action))
    }

    pub async fn set_order_paid(&mut self, number: &str, paid: bool, paid_date: Option<&str>) -> Result<LlOrder, CallError> {
        call_fallible!(self.session, "set-order-paid", |store, exports| exports.call_set_order_paid(store, number, paid, paid_date))
    }

    pub async fn update_line_item(&mut self, patch: &LineItemPatch) -> Result<LlLineItem, CallError> {
        call_fallible!(self.session, "update-line-item", |store, exports| exports.call_update_line_item(store, patch))
    }

    pub async fn list_products(&mut self, query: &ProductQuery, next: Option<&str>) -> Result<ProductPage, CallError> {
        call_fallible!(self.session, "list-products", |store, exports| exports.call_list_products(store, query, next))
    }

    pub async fn create_product(&mut self, product: &LlNewProduct) -> Result<LlProduct, CallError> {
        call_fallible!(self.session, "create-product", |store, exports| exports.call_create_product(store, product))
    }

    pub async fn update_product(&mut self, id: i64, patch: &LlProductPatch) -> Result<LlProduct, CallError> {
        call_fallible!(self.session, "update-product", |store, exports| exports.call_update_product(store, id, patch))
    }

    pub async fn list_customers(&mut self, query: &CustomerQuery, next: Option<&str>) -> Result<CustomerPage, CallError> {
        call_fallible!(self.session, "list-customers", |store, exports| exports.call_list_customers(store, query, next))
    }

    pub async fn list_company_staff(&mut self, next: Option<&str>) -> Result<StaffPage, CallError> {
        call_fallible!(self.session, "list-company-staff", |store, exports| exports.call_list_company_staff(store, next))
    }

    pub async fn create_payment(&mut self, payment: &LlPayment) -> Result<LlPayment, CallError> {
        call_fallible!(self.session, "create-payment", |store, exports| exports.call_create_payment(store, payment))
    }

    pub async fn list_payments(&mut self, order: &str) -> Result<Vec<LlPayment>, CallError> {
        call_fallible!(self.session, "list-payments", |store, exports| exports.call_list_payments(store, order))
    }
}

/// A `business-central-connector` instance for one tenant.
pub struct BusinessCentralSession {
    session: Session<BusinessCentralExports>,
}

impl BusinessCentralSession {
    pub async fn list_customers(&mut self, query: &Query, next: Option<&str>) -> Result<BcCustomerPage, CallError> {
        call_fallible!(self.session, "list-customers", |store, exports| exports.call_list_customers(store, query, next))
    }

    pub async fn list_items(&mut self, query: &Query, next: Option<&str>) -> Result<ItemPage, CallError> {
        call_fallible!(self.session, "list-items", |store, exports| exports.call_list_items(store, query, next))
    }

    pub async fn list_sales_orders(&mut self, query: &Query, next: Option<&str>) -> Result<SalesOrderPage, CallError> {
        call_fallible!(self.session, "list-sales-orders", |store, exports| exports.call_list_sales_orders(store, query, next))
    }

    pub async fn list_sales_invoices(&mut self, query: &Query, next: Option<&str>) -> Result<SalesInvoicePage, CallError> {
        call_fallible!(self.session, "list-sales-invoices", |store, exports| exports.call_list_sales_invoices(store, query, next))
    }

    pub async fn list_customer_payments(&mut self, query: &Query, next: Option<&str>) -> Result<PaymentPage, CallError> {
        call_fallible!(self.session, "list-customer-payments", |store, exports| exports.call_list_customer_payments(store, query, next))
    }

    pub async fn list_salespeople(&mut self, next: Option<&str>) -> Result<SalespersonPage, CallError> {
        call_fallible!(self.session, "list-salespeople", |store, exports| exports.call_list_salespeople(store, next))
    }

    pub async fn list_item_ledger_entries(&mut self, query: &Query, next: Option<&str>) -> Result<LedgerPage, CallError> {
        call_fallible!(self.session, "list-item-ledger-entries", |store, exports| exports.call_list_item_ledger_entries(store, query, next))
    }

    /// Applies `writes` in order. The outer error means nothing could be
    /// sent; each write has its own result.
    pub async fn apply(&mut self, writes: &[Write]) -> Result<Vec<Result<Written, PluginError>>, CallError> {
        call_fallible!(self.session, "apply", |store, exports| exports.call_apply(store, writes))
    }
}

/// A `mapper` instance for one tenant.
pub struct MapperSession {
    session: Session<MapperExports>,
}

impl MapperSession {
    pub async fn map_customer(&mut self, customer: &LlCustomer) -> Result<BcCustomer, CallError> {
        call_fallible!(self.session, "map-customer", |store, exports| exports.call_map_customer(store, customer))
    }

    pub async fn map_product(&mut self, product: &LlProduct) -> Result<BcItem, CallError> {
        call_fallible!(self.session, "map-product", |store, exports| exports.call_map_product(store, product))
    }

    pub async fn map_order(&mut self, order: &LlOrder, context: &OrderContext) -> Result<BcSalesOrder, CallError> {
        call_fallible!(self.session, "map-order", |store, exports| exports.call_map_order(store, order, context))
    }

    /// Maps a page of orders; each order has its own result.
    pub async fn map_orders(
        &mut self,
        orders: &[(LlOrder, OrderContext)],
    ) -> Result<Vec<Result<BcSalesOrder, PluginError>>, CallError> {
        call!(self.session, "map-orders", |store, exports| exports.call_map_orders(store, orders))
    }

    pub async fn new_product(&mut self, item: &BcItem) -> Result<LlNewProduct, CallError> {
        call_fallible!(self.session, "new-product", |store, exports| exports.call_new_product(store, item))
    }

    pub async fn product_patch(&mut self, item: &BcItem, product: &LlProduct) -> Result<LlProductPatch, CallError> {
        call_fallible!(self.session, "product-patch", |store, exports| exports.call_product_patch(store, item, product))
    }

    pub async fn item_update(&mut self, product: &LlProduct, item: &BcItem) -> Result<BcItem, CallError> {
        call_fallible!(self.session, "item-update", |store, exports| exports.call_item_update(store, product, item))
    }

    pub async fn order_changes_for_leaflink(
        &mut self,
        order: &BcSalesOrder,
        current: &LlOrder,
    ) -> Result<LeaflinkOrderChanges, CallError> {
        call_fallible!(self.session, "order-changes-for-leaflink", |store, exports| exports.call_order_changes_for_leaflink(store, order, current))
    }

    pub async fn order_changes_for_bc(&mut self, order: &LlOrder, current: &BcSalesOrder) -> Result<BcOrderChanges, CallError> {
        call_fallible!(self.session, "order-changes-for-bc", |store, exports| exports.call_order_changes_for_bc(store, order, current))
    }

    pub async fn payment(
        &mut self,
        payment: &BcCustomerPayment,
        invoice: &BcSalesInvoice,
        order_number: &str,
    ) -> Result<LlPayment, CallError> {
        call_fallible!(self.session, "payment", |store, exports| exports.call_payment(store, payment, invoice, order_number))
    }
}

/// A `tenant-overrides` instance for one tenant.
pub struct OverridesSession {
    session: Session<OverridesExports>,
}

impl OverridesSession {
    pub async fn customer(&mut self, source: &LlCustomer, mapped: &BcCustomer) -> Result<BcCustomer, CallError> {
        call_fallible!(self.session, "customer", |store, exports| exports.call_customer(store, source, mapped))
    }

    pub async fn item(&mut self, source: &LlProduct, mapped: &BcItem) -> Result<BcItem, CallError> {
        call_fallible!(self.session, "item", |store, exports| exports.call_item(store, source, mapped))
    }

    pub async fn sales_order(&mut self, source: &LlOrder, mapped: &BcSalesOrder) -> Result<BcSalesOrder, CallError> {
        call_fallible!(self.session, "sales-order", |store, exports| exports.call_sales_order(store, source, mapped))
    }

    pub async fn new_product(&mut self, source: &BcItem, mapped: &LlNewProduct) -> Result<LlNewProduct, CallError> {
        call_fallible!(self.session, "new-product", |store, exports| exports.call_new_product(store, source, mapped))
    }

    pub async fn product_patch(&mut self, source: &BcItem, mapped: &LlProductPatch) -> Result<LlProductPatch, CallError> {
        call_fallible!(self.session, "product-patch", |store, exports| exports.call_product_patch(store, source, mapped))
    }

    pub async fn payment(&mut self, source: &BcCustomerPayment, mapped: &LlPayment) -> Result<LlPayment, CallError> {
        call_fallible!(self.session, "payment", |store, exports| exports.call_payment(store, source, mapped))
    }
}
