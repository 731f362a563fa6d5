//! The wasmtime runtime: one engine for the process, the component cache,
//! loading and checking plugins, and the per-tenant stores calls run in.

pub mod bindings;
pub mod call_time;
mod cache;
mod errors;
mod exports;
mod host_state;
mod json_size;
mod limits;
mod sessions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, types::ComponentItem};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

pub use errors::{CallError, LoadError, RuntimeError, describe_plugin_error};
pub use host_state::now_rfc3339;
pub use limits::{HostBounds, Limits};
pub use sessions::{BusinessCentralSession, LeafLinkSession, MapperSession, OverridesSession};

use crate::capabilities::TenantContext;
use exports::ExportsPre;
use host_state::{CpuDeadlineExceeded, HostState};

/// How often the epoch ticker advances the engine's epoch. Each tick is a
/// point where a running guest checks its CPU deadline (and every few ticks
/// yields to the async executor, so the wall-clock timeout can end it). 10 ms
/// is 1% of the default one-second deadline and costs the ticker thread one
/// atomic increment per tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Address space reserved per linear-memory slot, which is the whole range a
/// 32-bit index can reach.
const FOUR_GIB: u64 = 1 << 32;

/// The four kinds of plugin, one per world of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    LeafLinkConnector,
    BusinessCentralConnector,
    Mapper,
    TenantOverrides,
}

impl World {
    /// Returns the world's name in the WIT contract.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::LeafLinkConnector => "leaflink-connector",
            World::BusinessCentralConnector => "business-central-connector",
            World::Mapper => "mapper",
            World::TenantOverrides => "tenant-overrides",
        }
    }

    /// Returns the interface the world exports.
    fn export_interface(self) -> &'static str {
        match self {
            World::LeafLinkConnector => "leaflink",
            World::BusinessCentralConnector => "business-central",
            World::Mapper => "mapping",
            World::TenantOverrides => "overrides",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}

/// Runtime settings: the compiled-component cache and the limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The on-disk cache of compiled components (`Home::component_cache_dir`).
    pub cache_dir: PathBuf,
    pub bounds: HostBounds,
    /// Limits of a tenant whose settings name none; clamped to `bounds`.
    pub defaults: Limits,
}

/// The process's wasmtime engine, its epoch ticker and the linkers.
pub struct Runtime {
    engine: Engine,
    config: RuntimeConfig,
    linkers: Linkers,
    stop_ticker: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

struct Linkers {
    leaflink: wasmtime::component::Linker<HostState>,
    business_central: wasmtime::component::Linker<HostState>,
    mapper: wasmtime::component::Linker<HostState>,
    overrides: wasmtime::component::Linker<HostState>,
}

impl Linkers {
    fn get(&self, world: World) -> &wasmtime::component::Linker<HostState> {
        match world {
            World::LeafLinkConnector => &self.leaflink,
            World::BusinessCentralConnector => &self.business_central,
            World::Mapper => &self.mapper,
            World::TenantOverrides => &self.overrides,
        }
    }
}

/// A loaded plugin: compiled, checked against its world and pre-instantiated.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    world: World,
    pre: PluginPre,
}

pub(crate) enum PluginPre {
    LeafLink(ExportsPre<exports::LeafLinkIndices>),
    BusinessCentral(ExportsPre<exports::BusinessCentralIndices>),
    Mapper(ExportsPre<exports::MapperIndices>),
    Overrides(ExportsPre<exports::OverridesIndices>),
}

