//! Image datasets: any ImageFolder-style directory of JPEG/PNG files (sub-folders = classes, optional),
//! preprocessed to `size × size` RGB, with unreadable files skipped (warned about, counted, never fatal).
//!
//! [`Dataset::open`] lists the files (sorted, so the order is reproducible), then decodes every one of
//! them once on `workers` threads: files that do not decode are dropped here, so the item list is fixed
//! before training starts (data order and resume depend on it). The preprocessed images are kept in
//! memory as 8-bit RGB (what the files hold; exact), or, with a cache folder, in a cache file that later
//! runs open without decoding anything (see [`cache`]).

pub mod cache;
pub mod loader;
pub mod preprocess;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use nsbg_core::wavelet::Extension;
pub use preprocess::Preprocess;

/// Extensions (lower case) of the files a dataset folder contributes.
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How to open a dataset.
#[derive(Debug, Clone)]
pub struct DataOptions {
    pub preprocess: Preprocess,
    /// Side of the preprocessed images.
    pub size: usize,
    /// Threads for decoding.
    pub workers: usize,
    /// Folder for the cache file (created if missing); `None` keeps everything in memory.
    pub cache: Option<PathBuf>,
    /// Extension of the low bands stored in the cache.
    pub extension: Extension,
    /// Use only the first `limit` images (after sorting), e.g. for quick tests.
    pub limit: Option<usize>,
}

/// One image file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Path relative to the dataset root.
    pub path: String,
    /// Index into [`Dataset::classes`].
    pub class: usize,
}

/// A file that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

enum Store {
    /// `[item][3][size][size]` u8.
    Memory(Vec<u8>),
    /// A cache file with the same layout from byte 0.
    Cache(File),
}

/// An opened, validated dataset.
pub struct Dataset {
    pub root: PathBuf,
    pub size: usize,
    pub preprocess: Preprocess,
    pub items: Vec<Item>,
    /// Class names (sub-folder names; `""` for images directly in the root).
    pub classes: Vec<String>,
    pub skipped: Vec<Skipped>,
    store: Store,
    /// Whether the images came from an existing cache file.
    pub from_cache: bool,
    /// Views per stored image: 1, or 8 with [`Dataset::with_dihedral`].
    variants: usize,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("root", &self.root)
            .field("items", &self.items.len())
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Image files under `dir`, recursively, sorted.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_hidden(p))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Lists an ImageFolder directory: images directly in `root` get class `""`, images anywhere below a
/// sub-folder get that sub-folder's name. Sorted by class, then path.
pub fn scan(root: &Path) -> Result<(Vec<Item>, Vec<String>)> {
    if !root.is_dir() {
        bail!(
            "dataset folder {} does not exist or is not a folder",
            root.display()
        );
    }
    let mut top: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("cannot list dataset folder {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !is_hidden(p))
        .collect();
    top.sort();
    let mut classes = Vec::new();
    let mut items = Vec::new();
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let loose: Vec<&PathBuf> = top.iter().filter(|p| p.is_file() && is_image(p)).collect();
    if !loose.is_empty() {
        classes.push(String::new());
        items.extend(loose.iter().map(|p| Item {
            path: rel(p),
            class: 0,
        }));
    }
    for dir in top.iter().filter(|p| p.is_dir()) {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        if files.is_empty() {
            continue;
        }
        let class = classes.len();
        classes.push(
            dir.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
        items.extend(files.iter().map(|p| Item {
            path: rel(p),
            class,
        }));
    }
    Ok((items, classes))
}

/// Runs `f(i)` for `i in 0..n` on `workers` threads; results in index order.
pub fn par_map<T: Send>(n: usize, workers: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, n.max(1));
    let mut parts: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break done;
                        }
                        done.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a data worker panicked"))
            .collect()
    });
    let mut all: Vec<(usize, T)> = parts.drain(..).flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// The source picture a file was cut from: its name up to the last `__` (the photo set names crops
