//! The `mapping` export: reads the tenant's settings through the host import
//! and calls the plain mapping functions.

use crate::bindings::exports::leafbridge::plugin::mapping::Guest;
use crate::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcSalesInvoice, BcSalesOrder, LlCustomer, LlNewProduct, LlOrder, LlPayment,
    LlProduct, LlProductPatch, PluginError,
};
use crate::{BcOrderChanges, LeaflinkOrderChanges, OrderContext, Settings};

struct Mapper;

impl Guest for Mapper {
    fn map_customer(customer: LlCustomer) -> Result<BcCustomer, PluginError> {
        crate::customer::map_customer(&Settings::from_host(), &customer)
    }

    fn map_product(product: LlProduct) -> Result<BcItem, PluginError> {
        crate::product::map_product(&Settings::from_host(), &product)
    }

    fn map_order(order: LlOrder, context: OrderContext) -> Result<BcSalesOrder, PluginError> {
        crate::order::map_order(&Settings::from_host(), &order, &context)
    }

    fn map_orders(orders: Vec<(LlOrder, OrderContext)>) -> Vec<Result<BcSalesOrder, PluginError>> {
        // One settings read serves the whole page.
        let settings = Settings::from_host();
        orders.iter().map(|(order, context)| crate::order::map_order(&settings, order, context)).collect()
    }

    fn new_product(item: BcItem) -> Result<LlNewProduct, PluginError> {
        crate::product::new_product(&Settings::from_host(), &item)
    }

    fn product_patch(item: BcItem, product: LlProduct) -> Result<LlProductPatch, PluginError> {
        crate::product::product_patch(&Settings::from_host(), &item, &product)
    }

    fn item_update(product: LlProduct, item: BcItem) -> Result<BcItem, PluginError> {
        crate::product::item_update(&Settings::from_host(), &product, &item)
    }

    fn order_changes_for_leaflink(order: BcSalesOrder, current: LlOrder) -> Result<LeaflinkOrderChanges, PluginError> {
        crate::order::order_changes_for_leaflink(&order, &current)
    }

    fn order_changes_for_bc(order: LlOrder, current: BcSalesOrder) -> Result<BcOrderChanges, PluginError> {
        crate::order::order_changes_for_bc(&order, &current)
    }

    fn payment(payment: BcCustomerPayment, invoice: BcSalesInvoice, order_number: String) -> Result<LlPayment, PluginError> {
        crate::payment::payment(&Settings::from_host(), &payment, &invoice, &order_number)
    }
}

crate::bindings::export!(Mapper with_types_in crate::bindings);
