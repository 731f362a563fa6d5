//! Typed access to a plugin instance's exports, with each signature checked
//! once per loaded plugin instead of once per instance.
//!
//! wasmtime 48's generated bindings (`MapperPre::instantiate_async` and the
//! others) fetch every export of a new instance with `get_typed_func`, which
//! walks the export's whole signature and compares it with the host's Rust
//! types. For one component the outcome never changes, because the contract
//! defines no resource types and so nothing in a signature depends on the
//! instance. Here the first instance of a plugin runs those checks and the
//! outcome is kept. Later instances only look their functions up by index and
//! call them through `TypedFunc::new_unchecked`.

use std::sync::OnceLock;

use wasmtime::component::{Component, ComponentExportIndex, Func, Instance, InstancePre, TypedFunc};
use wasmtime::Store;
use wasmtime::error::Context as _;

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
use super::bindings::{CONTRACT_PACKAGE, CONTRACT_VERSION};
use super::host_state::HostState;

/// The export indices of one world's interface, looked up once per component.
pub(crate) trait ExportIndices: Sized {
    /// The instance's export functions.
    type Exports;

    /// Looks every export of the interface up by name.
    fn new(component: &Component) -> wasmtime::Result<Self>;

    /// Checks every export's signature against the Rust types the host calls
    /// it with.
    fn check(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<()>;

    /// Fetches the export functions of `instance` without checking their
    /// signatures.
    ///
    /// # Safety
    ///
    /// `check` must have succeeded on an instance of the same component,
    /// because the returned functions are called through
    /// `TypedFunc::new_unchecked`.
    unsafe fn load_unchecked(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<Self::Exports>;
}

/// A pre-instantiated plugin with its export indices and the outcome of its
/// one signature check.
pub(crate) struct ExportsPre<I> {
    instance_pre: InstancePre<HostState>,
    indices: I,
    /// `None` until an instance has been checked, then the check's outcome,
    /// with the error as text so that every later instance reports the same.
    checked: OnceLock<Result<(), String>>,
}

impl<I: ExportIndices> ExportsPre<I> {
    /// Looks the interface's exports up in the component; fails when one is
    /// missing.
    pub(crate) fn new(instance_pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        let indices = I::new(instance_pre.component())?;
        Ok(Self { instance_pre, indices, checked: OnceLock::new() })
    }

    /// Instantiates the plugin in `store` and returns its exports. The first
    /// instance of the plugin checks every export's signature, and a failed
    /// check fails this and every later instantiation with the same error.
    pub(crate) async fn instantiate_async(&self, store: &mut Store<HostState>) -> wasmtime::Result<I::Exports> {
        let instance = self.instance_pre.instantiate_async(&mut *store).await?;
        let checked = match self.checked.get() {
            Some(outcome) => outcome.clone(),
            None => {
                let outcome = self.indices.check(store, &instance).map_err(|error| format!("{error:#}"));
                // Two first instances may race here. Both ran the same check
                // on the same component, so either outcome is the one to keep.
                self.checked.get_or_init(|| outcome).clone()
            }
        };
        checked.map_err(wasmtime::Error::msg)?;
        // SAFETY: `checked` contains a successful check of an instance of
        // `self.instance_pre`'s component, the only component `instance` can
        // come from.
        unsafe { self.indices.load_unchecked(store, &instance) }
    }
}

/// Looks up the interface instance `interface` of this contract version in
/// `component`. The component model matches a compatible version, so a guest
/// built against 0.1.1 is found under 0.1.0.
fn interface_index(component: &Component, interface: &str) -> wasmtime::Result<(String, ComponentExportIndex)> {
    let name = format!("{CONTRACT_PACKAGE}/{interface}@{CONTRACT_VERSION}");
    let index = component
        .get_export_index(None, &name)
        .ok_or_else(|| wasmtime::format_err!("no exported instance named `{name}`"))?;
    Ok((name, index))
}

fn function_index(
    component: &Component,
    interface: &(String, ComponentExportIndex),
    function: &str,
) -> wasmtime::Result<ComponentExportIndex> {
    let (name, index) = interface;
    component
        .get_export_index(Some(index), function)
        .ok_or_else(|| wasmtime::format_err!("instance export `{name}` does not have export `{function}`"))
}

fn get_func(store: &mut Store<HostState>, instance: &Instance, index: &ComponentExportIndex, function: &str) -> wasmtime::Result<Func> {
    instance
        .get_func(&mut *store, index)
        .ok_or_else(|| wasmtime::format_err!("the instance has no function export `{function}`"))
}

/// Declares the indices and exports of one world's interface, with one async
/// `call_*` method per export. Each entry names the WIT function, its
/// parameters with the types the host passes, and its result type.
macro_rules! export_interface {
    (
        $(#[$indices_doc:meta])* $indices:ident,
        $(#[$exports_doc:meta])* $exports:ident,
        $interface:literal {
            $( $call:ident = $function:literal ( $($arg:ident : $param:ty),* ) -> $result:ty; )*
        }
    ) => {
        $(#[$indices_doc])*
        pub(crate) struct $indices {
            $( $call: ComponentExportIndex, )*
        }

        $(#[$exports_doc])*
        pub(crate) struct $exports {
            $( $call: Func, )*
        }

        impl ExportIndices for $indices {
            type Exports = $exports;

            fn new(component: &Component) -> wasmtime::Result<Self> {
                let interface = interface_index(component, $interface)?;
                Ok(Self { $( $call: function_index(component, &interface, $function)?, )* })
            }

            fn check(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<()> {
                $(
                    get_func(store, instance, &self.$call, $function)?
                        .typed::<($($param,)*), ($result,)>(&*store)
                        .with_context(|| format!("export `{}` does not have the contract's signature", $function))?;
                )*
                Ok(())
            }

            unsafe fn load_unchecked(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<$exports> {
                Ok($exports { $( $call: get_func(store, instance, &self.$call, $function)?, )* })
            }
        }

        impl $exports {
            $(
                pub(crate) async fn $call(&self, store: &mut Store<HostState>, $($arg: $param),*) -> wasmtime::Result<$result> {
                    // SAFETY: `load_unchecked` built `self` only after `check`
                    // typed this function with these parameter and result types.
                    let func = unsafe { TypedFunc::<($($param,)*), ($result,)>::new_unchecked(self.$call) };
                    let (result,) = func.call_async(store, ($($arg,)*)).await?;
                    Ok(result)
                }
            )*
        }
    };
}

export_interface! {
    /// Export indices of the `leaflink` interface.
    LeafLinkIndices,
    /// Export functions of a `leaflink-connector` instance.
    LeafLinkExports,
    "leaflink" {
        call_list_orders = "list-orders"(query: &OrderQuery, next: Option<&str>) -> Result<OrderPage, PluginError>;
        call_get_order = "get-order"(number: &str) -> Result<Option<LlOrder>, PluginError>;
        call_transition_order = "transition-order"(number: &str, action: &str) -> Result<LlOrder, PluginError>;
        call_set_order_paid = "set-order-paid"(number: &str, paid: bool, paid_date: Option<&str>) -> Result<LlOrder, PluginError>;
        call_update_line_item = "update-line-item"(patch: &LineItemPatch) -> Result<LlLineItem, PluginError>;
        call_list_products = "list-products"(query: &ProductQuery, next: Option<&str>) -> Result<ProductPage, PluginError>;
        call_create_product = "create-product"(product: &LlNewProduct) -> Result<LlProduct, PluginError>;
        call_update_product = "update-product"(id: i64, patch: &LlProductPatch) -> Result<LlProduct, PluginError>;
        call_list_customers = "list-customers"(query: &CustomerQuery, next: Option<&str>) -> Result<CustomerPage, PluginError>;
        call_list_company_staff = "list-company-staff"(next: Option<&str>) -> Result<StaffPage, PluginError>;
        call_create_payment = "create-payment"(payment: &LlPayment) -> Result<LlPayment, PluginError>;
        call_list_payments = "list-payments"(order: &str) -> Result<Vec<LlPayment>, PluginError>;
    }
}

export_interface! {
    /// Export indices of the `business-central` interface.
    BusinessCentralIndices,
    /// Export functions of a `business-central-connector` instance.
    BusinessCentralExports,
    "business-central" {
        call_list_customers = "list-customers"(query: &Query, next: Option<&str>) -> Result<BcCustomerPage, PluginError>;
        call_list_items = "list-items"(query: &Query, next: Option<&str>) -> Result<ItemPage, PluginError>;
        call_list_sales_orders = "list-sales-orders"(query: &Query, next: Option<&str>) -> Result<SalesOrderPage, PluginError>;
        call_list_sales_invoices = "list-sales-invoices"(query: &Query, next: Option<&str>) -> Result<SalesInvoicePage, PluginError>;
        call_list_customer_payments = "list-customer-payments"(query: &Query, next: Option<&str>) -> Result<PaymentPage, PluginError>;
        call_list_salespeople = "list-salespeople"(next: Option<&str>) -> Result<SalespersonPage, PluginError>;
        call_list_item_ledger_entries = "list-item-ledger-entries"(query: &Query, next: Option<&str>) -> Result<LedgerPage, PluginError>;
        call_apply = "apply"(writes: &[Write]) -> Result<Vec<Result<Written, PluginError>>, PluginError>;
    }
}

export_interface! {
    /// Export indices of the `mapping` interface.
    MapperIndices,
    /// Export functions of a `mapper` instance.
    MapperExports,
    "mapping" {
        call_map_customer = "map-customer"(customer: &LlCustomer) -> Result<BcCustomer, PluginError>;
        call_map_product = "map-product"(product: &LlProduct) -> Result<BcItem, PluginError>;
        call_map_order = "map-order"(order: &LlOrder, context: &OrderContext) -> Result<BcSalesOrder, PluginError>;
        call_map_orders = "map-orders"(orders: &[(LlOrder, OrderContext)]) -> Vec<Result<BcSalesOrder, PluginError>>;
        call_new_product = "new-product"(item: &BcItem) -> Result<LlNewProduct, PluginError>;
        call_product_patch = "product-patch"(item: &BcItem, product: &LlProduct) -> Result<LlProductPatch, PluginError>;
        call_item_update = "item-update"(product: &LlProduct, item: &BcItem) -> Result<BcItem, PluginError>;
        call_order_changes_for_leaflink = "order-changes-for-leaflink"(order: &BcSalesOrder, current: &LlOrder) -> Result<LeaflinkOrderChanges, PluginError>;
        call_order_changes_for_bc = "order-changes-for-bc"(order: &LlOrder, current: &BcSalesOrder) -> Result<BcOrderChanges, PluginError>;
        call_payment = "payment"(payment: &BcCustomerPayment, invoice: &BcSalesInvoice, order_number: &str) -> Result<LlPayment, PluginError>;
    }
}

export_interface! {
    /// Export indices of the `overrides` interface.
    OverridesIndices,
    /// Export functions of a `tenant-overrides` instance.
    OverridesExports,
    "overrides" {
        call_customer = "customer"(source: &LlCustomer, mapped: &BcCustomer) -> Result<BcCustomer, PluginError>;
        call_item = "item"(source: &LlProduct, mapped: &BcItem) -> Result<BcItem, PluginError>;
        call_sales_order = "sales-order"(source: &LlOrder, mapped: &BcSalesOrder) -> Result<BcSalesOrder, PluginError>;
        call_new_product = "new-product"(source: &BcItem, mapped: &LlNewProduct) -> Result<LlNewProduct, PluginError>;
        call_product_patch = "product-patch"(source: &BcItem, mapped: &LlProductPatch) -> Result<LlProductPatch, PluginError>;
        call_payment = "payment"(source: &BcCustomerPayment, mapped: &LlPayment) -> Result<LlPayment, PluginError>;
    }
}
