//! The data of one plugin store: its tenant, its limits, the WASI context
//! with nothing granted, and the host side of the `log`, `clock`, `settings`
//! and `http` imports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandomView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, clock, http, log, settings, types};
use super::{Limits, World};
use crate::capabilities::TenantContext;

/// Log lines a plugin may write per call; later ones are counted and dropped.
const MAX_LOG_LINES_PER_CALL: u32 = 200;
/// A longer log message is cut to this many bytes.
const MAX_LOG_MESSAGE_BYTES: usize = 2048;
/// The guest's stderr (where a Rust guest prints its panic message) is kept
/// up to this many bytes, to explain a trap.
const STDERR_CAPTURE_BYTES: usize = 4096;

pub(crate) struct HostState {
    pub tenant: Arc<TenantContext>,
    pub plugin: Arc<str>,
    pub limits: Limits,
    /// Built on first use, because most plugin calls never reach WASI and
    /// building a context seeds its random number generators.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub stderr: MemoryOutputPipe,
    pub memory: MemoryLimiter,
    pub clock: CallClock,
    log_lines: u32,
    dropped_log_lines: u32,
}

impl HostState {
    pub fn new(tenant: Arc<TenantContext>, plugin: Arc<str>, limits: Limits) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        Self {
            tenant,
            plugin,
            limits,
            wasi: None,
            table: ResourceTable::new(),
            stderr,
            memory: MemoryLimiter { cap: limits.memory_bytes as usize, exceeded: false },
            clock: CallClock::idle(),
            log_lines: 0,
            dropped_log_lines: 0,
        }
    }

    /// Resets the per-call accounting at the start of a call.
    pub fn begin_call(&mut self) {
        self.clock = CallClock::start();
        self.memory.exceeded = false;
        self.log_lines = 0;
        self.dropped_log_lines = 0;
    }

    /// Logs how many lines were dropped, once per call.
    pub fn end_call(&mut self, function: &'static str) {
        if self.dropped_log_lines > 0 {
            tracing::warn!(tenant = %self.tenant.name(), plugin = %self.plugin, function, dropped = self.dropped_log_lines, "Plugin wrote more log lines than allowed per call; dropped the rest.");
        }
    }

    /// Returns what the guest wrote to stderr (a Rust guest's panic message)
    /// on one line, without the standard hint about `RUST_BACKTRACE`.
    pub fn stderr_text(&self) -> Option<String> {
        let contents = self.stderr.contents();
        let text = String::from_utf8_lossy(&contents);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        (!lines.is_empty()).then(|| lines.join(" "))
    }
}

/// The guest's memory cap. It records that the cap was hit, so a trap that
/// follows (a Rust guest aborts when allocation fails) is reported as a memory
/// limit, not as a bare trap.
pub(crate) struct MemoryLimiter {
    cap: usize,
    pub exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond
        // any plugin's need and keeps a table bomb from costing memory.
        Ok(desired <= 1_000_000)
    }
}

/// CPU time accounting of the current call, driven by the epoch ticker.
///
/// The deadline callback runs each time an epoch tick passes while the guest
/// runs. Between two callbacks with no suspension in between, the guest ran
/// without interruption on one OS thread, so the thread's CPU clock measures
/// exactly what it used (time the OS gave to other processes is not charged).
/// An interval that contains a suspension (a yield, or a host import such as
/// `http.send` that waited) is not charged, because the thread ran other tasks
/// meanwhile.
///
/// A call starts as if just resumed from a suspension, so its first interval
/// is not charged either. That keeps the thread CPU clock off the path of
/// every call: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` is a real system call
/// (no vDSO), about 1 µs on the benchmark VM, against 0.2 µs for the
/// monotonic clock, measured with a Python loop.
///
/// NOTE: the guest time right after a suspension or the call's start, up to
/// one tick, goes uncharged. The callback also yields every
/// `YIELD_EVERY_TICKS` ticks, so a spinning guest is stopped at up to about
/// 1.25 times its CPU deadline plus one tick. The wall-clock timeout bounds
/// whatever this estimate misses.
pub(crate) struct CallClock {
    last_cpu: Duration,
    last_wall: Instant,
    charged: Duration,
    ticks: u32,
    suspended: bool,
}

/// The deadline callback yields to the async executor every this many ticks,
/// so the wall-clock timeout and other tasks on the same thread get a turn
/// while a guest computes. Five 10 ms ticks bound both delays to 50 ms.
pub(crate) const YIELD_EVERY_TICKS: u32 = 5;

impl CallClock {
    fn idle() -> Self {
        // `suspended` makes the first tick only take the CPU baseline.
        Self { last_cpu: Duration::ZERO, last_wall: Instant::now(), charged: Duration::ZERO, ticks: 0, suspended: true }
    }

    fn start() -> Self {
        Self::idle()
    }

    /// Marks the current interval as containing a suspension.
    pub fn suspended(&mut self) {
        self.suspended = true;
    }

    /// Charges the interval since the previous check. Returns the guest's
    /// total for this call and whether to yield now.
    pub fn tick(&mut self) -> (Duration, bool) {
        let cpu = thread_cpu_time();
        let wall = Instant::now();
        if !self.suspended {
            // CPU time on one thread cannot exceed the elapsed time. The
            // minimum also guards against an unreported thread switch.
            let used = cpu.saturating_sub(self.last_cpu).min(wall.duration_since(self.last_wall));
            self.charged += used;
        }
        self.last_cpu = cpu;
        self.last_wall = wall;
        self.ticks += 1;
        let yield_now = self.ticks % YIELD_EVERY_TICKS == 0;
        self.suspended = yield_now;
        (self.charged, yield_now)
    }
}

