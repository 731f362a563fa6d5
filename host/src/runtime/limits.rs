//! Per-call plugin limits, their defaults and the host-wide bounds a tenant's
//! settings are clamped to.

use std::time::Duration;

use crate::tenant::LimitSettings;

const MIB: u64 = 1 << 20;

/// The limits one plugin call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum size of the guest's linear memory, in bytes.
    pub memory_bytes: u64,
    /// Maximum time the guest may run per call, not counting the time the host
    /// spends inside imports (waiting on the network, for example).
    pub cpu: Duration,
    /// Maximum elapsed time per call, host imports included.
    pub wall_clock: Duration,
    /// Maximum size of a call's return value, measured as its JSON encoding.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A page of 100 LeafLink orders with their line items is, by
            // estimate, a few MiB of JSON. A connector keeps the raw body, the
            // parsed document and the WIT records at the same time, so it needs
            // about four times that. 64 MiB covers it with room to spare.
            memory_bytes: 64 * MIB,
            // Mapping a page of orders or parsing a page of JSON takes
            // milliseconds, so one second leaves two orders of magnitude of
            // headroom and still stops a runaway loop quickly.
            cpu: Duration::from_secs(1),
            // One call sends one page's requests, and the host backs off
            // between retries. LeafLink counts its limit over a rolling minute,
            // so a throttled call may wait most of a minute, and two minutes
            // lets it finish.
            wall_clock: Duration::from_secs(120),
            // A page of 100 orders of 50 lines each, with extras, encodes to
            // roughly 10 MiB of JSON.
            output_bytes: 16 * MIB,
        }
    }
}

/// Host-wide ceilings. A tenant may lower its limits below the defaults or
/// raise them, but never above these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostBounds {
    pub max_memory_bytes: u64,
    pub max_cpu: Duration,
    pub max_wall_clock: Duration,
    pub max_output_bytes: u64,
    /// Plugin instances that may be alive at once across every tenant; the
    /// pooling allocator reserves this many slots.
    pub max_instances: u32,
}

impl Default for HostBounds {
    fn default() -> Self {
        Self {
            // This caps growth only. Every memory slot in the pool reserves
            // 4 GiB of address space whatever this value is, so that guest
            // code runs without bounds checks (see `engine_config`).
            max_memory_bytes: 256 * MIB,
            max_cpu: Duration::from_secs(30),
            max_wall_clock: Duration::from_secs(15 * 60),
            max_output_bytes: 128 * MIB,
            // Enough for one short-lived instance per tenant for about a
            // thousand tenants running at once.
            max_instances: 1000,
        }
    }
}

impl Limits {
    /// Applies a tenant's settings over these defaults and clamps each value
    /// to `bounds`.
    pub fn for_tenant(&self, settings: &LimitSettings, bounds: &HostBounds) -> Limits {
        let memory_bytes = settings.memory_bytes.unwrap_or(self.memory_bytes);
        let cpu = settings.cpu_millis.map(Duration::from_millis).unwrap_or(self.cpu);
        let wall_clock = settings.wall_clock_millis.map(Duration::from_millis).unwrap_or(self.wall_clock);
        Limits {
            memory_bytes: memory_bytes.min(bounds.max_memory_bytes),
            cpu: cpu.min(bounds.max_cpu),
            wall_clock: wall_clock.min(bounds.max_wall_clock),
            output_bytes: self.output_bytes.min(bounds.max_output_bytes),
        }
    }

    /// Clamps every value to `bounds`.
    pub fn clamped(&self, bounds: &HostBounds) -> Limits {
        self.for_tenant(&LimitSettings::default(), bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_settings_override_defaults() {
        let settings = LimitSettings { memory_bytes: Some(8 * MIB), cpu_millis: Some(50), wall_clock_millis: Some(2_000) };
        let limits = Limits::default().for_tenant(&settings, &HostBounds::default());
        assert_eq!(limits.memory_bytes, 8 * MIB);
        assert_eq!(limits.cpu, Duration::from_millis(50));
        assert_eq!(limits.wall_clock, Duration::from_secs(2));
    }

    #[test]
    fn tenant_settings_clamped_to_bounds() {
        let settings = LimitSettings {
            memory_bytes: Some(u64::MAX),
            cpu_millis: Some(u64::MAX),
            wall_clock_millis: Some(u64::MAX),
        };
        let bounds = HostBounds::default();
        let limits = Limits::default().for_tenant(&settings, &bounds);
        assert_eq!(limits.memory_bytes, bounds.max_memory_bytes);
        assert_eq!(limits.cpu, bounds.max_cpu);
        assert_eq!(limits.wall_clock, bounds.max_wall_clock);
    }
}
