//! The plugin calls a flow makes, as traits.
//!
//! Flows are written against these traits instead of the wasmtime sessions
//! directly, so each flow reads as a pipeline of record operations and the
//! runtime adapter (`flows::plugins`) is the one place that knows how a call
//! crosses into a component.

use crate::runtime::bindings::business_central::{
    CustomerPage as BcCustomerPage, ItemPage, LedgerPage, PaymentPage, Query, SalesInvoicePage, SalesOrderPage,
    SalespersonPage, Write, Written,
};
use crate::runtime::bindings::leaflink::{
    CustomerPage as LlCustomerPage, CustomerQuery, LineItemPatch, OrderPage, OrderQuery, ProductPage, ProductQuery,
    StaffPage,
};
use crate::runtime::bindings::mapping::{BcOrderChanges, LeaflinkOrderChanges, OrderContext};
use crate::runtime::bindings::types::{
    BcCustomer, BcCustomerPayment, BcItem, BcSalesInvoice, BcSalesOrder, LlCustomer, LlLineItem, LlNewProduct,
    LlOrder, LlPayment, LlProduct, LlProductPatch, PluginError,
};

/// Why a plugin call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The plugin returned an error value.
    #[error("{}", describe_plugin_error(.0))]
    Plugin(PluginError),
    /// The call itself failed: trap, timeout, memory limit, unloadable plugin.
    #[error("plugin call failed: {0}")]
    Call(String),
}

impl ApiError {
    /// True when trying the same call again later may succeed: network,
    /// remote and runtime failures. An invalid record or a configuration
    /// error fails the same way again until someone changes it.
    ///
    /// NOTE: a configuration error can be one record's (an unmapped unit) or
    /// every record's (a malformed company id). Both go to dead letters record
    /// by record, so the second fills them instead of stopping the run.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Plugin(PluginError::InvalidRecord(_) | PluginError::Configuration(_)) => false,
            ApiError::Plugin(PluginError::Remote(remote)) => remote.status >= 500 || remote.status == 429 || remote.status == 408 || remote.status == 409,
            ApiError::Plugin(PluginError::Http(_) | PluginError::Internal(_)) => true,
            ApiError::Call(_) => true,
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> Self {
        ApiError::Plugin(error)
    }
}

