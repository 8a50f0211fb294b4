//! Helpers for whole-system tests: finding the built binaries and running them as a user would.
//!
//! # Layout
//! - [`binary`]: the workspace's built binaries.
//! - [`a11y`]: accessibility checks of a console page in the browser.
//! - [`browser`]: headless Chromium through chromedriver, for the portal as guests see it.
//! - [`stack`]: the whole product as processes on loopback: a database, the cloud, the Daraja
//!   simulator, a claimed router.
//! - [`netns`]: throwaway network namespaces and the hotspot test topology.
//! - `src/bin/fwprobe.rs`: small network probes and servers run inside those namespaces.

pub mod a11y;
pub mod browser;
pub mod netns;
pub mod stack;

use std::path::PathBuf;

/// The path of a workspace binary built by `cargo build` / `cargo test` for this profile.
///
/// Panics with a clear message when it has not been built: run `cargo build --workspace --bins`
/// first (the test command does).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built; run `cargo build --workspace --bins` before these tests",
        path.display()
    );
    path
}
