//! Request pacing under each API's documented rate limits, shared by every
//! tenant that uses the same API key or identity.
//!
//! LeafLink allows 300 requests per minute per API key, counted on a rolling
//! window and charged to the key's owner. BC allows 6,000 requests per
//! 5-minute sliding window and 5 concurrent requests per user (app users and
//! service principals included). Both limits are per credential, not per
//! tenant, so the pacers live in a registry keyed by credential.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A sliding-window rate limiter with an optional cap on concurrent requests.
///
/// It keeps the send time of each of the last `limit` requests, so a burst up
/// to the limit goes out at once and nothing waits while the limits are far
/// away.
#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
    concurrency: Option<Arc<Semaphore>>,
}

/// Held while a request is in flight; dropping it frees the concurrency slot.
#[derive(Debug)]
pub struct PacerPermit {
    _slot: Option<OwnedSemaphorePermit>,
    /// Time spent waiting for the window or a concurrency slot.
    pub waited: Duration,
}

impl Pacer {
    pub fn new(limit: usize, window: Duration, concurrency: Option<usize>) -> Self {
        Self {
            limit: limit.max(1),
            window,
            sent: Mutex::new(VecDeque::with_capacity(limit.min(8192))),
            concurrency: concurrency.map(|slots| Arc::new(Semaphore::new(slots.max(1)))),
        }
    }

    /// LeafLink: 300 requests per rolling minute per API key. The burst of
    /// 1,000 per minute the documentation also mentions is not relied on.
    pub fn leaflink() -> Self {
        Self::new(300, Duration::from_secs(60), None)
    }

    /// Business Central: 6,000 requests per 5-minute sliding window and 5
    /// concurrent requests per identity.
    pub fn business_central() -> Self {
        Self::new(6_000, Duration::from_secs(300), Some(5))
    }

    /// Waits until one more request fits under the limits and records it.
    pub async fn acquire(&self) -> PacerPermit {
        let started = Instant::now();
        if PACING_OFF.load(Ordering::Relaxed) {
            return PacerPermit { _slot: None, waited: started.elapsed() };
        }
        let slot = match &self.concurrency {
            // No code path closes the semaphore, so acquiring cannot fail.
            Some(semaphore) => semaphore.clone().acquire_owned().await.ok(),
            None => None,
        };
        loop {
            let wait_until = {
                let mut sent = self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|&at| now.duration_since(at) >= self.window) {
                    sent.pop_front();
                }
                if sent.len() < self.limit {
                    sent.push_back(now);
                    None
                } else {
                    sent.front().map(|&oldest| oldest + self.window)
                }
            };
            match wait_until {
                None => return PacerPermit { _slot: slot, waited: started.elapsed() },
                Some(at) => tokio::time::sleep_until(at).await,
            }
        }
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<Pacer>>>> = LazyLock::new(Default::default);

/// Set by `leafbridge bench import` unless asked for pacing: the benchmark
/// measures leafbridge against a sandbox without rate limits, and LeafLink's
/// 300 requests a minute would otherwise cap a long crawl at 500 orders a
/// second (100 orders a page).
static PACING_OFF: AtomicBool = AtomicBool::new(false);

/// Turns pacing off for every pacer of this process. Only the import
/// benchmark calls it, because a real API would reject the extra requests
/// with 429.
pub fn turn_off_for_benchmark() {
    PACING_OFF.store(true, Ordering::Relaxed);
}

/// Returns the pacer for `key` (a digest of the credential, never the
/// credential), created with `make` when no tenant uses one yet.
pub fn shared_pacer(key: &str, make: impl FnOnce() -> Pacer) -> Arc<Pacer> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pacer) = registry.get(key).and_then(Weak::upgrade) {
        return pacer;
    }
    registry.retain(|_, pacer| pacer.strong_count() > 0);
    let pacer = Arc::new(make());
    registry.insert(key.to_owned(), Arc::downgrade(&pacer));
    pacer
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time with short windows, so the tests need no paused clock.

    #[tokio::test]
    async fn burst_under_limit_does_not_wait() {
        let pacer = Pacer::new(3, Duration::from_secs(60), None);
        for _ in 0..3 {
            assert!(pacer.acquire().await.waited < Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn request_over_limit_waits_for_window() {
        let pacer = Pacer::new(2, Duration::from_millis(400), None);
        pacer.acquire().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        pacer.acquire().await;
        let permit = pacer.acquire().await;
        // The first request leaves the window 400 ms after it was sent, which
        // is about 300 ms after the third request asked.
        assert!(permit.waited >= Duration::from_millis(250), "{:?}", permit.waited);
        assert!(permit.waited < Duration::from_millis(400), "{:?}", permit.waited);
    }

    #[tokio::test]
    async fn concurrency_cap_holds_requests() {
        let pacer = Arc::new(Pacer::new(100, Duration::from_secs(60), Some(1)));
        let first = pacer.acquire().await;
        let waiter = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.acquire().await.waited }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(first);
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(180), "{waited:?}");
    }

    #[test]
    fn same_key_shares_pacer() {
        let first = shared_pacer("test-key-shared", Pacer::leaflink);
        let second = shared_pacer("test-key-shared", Pacer::leaflink);
        let other = shared_pacer("test-key-other", Pacer::leaflink);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