/// A plugin error in one line of words.
pub fn describe_plugin_error(error: &PluginError) -> String {
    match error {
        PluginError::InvalidRecord(record) => match &record.field {
            Some(field) => format!("invalid {}: field {field}: {}", record.record, record.reason),
            None => format!("invalid {}: {}", record.record, record.reason),
        },
        PluginError::Http(reason) => format!("http request failed: {reason}"),
        PluginError::Remote(remote) => match &remote.code {
            Some(code) => format!("remote API returned {} {code}: {}", remote.status, remote.message),
            None => format!("remote API returned {}: {}", remote.status, remote.message),
        },
        PluginError::Configuration(reason) => format!("configuration error: {reason}"),
        PluginError::Internal(reason) => format!("plugin error: {reason}"),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A plugin call running as a task of its own; awaiting it gives the call's
/// result, and dropping it cancels the call.
pub struct Background<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Background<T> {
    /// Starts `call` as a task in the current span, so its log lines keep the
    /// run's tenant and flow.
    pub fn spawn(call: impl Future<Output = T> + Send + 'static) -> Self {
        use tracing::Instrument as _;
        Background(tokio::spawn(call.instrument(tracing::Span::current())))
    }
}

impl<T> Future for Background<ApiResult<T>> {
    type Output = ApiResult<T>;

    fn poll(mut self: std::pin::Pin<&mut Self>, context: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(context)
            .map(|joined| joined.unwrap_or_else(|error| Err(ApiError::Call(format!("the background plugin call failed: {error}")))))
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The exports of a `leaflink-connector` component.
#[allow(async_fn_in_trait)]
pub trait LeafLinkApi {
    async fn list_orders(&self, query: &OrderQuery, next: Option<String>) -> ApiResult<OrderPage>;
    /// `list_orders` of the page after `next`, started as a task of its own,
    /// so that the page is fetched and parsed on another thread while the
    /// caller imports the current one. Dropping the result cancels the task.
    fn list_orders_ahead(&self, query: OrderQuery, next: String) -> Background<ApiResult<OrderPage>>;
    async fn get_order(&self, number: &str) -> ApiResult<Option<LlOrder>>;
    async fn transition_order(&self, number: &str, action: &str) -> ApiResult<LlOrder>;
    async fn set_order_paid(&self, number: &str, paid: bool, paid_date: Option<String>) -> ApiResult<LlOrder>;
    async fn update_line_item(&self, patch: &LineItemPatch) -> ApiResult<LlLineItem>;
    async fn list_products(&self, query: &ProductQuery, next: Option<String>) -> ApiResult<ProductPage>;
    async fn create_product(&self, product: &LlNewProduct) -> ApiResult<LlProduct>;
    async fn update_product(&self, id: i64, patch: &LlProductPatch) -> ApiResult<LlProduct>;
    async fn list_customers(&self, query: &CustomerQuery, next: Option<String>) -> ApiResult<LlCustomerPage>;
    async fn list_company_staff(&self, next: Option<String>) -> ApiResult<StaffPage>;
    async fn create_payment(&self, payment: &LlPayment) -> ApiResult<LlPayment>;
    async fn list_payments(&self, order: &str) -> ApiResult<Vec<LlPayment>>;
}

/// The exports of a `business-central-connector` component.
#[allow(async_fn_in_trait)]
pub trait BusinessCentralApi {
    async fn list_customers(&self, query: &Query, next: Option<String>) -> ApiResult<BcCustomerPage>;
    async fn list_items(&self, query: &Query, next: Option<String>) -> ApiResult<ItemPage>;
    async fn list_sales_orders(&self, query: &Query, next: Option<String>) -> ApiResult<SalesOrderPage>;
    async fn list_sales_invoices(&self, query: &Query, next: Option<String>) -> ApiResult<SalesInvoicePage>;
    async fn list_customer_payments(&self, query: &Query, next: Option<String>) -> ApiResult<PaymentPage>;
    async fn list_salespeople(&self, next: Option<String>) -> ApiResult<SalespersonPage>;
    async fn list_item_ledger_entries(&self, query: &Query, next: Option<String>) -> ApiResult<LedgerPage>;
    /// One result per write, in order; the outer error means nothing was sent.
    async fn apply(&self, writes: &[Write]) -> ApiResult<Vec<Result<Written, PluginError>>>;
    /// `apply` on a second session of the connector, started as a task of
    /// its own, so that one page's writes travel to BC while the caller
    /// prepares the next page through this session. The writes come back
    /// with their results. Dropping the result cancels the task.
    fn apply_in_background(&self, writes: Vec<Write>) -> Background<ApiResult<Applied>>;
}

/// Writes that `apply_in_background` sent, with the result of each, in the
/// same order.
pub struct Applied {
    pub writes: Vec<Write>,
    pub results: Vec<Result<Written, PluginError>>,
}

/// The exports of a `mapper` component.
#[allow(async_fn_in_trait)]
pub trait MappingApi {
    async fn map_customer(&self, customer: &LlCustomer) -> ApiResult<BcCustomer>;
    async fn map_product(&self, product: &LlProduct) -> ApiResult<BcItem>;
    async fn map_orders(&self, orders: &[(LlOrder, OrderContext)]) -> ApiResult<Vec<Result<BcSalesOrder, PluginError>>>;
    async fn new_product(&self, item: &BcItem) -> ApiResult<LlNewProduct>;
    async fn product_patch(&self, item: &BcItem, product: &LlProduct) -> ApiResult<LlProductPatch>;
    async fn item_update(&self, product: &LlProduct, item: &BcItem) -> ApiResult<BcItem>;
    async fn order_changes_for_leaflink(&self, order: &BcSalesOrder, current: &LlOrder) -> ApiResult<LeaflinkOrderChanges>;
    async fn order_changes_for_bc(&self, order: &LlOrder, current: &BcSalesOrder) -> ApiResult<BcOrderChanges>;
    async fn payment(&self, payment: &BcCustomerPayment, invoice: &BcSalesInvoice, order_number: &str) -> ApiResult<LlPayment>;
}

/// The exports of a `tenant-overrides` component.
#[allow(async_fn_in_trait)]
pub trait OverridesApi {
    async fn customer(&self, source: &LlCustomer, mapped: BcCustomer) -> ApiResult<BcCustomer>;
    async fn item(&self, source: &LlProduct, mapped: BcItem) -> ApiResult<BcItem>;
    async fn sales_order(&self, source: &LlOrder, mapped: BcSalesOrder) -> ApiResult<BcSalesOrder>;
    async fn new_product(&self, source: &BcItem, mapped: LlNewProduct) -> ApiResult<LlNewProduct>;
    async fn product_patch(&self, source: &BcItem, mapped: LlProductPatch) -> ApiResult<LlProductPatch>;
    async fn payment(&self, source: &BcCustomerPayment, mapped: LlPayment) -> ApiResult<LlPayment>;
}

/// A tenant without an override plugin: every hook keeps the core's result.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOverrides;

impl OverridesApi for NoOverrides {
    async fn customer(&self, _source: &LlCustomer, mapped: BcCustomer) -> ApiResult<BcCustomer> {
        Ok(mapped)
    }
    async fn item(&self, _source: &LlProduct, mapped: BcItem) -> ApiResult<BcItem> {
        Ok(mapped)
    }
    async fn sales_order(&self, _source: &LlOrder, mapped: BcSalesOrder) -> ApiResult<BcSalesOrder> {
        Ok(mapped)
    }
    async fn new_product(&self, _source: &BcItem, mapped: LlNewProduct) -> ApiResult<LlNewProduct> {
        Ok(mapped)
    }
    async fn product_patch(&self, _source: &BcItem, mapped: LlProductPatch) -> ApiResult<LlProductPatch> {
        Ok(mapped)
    }
    async fn payment(&self, _source: &BcCustomerPayment, mapped: LlPayment) -> ApiResult<LlPayment> {
        Ok(mapped)
    }
}

/// The four plugins a flow runs with, as one type parameter.
pub trait Plugins {
    type LeafLink: LeafLinkApi;
    type BusinessCentral: BusinessCentralApi;
    type Mapping: MappingApi;
    type Overrides: OverridesApi;
}
