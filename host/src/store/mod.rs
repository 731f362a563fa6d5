//! The sled-backed state of a leafbridge home: tenants, encrypted secrets,
//! cross-references, cursors, runs, conflicts and dead letters.
//!
//! Every key of per-tenant data starts with the tenant name and a NUL byte, so
//! one tenant's records never mix with another's and a tenant can be removed
//! with one prefix scan.

pub mod conflicts;
pub mod cursors;
pub mod dead_letters;
pub mod link_proposals;
mod operations;
pub mod permissions;
pub(crate) mod records;
pub mod runs;
pub mod secrets;
pub mod tenants;
pub mod xref;

pub use conflicts::Conflict;
pub use cursors::Cursor;
pub use dead_letters::DeadLetter;
pub use link_proposals::{Candidate, LinkProposal, ProposalStatus};
pub use records::FieldValues;
pub use runs::{OpenRun, RunCounts, RunOutcome, RunRecord};
pub use xref::{CrossReference, RecordKind};

use std::path::Path;
use std::time::{Duration, Instant};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    /// The store directory could not be created or made owner-only.
    #[error("cannot restrict the store at {path} to its owner: {source}; check that this user owns it")]
    Permissions { path: String, source: std::io::Error },
    /// sled allows one process per store, so this is usually `leafbridge
    /// serve` running on the same home.
    #[error(
        "the store at {path} is in use by {holder}; \
         wait for it or stop it (while serve runs, `run`, `runs`, `status`, `conflicts`, `dead-letters list` and `tenant list` go through it; other commands need it stopped)"
    )]
    Locked { path: String, holder: String },
    #[error("store operation failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

/// Page cache of the store. sled 0.34 defaults to 1 GiB and fills it with
/// written pages, so a long import's memory grew with its order count. sled
/// counts this limit in on-disk page sizes rounded up to a power of two, and
/// its in-memory nodes, page table and segment bookkeeping come on top.
/// Since `ACCESSES_PER_WRITE` makes the limit hold, a page evicted too early
/// is read back from disk. In 10,000-order warm `bench import` runs on a
/// loaded 2-core VM, the median importer CPU of three rose by about 7% with
/// 16 extra accesses per write and a 16 MiB limit, and by about 1% with a
/// 32 MiB limit. Both compare with the earlier 8 MiB limit without them.
const STORE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Extra reads of a cross-reference's key after each write (see
/// `queue_cache_accesses`).
pub(crate) const ACCESSES_PER_WRITE: usize = 16;

/// Reads `key` from `tree` `times` times, only to queue page accesses, so
/// that sled keeps its page cache near its limit.
///
/// sled 0.34.7 (`lru.rs`) splits its cache into 256 shards and queues each
/// page access in the shard of the page. A shard applies its queue and
/// evicts its least recently used pages only when 64 accesses have queued,
/// so until then every page pulled from disk stays in memory beyond the
/// limit. Writes and lookups of random keys (order numbers) mostly pull leaf
/// pages that are not cached, and in a large tree most queued accesses are
/// to different pages, so the memory held this way grew with the tree. Each
/// extra read of the page just written queues one more access, so every
/// shard applies its queue more often and keeps fewer pages in memory
/// beyond the limit.
pub(crate) fn queue_cache_accesses(tree: &sled::Tree, key: &[u8], times: usize) -> Result<(), sled::Error> {
    for _ in 0..times {
        tree.contains_key(key)?;
    }
    Ok(())
}

/// The open store of one home directory.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
}

impl Store {
    /// Opens the store at `dir`, creating it if needed. On Unix the
    /// directory and its files are made owner-only (0700 and 0600).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let permissions_error = |source| StoreError::Permissions { path: dir.display().to_string(), source };
        permissions::create_private_dir(dir).map_err(permissions_error)?;
        let db = open_waiting_for_release(dir)?;
        write_holder(dir);
        // sled creates its files with the process umask. Files it creates
        // later stay unreadable to others, because the directory is 0700.
        permissions::restrict_to_owner(dir).map_err(permissions_error)?;
        let store = Self { db };
        let interrupted = store.record_interrupted_runs()?;
        if interrupted > 0 {
            tracing::warn!(runs = interrupted, "found runs that never finished; recorded them as interrupted");
        }
        Ok(store)
    }

    /// A named tree (table) of the store.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Writes everything to disk; flows call it before a remote write that
    /// depends on what they just stored.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// How long `Store::open` keeps retrying a held lock. sled 0.34's background
