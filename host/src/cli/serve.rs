//! `leafbridge serve`: the long-running host process.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::{info, warn};

use super::Home;
use crate::schedule::{Scheduler, SchedulerLimits};
use crate::serve::subscriptions::{DEFAULT_CHECK_INTERVAL, DEFAULT_RENEW_BEFORE, SubscriptionConfig, Subscriptions};
use crate::serve::{AppState, Metrics, bind, serve};
use crate::store::secrets::Secret;

/// The environment variable that may hold the admin API bearer token.
pub const ADMIN_TOKEN_ENV: &str = "LEAFBRIDGE_ADMIN_TOKEN";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the admin API, webhooks, /metrics and /healthz.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDRESS")]
    pub listen: SocketAddr,
    /// Most flow runs in progress at once, across all tenants.
    #[arg(long, default_value_t = SchedulerLimits::default().max_concurrent_runs, value_name = "COUNT")]
    pub max_runs: usize,
    /// Most flow runs in progress at once for one tenant.
    #[arg(long, default_value_t = SchedulerLimits::default().max_concurrent_runs_per_tenant, value_name = "COUNT")]
    pub max_runs_per_tenant: usize,
    /// How long shutdown waits for runs in progress, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub drain_seconds: u64,
    /// Public base URL of this server, as Business Central reaches it
    /// (e.g. https://leafbridge.example.com). With it, serve creates and
    /// renews a BC webhook subscription per tenant pointing at
    /// <URL>/webhooks/business-central/<tenant>; without it, BC changes
    /// arrive only through scheduled runs.
    #[arg(long, env = "LEAFBRIDGE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<url::Url>,
    /// How often serve checks every tenant's BC subscriptions, in seconds.
    #[arg(long, default_value_t = DEFAULT_CHECK_INTERVAL.as_secs(), value_name = "SECONDS")]
    pub subscription_check_seconds: u64,
    /// Renew a BC subscription once less than this many hours are left of
    /// its 3-day expiry.
    #[arg(long, default_value_t = DEFAULT_RENEW_BEFORE.as_secs() / 3600, value_name = "HOURS")]
    pub subscription_renew_hours: u64,
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(home: &Home, args: ServeArgs) -> anyhow::Result<()> {
    let store = super::open_store(home)?;
    let secrets = super::open_secrets(home, &store)?;
    let admin_token = load_admin_token(home)?;
    let metrics = Arc::new(Metrics::new());
    let limits = SchedulerLimits { max_concurrent_runs: args.max_runs, max_concurrent_runs_per_tenant: args.max_runs_per_tenant };
    let runtime = super::run::open_runtime(home)?;
    let engine = crate::flows::runner::FlowEngine::new(runtime, crate::runtime::default_plugin_dir(), store.clone(), secrets.clone())
        .with_overrides_dir(super::plugin::installed_plugin_dir(home));
    let mailer = crate::serve::notify::Mailer::from_env()?;
    let engine = crate::serve::notify::NotifyingRunner::new(engine, store.clone(), mailer);
    let scheduler = Scheduler::new(Arc::new(engine), limits, metrics.clone());
    if let Some(url) = &args.public_url
        && url.scheme() != "https"
        && url.scheme() != "http"
    {
        anyhow::bail!("invalid --public-url {url}: use an http or https URL");
    }
    if let Some(url) = &args.public_url
        && url.scheme() == "http"
    {
        // BC expects an https notification URL; plain http suits a local
        // stand-in such as the sandbox.
        warn!(%url, "--public-url is plain http: Business Central delivers webhook notifications only to https URLs, and the notifications would cross the network unencrypted");
    }
    if !args.listen.ip().is_loopback() {
        warn!(
            listen = %args.listen,
            "serve listens beyond this machine: the admin API and /metrics need the bearer token, and anything that can reach the port can try it; put a TLS proxy in front"
        );
    }
    let subscriptions = Arc::new(Subscriptions::new(SubscriptionConfig {
        public_url: args.public_url,
        renew_before: Duration::from_secs(args.subscription_renew_hours.saturating_mul(3600)),
        check_interval: Duration::from_secs(args.subscription_check_seconds.max(1)),
    }));
    let state = AppState { store, secrets, scheduler, metrics, admin_token: Arc::new(admin_token), subscriptions };

    let listener = bind(args.listen).await?;
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port when --listen ends in :0.
    println!("listening on http://{address}");
    let serve_file = super::records::serve_file(home);
    write_serve_file(&serve_file, address)?;

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested");
        let _ = stop.send(true);
    });
    let served = serve(state, listener, Duration::from_secs(1), Duration::from_secs(args.drain_seconds), shutdown).await;
    if let Err(error) = std::fs::remove_file(&serve_file) {
        warn!(%error, path = %serve_file.display(), "cannot remove the serve address file");
    }
    served?;
    Ok(())
}

/// Records where the admin API listens, so the read-only commands can reach
/// it while serve has the store locked. An unspecified listen address is reached
/// on loopback.
fn write_serve_file(path: &std::path::Path, address: SocketAddr) -> anyhow::Result<()> {
    let mut reachable = address;
    if address.ip().is_unspecified() {
        let loopback: IpAddr = if address.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() };
        reachable.set_ip(loopback);
    }
    let record = super::records::ServeAddress { url: format!("http://{reachable}"), pid: std::process::id() };
    let text = serde_json::to_string(&record)?;
    // A file left by a serve that was killed is replaced.
    let _ = std::fs::remove_file(path);
    write_private_file(path, &text).with_context(|| format!("cannot write {}", path.display()))
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Reads the admin token from `LEAFBRIDGE_ADMIN_TOKEN`, else from
/// `<home>/admin.token`, creating that file (mode 0600) with a random token.
fn load_admin_token(home: &Home) -> anyhow::Result<Secret> {
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        if token.len() < 16 {
            anyhow::bail!("{ADMIN_TOKEN_ENV} must be at least 16 characters");
        }
        return Ok(Secret::new(token));
    }
    let path = home.root().join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(Secret::new(token.trim().to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let token = base64_token();
            write_private_file(&path, &token).with_context(|| format!("cannot create {}", path.display()))?;
            eprintln!("created an admin API token in {}", path.display());
            Ok(Secret::new(token))
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn base64_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
