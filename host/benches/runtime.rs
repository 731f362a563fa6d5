//! Runtime benchmarks: instantiating a pre-instantiated plugin and making one
//! call with a 20-line order, and the round trip of one host import, each
//! next to a native call of the same code.
//!
//! The same two rows run against the real core plugin, `leafbridge-core`,
//! next to its mapping code called natively.
//!
//! Needs the `fixture-bench-order` and `leafbridge-core` guests in the plugin
//! directory (`cargo xtask plugins`). Run with `cargo bench -p leafbridge --bench runtime`.
//!
//! With `RUNTIME_BENCH_LOOP=<row>` set (`instantiate`, `core_instantiate`,
//! `lower_order_20_lines_in_session` or one of the map-order rows), the
//! binary skips criterion, runs that row `RUNTIME_BENCH_ROUNDS` times
//! (default 3,000) and prints the elapsed and the process CPU time per
//! round. The CPU time is the steadier figure on a loaded machine, and the
//! loop is a convenient target for `perf record`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fixture_bench_order::{LineInput, price_lines};
use leafbridge::capabilities::{Secret, TenantContext, TenantSecrets};
use leafbridge::runtime::bindings::mapping::OrderContext;
use leafbridge::runtime::bindings::NO_EXTRAS;
use leafbridge::runtime::bindings::types::{
    BcLineType, BcSalesOrder, BcSalesOrderLine, LlCustomer, LlLineItem, LlOrder, Money, PluginError, RecordError,
};
use leafbridge::runtime::{HostBounds, Limits, Plugin, Runtime, RuntimeConfig, World, default_plugin_dir, now_rfc3339};
use leafbridge::tenant::{
    BusinessCentralEndpoint, LeafLinkEndpoint, LimitSettings, ProductMaster, TenantSettings, default_customer_match_key,
    default_customer_numbering, default_order_statuses, default_unit_map,
};

/// Host-import calls per measured guest call. One round trip is the time of a
/// call making this many, minus a call making none, divided by this number.
const IMPORT_CALLS: i64 = 1000;

fn setup() -> (Arc<Runtime>, Arc<Plugin>, Arc<Plugin>, Arc<TenantContext>) {
    let plugin_dir = default_plugin_dir();
    let config = RuntimeConfig {
        cache_dir: plugin_dir.parent().unwrap_or(&plugin_dir).join("bench-component-cache"),
        bounds: HostBounds { max_instances: 64, ..HostBounds::default() },
        defaults: Limits::default(),
    };
    let runtime = Runtime::new(config).expect("the runtime starts");
    let path = plugin_dir.join("fixture-bench-order.wasm");
    let plugin = runtime
        .load(&path, World::Mapper)
        .unwrap_or_else(|error| panic!("{error}; build the guests with `cargo xtask plugins` first"));
    let core = runtime
        .load(&plugin_dir.join("leafbridge-core.wasm"), World::Mapper)
        .unwrap_or_else(|error| panic!("{error}; build the guests with `cargo xtask plugins` first"));
    // The benchmark plugin makes no requests, so these URLs are never used.
    let settings = TenantSettings {
        name: "bench".to_owned(),
        go_live: "2026-01-01T00:00:00Z".parse().unwrap(),
        time_zone: "UTC".to_owned(),
        product_master: ProductMaster::BusinessCentral,
        order_statuses_to_import: default_order_statuses(),
        freight_account: "40100".to_owned(),
        unit_map: default_unit_map(),
        salesperson_map: Default::default(),
        customer_numbering: default_customer_numbering(),
        customer_match_key: default_customer_match_key(),
        leaflink: LeafLinkEndpoint { base_url: "http://127.0.0.1:9/api/v2".into(), company_id: None, recorded_by: None },
        business_central: BusinessCentralEndpoint {
            base_url: "http://127.0.0.1:9/bc/api/v2.0".into(),
            token_url: "http://127.0.0.1:9/token".into(),
            tenant_id: "t".into(),
            environment: "e".into(),
            company_id: "00000000-0000-0000-0000-000000000003".into(),
            client_id: "bench".into(),
            scope: None,
        },
        limits: LimitSettings::default(),
        notify: None,
        plugin_settings: Default::default(),
    };
    let secrets = TenantSecrets { leaflink_api_key: Secret::new("k"), business_central_client_secret: Secret::new("s") };
    let tenant = TenantContext::new(&settings, secrets).expect("the tenant context builds");
    (runtime, plugin, core, tenant)
}

