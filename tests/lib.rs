//! Shared helpers for the end-to-end suite.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The `leafbridge` binary, built on first use.
///
/// Cargo sets `CARGO_BIN_EXE_<name>` only for tests of the package that owns
/// the binary, and this suite is a separate package, so the helper builds the
/// binary into the same target directory and profile as the running test.
pub fn leafbridge_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let test_exe = std::env::current_exe().expect("the test binary has a path");
            // <target>/<profile>/deps/suite-<hash>
            let profile_dir = test_exe.parent().and_then(|deps| deps.parent()).expect("the test binary is in <target>/<profile>/deps");
            let target_dir = profile_dir.parent().expect("the profile directory is inside the target directory");
            let profile = profile_dir.file_name().and_then(|name| name.to_str()).unwrap_or("debug");
            let cargo_profile = if profile == "debug" { "dev" } else { profile };

            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "--package", "leafbridge", "--bin", "leafbridge", "--profile", cargo_profile])
                .env("CARGO_TARGET_DIR", target_dir)
                .status()
                .expect("cargo can be started to build the leafbridge binary");
            assert!(status.success(), "building the leafbridge binary failed");
            profile_dir.join(format!("leafbridge{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}