impl Plugin {
    /// Returns the file name without its extension, e.g. `leafbridge-core`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn world(&self) -> World {
        self.world
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("path", &self.path).field("world", &self.world).finish()
    }
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Runtime>, RuntimeError> {
        std::fs::create_dir_all(&config.cache_dir)
            .map_err(|source| RuntimeError::CacheDir { path: config.cache_dir.clone(), source })?;
        let engine = match Engine::new(&engine_config(&config.bounds, MemorySlots::Unchecked)) {
            Ok(engine) => engine,
            // A host with a smaller address space (a `ulimit -v` limit, or a
            // 39-bit virtual address space) cannot reserve 4 GiB per slot.
            // Slots sized to the memory limit still work, with bounds checks.
            Err(error) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    "Cannot reserve 4 GiB of address space per plugin memory; using bounds-checked memories sized to the memory limit."
                );
                Engine::new(&engine_config(&config.bounds, MemorySlots::BoundsChecked))
                    .map_err(|error| RuntimeError::Engine(format!("{error:#}")))?
            }
        };

        let linker = |world| host_state::linker_for(&engine, world).map_err(|error| RuntimeError::Engine(format!("{error:#}")));
        let linkers = Linkers {
            leaflink: linker(World::LeafLinkConnector)?,
            business_central: linker(World::BusinessCentralConnector)?,
            mapper: linker(World::Mapper)?,
            overrides: linker(World::TenantOverrides)?,
        };

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let ticker = std::thread::Builder::new()
            .name("leafbridge-epoch".into())
            .spawn({
                let engine = engine.clone();
                let stop = stop_ticker.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(RuntimeError::Ticker)?;

        Ok(Arc::new(Runtime { engine, config, linkers, stop_ticker, ticker: Some(ticker) }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Returns the limits a call for `tenant` runs under.
    pub fn limits_for(&self, tenant: &TenantContext) -> Limits {
        self.config.defaults.for_tenant(tenant.limit_settings(), &self.config.bounds)
    }

    /// Compiles the component at `path` (or reads it from the on-disk cache),
    /// checks that it implements `world` at a compatible contract version, and
    /// pre-instantiates it.
    pub fn load(&self, path: &Path, world: World) -> Result<Arc<Plugin>, LoadError> {
        let bytes = read_component(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LoadError::Missing { path: path.to_owned() },
            _ => LoadError::Read { path: path.to_owned(), source },
        })?;
        let invalid = |reason: String| LoadError::InvalidComponent { path: path.to_owned(), reason };
        if !bytes.starts_with(b"\0asm") {
            return Err(invalid("the file does not start with the WebAssembly magic number".into()));
        }

        let component = cache::compile_cached(&self.engine, &self.config.cache_dir, &bytes)
            .map_err(|error| invalid(format!("{error:#}")))?;
        self.check_exports(path, &component, world)?;

        let mismatch = |error: wasmtime::Error| LoadError::WorldMismatch {
            path: path.to_owned(),
            expected: world,
            reason: format!("{error:#}"),
        };
        let instance_pre: InstancePre<HostState> =
            self.linkers.get(world).instantiate_pre(&component).map_err(mismatch)?;
        let pre = match world {
            World::LeafLinkConnector => PluginPre::LeafLink(ExportsPre::new(instance_pre).map_err(mismatch)?),
            World::BusinessCentralConnector => PluginPre::BusinessCentral(ExportsPre::new(instance_pre).map_err(mismatch)?),
            World::Mapper => PluginPre::Mapper(ExportsPre::new(instance_pre).map_err(mismatch)?),
            World::TenantOverrides => PluginPre::Overrides(ExportsPre::new(instance_pre).map_err(mismatch)?),
        };

        let name: Arc<str> = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default().into();
        tracing::info!(plugin = %name, path = %path.display(), world = %world, "Loaded plugin.");
        Ok(Arc::new(Plugin { name, path: path.to_owned(), world, pre }))
    }

    /// Finds the contract interface the component exports and checks its
    /// version the way wasmtime matches imports: any 0.1.x is compatible with
    /// this host's 0.1.0, while 0.2.0 or 1.0.0 is another contract.
    fn check_exports(&self, path: &Path, component: &Component, world: World) -> Result<(), LoadError> {
        let package = bindings::CONTRACT_PACKAGE;
        let mut contract_exports = Vec::new();
        for (name, item) in component.component_type().exports(&self.engine) {
            if let ComponentItem::ComponentInstance(_) = item.ty
                && let Some(rest) = name.strip_prefix(package).and_then(|rest| rest.strip_prefix('/'))
            {
                let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
                contract_exports.push((interface.to_owned(), version.to_owned()));
            }
        }

        if let Some((_, version)) = contract_exports.iter().find(|(_, version)| !compatible(version)) {
            return Err(LoadError::ContractVersion {
                path: path.to_owned(),
                package,
                found: if version.is_empty() { "(unversioned)".into() } else { version.clone() },
                supported: bindings::CONTRACT_VERSION.into(),
            });
        }
        if !contract_exports.iter().any(|(interface, _)| interface == world.export_interface()) {
            let found = if contract_exports.is_empty() {
                "it exports no leafbridge:plugin interface".to_owned()
            } else {
                let names: Vec<String> =
                    contract_exports.iter().map(|(interface, version)| format!("{package}/{interface}@{version}")).collect();
                format!("it exports {}", names.join(", "))
            };
            return Err(LoadError::WorldMismatch {
                path: path.to_owned(),
                expected: world,
                reason: format!("expected an export of {package}/{}, but {found}", world.export_interface()),
            });
        }
        Ok(())
    }

    /// A new store for `tenant` with its limits, deadline callback and memory
    /// limiter in place.
    pub(crate) fn new_store(&self, plugin: &Plugin, tenant: &Arc<TenantContext>) -> Store<HostState> {
        let limits = self.limits_for(tenant);
        let mut store = Store::new(&self.engine, HostState::new(tenant.clone(), plugin.name.clone(), limits));
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            let (charged, yield_now) = state.clock.tick();
            if charged > state.limits.cpu {
                return Err(CpuDeadlineExceeded.into());
            }
            Ok(if yield_now { UpdateDeadline::Yield(1) } else { UpdateDeadline::Continue(1) })
        });
        store.set_epoch_deadline(1);
        store
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// Whether a guest's contract version can run on this host: the same major
/// version and, while the major is 0, the same minor (semver rules).
fn compatible(version: &str) -> bool {
    let host: Vec<&str> = bindings::CONTRACT_VERSION.split('.').collect();
    let guest: Vec<&str> = version.split('.').collect();
    if guest.len() != 3 || guest.iter().any(|part| part.parse::<u64>().is_err()) {
        return false;
    }
    if host[0] == "0" { guest[0] == "0" && guest[1] == host[1] } else { guest[0] == host[0] }
}

/// The layout of the pool's linear-memory slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemorySlots {
    /// 4 GiB of address space per slot, so guest code needs no bounds checks.
    Unchecked,
    /// Slots sized to `HostBounds::max_memory_bytes`, with explicit bounds
    /// checks in guest code.
    BoundsChecked,
}

fn engine_config(bounds: &HostBounds, slots: MemorySlots) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    let instances = bounds.max_instances.max(1);
    pool.total_component_instances(instances);
    // A Rust guest built for wasm32-wasip2 is one main module plus a few small
    // adapter and shim modules, with one linear memory and a handful of
    // tables.
    pool.max_core_instances_per_component(16);
    pool.total_core_instances(instances.saturating_mul(8));
    pool.max_memories_per_component(2);
    pool.total_memories(instances.saturating_mul(2));
    pool.max_tables_per_component(8);
    pool.total_tables(instances.saturating_mul(8));
    pool.total_stacks(instances);
    pool.max_memory_size(bounds.max_memory_bytes as usize);
    // With the PAGEMAP_SCAN ioctl (Linux 6.7 and later), wasmtime resets a
    // freed slot by finding the pages the last instance wrote and copying
    // only those back from the memory image, up to the keep-resident size.
    // A small plugin's slot is then reset without an `madvise`, and its next
    // instance takes no page faults. In the runtime benchmark this cut the
    // CPU time of instantiating a plugin and calling it once by about a
    // fifth. Without the ioctl, wasmtime `memset`s the whole keep-resident
    // size on every reset, so the size stays small there.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes);
        pool.linear_memory_keep_resident(1 << 20);
        pool.table_keep_resident(64 << 10);
    } else {
        pool.linear_memory_keep_resident(64 << 10);
        pool.table_keep_resident(16 << 10);
    }

    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // Reserve 4 GiB of address space per memory slot and follow it with a
    // 32 MiB guard region (wasmtime 48's defaults on 64-bit hosts). A 32-bit
    // index plus a static offset under 32 MiB then always lands inside the
    // slot, so Cranelift emits no bounds check on guest loads and stores and
    // an out-of-bounds access faults on the guard pages instead.
    // `max_memory_size` above still caps how far a memory may grow.
    //
    // The reservation is address space, not resident memory. At 2 slots per
    // instance and the default bound of 1,000 instances, a runtime reserves
    // about 8 TiB of the 128 TiB that x86-64 Linux gives a process. A process
    // can therefore hold about fifteen runtimes of that size at once.
    //
    // `BoundsChecked` reserves only what the largest permitted memory needs.
    // In the runtime benchmark its checks made map-order calls 7 to 9 %
    // slower.
    match slots {
        MemorySlots::Unchecked => {
            config.memory_reservation(FOUR_GIB);
            config.memory_guard_size(32 << 20);
        }
        MemorySlots::BoundsChecked => {
            config.memory_reservation(bounds.max_memory_bytes);
            config.memory_guard_size(2 << 20);
        }
    }
    config.memory_reservation_for_growth(0);
    // `perf` can name guest functions only when the engine writes a map of
    // its compiled code to /tmp/perf-<pid>.map; off unless asked for.
    if std::env::var_os("LEAFBRIDGE_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// The largest component file the host reads. The guests built here are
/// under 1 MiB; the cap keeps a mistaken path such as `/dev/zero` or a huge
/// file from being read into memory whole.
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a component file, refusing anything but a regular file of at most
/// [`MAX_COMPONENT_BYTES`].
pub fn read_component(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;

    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB, the largest component accepted", MAX_COMPONENT_BYTES >> 20),
        )
    };
    if metadata.len() > MAX_COMPONENT_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_COMPONENT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Returns the directory plugins are loaded from by default: `$LEAFBRIDGE_PLUGIN_DIR`,
/// else `plugins/` under the cargo target directory this host was built with
/// (where `cargo xtask plugins` puts every guest as `<package-name>.wasm`).
pub fn default_plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LEAFBRIDGE_PLUGIN_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    match option_env!("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugins"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("plugins"),
    }
}