/// CPU time consumed by the calling thread.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec and the clock id is a
    // constant every supported Unix defines.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Without a thread CPU clock, elapsed time replaces CPU time.
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// The deadline callback error that ends a call over its CPU deadline.
#[derive(Debug, thiserror::Error)]
#[error("the plugin ran past its CPU deadline")]
pub(crate) struct CpuDeadlineExceeded;

/// Builds the WASI context of one store. It grants no environment variables,
/// arguments, preopened directories or sockets. Stdin is empty, stdout is
/// discarded and stderr goes to `stderr`.
fn wasi_ctx(stderr: &MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder().stderr(stderr.clone()).build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| wasi_ctx(&self.stderr));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the WASI 0.2 interfaces a Rust std guest imports: I/O streams, clocks,
/// random, the CLI environment and stdio, and the filesystem types. Nothing
/// in them grants access: the environment is empty, no directory is
/// preopened, stdin is empty and stdout discarded. Sockets are not linked, so
/// a component importing them fails to load.
fn add_wasi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi_io::bindings::wasi::io;

    io::error::add_to_linker::<HostState, Io>(linker, |state| &mut state.table)?;
    io::poll::add_to_linker::<HostState, Io>(linker, |state| &mut state.table)?;
    io::streams::add_to_linker::<HostState, Io>(linker, |state| &mut state.table)?;

    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(linker, HostState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<HostState, WasiClocks>(linker, HostState::clocks)?;
    random::random::add_to_linker::<HostState, WasiRandom>(linker, HostState::random)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(linker, HostState::random)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(linker, HostState::random)?;

    cli::exit::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(linker, HostState::cli)?;

    filesystem::types::add_to_linker::<HostState, WasiFilesystem>(linker, HostState::filesystem)?;
    filesystem::preopens::add_to_linker::<HostState, WasiFilesystem>(linker, HostState::filesystem)?;
    Ok(())
}

/// Builds the linker of one world: the WASI subset plus that world's own
/// imports. Only the connector worlds get `http`.
pub(crate) fn linker_for(engine: &Engine, world: World) -> wasmtime::Result<Linker<HostState>> {
    use wasmtime::component::HasSelf;

    let mut linker = Linker::new(engine);
    add_wasi(&mut linker)?;
    fn get(state: &mut HostState) -> &mut HostState {
        state
    }
    match world {
        World::LeafLinkConnector => {
            bindings::leaflink_connector::LeaflinkConnector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, get)?
        }
        World::BusinessCentralConnector => {
            bindings::business_central_connector::BusinessCentralConnector::add_to_linker::<HostState, HasSelf<HostState>>(
                &mut linker,
                get,
            )?
        }
        World::Mapper => bindings::mapper::Mapper::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, get)?,
        World::TenantOverrides => {
            bindings::tenant_overrides::TenantOverrides::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, get)?
        }
    }
    Ok(linker)
}

impl types::Host for HostState {}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_lines >= MAX_LOG_LINES_PER_CALL {
            self.dropped_log_lines += 1;
            return Ok(());
        }
        self.log_lines += 1;
        let message = truncate(&message, MAX_LOG_MESSAGE_BYTES);
        let tenant = self.tenant.name();
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(tenant, plugin, "{message}"),
            log::Level::Debug => tracing::debug!(tenant, plugin, "{message}"),
            log::Level::Info => tracing::info!(tenant, plugin, "{message}"),
            log::Level::Warn => tracing::warn!(tenant, plugin, "{message}"),
            log::Level::Error => tracing::error!(tenant, plugin, "{message}"),
        }
        Ok(())
    }
}

impl clock::Host for HostState {
    async fn now(&mut self) -> wasmtime::Result<String> {
        Ok(now_rfc3339())
    }
}

/// Returns the current time as RFC 3339 UTC with microseconds, the
/// `timestamp` format of the contract.
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl settings::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.tenant.settings().get(&key).cloned())
    }

    async fn entries(&mut self, prefix: String) -> wasmtime::Result<Vec<(String, String)>> {
        let entries = self
            .tenant
            .settings()
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(entries)
    }
}

impl http::Host for HostState {
    async fn send(&mut self, request: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let tenant = self.tenant.clone();
        let outcome = tenant.http().send(request).await;
        // The request may have waited, and the call may resume on another
        // thread; the deadline callback must not charge this interval.
        self.clock.suspended();
        if let Err(error) = &outcome {
            tracing::info!(tenant = %tenant.name(), plugin = %self.plugin, error = %describe_http_error(error), "Plugin HTTP request failed.");
        }
        Ok(outcome)
    }
}

/// Describes `error` on one line, leaving out response bodies.
fn describe_http_error(error: &http::HttpError) -> String {
    match error {
        http::HttpError::NotAllowed(message) => format!("not allowed: {message}"),
        http::HttpError::InvalidRequest(message) => format!("invalid request: {message}"),
        http::HttpError::Timeout(message) => format!("timed out: {message}"),
        http::HttpError::Connection(message) => format!("connection failed: {message}"),
        http::HttpError::RetriesExhausted(response) => format!("retries exhausted, last status {}", response.status),
        http::HttpError::Credentials(message) => format!("credentials unavailable: {message}"),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_format_has_microseconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-01-02T03:04:05.123456Z".len(), "{now}");
        assert_eq!(&now[19..20], ".", "{now}");
        assert!(now.ends_with('Z'), "{now}");
        assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
    }

    #[test]
    fn truncate_keeps_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