/// `<package>__<picture>__<crop>.png`); a file without `__` is its own source. Held-out splits go by
/// source, because crops of one picture overlap and would leak between the two parts.
pub fn source_of(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let dir_len = path.len() - name.len();
    match name.rfind("__") {
        Some(i) => &path[..dir_len + i],
        None => path,
    }
}

/// A deterministic split of a folder by source picture: `sources` of them (chosen by `seed`) are
/// held out, e.g. to select checkpoints on pictures training never saw without touching `val`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holdout {
    pub sources: usize,
    pub seed: u64,
}

/// Which side of a [`Holdout`] to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but the held-out sources (training).
    Rest,
    /// Only the held-out sources (selection).
    Held,
}

impl Holdout {
    /// The held-out source names among `items` (sorted). Fails when the folder has too few sources
    /// to keep at least one for training.
    pub fn held_sources(&self, items: &[Item]) -> Result<Vec<String>> {
        let mut sources: Vec<&str> = items.iter().map(|i| source_of(&i.path)).collect();
        sources.sort_unstable();
        sources.dedup();
        if self.sources >= sources.len() {
            bail!(
                "cannot hold out {} source pictures: the folder has only {} (at least one must remain for training)",
                self.sources,
                sources.len()
            );
        }
        // Epoch u64::MAX: a permutation stream that no training epoch of the same seed uses.
        let order = crate::rng::epoch_order(self.seed, u64::MAX, sources.len());
        let mut held: Vec<String> = order[..self.sources]
            .iter()
            .map(|&i| sources[i].to_string())
            .collect();
        held.sort_unstable();
        Ok(held)
    }

    /// Keeps the items of `part`.
    fn select(&self, items: Vec<Item>, part: Part) -> Result<Vec<Item>> {
        let held = self.held_sources(&items)?;
        Ok(items
            .into_iter()
            .filter(|i| held.iter().any(|h| h == source_of(&i.path)) == (part == Part::Held))
            .collect())
    }
}

impl Dataset {
    /// Lists, decodes and (optionally) caches a dataset. Fails only when the folder cannot be listed
    /// or no image at all is usable.
    pub fn open(root: &Path, opts: &DataOptions) -> Result<Dataset> {
        Self::open_part(root, opts, None)
    }

    /// [`Dataset::open`] on one part of a held-out split of the folder (before `limit` applies).
    pub fn open_part(
        root: &Path,
        opts: &DataOptions,
        split: Option<(Holdout, Part)>,
    ) -> Result<Dataset> {
        let (mut items, classes) = scan(root)?;
        if let Some((holdout, part)) = split {
            items = holdout.select(items, part)?;
        }
        if let Some(limit) = opts.limit {
            items.truncate(limit);
        }
        if items.is_empty() {
            bail!("no PNG or JPEG files in {}", root.display());
        }
        if let Some(dir) = &opts.cache {
            if let Some(ds) = cache::open(dir, root, &items, &classes, opts)? {
                return Ok(ds);
            }
        }
        // The cache is keyed by exactly this list (kept and unreadable files alike).
        let listed = opts.cache.is_some().then(|| items.clone());
        let len = 3 * opts.size * opts.size;
        let decoded = par_map(items.len(), opts.workers, |i| {
            preprocess::load_rgb8(&root.join(&items[i].path), opts.preprocess, opts.size)
        });
        let mut kept = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        let mut pixels = Vec::with_capacity(items.len() * len);
        for (item, result) in items.into_iter().zip(decoded) {
            match result {
                Ok(px) => {
                    pixels.extend_from_slice(&px);
                    kept.push(item);
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    tracing::warn!("skipping {}: {reason}", item.path);
                    skipped.push(Skipped {
                        path: item.path,
                        reason,
                    });
                }
            }
        }
        if kept.is_empty() {
            bail!(
                "none of the {} image files in {} could be read",
                skipped.len(),
                root.display()
            );
        }
        let mut ds = Dataset {
            root: root.to_path_buf(),
            size: opts.size,
            preprocess: opts.preprocess,
            items: kept,
            classes,
            skipped,
            store: Store::Memory(pixels),
            from_cache: false,
            variants: 1,
        };
        if let Some(dir) = &opts.cache {
            cache::write(dir, &mut ds, opts, listed.as_deref().unwrap_or_default())?;
        }
        Ok(ds)
    }

