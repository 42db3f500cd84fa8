//! What the tests on the shared crowd datasets share: where the data is, and how its absence is
//! said (a loud skip, a failure in CI).

use std::path::{Path, PathBuf};

/// In CI (`TESSERA_REQUIRE_DATA` set by .ci/run) a missing input is a failure, not a skip.
#[allow(dead_code)]
pub fn skip_or_fail(msg: &str) {
    if std::env::var_os("TESSERA_REQUIRE_DATA").is_some() {
        panic!("{msg} (TESSERA_REQUIRE_DATA is set: CI must not skip this)");
    }
    eprintln!("\n!!!!!!!! WARNING: {msg} !!!!!!!!\n");
}

/// `$TESSERA_CROWD_DATA` (default `$CARGO_MANIFEST_DIR/../shared/data/crowd`) when it holds the
/// datasets; otherwise a skip (or a failure in CI) saying what is `skipped`.
#[allow(dead_code)]
pub fn data_dir(skipped: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("TESSERA_CROWD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/crowd"));
    if dir.join("rte/labels.csv").is_file() {
        Some(dir)
    } else {
        skip_or_fail(&format!("crowd datasets not found at {} (set TESSERA_CROWD_DATA); SKIPPING {skipped}", dir.display()));
        None
    }
}
