//! Writing a bundle: every file into a temporary directory beside the
//! job's versions, each fsynced and checksummed, the HNSW index built and
//! measured when the catalogue is large, the manifest last; then one rename
//! makes it the job's next version (`<root>/<job>/v0001`, `v0002`, …) and
//! `LATEST` names it. A reader never sees half a bundle.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use crate::ann::AnnOptions;
use crate::error::{BundleError, Result};
use crate::manifest::{files, FileInfo, GraphRef, Manifest, Source, StateInfo, FORMAT, FORMAT_VERSION};

/// The input of one model layer for every node of one type (see
/// [`StateInfo`]).
#[derive(Debug, Clone, Copy)]
pub struct LayerState<'a> {
    /// The layer, from 0.
    pub layer: usize,
    /// The node type's name.
    pub node_type: &'a str,
    /// Row-major values, nodes × the bundle's dimension.
    pub values: &'a [f32],
}

/// What a bundle is made of.
#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    /// The job's name (the bundle's directory under the root).
    pub job: &'a str,
    /// The model the embeddings come from.
    pub model: &'a str,
    /// The job spec, as TOML.
    pub spec_toml: &'a str,
    /// The job's final metrics of this model.
    pub metrics: &'a BTreeMap<String, f64>,
    /// The graph the model was trained on.
    pub graph: &'a GraphRef,
    /// Embedding dimension.
    pub dim: usize,
    /// Raw user ids, one per row of `user_vectors`.
    pub user_ids: &'a [u64],
    /// User embeddings (row-major).
    pub user_vectors: &'a [f32],
    /// Raw item ids, one per row of `item_vectors`.
    pub item_ids: &'a [u64],
    /// Raw category of each item, if it has one.
    pub item_categories: &'a [Option<u64>],
    /// Item embeddings (row-major).
    pub item_vectors: &'a [f32],
    /// Each user's training items (dense ids): excluded from their
    /// recommendations.
    pub seen: &'a [Vec<u32>],
    /// Further files, such as the dense weights (name, bytes).
    pub extra: &'a [(String, Vec<u8>)],
    /// The cached per-layer node states (may be empty).
    pub states: &'a [LayerState<'a>],
    /// Where the parameters came from.
    pub source: Option<&'a Source>,
    /// Seed of the recall measurement.
    pub seed: u64,
}

impl Content<'_> {
    /// Refuses inconsistent content, naming what is wrong.
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(BundleError::Invalid(m));
        if self.dim == 0 {
            return bad("dimension 0".into());
        }
        if self.job.is_empty() || self.job.contains(['/', '\\']) || self.job.starts_with('.') {
            return bad(format!("job name {:?} cannot name a directory", self.job));
        }
        for (what, ids, vectors) in
            [("user", self.user_ids, self.user_vectors), ("item", self.item_ids, self.item_vectors)]
        {
            if ids.len() * self.dim != vectors.len() {
                return bad(format!(
                    "{} {what} ids but {} values for dimension {} ({} rows)",
                    ids.len(),
                    vectors.len(),
                    self.dim,
                    vectors.len() as f64 / self.dim as f64
                ));
            }
            if let Some(at) = vectors.iter().position(|v| !v.is_finite()) {
                return bad(format!("{what} {} has a non-finite embedding value", ids[at / self.dim]));
            }
        }
        if self.item_categories.len() != self.item_ids.len() {
            return bad(format!(
                "{} item categories for {} items",
                self.item_categories.len(),
                self.item_ids.len()
            ));
        }
        if self.seen.len() != self.user_ids.len() {
            return bad(format!("seen items of {} users for {} users", self.seen.len(), self.user_ids.len()));
        }
        let items = self.item_ids.len() as u32;
        if let Some((u, i)) =
            self.seen.iter().enumerate().find_map(|(u, l)| l.iter().find(|&&i| i >= items).map(|&i| (u, i)))
        {
            return bad(format!("user {} has seen item {i}, beyond the {items} items", self.user_ids[u]));
        }
        for (name, _) in self.extra {
            if name.contains(['/', '\\']) || name == files::MANIFEST || name.starts_with('.') {
                return bad(format!("extra file name {name:?}"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for st in self.states {
            if st.node_type.is_empty() || !st.node_type.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return bad(format!("state node type {:?}", st.node_type));
            }
            if st.values.len() % self.dim != 0 {
                return bad(format!(
                    "layer {} state of {} has {} values, not a multiple of dimension {}",
                    st.layer,
                    st.node_type,
                    st.values.len(),
                    self.dim
                ));
            }
            if let Some(v) = st.values.iter().find(|v| !v.is_finite()) {
                return bad(format!("layer {} state of {} holds {v}", st.layer, st.node_type));
            }
            let rows = st.values.len() / self.dim;
            let want = match st.node_type {
                "user" => Some(self.user_ids.len()),
                "item" => Some(self.item_ids.len()),
                _ => None,
            };
            if want.is_some_and(|w| w != rows) {
                return bad(format!(
                    "layer {} state of {} has {rows} rows for {} nodes",
                    st.layer,
                    st.node_type,
                    want.unwrap_or(0)
                ));
            }
            if !names.insert((st.layer, st.node_type)) {
                return bad(format!("layer {} state of {} given twice", st.layer, st.node_type));
            }
        }
        Ok(())
    }
}

/// A bundle being written: its temporary directory and files so far.
struct Staging {
    dir: PathBuf,
    files: BTreeMap<String, FileInfo>,
}

impl Staging {
    /// Writes `name` through `fill`, fsyncs it and records its checksum.
    fn put(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
    ) -> Result<()> {
        let path = self.dir.join(name);
        let file = File::create(&path).map_err(BundleError::io("create", &path))?;
        let mut out =
            Checked { inner: BufWriter::with_capacity(1 << 20, file), crc: Default::default(), bytes: 0 };
        fill(&mut out).map_err(BundleError::io("write", &path))?;
        let Checked { inner, crc, bytes } = out;
        let file = inner.into_inner().map_err(|e| BundleError::io("write", &path)(e.into_error()))?;
        file.sync_all().map_err(BundleError::io("fsync", &path))?;
        self.files.insert(name.to_owned(), FileInfo { bytes, crc32: crc.finalize() });
        Ok(())
    }

    /// Records a file written by someone else (the HNSW index), fsynced.
    fn adopt(&mut self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).map_err(BundleError::io("read", &path))?;
        File::open(&path).and_then(|f| f.sync_all()).map_err(BundleError::io("fsync", &path))?;
        self.files
            .insert(name.to_owned(), FileInfo { bytes: bytes.len() as u64, crc32: crc32fast::hash(&bytes) });
        Ok(())
    }
}

