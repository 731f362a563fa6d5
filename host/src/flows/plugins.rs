//! The runtime adapter: implements the `ports` traits on the wasmtime
//! sessions of `crate::runtime`, and loads a tenant's four plugins.
//!
//! A session whose call failed for any reason other than a returned
//! `plugin-error` may have left its instance in an unknown state, so the
//! adapter drops it and the next call opens a fresh one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::ports::{
    ApiError, ApiResult, BusinessCentralApi, LeafLinkApi, MappingApi, NoOverrides, OverridesApi, Plugins, Background, Applied,
};
use crate::capabilities::TenantContext;
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
use crate::runtime::{
    BusinessCentralSession, CallError, LeafLinkSession, LoadError, MapperSession, OverridesSession, Plugin, Runtime,
    World,
};

/// The core plugin files, as `cargo xtask plugins` names them.
pub const CORE_PLUGIN: &str = "leafbridge-core.wasm";
pub const LEAFLINK_PLUGIN: &str = "leafbridge-leaflink.wasm";
pub const BUSINESS_CENTRAL_PLUGIN: &str = "leafbridge-business-central.wasm";

/// The override plugin file of a tenant: `<tenant>-overrides.wasm`.
pub fn overrides_plugin_file(tenant: &str) -> String {
    format!("{tenant}-overrides.wasm")
}

fn api_error(error: CallError) -> ApiError {
    match error {
        CallError::Plugin { error, .. } => ApiError::Plugin(error),
        other => ApiError::Call(other.to_string()),
    }
}

/// The kind of session a `Lazy` opens.
#[allow(async_fn_in_trait)]
pub trait OpenSession: Sized {
    async fn open(runtime: &Runtime, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<Self, CallError>;
}

impl OpenSession for LeafLinkSession {
    async fn open(runtime: &Runtime, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<Self, CallError> {
        runtime.leaflink(plugin, tenant).await
    }
}

impl OpenSession for BusinessCentralSession {
    async fn open(runtime: &Runtime, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<Self, CallError> {
        runtime.business_central(plugin, tenant).await
    }
}

impl OpenSession for MapperSession {
    async fn open(runtime: &Runtime, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<Self, CallError> {
        runtime.mapper(plugin, tenant).await
    }
}

impl OpenSession for OverridesSession {
    async fn open(runtime: &Runtime, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Result<Self, CallError> {
        runtime.overrides(plugin, tenant).await
    }
}

/// A session opened on first use and reopened after a failed call. Clones
/// share the session, and its lock lets one call at a time use it.
///
/// A second session, also opened on first use, serves the calls that run in
/// the background (`apply_in_background`), so that they do not wait for the
/// calls of the flow itself, nor these for them.
pub struct Lazy<S> {
    runtime: Arc<Runtime>,
    plugin: Arc<Plugin>,
    tenant: Arc<TenantContext>,
    session: Arc<Mutex<Option<S>>>,
    background: Arc<Mutex<Option<S>>>,
}

impl<S> Clone for Lazy<S> {
    fn clone(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
            plugin: self.plugin.clone(),
            tenant: self.tenant.clone(),
            session: self.session.clone(),
            background: self.background.clone(),
        }
    }
}

impl<S: OpenSession> Lazy<S> {
    fn new(runtime: Arc<Runtime>, plugin: Arc<Plugin>, tenant: Arc<TenantContext>) -> Self {
        Self { runtime, plugin, tenant, session: Arc::new(Mutex::new(None)), background: Arc::new(Mutex::new(None)) }
    }

    /// Runs `call` on the session, opening it if needed.
    async fn with<T>(&self, call: impl AsyncFnOnce(&mut S) -> Result<T, CallError>) -> ApiResult<T> {
        self.with_session(&self.session, call).await
    }

    /// Runs `call` on the background session, opening it if needed.
    async fn in_background<T>(&self, call: impl AsyncFnOnce(&mut S) -> Result<T, CallError>) -> ApiResult<T> {
        self.with_session(&self.background, call).await
    }

