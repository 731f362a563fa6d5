//! The LeafLink Marketplace API v2 stand-in: `/api/v2/` paths with the
//! mandatory trailing slash, `App`/`Token` keys, limit/offset paging, the
//! filters the flows use, orders with their transitions and inventory
//! effects, line items, products, customers, order payments, companies and
//! company staff. Besides HTTP, `Server` lets tests and the demo act as the
//! buyer or the seller in process.

mod body;
mod http;
mod order_json;
pub mod model;
mod render;
mod seed;
mod writes;

use std::net::SocketAddr;
use std::sync::Arc;

use rust_decimal::Decimal;
use tokio::sync::watch;

use crate::SeedConfig;
use crate::faults::Faults;
pub use model::{Action, LeafLinkError, NewLine, NewOrder, Status};
pub use render::RenderOptions;

/// What a LeafLink client needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The `/api/v2` root.
    pub base_url: String,
    pub api_key: String,
}

/// How the LeafLink server starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub faults: Faults,
    /// Enforce 300 requests a minute per API key (429 beyond).
    pub rate_limits: bool,
    /// Send money `amount` as a decimal string instead of a JSON number.
    pub money_as_string: bool,
    pub seed: SeedConfig,
    /// Statuses generated orders may take; empty gives the usual mix of all
    /// statuses.
    pub order_statuses: Vec<Status>,
}

/// The staff member who owns the sandbox's API key; writes made with it
/// name this editor.
const KEY_OWNER: u32 = 13;

/// A running LeafLink stand-in. Dropping it stops the server.
pub struct Server {
    info: ConnectionInfo,
    faults: Faults,
    state: Arc<http::AppState>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("leaflink::Server").field("base_url", &self.info.base_url).finish_non_exhaustive()
    }
}

/// Counts of the records the server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub line_items: usize,
    pub payments: usize,
}

/// Seeds the store and serves LeafLink on `listener` until the server is
/// shut down or dropped.
pub async fn start(listener: tokio::net::TcpListener, options: Options) -> anyhow::Result<Server> {
    options.seed.check()?;
    let address: SocketAddr = listener.local_addr()?;
    let seed = options.seed.clone();
    let statuses = options.order_statuses.clone();
    let store = tokio::task::spawn_blocking(move || seed::build(&seed, &statuses)).await?;
    // A 64-hex-character key like the one in LeafLink's docs, derived from
    // the seed so a restarted sandbox keeps its key.
    let api_key = format!("{:016x}", options.seed.random_seed).repeat(4);
    let origin = format!("http://{address}");
    let state = Arc::new(http::AppState::new(
        store,
        api_key.clone(),
        origin.clone(),
        RenderOptions { money_as_string: options.money_as_string },
        options.rate_limits,
        seed::SELLER_COMPANY,
        KEY_OWNER,
    ));
    let router = axum::Router::new()
        .fallback(http::handle)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(options.faults.clone(), crate::faults::inject));
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(%error, "the LeafLink sandbox stopped with an error");
        }
    });
    tracing::info!(%address, "LeafLink sandbox started");
    let info = ConnectionInfo { base_url: format!("{origin}/api/v2"), api_key };
    Ok(Server { info, faults: options.faults, state, stop })
}

impl Server {
    pub fn info(&self) -> ConnectionInfo {
        self.info.clone()
    }

