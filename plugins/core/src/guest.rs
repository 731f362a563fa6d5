//! The `mapping` export: reads the tenant's settings through the host import
//! once per instance and calls the plain mapping functions.

use std::sync::OnceLock;

use crate::bindings::exports::leafbridge::plugin::mapping::Guest;
use crate::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcSalesInvoice, BcSalesOrder, LlCustomer, LlNewProduct, LlOrder, LlPayment,
    LlProduct, LlProductPatch, PluginError,
};
use crate::{BcOrderChanges, LeaflinkOrderChanges, OrderContext, Settings};

struct Mapper;

/// Returns the tenant's settings, read through the `settings` import on the
/// first call. An instance serves one tenant for its whole life, and the host
/// fixes that tenant's settings when it creates the instance, so later calls
/// reuse the copy instead of lifting every entry again.
fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(Settings::from_host)
}

impl Guest for Mapper {
    fn map_customer(customer: LlCustomer) -> Result<BcCustomer, PluginError> {
        crate::customer::map_customer(settings(), &customer)
    }

    fn map_product(product: LlProduct) -> Result<BcItem, PluginError> {
        crate::product::map_product(settings(), &product)
    }

    fn map_order(order: LlOrder, context: OrderContext) -> Result<BcSalesOrder, PluginError> {
        crate::order::map_order(settings(), &order, &context)
    }

    fn map_orders(orders: Vec<(LlOrder, OrderContext)>) -> Vec<Result<BcSalesOrder, PluginError>> {
        let settings = settings();
        orders.iter().map(|(order, context)| crate::order::map_order(settings, order, context)).collect()
    }

    fn new_product(item: BcItem) -> Result<LlNewProduct, PluginError> {
        crate::product::new_product(settings(), &item)
    }

    fn product_patch(item: BcItem, product: LlProduct) -> Result<LlProductPatch, PluginError> {
        crate::product::product_patch(settings(), &item, &product)
    }

    fn item_update(product: LlProduct, item: BcItem) -> Result<BcItem, PluginError> {
        crate::product::item_update(settings(), &product, &item)
    }

    fn order_changes_for_leaflink(order: BcSalesOrder, current: LlOrder) -> Result<LeaflinkOrderChanges, PluginError> {
        crate::order::order_changes_for_leaflink(&order, &current)
    }

    fn order_changes_for_bc(order: LlOrder, current: BcSalesOrder) -> Result<BcOrderChanges, PluginError> {
        crate::order::order_changes_for_bc(&order, &current)
    }

    fn payment(payment: BcCustomerPayment, invoice: BcSalesInvoice, order_number: String) -> Result<LlPayment, PluginError> {
        crate::payment::payment(settings(), &payment, &invoice, &order_number)
    }
}

crate::bindings::export!(Mapper with_types_in crate::bindings);