    /// Number of samples: stored images × views per image.
    pub fn len(&self) -> usize {
        self.items.len() * self.variants
    }

    /// Dihedral augmentation: sample `i` becomes stored image `i / 8` seen through symmetry `i % 8`
    /// of the square (identity, flips, transposes, rotations by 90°). Natural photos have no preferred
    /// orientation at the scale of the details, and with a few dozen source pictures a decoder
    /// otherwise memorises them; the wavelet bands are computed after the transform, so every view is
    /// an exact (image, bands) pair. Shuffled loaders then visit every view once per epoch.
    pub fn with_dihedral(mut self) -> Dataset {
        self.variants = 8;
        self
    }

    /// Stored image and symmetry of sample `i`.
    fn locate(&self, i: usize) -> (usize, u8) {
        (i / self.variants, (i % self.variants) as u8)
    }

    /// The file (and class) sample `i` comes from.
    pub fn item(&self, i: usize) -> &Item {
        &self.items[self.locate(i).0]
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of one stored image.
    fn image_bytes(&self) -> usize {
        3 * self.size * self.size
    }

    /// Sample `i` as 8-bit planar `[3][size][size]`.
    pub fn image_u8(&self, i: usize) -> Result<Vec<u8>> {
        let (i, symmetry) = self.locate(i);
        let n = self.image_bytes();
        let stored = match &self.store {
            Store::Memory(px) => px[i * n..(i + 1) * n].to_vec(),
            Store::Cache(file) => {
                let mut buf = vec![0u8; n];
                file.read_exact_at(&mut buf, (i * n) as u64)
                    .with_context(|| format!("cannot read image {i} from the dataset cache"))?;
                buf
            }
        };
        Ok(dihedral(&stored, self.size, symmetry))
    }

    /// Image `i` as planar `[3][size][size]` in `[0, 1]`.
    pub fn image(&self, i: usize) -> Result<Vec<f32>> {
        Ok(self
            .image_u8(i)?
            .into_iter()
            .map(|v| f32::from(v) / 255.0)
            .collect())
    }

    /// Logs the summary and warns on stderr when files were skipped: the trainers open their data
    /// through this, so an unreadable file never goes unnoticed.
    pub fn announce(&self) {
        tracing::info!("{}", self.summary());
        if let Some(first) = self.skipped.first() {
            eprintln!(
                "warning: {} unreadable file(s) skipped in {} (first: {}: {})",
                self.skipped.len(),
                self.root.display(),
                first.path,
                first.reason
            );
        }
    }

    /// One-line summary for logs and reports.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} images{} ({} classes), {} skipped, {}x{} {}{}",
            self.root.display(),
            self.items.len(),
            if self.variants > 1 {
                format!(" × {} dihedral views", self.variants)
            } else {
                String::new()
            },
            self.classes.len(),
            self.skipped.len(),
            self.size,
            self.size,
            self.preprocess.name(),
            if self.from_cache { ", from cache" } else { "" }
        )
    }
}

/// Planar `[c][n][n]` pixels through symmetry `s` of the square: bit 2 transposes, then bit 0 flips
/// left–right and bit 1 flips top–bottom (0 = identity; the 8 values are the dihedral group).
pub fn dihedral<T: Copy>(planes: &[T], n: usize, s: u8) -> Vec<T> {
    if s == 0 {
        return planes.to_vec();
    }
    let mut out = Vec::with_capacity(planes.len());
    for plane in planes.chunks_exact(n * n) {
        for y in 0..n {
            for x in 0..n {
                let (mut sy, mut sx) = (y, x);
                if s & 1 != 0 {
                    sx = n - 1 - sx;
                }
                if s & 2 != 0 {
                    sy = n - 1 - sy;
                }
                if s & 4 != 0 {
                    (sy, sx) = (sx, sy);
                }
                out.push(plane[sy * n + sx]);
            }
        }
    }
    out
}