/// Converts a host binding record into the core crate's record of the same
/// WIT type. Both sides derive serde with the WIT field names.
fn to_core<T: serde::Serialize, U: serde::de::DeserializeOwned>(value: &T) -> U {
    serde_json::from_value(serde_json::to_value(value).unwrap()).unwrap()
}

fn order_with_lines(lines: usize) -> (LlOrder, OrderContext) {
    let line_items = (0..lines)
        .map(|index| LlLineItem {
            id: index as i64 + 1,
            order: "6f1c2a7e-0000-4000-8000-000000000001".into(),
            product: 1000 + index as i64,
            sku: format!("SKU-{index:03}"),
            name: format!("Product {index}"),
            quantity: format!("{}.5", index + 1),
            unit_multiplier: "1".into(),
            unit_of_measure: Some("Unit".into()),
            ordered_unit_price: Money { amount: format!("{}.37", 10 + index), currency: "USD".into() },
            sale_price: None,
            extras: NO_EXTRAS.to_owned(),
        })
        .collect();
    let order = LlOrder {
        number: "6f1c2a7e-0000-4000-8000-000000000001".into(),
        short_id: "A1B2C3".into(),
        customer_id: 42,
        customer_display_name: "Green Leaf Dispensary".into(),
        status: "Submitted".into(),
        shipping_charge: None,
        total: None,
        notes: None,
        delivery_preferences: None,
        paid: false,
        paid_date: None,
        created_on: "2026-03-04T05:06:07.000000Z".into(),
        modified: "2026-03-04T05:06:07.000000Z".into(),
        sales_reps: Vec::new(),
        line_items,
        extras: NO_EXTRAS.to_owned(),
    };
    let context = OrderContext {
        customer_number: "LL42".into(),
        items: (0..lines).map(|index| (format!("SKU-{index:03}"), format!("ITEM-{index:03}"))).collect(),
    };
    (order, context)
}

/// Maps an order like the guest's `map-order` does, with the same
/// `price_lines` and the same record construction over the host's types.
fn map_order_natively(order: &LlOrder, context: &OrderContext) -> Result<BcSalesOrder, PluginError> {
    let inputs = order.line_items.iter().map(|line| LineInput {
        sku: &line.sku,
        quantity: &line.quantity,
        unit_price: &line.ordered_unit_price.amount,
    });
    let (priced, total) = price_lines(inputs, &context.items).map_err(|reason| {
        PluginError::InvalidRecord(RecordError { record: format!("order {}", order.number), field: None, reason })
    })?;
    let lines = priced
        .into_iter()
        .map(|line| BcSalesOrderLine {
            id: None,
            line_type: BcLineType::Item,
            line_object_number: Some(line.item_number),
            description: String::new(),
            unit_of_measure_code: None,
            quantity: line.quantity.to_string(),
            unit_price: line.unit_price.to_string(),
            discount_amount: None,
            amount_excluding_tax: Some(line.amount.to_string()),
            shipped_quantity: None,
            invoiced_quantity: None,
            leaflink_line_id: None,
            etag: None,
            extras: NO_EXTRAS.to_owned(),
        })
        .collect();
    Ok(BcSalesOrder {
        id: None,
        number: None,
        external_document_number: order.number.clone(),
        order_date: order.created_on.get(..10).unwrap_or_default().to_owned(),
        customer_id: None,
        customer_number: Some(context.customer_number.clone()),
        status: None,
        fully_shipped: false,
        total_amount_including_tax: Some(total.to_string()),
        lines,
        etag: None,
        last_modified: None,
        extras: NO_EXTRAS.to_owned(),
    })
}

/// Returns a sales order with no lines and no values, the smallest the
/// contract allows.
fn empty_sales_order() -> BcSalesOrder {
    BcSalesOrder {
        id: None,
        number: None,
        external_document_number: String::new(),
        order_date: String::new(),
        customer_id: None,
        customer_number: None,
        status: None,
        fully_shipped: false,
        total_amount_including_tax: None,
        lines: Vec::new(),
        etag: None,
        last_modified: None,
        extras: NO_EXTRAS.to_owned(),
    }
}

