//! Project tasks run as `cargo xtask <task>`.
//!
//! - `plugins`: builds every guest plugin as a wasm32-wasip2 component and
//!   copies it to `<target>/plugins/<package-name>.wasm`, where the host looks
//!   for plugins.
//! - `test`: `plugins`, then `cargo test` with any further arguments.
//! - `demo`: `plugins`, then `cargo run -p leafbridge -- demo` with any further
//!   arguments.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// The wasm target every guest is built for; it emits a component directly.
const GUEST_TARGET: &str = "wasm32-wasip2";
/// The Cargo profile for guests (defined in the root Cargo.toml).
const GUEST_PROFILE: &str = "guest";

const USAGE: &str = "usage: cargo xtask <plugins | test [cargo test args] | demo [demo args]>";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = env::args_os().skip(1);
    let task = args.next().map(|arg| arg.to_string_lossy().into_owned());
    let rest: Vec<OsString> = args.collect();
    let workspace = workspace_root()?;

    match task.as_deref() {
        Some("plugins") => build_plugins(&workspace),
        Some("test") => {
            build_plugins(&workspace)?;
            let mut command = cargo(&workspace);
            command.arg("test").args(&rest);
            run_tests(command)
        }
        Some("demo") => {
            build_plugins(&workspace)?;
            let mut command = cargo(&workspace);
            command.args(["run", "-p", "leafbridge", "--", "demo"]).args(&rest);
            run_command(command, "cargo run -p leafbridge -- demo")
        }
        Some(other) => bail!("unknown task `{other}`\n{USAGE}"),
        None => bail!("no task given\n{USAGE}"),
    }
}

/// A guest package found under one of the plugin folders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GuestPackage {
    /// The Cargo package name, e.g. `leafbridge-core`; names the copied file.
    package_name: String,
    /// The library crate name, e.g. `leafbridge_core`; names the built file.
    crate_name: String,
    manifest: PathBuf,
    /// False for a shared library without a `cdylib` (it builds no component).
    is_component: bool,
}

/// Builds every guest package and copies each component to `<target>/plugins/`.
fn build_plugins(workspace: &Path) -> Result<()> {
    println!("xtask: ensuring the {GUEST_TARGET} target is installed");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", GUEST_TARGET]);
    run_command(rustup, &format!("rustup target add {GUEST_TARGET}"))?;

    let packages = discover_guest_packages(workspace)?
        .iter()
        .map(|manifest| read_guest_package(manifest))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|package| package.is_component)
        .collect::<Vec<_>>();
    if packages.is_empty() {
        bail!("no guest packages found under {}", workspace.join("plugins").display());
    }

    let target_dir = target_dir(workspace)?;
    let output_dir = target_dir.join("plugins");
    fs::create_dir_all(&output_dir)
        .with_context(|| format!("failed to create {}", output_dir.display()))?;

    for package in &packages {
        println!("xtask: building {} ({GUEST_TARGET}, profile {GUEST_PROFILE})", package.package_name);
        let mut command = cargo(workspace);
        command
            .args(["build", "--profile", GUEST_PROFILE, "--target", GUEST_TARGET])
            .arg("--manifest-path")
            .arg(&package.manifest)
            .arg("--target-dir")
            .arg(&target_dir);
        run_command(command, &format!("building guest package `{}`", package.package_name))?;

        let built = target_dir
            .join(GUEST_TARGET)
            .join(GUEST_PROFILE)
            .join(format!("{}.wasm", package.crate_name));
        let copied = output_dir.join(format!("{}.wasm", package.package_name));
        fs::copy(&built, &copied).with_context(|| {
            format!(
                "guest package `{}` built, but copying {} to {} failed",
                package.package_name,
                built.display(),
                copied.display()
            )
        })?;
        println!("xtask: wrote {}", copied.display());
    }

    println!("xtask: built {} plugin(s) into {}", packages.len(), output_dir.display());
    Ok(())
}

/// Finds the guest packages: each folder under `plugins/` (except the
/// `plugins/fixtures` folder itself), each folder under `plugins/fixtures/`, and
/// each `tenants/*/plugin`, when it holds a Cargo.toml. Sorted by path so the
/// build order is stable.
fn discover_guest_packages(workspace: &Path) -> Result<Vec<PathBuf>> {
    let mut candidates = Vec::new();
    candidates.extend(
        subfolders(&workspace.join("plugins"))?
            .into_iter()
            .filter(|dir| dir.file_name().is_some_and(|name| name != "fixtures")),
    );
    candidates.extend(subfolders(&workspace.join("plugins").join("fixtures"))?);
    candidates.extend(
        subfolders(&workspace.join("tenants"))?
            .into_iter()
            .map(|tenant| tenant.join("plugin")),
    );
    candidates.sort();
    Ok(candidates
        .into_iter()
        .map(|dir| dir.join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .collect())
}

/// Lists the folders directly under `dir`; a missing `dir` has none.
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut folders = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    Ok(folders)
}

/// Reads the package name and the library crate name from a Cargo.toml.
///
/// A line-based reader is enough for the manifests in this repository: it takes
/// `name = "..."` from the `[package]` and `[lib]` tables.
fn read_guest_package(manifest: &Path) -> Result<GuestPackage> {
    let text = fs::read_to_string(manifest)
        .with_context(|| format!("failed to read {}", manifest.display()))?;
    let (package_name, lib_name) = parse_manifest_names(&text);
    let Some(package_name) = package_name else {
        bail!("{} has no `name` in its [package] table", manifest.display());
    };
    let crate_name = lib_name.unwrap_or_else(|| package_name.replace('-', "_"));
    let is_component = builds_cdylib(&text);
    Ok(GuestPackage { package_name, crate_name, manifest: manifest.to_path_buf(), is_component })
}