/// The shared data folder: `$NSBG_SHARED`, else `<repo>/../shared` (relative to this crate).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("NSBG_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

/// The default dataset split (`train` or `val`) of the shared photo set.
pub fn default_split(split: &str) -> PathBuf {
    let dir = shared_dir().join("data/photos").join(split);
    dir.canonicalize().unwrap_or(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("nsbg-data-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (class, k) in [("cats", 0u8), ("dogs", 1u8)] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            for i in 0..2u8 {
                let img = image::RgbImage::from_fn(300, 260, |x, y| {
                    image::Rgb([(x % 256) as u8, (y % 256) as u8, 40 * i + 100 * k])
                });
                img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        std::fs::write(
            dir.join("dogs/broken.jpg"),
            b"\xff\xd8\xff not really a jpeg",
        )
        .unwrap();
        std::fs::write(dir.join("dogs/notes.txt"), b"ignored").unwrap();
        dir
    }

    fn opts(cache: Option<PathBuf>) -> DataOptions {
        DataOptions {
            preprocess: Preprocess::CenterCrop,
            size: 128,
            workers: 2,
            cache,
            extension: Extension::Symmetric,
            limit: None,
        }
    }

    #[test]
    fn image_folder_classes_skips_and_cache() {
        let dir = make_folder("cache");
        let cache = dir.join("cache");
        let ds = Dataset::open(&dir.join(""), &opts(Some(cache.clone()))).unwrap();
        assert_eq!(ds.classes, vec!["cats".to_string(), "dogs".to_string()]);
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.skipped.len(), 1);
        assert!(ds.skipped[0].path.ends_with("broken.jpg"));
        assert!(!ds.from_cache);
        assert!(ds.cached_low_band(0).unwrap().is_none());
        let again = Dataset::open(&dir.join(""), &opts(Some(cache))).unwrap();
        assert!(again.from_cache);
        assert_eq!(again.skipped.len(), 1);
        for i in 0..4 {
            assert_eq!(ds.image_u8(i).unwrap(), again.image_u8(i).unwrap());
        }
        // Centre crop of a 300x260 image: columns 22.., rows 66.. (round((300-128)/2) = 86? no: 86).
        let px = ds.image_u8(0).unwrap();
        assert_eq!(px[0], 86); // red = x % 256 at x = 86
        assert_eq!(px[128 * 128], 66); // green = y at y = 66
        let low = again.cached_low_band(1).unwrap().unwrap();
        let want =
            crate::subbands::Packed::analyze(&again.image(1).unwrap(), 128, Extension::Symmetric)
                .unwrap()
                .low(1)
                .unwrap();
        let err = low
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 4e-3, "f16 low band error {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dihedral_views_are_the_eight_symmetries() {
        let n = 3;
        let img: Vec<u8> = (0..2 * 9).collect(); // two planes
        let views: Vec<Vec<u8>> = (0..8).map(|s| dihedral(&img, n, s)).collect();
        assert_eq!(views[0], img);
        assert_eq!(&views[1][..3], &[2, 1, 0]); // left-right flip of row 0
        assert_eq!(&views[2][..3], &[6, 7, 8]); // top-bottom flip: last row first
        assert_eq!(&views[4][..3], &[0, 3, 6]); // transpose: first column as row
        assert_eq!(&views[4][9..12], &[9, 12, 15], "every plane is transformed");
        for (a, v) in views.iter().enumerate() {
            for w in &views[a + 1..] {
                assert_ne!(v, w, "the 8 symmetries are distinct on a generic image");
            }
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, img, "a permutation of the pixels");
        }
    }

    #[test]
    fn dihedral_dataset_has_eight_views_per_image() {
        let dir = make_folder("dihedral");
        let plain = Dataset::open(&dir.join(""), &opts(None)).unwrap();
        let aug = Dataset::open(&dir.join(""), &opts(None))
            .unwrap()
            .with_dihedral();
        assert_eq!(aug.len(), 8 * plain.len());
        for i in 0..aug.len() {
            assert_eq!(aug.item(i), &plain.items[i / 8]);
            assert_eq!(
                aug.image_u8(i).unwrap(),
                dihedral(&plain.image_u8(i / 8).unwrap(), 128, (i % 8) as u8)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Each part of a held-out split has its own cache entry: a cached part never stands in for the
    /// whole folder (or the other part).
    #[test]
    fn split_parts_cache_separately() {
        let dir = make_folder("cache-split");
        let cache = dir.join("cache");
        let o = opts(Some(cache));
        let h = Holdout {
            sources: 1,
            seed: 0,
        };
        let held = Dataset::open_part(&dir.join(""), &o, Some((h, Part::Held))).unwrap();
        let rest = Dataset::open_part(&dir.join(""), &o, Some((h, Part::Rest))).unwrap();
        assert_eq!(held.len() + rest.len(), 4);
        for _ in 0..2 {
            let all = Dataset::open(&dir.join(""), &o).unwrap();
            assert_eq!(all.len(), 4);
            assert_eq!(all.skipped.len(), 1);
            let again = Dataset::open_part(&dir.join(""), &o, Some((h, Part::Held))).unwrap();
            assert!(again.from_cache);
            assert_eq!(again.items, held.items);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_or_all_broken_folders_are_errors() {
        let dir = std::env::temp_dir().join(format!("nsbg-data-unit-{}-empty", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let e = Dataset::open(&dir, &opts(None)).unwrap_err();
        assert!(format!("{e:#}").contains("no PNG or JPEG"));
        std::fs::write(dir.join("x.png"), b"garbage").unwrap();
        let e = Dataset::open(&dir, &opts(None)).unwrap_err();
        assert!(format!("{e:#}").contains("could be read"), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn item(path: &str) -> Item {
        Item {
            path: path.into(),
            class: 0,
        }
    }

    #[test]
    fn source_is_the_name_before_the_last_double_underscore() {
        assert_eq!(source_of("pkg__Pic__s512_r0c1.png"), "pkg__Pic");
        assert_eq!(source_of("cls/pkg__Pic__full.png"), "cls/pkg__Pic");
        assert_eq!(source_of("cls/plain.png"), "cls/plain.png");
        assert_eq!(source_of("a__b/c.png"), "a__b/c.png");
    }

    #[test]
    fn holdout_splits_by_source_deterministically() {
        let items: Vec<Item> = (0..6)
            .flat_map(|p| (0..3).map(move |c| item(&format!("pkg__P{p}__c{c}.png"))))
            .collect();
        let h = Holdout {
            sources: 2,
            seed: 7,
        };
        let held = h.select(items.clone(), Part::Held).unwrap();
        let rest = h.select(items.clone(), Part::Rest).unwrap();
        assert_eq!(held.len(), 6, "two sources of three crops each");
        assert_eq!(rest.len(), 12);
        let held_sources: Vec<&str> = held.iter().map(|i| source_of(&i.path)).collect();
        assert!(rest
            .iter()
            .all(|i| !held_sources.contains(&source_of(&i.path))));
        assert_eq!(
            h.held_sources(&items).unwrap(),
            h.held_sources(&items).unwrap()
        );
        // Another seed picks other sources for at least one of a few seeds.
        let first = h.held_sources(&items).unwrap();
        assert!(
            (8..16).any(|seed| Holdout { sources: 2, seed }.held_sources(&items).unwrap() != first)
        );
        let err = Holdout {
            sources: 6,
            seed: 0,
        }
        .held_sources(&items)
        .unwrap_err();
        assert!(err.to_string().contains("only 6"), "{err}");
    }
}