fn customer(clock_calls: i64) -> LlCustomer {
    LlCustomer {
        id: clock_calls,
        name: "Green Leaf Dispensary".into(),
        nickname: None,
        external_id: None,
        license_number: None,
        website: None,
        address: None,
        unit_number: None,
        zipcode: None,
        city: None,
        county: None,
        state: None,
        country: None,
        phone: None,
        email: None,
        currency: None,
        status: None,
        archived: false,
        managers: Vec::new(),
        modified: None,
        extras: NO_EXTRAS.to_owned(),
    }
}

/// Returns the CPU time used by the whole process (the benchmark thread and
/// the epoch ticker). On a machine shared with other work, it varies far less
/// than elapsed time.
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs `round` `rounds` times and prints the elapsed and the CPU time per
/// round, in microseconds.
fn run_loop(row: &str, rounds: u32, mut round: impl FnMut()) {
    let started = Instant::now();
    let cpu_started = process_cpu_time();
    for _ in 0..rounds {
        round();
    }
    let cpu = process_cpu_time() - cpu_started;
    let per_round = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(rounds);
    println!("{row}: {:.2} µs elapsed, {:.2} µs CPU per round", per_round(started.elapsed()), per_round(cpu));
}

/// A plugin and the order its loop rows map.
struct Subject<'a> {
    plugin: &'a Plugin,
    order: &'a LlOrder,
    context: &'a OrderContext,
}

impl Subject<'_> {
    fn instantiate(&self, executor: &tokio::runtime::Runtime, runtime: &Runtime, tenant: &Arc<TenantContext>) {
        drop(executor.block_on(runtime.mapper(self.plugin, tenant)).unwrap());
    }

    fn instantiate_and_call(&self, executor: &tokio::runtime::Runtime, runtime: &Runtime, tenant: &Arc<TenantContext>) {
        executor.block_on(async {
            let mut session = runtime.mapper(self.plugin, tenant).await.unwrap();
            session.map_order(self.order, self.context).await.unwrap();
        });
    }

    fn in_session(&self, row: &str, rounds: u32, executor: &tokio::runtime::Runtime, runtime: &Runtime, tenant: &Arc<TenantContext>) {
        let mut session = executor.block_on(runtime.mapper(self.plugin, tenant)).unwrap();
        run_loop(row, rounds, || drop(executor.block_on(session.map_order(self.order, self.context)).unwrap()));
    }

    /// Passes the order into the guest through `order-changes-for-bc`, which
    /// the benchmark plugin rejects at once, so the time is that of lowering
    /// the order's values into the guest plus one call.
    fn lower_only_in_session(&self, row: &str, rounds: u32, executor: &tokio::runtime::Runtime, runtime: &Runtime, tenant: &Arc<TenantContext>) {
        let current = empty_sales_order();
        let mut session = executor.block_on(runtime.mapper(self.plugin, tenant)).unwrap();
        run_loop(row, rounds, || {
            let result = executor.block_on(session.order_changes_for_bc(self.order, &current));
            assert!(result.is_err(), "the benchmark plugin rejects order-changes-for-bc");
        });
    }
}