/// Checks whether the `[lib]` table's `crate-type` includes `cdylib`. A package
/// without one is a library that guests share (`plugins/guest-json`).
fn builds_cdylib(text: &str) -> bool {
    let mut in_lib = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_lib = line == "[lib]";
            continue;
        }
        if in_lib
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "crate-type"
        {
            return value.contains("\"cdylib\"");
        }
    }
    false
}

/// Returns the `name` values of the `[package]` and `[lib]` tables.
fn parse_manifest_names(text: &str) -> (Option<String>, Option<String>) {
    let mut table = String::new();
    let mut package_name = None;
    let mut lib_name = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() != "name" {
            continue;
        }
        let value = value.trim().trim_matches('"').to_string();
        match table.as_str() {
            "package" => package_name = Some(value),
            "lib" => lib_name = Some(value),
            _ => {}
        }
    }
    (package_name, lib_name)
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("the xtask folder has no parent folder")
}

/// `$CARGO_TARGET_DIR` (relative to the current folder, as Cargo reads it) or
/// `<workspace>/target`.
fn target_dir(workspace: &Path) -> Result<PathBuf> {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                Ok(dir)
            } else {
                Ok(env::current_dir().context("failed to read the current folder")?.join(dir))
            }
        }
        _ => Ok(workspace.join("target")),
    }
}

fn cargo(workspace: &Path) -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace);
    command
}

/// Runs `command` to completion; `what` names it in the error.
/// Runs `cargo test`, passing its output through, and ends with one line
/// that adds up the `test result` lines of every test binary, because the
/// last of them (this crate's, with no tests) is otherwise what a reader
/// sees last.
fn run_tests(mut command: Command) -> Result<()> {
    use std::io::{BufRead as _, Write as _};

    let started = std::time::Instant::now();
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().context("failed to start cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no standard output")?;
    let mut totals = TestTotals::default();
    let mut out = std::io::stdout().lock();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("failed to read the output of cargo test")?;
        totals.add_line(&line);
        writeln!(out, "{line}").context("failed to write to standard output")?;
    }
    let status = child.wait().context("failed to wait for cargo test")?;
    writeln!(
        out,
        "xtask: {} passed, {} failed, {} ignored in {} test binaries, {:.0} s",
        totals.passed,
        totals.failed,
        totals.ignored,
        totals.binaries,
        started.elapsed().as_secs_f64()
    )
    .context("failed to write to standard output")?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// The sums of the `test result:` lines of a `cargo test` run.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
    binaries: u64,
}

impl TestTotals {
    /// Adds a line such as `test result: ok. 3 passed; 0 failed; 1 ignored; ...`;
    /// other lines change nothing.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else { return };
        self.binaries += 1;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else { continue };
            let Ok(count) = count.parse::<u64>() else { continue };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

fn run_command(mut command: Command, what: &str) -> Result<()> {
    let status = command.status().with_context(|| format!("failed to start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_totals_add_result_lines() {
        let mut totals = TestTotals::default();
        totals.add_line("test result: ok. 87 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.40s");
        totals.add_line("test result: FAILED. 128 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 191.49s");
        totals.add_line("test cli::demo ... ok");
        assert_eq!(totals, TestTotals { passed: 215, failed: 1, ignored: 1, binaries: 2 });
    }

    #[test]
    fn manifest_names_from_package_and_lib() {
        let text = "[package]\nname = \"leafbridge-core\"\nversion = \"0.1.0\"\n\n[lib]\nname = \"core_guest\"\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nname = \"ignored\"\n";
        let (package, lib) = parse_manifest_names(text);
        assert_eq!(package.as_deref(), Some("leafbridge-core"));
        assert_eq!(lib.as_deref(), Some("core_guest"));
    }

    #[test]
    fn components_need_cdylib() {
        assert!(builds_cdylib("[package]\nname = \"a\"\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n"));
        assert!(!builds_cdylib("[package]\nname = \"a\"\n[lib]\ncrate-type = [\"rlib\"]\n"));
        assert!(!builds_cdylib("[package]\nname = \"a\"\n[dependencies]\ncrate-type = \"cdylib\"\n"));
    }

    #[test]
    fn manifest_without_lib_name() {
        let (package, lib) = parse_manifest_names("[package]\nname = \"a-b\"\n[lib]\ncrate-type = [\"cdylib\"]\n");
        assert_eq!(package.as_deref(), Some("a-b"));
        assert_eq!(lib, None);
    }

    #[test]
    fn discovery_finds_every_guest_folder() {
        let root = env::temp_dir().join(format!("xtask-discovery-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in ["plugins/core", "plugins/fixtures/looping", "tenants/acme/plugin", "plugins/empty"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for dir in ["plugins/core", "plugins/fixtures/looping", "tenants/acme/plugin"] {
            fs::write(root.join(dir).join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        }

        let found = discover_guest_packages(&root).unwrap();
        let relative: Vec<_> = found.iter().map(|p| p.strip_prefix(&root).unwrap().to_path_buf()).collect();
        fs::remove_dir_all(&root).unwrap();

        assert_eq!(
            relative,
            vec![
                PathBuf::from("plugins/core/Cargo.toml"),
                PathBuf::from("plugins/fixtures/looping/Cargo.toml"),
                PathBuf::from("tenants/acme/plugin/Cargo.toml"),
            ]
        );
    }
}