/// A writer that checksums and counts what passes through.
struct Checked<W> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// fsyncs a directory, so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(BundleError::io("fsync", dir))
}

/// The versions (`v0001` → 1) in a job's bundle directory.
pub fn versions(job_dir: &Path) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(job_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(BundleError::io("list", job_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(BundleError::io("list", job_dir))?;
        if let Some(v) =
            entry.file_name().to_str().and_then(|n| n.strip_prefix('v')).and_then(|n| n.parse().ok())
        {
            out.push(v);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The directory name of version `v`.
pub fn version_name(v: u32) -> String {
    format!("v{v:04}")
}

/// Writes `content` as the next version under `<root>/<job>` and returns its
/// directory and manifest.
///
/// # Errors
/// Inconsistent content ([`BundleError::Invalid`]), an I/O failure or an
/// index failure; the temporary directory is removed and no version or
/// `LATEST` changes.
pub fn write(root: &Path, content: &Content<'_>, options: &AnnOptions) -> Result<(PathBuf, Manifest)> {
    content.validate()?;
    let job_dir = root.join(content.job);
    std::fs::create_dir_all(&job_dir).map_err(BundleError::io("create", &job_dir))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let tmp = job_dir.join(format!(".tmp-{}-{}", std::process::id(), nanos.as_nanos()));
    std::fs::create_dir(&tmp).map_err(BundleError::io("create", &tmp))?;
    let result =
        stage(&tmp, content, options, nanos.as_secs()).and_then(|manifest| publish(&job_dir, &tmp, manifest));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes every file and the manifest (version 0 until published) into `dir`.
fn stage(dir: &Path, c: &Content<'_>, options: &AnnOptions, created_unix: u64) -> Result<Manifest> {
    let mut s = Staging { dir: dir.to_owned(), files: BTreeMap::new() };
    let (users, items, dim) = (c.user_ids.len() as u64, c.item_ids.len() as u64, c.dim as u64);
    s.put(files::USER_IDS, |w| crate::npy::write(w, &[users], c.user_ids))?;
    s.put(files::ITEM_IDS, |w| crate::npy::write(w, &[items], c.item_ids))?;
    let categories: Vec<u64> = c.item_categories.iter().map(|c| c.unwrap_or(u64::MAX)).collect();
    s.put(files::ITEM_CATEGORIES, |w| crate::npy::write(w, &[items], &categories))?;
    s.put(files::USER_EMBEDDINGS, |w| crate::npy::write(w, &[users, dim], c.user_vectors))?;
    s.put(files::ITEM_EMBEDDINGS, |w| crate::npy::write(w, &[items, dim], c.item_vectors))?;
    let as_io = |e: String| std::io::Error::other(e);
    s.put(files::USERS_PARQUET, |w| {
        crate::parquet_out::write(w, c.user_ids, None, c.user_vectors, c.dim).map_err(as_io)
    })?;
    s.put(files::ITEMS_PARQUET, |w| {
        crate::parquet_out::write(w, c.item_ids, Some(c.item_categories), c.item_vectors, c.dim)
            .map_err(as_io)
    })?;
    let mut offsets = Vec::with_capacity(c.seen.len() + 1);
    offsets.push(0u64);
    let mut seen = Vec::new();
    for list in c.seen {
        let mut list = list.clone();
        list.sort_unstable();
        list.dedup();
        seen.extend(list);
        offsets.push(seen.len() as u64);
    }
    s.put(files::SEEN_OFFSETS, |w| crate::npy::write(w, &[offsets.len() as u64], &offsets))?;
    s.put(files::SEEN_ITEMS, |w| crate::npy::write(w, &[seen.len() as u64], &seen))?;
    s.put(files::JOB, |w| w.write_all(c.spec_toml.as_bytes()))?;
    for (name, bytes) in c.extra {
        s.put(name, |w| w.write_all(bytes))?;
    }
    let mut states = Vec::with_capacity(c.states.len());
    for st in c.states {
        let (file, rows) = (files::state(st.layer, st.node_type), st.values.len() / c.dim);
        s.put(&file, |w| crate::npy::write(w, &[rows as u64, dim], st.values))?;
        states.push(StateInfo { layer: st.layer, node_type: st.node_type.to_owned(), rows, file });
    }
    let ann = if c.item_ids.len() >= options.min_items {
        let (index, info) =
            crate::ann::build_measured(c.item_vectors, c.user_vectors, c.dim, options, c.seed)?;
        let path = dir.join(files::ANN);
        let path_str = path
            .to_str()
            .ok_or_else(|| BundleError::Invalid(format!("path {} is not UTF-8", path.display())))?;
        index.save(path_str).map_err(|e| BundleError::Ann(format!("save {}: {e}", path.display())))?;
        s.adopt(files::ANN)?;
        Some(info)
    } else {
        None
    };
    Ok(Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        version: 0,
        job: c.job.into(),
        model: c.model.into(),
        dim: c.dim,
        score: "dot".into(),
        users: c.user_ids.len(),
        items: c.item_ids.len(),
        metrics: c.metrics.clone(),
        created_unix,
        graph: c.graph.clone(),
        ann,
        files: s.files,
        states,
        source: c.source.cloned(),
    })
}

/// Writes the manifest into `tmp`, renames it to the next free version and
/// points `LATEST` at it.
fn publish(job_dir: &Path, tmp: &Path, mut manifest: Manifest) -> Result<(PathBuf, Manifest)> {
    let mut next = versions(job_dir)?.last().copied().unwrap_or(0) + 1;
    loop {
        manifest.version = next;
        let path = tmp.join(files::MANIFEST);
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| BundleError::Invalid(e.to_string()))?;
        std::fs::write(&path, &text).map_err(BundleError::io("write", &path))?;
        File::open(&path).and_then(|f| f.sync_all()).map_err(BundleError::io("fsync", &path))?;
        sync_dir(tmp)?;
        let target = job_dir.join(version_name(next));
        match std::fs::rename(tmp, &target) {
            Ok(()) => {
                sync_dir(job_dir)?;
                set_latest(job_dir, next)?;
                return Ok((target, manifest));
            }
            // Another writer took this version: take the next one.
            Err(_) if target.exists() => next += 1,
            Err(e) => return Err(BundleError::io("rename", tmp)(e)),
        }
    }
}

/// Points `LATEST` at version `v`, atomically, unless a newer one is there.
fn set_latest(job_dir: &Path, v: u32) -> Result<()> {
    let latest = job_dir.join(files::LATEST);
    let current = std::fs::read_to_string(&latest).ok();
    if current.as_deref().and_then(|s| s.trim().strip_prefix('v')).and_then(|s| s.parse::<u32>().ok())
        > Some(v)
    {
        return Ok(());
    }
    let tmp = job_dir.join(format!(".LATEST-{}", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", version_name(v))).map_err(BundleError::io("write", &tmp))?;
    File::open(&tmp).and_then(|f| f.sync_all()).map_err(BundleError::io("fsync", &tmp))?;
    std::fs::rename(&tmp, &latest).map_err(BundleError::io("rename", &tmp))?;
    sync_dir(job_dir)
}