/// threads keep the lock file open for a moment after the last handle of a
/// store is dropped, so a store closed and reopened in one process can find
/// its own lock still held. A lock of another live process lasts far longer.
const LOCK_RELEASE_WAIT: Duration = Duration::from_millis(500);

fn open_waiting_for_release(dir: &Path) -> Result<sled::Db, StoreError> {
    let started = Instant::now();
    loop {
        let error = match sled::Config::new().path(dir).cache_capacity(STORE_CACHE_BYTES).open() {
            Ok(db) => return Ok(db),
            Err(error) => error,
        };
        let path = dir.display().to_string();
        // sled 0.34 reports a held lock only as this I/O error text.
        let locked = matches!(&error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"));
        if !locked {
            return Err(StoreError::Open { path, source: error });
        }
        if started.elapsed() >= LOCK_RELEASE_WAIT {
            return Err(StoreError::Locked { path, holder: describe_holder(dir) });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// File in the store directory naming the process that has the store open,
/// so that another process can report who has the lock.
const HOLDER_FILE: &str = "leafbridge-holder";

/// Writes this process's id and subcommand to the holder file. The file only
/// improves an error message, so a failure to write it is logged and ignored.
fn write_holder(dir: &Path) {
    let text = format!("{}\n{}\n", std::process::id(), subcommand(std::env::args().skip(1)));
    if let Err(error) = std::fs::write(dir.join(HOLDER_FILE), text) {
        tracing::debug!(%error, "could not write the store's holder file");
    }
}

/// Returns the first argument that is not an option or the value of
/// `--home`, such as `serve` or `run`. Only that word is kept, because other
/// arguments may carry values a user would not want in a file.
fn subcommand(mut args: impl Iterator<Item = String>) -> String {
    while let Some(arg) = args.next() {
        if arg == "--home" {
            args.next();
        } else if !arg.starts_with('-') {
            return arg;
        }
    }
    String::new()
}

/// Describes the process named in the holder file if it is still alive,
/// else the processes that usually hold the lock.
fn describe_holder(dir: &Path) -> String {
    let unknown = "another leafbridge process on this home, `leafbridge serve` or a command still running".to_owned();
    let Ok(text) = std::fs::read_to_string(dir.join(HOLDER_FILE)) else {
        return unknown;
    };
    let mut lines = text.lines();
    let Some(pid) = lines.next().and_then(|line| line.parse::<u32>().ok()) else {
        return unknown;
    };
    if !process_alive(pid) {
        return unknown;
    }
    match lines.next().filter(|command| !command.is_empty()) {
        Some(command) => format!("`leafbridge {command}` (process {pid})"),
        None => format!("leafbridge process {pid}"),
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be
    // signalled. EPERM still means it exists.
    let status = unsafe { libc::kill(pid, 0) };
    status == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    false
}

/// The key of a per-tenant record: tenant name, NUL, then `rest`.
pub fn tenant_key(tenant: &str, rest: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.len() + 1 + rest.len());
    key.extend_from_slice(tenant.as_bytes());
    key.push(0);
    key.extend_from_slice(rest.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_waits_for_released_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path()).unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        let second = Store::open(dir.path());
        holder.join().unwrap();
        assert!(second.is_ok(), "{:?}", second.err());
    }

    #[test]
    fn open_reports_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _holder = Store::open(dir.path()).unwrap();
        let started = Instant::now();
        let error = Store::open(dir.path()).unwrap_err();
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
        assert!(started.elapsed() >= LOCK_RELEASE_WAIT);
        // The test harness's arguments decide whether a subcommand word
        // precedes the process id, so only the id is checked.
        let process = format!("process {}", std::process::id());
        assert!(error.to_string().contains(&process), "{error}");
    }

    #[test]
    fn subcommand_skips_options_and_home() {
        let args = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>().into_iter();
        assert_eq!(subcommand(args("--home /tmp/h serve --port 1")), "serve");
        assert_eq!(subcommand(args("-v run acme orders-import")), "run");
        assert_eq!(subcommand(args("--json")), "");
    }
}