    async fn with_session<T>(&self, session: &Mutex<Option<S>>, call: impl AsyncFnOnce(&mut S) -> Result<T, CallError>) -> ApiResult<T> {
        let mut guard = session.lock().await;
        if guard.is_none() {
            *guard = Some(S::open(&self.runtime, &self.plugin, &self.tenant).await.map_err(api_error)?);
        }
        let session = guard.as_mut().expect("the session was opened above");
        let result = call(session).await;
        if let Err(error) = &result
            && !matches!(error, CallError::Plugin { .. })
        {
            *guard = None;
        }
        result.map_err(api_error)
    }
}

impl LeafLinkApi for Lazy<LeafLinkSession> {
    async fn list_orders(&self, query: &OrderQuery, next: Option<String>) -> ApiResult<OrderPage> {
        self.with(async |s| s.list_orders(query, next.as_deref()).await).await
    }
    fn list_orders_ahead(&self, query: OrderQuery, next: String) -> Background<ApiResult<OrderPage>> {
        let leaflink = self.clone();
        Background::spawn(async move { leaflink.list_orders(&query, Some(next)).await })
    }
    async fn get_order(&self, number: &str) -> ApiResult<Option<LlOrder>> {
        self.with(async |s| s.get_order(number).await).await
    }
    async fn transition_order(&self, number: &str, action: &str) -> ApiResult<LlOrder> {
        self.with(async |s| s.transition_order(number, action).await).await
    }
    async fn set_order_paid(&self, number: &str, paid: bool, paid_date: Option<String>) -> ApiResult<LlOrder> {
        self.with(async |s| s.set_order_paid(number, paid, paid_date.as_deref()).await).await
    }
    async fn update_line_item(&self, patch: &LineItemPatch) -> ApiResult<LlLineItem> {
        self.with(async |s| s.update_line_item(patch).await).await
    }
    async fn list_products(&self, query: &ProductQuery, next: Option<String>) -> ApiResult<ProductPage> {
        self.with(async |s| s.list_products(query, next.as_deref()).await).await
    }
    async fn create_product(&self, product: &LlNewProduct) -> ApiResult<LlProduct> {
        self.with(async |s| s.create_product(product).await).await
    }
    async fn update_product(&self, id: i64, patch: &LlProductPatch) -> ApiResult<LlProduct> {
        self.with(async |s| s.update_product(id, patch).await).await
    }
    async fn list_customers(&self, query: &CustomerQuery, next: Option<String>) -> ApiResult<LlCustomerPage> {
        self.with(async |s| s.list_customers(query, next.as_deref()).await).await
    }
    async fn list_company_staff(&self, next: Option<String>) -> ApiResult<StaffPage> {
        self.with(async |s| s.list_company_staff(next.as_deref()).await).await
    }
    async fn create_payment(&self, payment: &LlPayment) -> ApiResult<LlPayment> {
        self.with(async |s| s.create_payment(payment).await).await
    }
    async fn list_payments(&self, order: &str) -> ApiResult<Vec<LlPayment>> {
        self.with(async |s| s.list_payments(order).await).await
    }
}

impl BusinessCentralApi for Lazy<BusinessCentralSession> {
    async fn list_customers(&self, query: &Query, next: Option<String>) -> ApiResult<BcCustomerPage> {
        self.with(async |s| s.list_customers(query, next.as_deref()).await).await
    }
    async fn list_items(&self, query: &Query, next: Option<String>) -> ApiResult<ItemPage> {
        self.with(async |s| s.list_items(query, next.as_deref()).await).await
    }
    async fn list_sales_orders(&self, query: &Query, next: Option<String>) -> ApiResult<SalesOrderPage> {
        self.with(async |s| s.list_sales_orders(query, next.as_deref()).await).await
    }
    async fn list_sales_invoices(&self, query: &Query, next: Option<String>) -> ApiResult<SalesInvoicePage> {
        self.with(async |s| s.list_sales_invoices(query, next.as_deref()).await).await
    }
    async fn list_customer_payments(&self, query: &Query, next: Option<String>) -> ApiResult<PaymentPage> {
        self.with(async |s| s.list_customer_payments(query, next.as_deref()).await).await
    }
    async fn list_salespeople(&self, next: Option<String>) -> ApiResult<SalespersonPage> {
        self.with(async |s| s.list_salespeople(next.as_deref()).await).await
    }
    async fn list_item_ledger_entries(&self, query: &Query, next: Option<String>) -> ApiResult<LedgerPage> {
        self.with(async |s| s.list_item_ledger_entries(query, next.as_deref()).await).await
    }
    async fn apply(&self, writes: &[Write]) -> ApiResult<Vec<Result<Written, PluginError>>> {
        self.with(async |s| s.apply(writes).await).await
    }
    fn apply_in_background(&self, writes: Vec<Write>) -> Background<ApiResult<Applied>> {
        let business_central = self.clone();
        Background::spawn(async move {
            let results = business_central.in_background(async |s| s.apply(&writes).await).await?;
            Ok(Applied { writes, results })
        })
    }
}

impl MappingApi for Lazy<MapperSession> {
    async fn map_customer(&self, customer: &LlCustomer) -> ApiResult<BcCustomer> {
        self.with(async |s| s.map_customer(customer).await).await
    }
    async fn map_product(&self, product: &LlProduct) -> ApiResult<BcItem> {
        self.with(async |s| s.map_product(product).await).await
    }
    async fn map_orders(&self, orders: &[(LlOrder, OrderContext)]) -> ApiResult<Vec<Result<BcSalesOrder, PluginError>>> {
        self.with(async |s| s.map_orders(orders).await).await
    }
    async fn new_product(&self, item: &BcItem) -> ApiResult<LlNewProduct> {
        self.with(async |s| s.new_product(item).await).await
    }
    async fn product_patch(&self, item: &BcItem, product: &LlProduct) -> ApiResult<LlProductPatch> {
        self.with(async |s| s.product_patch(item, product).await).await
    }
    async fn item_update(&self, product: &LlProduct, item: &BcItem) -> ApiResult<BcItem> {
        self.with(async |s| s.item_update(product, item).await).await
    }
    async fn order_changes_for_leaflink(&self, order: &BcSalesOrder, current: &LlOrder) -> ApiResult<LeaflinkOrderChanges> {
        self.with(async |s| s.order_changes_for_leaflink(order, current).await).await
    }
    async fn order_changes_for_bc(&self, order: &LlOrder, current: &BcSalesOrder) -> ApiResult<BcOrderChanges> {
        self.with(async |s| s.order_changes_for_bc(order, current).await).await
    }
    async fn payment(&self, payment: &BcCustomerPayment, invoice: &BcSalesInvoice, order_number: &str) -> ApiResult<LlPayment> {
        self.with(async |s| s.payment(payment, invoice, order_number).await).await
    }
}

/// A tenant's override plugin, or none.
pub enum TenantOverrides {
    Plugin(Lazy<OverridesSession>),
    None(NoOverrides),
}

impl OverridesApi for TenantOverrides {
    async fn customer(&self, source: &LlCustomer, mapped: BcCustomer) -> ApiResult<BcCustomer> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.customer(source, &mapped).await).await,
            TenantOverrides::None(none) => none.customer(source, mapped).await,
        }
    }
    async fn item(&self, source: &LlProduct, mapped: BcItem) -> ApiResult<BcItem> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.item(source, &mapped).await).await,
            TenantOverrides::None(none) => none.item(source, mapped).await,
        }
    }
    async fn sales_order(&self, source: &LlOrder, mapped: BcSalesOrder) -> ApiResult<BcSalesOrder> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.sales_order(source, &mapped).await).await,
            TenantOverrides::None(none) => none.sales_order(source, mapped).await,
        }
    }
    async fn new_product(&self, source: &BcItem, mapped: LlNewProduct) -> ApiResult<LlNewProduct> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.new_product(source, &mapped).await).await,
            TenantOverrides::None(none) => none.new_product(source, mapped).await,
        }
    }
    async fn product_patch(&self, source: &BcItem, mapped: LlProductPatch) -> ApiResult<LlProductPatch> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.product_patch(source, &mapped).await).await,
            TenantOverrides::None(none) => none.product_patch(source, mapped).await,
        }
    }
    async fn payment(&self, source: &BcCustomerPayment, mapped: LlPayment) -> ApiResult<LlPayment> {
        match self {
            TenantOverrides::Plugin(lazy) => lazy.with(async |s| s.payment(source, &mapped).await).await,
            TenantOverrides::None(none) => none.payment(source, mapped).await,
        }
    }
}

