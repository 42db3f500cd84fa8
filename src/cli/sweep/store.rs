//! A sweep's folder: `sweep.json` (what the sweep is: scenario, overrides, axes, seed,
//! replications) and `points/NNNNN.json` (one finished grid point: its values and its summary,
//! schema tessera.summary/2 with every replication). A point file appears whole or not at all
//! (written beside, then renamed), so an interrupted sweep keeps the points it finished and a
//! rerun with the same arguments runs only the rest. Shards write the same files; merging is
//! copying them into one folder.

use super::grid::Axis;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const SWEEP_SCHEMA: &str = "tessera.sweep/1";

/// What a sweep is; two runs with equal manifests compute the same points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    /// The scenario's name, and a hash (FNV-1a, 64 bits) of its file's bytes.
    pub scenario: String,
    pub scenario_fnv1a64: String,
    pub unset: Vec<String>,
    pub set: Vec<String>,
    pub axes: Vec<Axis>,
    pub seed: u64,
    pub replications: u32,
    pub points: usize,
}

/// A finished grid point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointFile {
    pub index: usize,
    /// (key, value) of each axis, in axis order.
    pub values: Vec<(String, String)>,
    /// summary.json of the point's replications.
    pub summary: Value,
}

pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

pub fn point_path(dir: &Path, index: usize) -> PathBuf {
    dir.join("points").join(format!("{index:05}.json"))
}

/// Opens (or starts) a sweep folder for `m`: refuses one that holds another sweep.
pub fn open(dir: &Path, m: &Manifest) -> Result<()> {
    let path = dir.join("sweep.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let old: Manifest = serde_json::from_str(&text).with_context(|| format!("{}: not a sweep manifest ({SWEEP_SCHEMA})", path.display()))?;
        if &old != m {
            bail!("{} holds a different sweep ({}); results of different sweeps cannot be mixed: choose another --out or remove that folder", dir.display(), difference(&old, m));
        }
    }
    std::fs::create_dir_all(dir.join("points")).with_context(|| format!("cannot create {}", dir.join("points").display()))?;
    write_atomic(&path, &serde_json::to_vec_pretty(m)?)
}

/// What differs between two manifests, in words.
fn difference(a: &Manifest, b: &Manifest) -> String {
    let mut d = Vec::new();
    if a.scenario != b.scenario || a.scenario_fnv1a64 != b.scenario_fnv1a64 {
        d.push("another scenario file or content");
    }
    if a.set != b.set || a.unset != b.unset {
        d.push("other --set/--unset");
    }
    if a.axes != b.axes {
        d.push("other --vary");
    }
    if a.seed != b.seed {
        d.push("another --seed");
    }
    if a.replications != b.replications {
        d.push("another --replications");
    }
    if d.is_empty() {
        d.push("another schema");
    }
    d.join(", ")
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {} (is {} a sweep's --out folder?)", path.display(), dir.display()))?;
    let m: Manifest = serde_json::from_str(&text).with_context(|| format!("{}: not a sweep manifest ({SWEEP_SCHEMA})", path.display()))?;
    if m.schema != SWEEP_SCHEMA {
        bail!("{}: schema {:?}, expected {SWEEP_SCHEMA}", path.display(), m.schema);
    }
    Ok(m)
}

/// Writes a file whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

pub fn write_point(dir: &Path, p: &PointFile) -> Result<()> {
    write_atomic(&point_path(dir, p.index), &serde_json::to_vec(p)?)
}

/// The finished point `index` in `dir`, if there is one.
pub fn read_point(dir: &Path, index: usize) -> Result<Option<(PointFile, Vec<u8>)>> {
    let path = point_path(dir, index);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let p: PointFile = serde_json::from_slice(&bytes).with_context(|| format!("{}: not a sweep point file", path.display()))?;
    if p.index != index {
        bail!("{}: holds point {}, expected {index}", path.display(), p.index);
    }
    Ok(Some((p, bytes)))
}