    /// The live fault profile; `faults().set(..)` changes it while running.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Stops accepting connections; requests in flight finish.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    pub fn counts(&self) -> Counts {
        let store = self.state.read();
        Counts {
            customers: store.customers.len(),
            products: store.products.len(),
            orders: store.orders.len(),
            line_items: store.lines.len(),
            payments: store.payments.len(),
        }
    }

    /// Places an order as the buyer would; returns its `number`. A
    /// `Submitted` order reserves its quantities.
    pub fn place_order(&self, order: NewOrder) -> Result<String, LeafLinkError> {
        let number = uuid::Uuid::new_v4().to_string();
        let mut store = self.state.write();
        let index = store.place_order(self.state.company, KEY_OWNER, order, number)?;
        Ok(store.orders[index].number.to_string())
    }

    /// Applies a transition verb, with its inventory effect.
    pub fn transition(&self, number: &str, action: Action) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index = store
            .order_index(number)
            .ok_or_else(|| LeafLinkError::NotFound { kind: "order", key: number.to_owned() })?;
        store.transition(index, action, KEY_OWNER)
    }

    /// Changes a line's quantity (units) and/or ordered unit price, as the
    /// seller editing an order would, and bumps the order's `modified`.
    pub fn change_line(&self, line_id: u64, quantity: Option<Decimal>, price: Option<Decimal>) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index =
            store.line_index(line_id).ok_or_else(|| LeafLinkError::NotFound { kind: "line item", key: line_id.to_string() })?;
        if let Some(quantity) = quantity {
            store.set_line_quantity(index, quantity);
        }
        if let Some(price) = price {
            store.lines[index].ordered_unit_price = price;
        }
        let order = store.lines[index].order as usize;
        store.touch_order(order, Some(KEY_OWNER));
        Ok(())
    }

    /// Sets a product's wholesale price (a case price when its multiplier is
    /// above 1) and bumps its `modified`.
    pub fn set_product_price(&self, product_id: u32, wholesale_price: Decimal) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index = store
            .product_index(product_id)
            .ok_or_else(|| LeafLinkError::NotFound { kind: "product", key: product_id.to_string() })?;
        store.products[index].wholesale_price = wholesale_price;
        store.touch_product(index);
        Ok(())
    }

    /// Backdates an order's `created_on` to `created_on`, shown at the order's
    /// own UTC offset, and bumps its `modified`. Tests use it to place an order
    /// at a chosen moment, such as just before midnight.
    pub fn set_order_created_on(&self, number: &str, created_on: jiff::Timestamp) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index = store
            .order_index(number)
            .ok_or_else(|| LeafLinkError::NotFound { kind: "order", key: number.to_owned() })?;
        let offset = store.orders[index].created_on.offset_minutes;
        store.orders[index].created_on = model::Stamp::new(created_on.as_microsecond(), offset);
        store.touch_order(index, None);
        Ok(())
    }

    /// Applies `edit` to a customer, as the seller editing it would, and
    /// bumps its `modified`.
    pub fn edit_customer(&self, customer_id: u32, edit: impl FnOnce(&mut model::Customer)) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index = store
            .customers
            .iter()
            .position(|customer| customer.id == customer_id)
            .ok_or_else(|| LeafLinkError::NotFound { kind: "customer", key: customer_id.to_string() })?;
        edit(&mut store.customers[index]);
        let offset = store.customers[index].modified.offset_minutes;
        store.customers[index].modified = store.now(offset);
        Ok(())
    }

    /// Applies `edit` to a product, as the seller editing it would, and bumps
    /// its `modified` and `last_edit`. A changed SKU is not re-indexed, so
    /// `edit` must leave the SKU alone.
    pub fn edit_product(&self, product_id: u32, edit: impl FnOnce(&mut model::Product)) -> Result<(), LeafLinkError> {
        let mut store = self.state.write();
        let index = store
            .product_index(product_id)
            .ok_or_else(|| LeafLinkError::NotFound { kind: "product", key: product_id.to_string() })?;
        edit(&mut store.products[index]);
        store.touch_product(index);
        Ok(())
    }

    /// The order as `GET /orders-received/{number}/?include_children=line_items`
    /// returns it.
    pub fn order_json(&self, number: &str) -> Option<serde_json::Value> {
        let store = self.state.read();
        let index = store.order_index(number)?;
        Some(self.renderer(&store).order(&store.orders[index], true, false))
    }

    /// The payments of an order as `GET /orders-received/{number}/payments/`
    /// returns them, oldest first.
    pub fn payments_json(&self, number: &str) -> Vec<serde_json::Value> {
        let store = self.state.read();
        let Some(order) = store.order_index(number) else { return Vec::new() };
        let renderer = self.renderer(&store);
        store
            .payments
            .iter()
            .enumerate()
            .filter(|(_, payment)| payment.order as usize == order)
            .map(|(index, payment)| renderer.payment(index, payment))
            .collect()
    }

    pub fn product_json(&self, product_id: u32) -> Option<serde_json::Value> {
        let store = self.state.read();
        let product = store.product(product_id)?;
        Some(self.renderer(&store).product(product, true))
    }

    pub fn customer_json(&self, customer_id: u32) -> Option<serde_json::Value> {
        let store = self.state.read();
        let customer = store.customer(customer_id)?;
        Some(self.renderer(&store).customer(customer))
    }

    /// Ids of customers that are not archived, in seed order.
    pub fn active_customer_ids(&self) -> Vec<u32> {
        self.state.read().customers.iter().filter(|customer| !customer.archived).map(|customer| customer.id).collect()
    }

    /// Ids of products that are not archived, in seed order.
    pub fn available_product_ids(&self) -> Vec<u32> {
        let store = self.state.read();
        store.products.iter().filter(|product| product.listing_state != "Archived").map(|product| product.id).collect()
    }

    /// Numbers of every order, in creation order.
    pub fn order_numbers(&self) -> Vec<String> {
        self.state.read().orders.iter().map(|order| order.number.to_string()).collect()
    }

    fn renderer<'s>(&self, store: &'s model::Store) -> render::Renderer<'s> {
        render::Renderer { store, options: self.state.render }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
