//! On-disk dataset cache: `DIR/nsbg-cache-<key>.bin` + `.json`.
//!
//! The `.bin` file holds every usable image, preprocessed, as 8-bit planar RGB (`[item][3][size][size]`,
//! exact: that is what the files contain), followed by the low band of each (`[item][3][size/4][size/4]`,
//! f16, wavelet units, the dataset's extension) for samplers that only need low bands. The `.json` index
//! lists the items, the skipped files and the layout; it is written last (temp file + rename), so a cache
//! is either complete or ignored. The key hashes the file list (paths, sizes, modification times), the
//! preprocessing, the size and the extension: any change makes a new cache.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use half::f16;
use serde::{Deserialize, Serialize};

use super::{DataOptions, Dataset, Item, Skipped, Store};
use crate::subbands::{self, Packed};

const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    version: u32,
    root: String,
    preprocess: String,
    size: usize,
    extension: String,
    items: Vec<Item>,
    classes: Vec<String>,
    skipped: Vec<Skipped>,
    /// Byte offset of the f16 low bands in the `.bin` file.
    low_offset: u64,
    low_side: usize,
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms (unlike `DefaultHasher`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn bytes(mut self, data: &[u8]) -> Self {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Field separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        self
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

fn key(root: &Path, items: &[Item], opts: &DataOptions) -> u64 {
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut h = Fnv::new()
        .bytes(&VERSION.to_le_bytes())
        .bytes(canon.to_string_lossy().as_bytes())
        .bytes(opts.preprocess.name().as_bytes())
        .bytes(&(opts.size as u64).to_le_bytes())
        .bytes(opts.extension.name().as_bytes());
    for item in items {
        let meta = fs::metadata(root.join(&item.path)).ok();
        let len = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h = h
            .bytes(item.path.as_bytes())
            .bytes(&(item.class as u64).to_le_bytes())
            .bytes(&len.to_le_bytes())
            .bytes(&mtime.to_le_bytes());
    }
    h.finish()
}

fn paths(dir: &Path, key: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("nsbg-cache-{key:016x}.bin")),
        dir.join(format!("nsbg-cache-{key:016x}.json")),
    )
}

/// Opens the cache of this file list if a complete one exists.
pub(super) fn open(
    dir: &Path,
    root: &Path,
    items: &[Item],
    classes: &[String],
    opts: &DataOptions,
) -> Result<Option<Dataset>> {
    let k = key(root, items, opts);
    let (bin, json) = paths(dir, k);
    let Ok(text) = fs::read_to_string(&json) else {
        return Ok(None);
    };
    let index: Index = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("ignoring unreadable cache index {}: {e}", json.display());
            return Ok(None);
        }
    };
    let img = 3 * opts.size * opts.size;
    let expected =
        index.low_offset + (index.items.len() * 3 * index.low_side * index.low_side * 2) as u64;
    let file = match File::open(&bin) {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if index.version != VERSION
        || index.size != opts.size
        || index.low_offset != (index.items.len() * img) as u64
        || len != expected
        || index.classes != classes
    {
        tracing::warn!("ignoring inconsistent cache {}", bin.display());
        return Ok(None);
    }
    for s in &index.skipped {
        tracing::warn!("skipping {} (cached): {}", s.path, s.reason);
    }
    tracing::info!("dataset {} from cache {}", root.display(), bin.display());
    Ok(Some(Dataset {
        root: root.to_path_buf(),
        size: opts.size,
        preprocess: opts.preprocess,
        items: index.items,
        classes: index.classes,
        skipped: index.skipped,
        store: Store::Cache(file),
        from_cache: true,
        variants: 1,
    }))
}

/// Writes the cache of an in-memory dataset (pixels, then f16 low bands, then the index) under the key
/// of `listed`, the file list the dataset was opened from (after any split and limit, before
/// unreadable files were dropped) — the same list [`open`] is asked with.
pub(super) fn write(
    dir: &Path,
    ds: &mut Dataset,
    opts: &DataOptions,
    listed: &[Item],
) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create cache folder {}", dir.display()))?;
    let k = key(&ds.root, listed, opts);
    let (bin, json) = paths(dir, k);
    let tmp_bin = bin.with_extension(format!("bin.tmp{}", std::process::id()));
    let n = ds.size;
    let s = n >> subbands::LEVELS;
    {
        let file = File::create(&tmp_bin)
            .with_context(|| format!("cannot create cache file {}", tmp_bin.display()))?;
        let mut w = BufWriter::new(file);
        // Written before any augmentation is switched on: len() is the number of stored images.
        for i in 0..ds.len() {
            w.write_all(&ds.image_u8(i)?)
                .with_context(|| format!("cannot write cache file {}", tmp_bin.display()))?;
        }
        let lows = super::par_map(ds.len(), opts.workers, |i| -> Result<Vec<f32>> {
            Packed::analyze(&ds.image(i)?, n, opts.extension)?.low(1)
        });
        for low in lows {
            let bytes: Vec<u8> = low?
                .into_iter()
                .flat_map(|v| f16::from_f32(v).to_le_bytes())
                .collect();
            w.write_all(&bytes)
                .with_context(|| format!("cannot write cache file {}", tmp_bin.display()))?;
        }
        w.flush()
            .with_context(|| format!("cannot write cache file {}", tmp_bin.display()))?;
    }
    fs::rename(&tmp_bin, &bin)
        .with_context(|| format!("cannot move the cache into place at {}", bin.display()))?;
    let index = Index {
        version: VERSION,
        root: ds.root.to_string_lossy().into_owned(),
        preprocess: opts.preprocess.name().into(),
        size: n,
        extension: opts.extension.name().into(),
        items: ds.items.clone(),
        classes: ds.classes.clone(),
        skipped: ds.skipped.clone(),
        low_offset: (ds.len() * 3 * n * n) as u64,
        low_side: s,
    };
    crate::checkpoint::write_json(&json, &index)?;
    tracing::info!("wrote dataset cache {}", bin.display());
    Ok(())
}

#[cfg_attr(not(test), allow(dead_code))] // for samplers that train on low bands only
impl Dataset {
    /// The cached f16 low band of item `i` (`[3][size/4][size/4]`, wavelet units), if this dataset
    /// was opened from a cache.
    /// (`None` too for a transformed view of an augmented dataset: its low band is not stored.)
    pub fn cached_low_band(&self, i: usize) -> Result<Option<Vec<f32>>> {
        let Store::Cache(file) = &self.store else {
            return Ok(None);
        };
        let (i, symmetry) = self.locate(i);
        if symmetry != 0 {
            return Ok(None);
        }
        let s = self.size >> subbands::LEVELS;
        let len = 3 * s * s;
        let offset = (self.items.len() * 3 * self.size * self.size + i * len * 2) as u64;
        let mut buf = vec![0u8; len * 2];
        file.read_exact_at(&mut buf, offset)
            .context("cannot read a low band from the dataset cache")?;
        Ok(Some(
            buf.chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ))
    }
}
