fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    restrict_new_file_modes();
    leafbridge::cli::main()
}

/// Caps glibc's malloc at two arenas. On 64-bit Linux glibc creates up to
/// eight arenas per core as threads contend, and each keeps its freed
/// memory. A 100,000-order warm `bench import` peaked 16 MiB lower with this
/// cap than with `MALLOC_ARENA_MAX=16` (the default on two cores), see
/// BENCHMARKS.md. It runs before any thread starts, so every arena is
/// created under the cap. A `MALLOC_ARENA_MAX` environment variable, when
/// set, takes precedence.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only changes allocator settings and is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Sets the umask to 077, so every file and directory leafbridge creates
/// (the store's sled files, the key file, the component cache, installed
/// plugins) is readable by its owner only. The home contains tenant data and
/// encrypted credentials.
#[cfg(unix)]
fn restrict_new_file_modes() {
    // SAFETY: umask has no memory-safety preconditions. It only replaces the
    // process's file creation mask, and it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

#[cfg(not(unix))]
fn restrict_new_file_modes() {}