fn benches(c: &mut Criterion) {
    let executor = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (runtime, plugin, core, tenant) = setup();
    let (order, context) = order_with_lines(20);
    let core_settings: leafbridge_core::Settings = tenant.settings().clone().into_iter().collect();
    let core_order: leafbridge_core::types::LlOrder = to_core(&order);
    let core_context: leafbridge_core::OrderContext = to_core(&context);

    // The guest and the native code must agree before their speed is compared.
    let from_guest = executor.block_on(async {
        let mut session = runtime.mapper(&plugin, &tenant).await.unwrap();
        session.map_order(&order, &context).await.unwrap()
    });
    assert_eq!(from_guest, map_order_natively(&order, &context).unwrap());
    let from_core_guest = executor.block_on(async {
        let mut session = runtime.mapper(&core, &tenant).await.unwrap();
        session.map_order(&order, &context).await.unwrap()
    });
    let from_core_native = leafbridge_core::order::map_order(&core_settings, &core_order, &core_context).unwrap();
    assert_eq!(from_core_guest, to_core::<_, BcSalesOrder>(&from_core_native));

    if let Ok(row) = std::env::var("RUNTIME_BENCH_LOOP") {
        let rounds = std::env::var("RUNTIME_BENCH_ROUNDS").ok().and_then(|value| value.parse().ok()).unwrap_or(3000);
        let fixture = Subject { plugin: &plugin, order: &order, context: &context };
        let core_subject = Subject { plugin: &core, order: &order, context: &context };
        let native = || drop(map_order_natively(std::hint::black_box(&order), &context).unwrap());
        let core_native = || {
            let order = std::hint::black_box(&core_order);
            drop(leafbridge_core::order::map_order(&core_settings, order, &core_context).unwrap())
        };
        match row.as_str() {
            "instantiate" => run_loop(&row, rounds, || fixture.instantiate(&executor, &runtime, &tenant)),
            "instantiate_and_map_order_20_lines" => run_loop(&row, rounds, || fixture.instantiate_and_call(&executor, &runtime, &tenant)),
            "map_order_20_lines_in_session" => fixture.in_session(&row, rounds, &executor, &runtime, &tenant),
            "native_map_order_20_lines" => run_loop(&row, rounds, native),
            "lower_order_20_lines_in_session" => fixture.lower_only_in_session(&row, rounds, &executor, &runtime, &tenant),
            "core_instantiate" => run_loop(&row, rounds, || core_subject.instantiate(&executor, &runtime, &tenant)),
            "core_instantiate_and_map_order_20_lines" => {
                run_loop(&row, rounds, || core_subject.instantiate_and_call(&executor, &runtime, &tenant))
            }
            "core_map_order_20_lines_in_session" => core_subject.in_session(&row, rounds, &executor, &runtime, &tenant),
            "core_native_map_order_20_lines" => run_loop(&row, rounds, core_native),
            other => panic!("RUNTIME_BENCH_LOOP={other} is not a known row; see the list at the top of benches/runtime.rs"),
        }
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("runtime");
    group.sample_size(50).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));

    group.bench_function("instantiate_and_map_order_20_lines", |b| {
        b.to_async(&executor).iter(|| async {
            let mut session = runtime.mapper(&plugin, &tenant).await.unwrap();
            session.map_order(&order, &context).await.unwrap()
        })
    });

    let mut session = executor.block_on(runtime.mapper(&plugin, &tenant)).unwrap();
    group.bench_function("map_order_20_lines_in_session", |b| {
        b.iter(|| executor.block_on(session.map_order(&order, &context)).unwrap())
    });

    let empty_customer = customer(0);
    group.bench_function("trivial_call_in_session", |b| {
        b.iter(|| executor.block_on(session.map_customer(&empty_customer)).unwrap())
    });

    group.bench_function("native_map_order_20_lines", |b| {
        b.iter(|| map_order_natively(std::hint::black_box(&order), std::hint::black_box(&context)).unwrap())
    });

    // One round trip of `clock.now`: a guest call that makes IMPORT_CALLS
    // imports, minus a call that makes none, divided by IMPORT_CALLS.
    let with_imports = customer(IMPORT_CALLS);
    let without_imports = customer(0);
    group.bench_function("host_import_clock_now", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations.div_ceil(IMPORT_CALLS as u64) {
                let started = Instant::now();
                executor.block_on(session.map_customer(&with_imports)).unwrap();
                let loaded = started.elapsed();
                let started = Instant::now();
                executor.block_on(session.map_customer(&without_imports)).unwrap();
                total += loaded.saturating_sub(started.elapsed());
            }
            // Scale back to exactly `iterations` round trips.
            total.mul_f64(iterations as f64 / (iterations.div_ceil(IMPORT_CALLS as u64) * IMPORT_CALLS as u64) as f64)
        })
    });

    group.bench_function("native_clock_now", |b| b.iter(now_rfc3339));

    group.bench_function("core_instantiate_and_map_order_20_lines", |b| {
        b.to_async(&executor).iter(|| async {
            let mut session = runtime.mapper(&core, &tenant).await.unwrap();
            session.map_order(&order, &context).await.unwrap()
        })
    });

    let mut core_session = executor.block_on(runtime.mapper(&core, &tenant)).unwrap();
    group.bench_function("core_map_order_20_lines_in_session", |b| {
        b.iter(|| executor.block_on(core_session.map_order(&order, &context)).unwrap())
    });

    group.bench_function("core_native_map_order_20_lines", |b| {
        b.iter(|| {
            let order = std::hint::black_box(&core_order);
            leafbridge_core::order::map_order(&core_settings, order, std::hint::black_box(&core_context)).unwrap()
        })
    });
    group.finish();
}

criterion_group!(runtime_benches, benches);
criterion_main!(runtime_benches);