/// The plugin set of the wasm runtime.
pub struct WasmPlugins;

impl Plugins for WasmPlugins {
    type LeafLink = Lazy<LeafLinkSession>;
    type BusinessCentral = Lazy<BusinessCentralSession>;
    type Mapping = Lazy<MapperSession>;
    type Overrides = TenantOverrides;
}

/// A tenant's four plugins, loaded and ready to open sessions.
pub struct TenantPlugins {
    pub leaflink: Lazy<LeafLinkSession>,
    pub business_central: Lazy<BusinessCentralSession>,
    pub mapping: Lazy<MapperSession>,
    pub overrides: TenantOverrides,
    /// The override plugin file, when the tenant has one.
    pub overrides_path: Option<PathBuf>,
}

impl TenantPlugins {
    /// Loads the core plugins from `plugin_dir`, and the tenant's override
    /// plugin when `<plugin_dir>/<tenant>-overrides.wasm` exists.
    pub fn load(runtime: &Arc<Runtime>, plugin_dir: &Path, tenant: &Arc<TenantContext>) -> Result<Self, LoadError> {
        Self::load_with_overrides(runtime, plugin_dir, None, tenant)
    }

    /// Loads the core plugins from `plugin_dir`, and the tenant's override
    /// plugin from `<overrides_dir>/<tenant>-overrides.wasm` (where
    /// `leafbridge plugin add` installs it), else from the same file name in
    /// `plugin_dir`, when either exists.
    pub fn load_with_overrides(
        runtime: &Arc<Runtime>,
        plugin_dir: &Path,
        overrides_dir: Option<&Path>,
        tenant: &Arc<TenantContext>,
    ) -> Result<Self, LoadError> {
        let load = |file: &str, world: World| runtime.load(&plugin_dir.join(file), world);
        let leaflink = load(LEAFLINK_PLUGIN, World::LeafLinkConnector)?;
        let business_central = load(BUSINESS_CENTRAL_PLUGIN, World::BusinessCentralConnector)?;
        let mapping = load(CORE_PLUGIN, World::Mapper)?;
        let file = overrides_plugin_file(tenant.name());
        let overrides_path = overrides_dir
            .map(|dir| dir.join(&file))
            .filter(|path| path.is_file())
            .unwrap_or_else(|| plugin_dir.join(&file));
        let (overrides, overrides_path) = if overrides_path.is_file() {
            let plugin = runtime.load(&overrides_path, World::TenantOverrides)?;
            (TenantOverrides::Plugin(Lazy::new(runtime.clone(), plugin, tenant.clone())), Some(overrides_path))
        } else {
            (TenantOverrides::None(NoOverrides), None)
        };
        Ok(Self {
            leaflink: Lazy::new(runtime.clone(), leaflink, tenant.clone()),
            business_central: Lazy::new(runtime.clone(), business_central, tenant.clone()),
            mapping: Lazy::new(runtime.clone(), mapping, tenant.clone()),
            overrides,
            overrides_path,
        })
    }
}
