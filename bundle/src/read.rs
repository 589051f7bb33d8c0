//! Reading a bundle: the manifest first, then every file it lists with its
//! size and CRC32 checked, then the arrays with their shapes checked
//! against the manifest. A bundle that fails any check is refused as a
//! whole, with the file and the reason. The loaded bundle answers
//! recommendations and similar items.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use usearch::Index;

use crate::ann;
use crate::error::{BundleError, Result};
use crate::item_table::ItemTable;
use crate::manifest::{files, Manifest, FORMAT, FORMAT_VERSION};
use crate::neighbours::{self, Neighbourhood};
use crate::rank::{Catalogue, ItemStats, Query, Ranked, RankerWeights};
use crate::retrieve::{self, Scored};

/// A loaded, checked bundle.
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    user_ids: Vec<u64>,
    user_index: HashMap<u64, u32>,
    /// The items served: the bundle's, then those added online.
    items: RwLock<ItemTable>,
    user_vectors: Vec<f32>,
    seen_offsets: Vec<u64>,
    seen_items: Vec<u32>,
    index: Option<Index>,
    /// The largest squared norm of the bundle's items (the index's `M²`).
    max_norm2: f32,
    ranker: Option<Ranker>,
    /// The time of each entry of `seen_items` (empty when the bundle has
    /// none): the ranker's features and the neighbourhood term read them.
    seen_times: Vec<i64>,
    /// The job's neighbourhood term.
    neighbourhood: Option<Neighbourhood>,
}

/// A bundle's ranker with what its features read.
struct Ranker {
    weights: RankerWeights,
    stats: ItemStats,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("dir", &self.dir)
            .field("job", &self.manifest.job)
            .field("version", &self.manifest.version)
            .field("users", &self.manifest.users)
            .field("items", &self.manifest.items)
            .field("ann", &self.index.is_some())
            .field("ranker", &self.ranker.is_some())
            .finish()
    }
}

/// The bundle directory `path` names: itself when it has a manifest, else
/// the version its `LATEST` names (a job's bundle directory).
///
/// # Errors
/// When `path` is neither.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(files::MANIFEST).is_file() {
        return Ok(path.to_owned());
    }
    let latest = path.join(files::LATEST);
    match std::fs::read_to_string(&latest) {
        Ok(name) => {
            let name = name.trim();
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(BundleError::corrupt(path, format!("LATEST names {name:?}")));
            }
            Ok(path.join(name))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BundleError::corrupt(
            path,
            "no bundle here: neither manifest.json nor LATEST (a job's bundle directory)",
        )),
        Err(e) => Err(BundleError::io("read", &latest)(e)),
    }
}

/// Reads and checks `manifest.json` of the bundle at `dir`.
///
/// # Errors
/// A missing or unreadable manifest, another format or version.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(files::MANIFEST);
    let text = std::fs::read(&path).map_err(BundleError::io("read", &path))?;
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BundleError::corrupt(&path, format!("bad manifest: {e}")))?;
    if m.format != FORMAT || m.format_version != FORMAT_VERSION {
        return Err(BundleError::corrupt(
            &path,
            format!("format {} v{}; this build reads {FORMAT} v{FORMAT_VERSION}", m.format, m.format_version),
        ));
    }
    Ok(m)
}

/// The bundle `path` names (a version, or a job's bundle directory whose
/// `LATEST` version is taken) and its manifest, checked to seed a job whose
/// main model is `model` at dimension `dim` (`train.resume_from`): the same
/// model and dimension, with the dense weights and embedding rows a resume
/// reads.
///
/// # Errors
/// [`BundleError::Invalid`] naming what differs or is missing; no bundle there.
pub fn resumable(path: &Path, model: &str, dim: usize) -> Result<(PathBuf, Manifest)> {
    let dir = resolve(path)?;
    let manifest = read_manifest(&dir)?;
    let refuse = |m: String| Err(BundleError::Invalid(format!("resume from {}: {m}", dir.display())));
    if manifest.model != model {
        return refuse(format!(
            "it holds a {} model and this job trains {model}; resume from a bundle of the same model",
            manifest.model
        ));
    }
    if manifest.dim != dim {
        return refuse(format!("its dimension is {} and this job's model.dim is {dim}", manifest.dim));
    }
    for needed in [files::DENSE.to_owned(), files::rows("user"), files::rows("item")] {
        if !manifest.files.contains_key(&needed) {
            return refuse(format!("it has no {needed} (written before bundles kept what a resume reads)"));
        }
    }
    Ok((dir, manifest))
}

/// The bytes of file `name` of the bundle at `dir`, read now with their
/// size and CRC32 checked against `manifest` (for files read one at a time,
/// without opening the whole bundle).
///
/// # Errors
/// A file the manifest does not list, a mismatch, or an I/O error.
pub fn read_listed(dir: &Path, manifest: &Manifest, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let listed = manifest
        .files
        .get(name)
        .ok_or_else(|| BundleError::corrupt(dir, format!("the manifest lists no {name}")))?;
    let bytes = std::fs::read(&path).map_err(BundleError::io("read", &path))?;
    if bytes.len() as u64 != listed.bytes || crc32fast::hash(&bytes) != listed.crc32 {
        return Err(BundleError::corrupt(&path, "size or CRC32 differs from the manifest"));
    }
    Ok(bytes)
}

impl Bundle {
    /// Opens the bundle at `path` (a version directory, or a job's bundle
    /// directory, whose `LATEST` version is opened), checking everything.
    ///
    /// # Errors
    /// [`BundleError::Corrupt`] naming the file and the reason, or an I/O error.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = resolve(path)?;
        let manifest = read_manifest(&dir)?;
        let mut contents: HashMap<&str, Vec<u8>> = HashMap::new();
        for required in [
            files::USER_IDS,
            files::ITEM_IDS,
            files::ITEM_CATEGORIES,
            files::USER_EMBEDDINGS,
            files::ITEM_EMBEDDINGS,
            files::SEEN_OFFSETS,
            files::SEEN_ITEMS,
        ] {
            if !manifest.files.contains_key(required) {
                return Err(BundleError::corrupt(&dir, format!("the manifest lists no {required}")));
            }
        }
        check_states(&dir, &manifest)?;
        for (name, info) in &manifest.files {
            let path = dir.join(name);
            if manifest.states.iter().any(|s| &s.file == name) {
                // Read and checked when asked for ([`Bundle::state`]); serving never reads them.
                let len = std::fs::metadata(&path).map_err(BundleError::io("stat", &path))?.len();
                if len != info.bytes {
                    return Err(BundleError::corrupt(
                        &path,
                        format!("{len} bytes; the manifest says {}", info.bytes),
                    ));
                }
                continue;
            }
            let bytes = std::fs::read(&path).map_err(BundleError::io("read", &path))?;
            if bytes.len() as u64 != info.bytes || crc32fast::hash(&bytes) != info.crc32 {
                return Err(BundleError::corrupt(
                    &path,
                    format!(
                        "{} bytes with CRC32 {:08x}; the manifest says {} bytes, {:08x}",
                        bytes.len(),
                        crc32fast::hash(&bytes),
                        info.bytes,
                        info.crc32
                    ),
                ));
            }
            if name.ends_with(".npy")
                || [files::ANN, files::RANKER, neighbours::files::INFO].contains(&name.as_str())
            {
                contents.insert(name.as_str(), bytes);
            }
        }
        let (users, items, dim) = (manifest.users as u64, manifest.items as u64, manifest.dim as u64);
        let array = |name: &'static str| -> &[u8] { contents.get(name).map_or(&[], Vec::as_slice) };
        let user_ids = load::<u64>(&dir, files::USER_IDS, array(files::USER_IDS), &[users])?;
        let item_ids = load::<u64>(&dir, files::ITEM_IDS, array(files::ITEM_IDS), &[items])?;
        let item_categories =
            load::<u64>(&dir, files::ITEM_CATEGORIES, array(files::ITEM_CATEGORIES), &[items])?;
        let user_vectors =
            load::<f32>(&dir, files::USER_EMBEDDINGS, array(files::USER_EMBEDDINGS), &[users, dim])?;
        let item_vectors =
            load::<f32>(&dir, files::ITEM_EMBEDDINGS, array(files::ITEM_EMBEDDINGS), &[items, dim])?;
        let seen_offsets = load::<u64>(&dir, files::SEEN_OFFSETS, array(files::SEEN_OFFSETS), &[users + 1])?;
        let (seen_items, _) =
            crate::npy::read::<u32>(array(files::SEEN_ITEMS), &dir.join(files::SEEN_ITEMS))?;
        if seen_offsets.windows(2).any(|w| w[0] > w[1])
            || seen_offsets.last() != Some(&(seen_items.len() as u64))
        {
            return Err(BundleError::corrupt(
                &dir.join(files::SEEN_OFFSETS),
                "offsets do not cover seen_items.npy",
            ));
        }
        if seen_items.iter().any(|&i| u64::from(i) >= items) {
            return Err(BundleError::corrupt(&dir.join(files::SEEN_ITEMS), "an item beyond the catalogue"));
        }
        let index = match &manifest.ann {
            Some(ann) => {
                let path = dir.join(files::ANN);
                if ann.metric != crate::manifest::MIPS_L2 {
                    return Err(BundleError::corrupt(
                        &dir,
                        format!(
                            "index metric {:?}; this build searches {:?}",
                            ann.metric,
                            crate::manifest::MIPS_L2
                        ),
                    ));
                }
                if !manifest.files.contains_key(files::ANN) {
                    return Err(BundleError::corrupt(
                        &dir,
                        "the manifest has an index but lists no items.usearch",
                    ));
                }
                // The bytes whose checksum was just checked, not a second read.
                let index = Index::restore_from_buffer(array(files::ANN))
                    .map_err(|e| BundleError::corrupt(&path, format!("unreadable index: {e}")))?;
                if index.size() != manifest.items || index.dimensions() != manifest.dim + 1 {
                    return Err(BundleError::corrupt(
                        &path,
                        format!(
                            "{} vectors of dimension {}, the manifest says {} of {}",
                            index.size(),
                            index.dimensions(),
                            manifest.items,
                            manifest.dim
                        ),
                    ));
                }
                index.change_expansion_search(ann.expansion_search);
                Some(index)
            }
            None => None,
        };
        let seen_times = if manifest.files.contains_key(files::SEEN_TIMES) {
            load::<i64>(&dir, files::SEEN_TIMES, array(files::SEEN_TIMES), &[seen_items.len() as u64])?
        } else {
            Vec::new()
        };
        let ranker = match contents.get(files::RANKER) {
            Some(json) => Some(load_ranker(&dir, json, &seen_times, &seen_offsets, &seen_items, &manifest)?),
            None => None,
        };
        let neighbourhood =
            Neighbourhood::from_files(&dir, &manifest, |name| contents.get(name).map(Vec::as_slice))?;
        let user_index = user_ids.iter().enumerate().map(|(i, &id)| (id, i as u32)).collect();
        let max_norm2 = ann::max_norm2(&item_vectors, manifest.dim);
        let items = RwLock::new(ItemTable::new(item_ids, item_categories, item_vectors));
        Ok(Self {
            dir,
            manifest,
            user_ids,
            user_index,
            items,
            user_vectors,
            seen_offsets,
            seen_items,
            index,
            max_norm2,
            ranker,
            seen_times,
            neighbourhood,
        })
    }

    /// The cached input of layer `layer` for every node of `node_type`
    /// (row-major, rows × dim), read now with its checksum and shape checked.
    ///
    /// # Errors
    /// [`BundleError::NoState`], a checksum or shape mismatch, or an I/O error.
    pub fn state(&self, layer: usize, node_type: &str) -> Result<Vec<f32>> {
        let info =
            self.manifest.states.iter().find(|s| s.layer == layer && s.node_type == node_type).ok_or_else(
                || BundleError::NoState {
                    layer,
                    node_type: node_type.to_owned(),
                    held: self.manifest.states.len(),
                },
            )?;
        let bytes = self.read_listed(&info.file)?;
        load::<f32>(&self.dir, &info.file, &bytes, &[info.rows as u64, self.manifest.dim as u64])
    }

    /// The bytes of listed file `name`, read now with their size and CRC32
    /// checked against the manifest (for files serving does not keep).
    ///
    /// # Errors
    /// A file the manifest does not list, a mismatch, or an I/O error.
    pub fn read_listed(&self, name: &str) -> Result<Vec<u8>> {
        read_listed(&self.dir, &self.manifest, name)
    }

    /// The ranker's training figures, when the bundle has a ranker.
    pub fn ranker(&self) -> Option<&RankerWeights> {
        self.ranker.as_ref().map(|r| &r.weights)
    }

    /// Dense user `user`'s `k` best items: with `rank` and a bundle that
    /// has the job's neighbourhood term, the blend over the whole catalogue
    /// (the job's main row; `candidates` and `exact` do not apply); else
    /// `candidates` retrieved (their seen items left out when
    /// `exclude_seen`), re-ranked by the ranker when the bundle has one and
    /// `rank` asks for it, else in retrieval order.
    ///
    /// # Errors
    /// When the index fails.
    pub fn recommend_ranked(
        &self,
        user: u32,
        k: usize,
        candidates: usize,
        exclude_seen: bool,
        exact: bool,
        rank: bool,
    ) -> Result<Vec<Ranked>> {
        if rank && self.neighbourhood.is_some() {
            let range = self.seen_range(user);
            let history = &self.seen_items[range.clone()];
            let times = self.seen_times.get(range).unwrap_or(&[]);
            let excluded = if exclude_seen { history } else { &[] };
            return self.rank_vector(
                self.vector(&self.user_vectors, user),
                history,
                times,
                excluded,
                k,
                exact,
            );
        }
        let found = self.recommend(user, candidates.max(k), exclude_seen, exact)?;
        let mut out = match self.ranker.as_ref().filter(|_| rank) {
            Some(r) => {
                let seen = self.seen_range(user);
                let items = self.items();
                let cat = Catalogue {
                    vectors: &items.vectors,
                    dim: self.manifest.dim,
                    categories: &items.categories,
                    stats: &r.stats,
                };
                let q = Query {
                    user,
                    vector: self.vector(&self.user_vectors, user),
                    history: &self.seen_items[seen.clone()],
                    times: &self.seen_times[seen],
                    candidates: &found,
                };
                crate::rank::rerank(&r.weights, &cat, &q)
            }
            None => found.into_iter().map(Ranked::from).collect(),
        };
        out.truncate(k);
        Ok(out)
    }

    /// The `k` best items for a user whose scoring vector is `query` and
    /// whose history is `history` (dense items; `times` aligned, or empty),
    /// skipping the sorted `excluded`: with the bundle's neighbourhood term,
    /// the vector's scores over the whole catalogue blended with the term's
    /// over the history (the job's main row; `exact` does not apply); else
    /// the vector's best, through the index unless `exact`.
    ///
    /// # Errors
    /// A vector of another width than the bundle's, or an index failure.
    pub fn rank_vector(
        &self,
        query: &[f32],
        history: &[u32],
        times: &[i64],
        excluded: &[u32],
        k: usize,
        exact: bool,
    ) -> Result<Vec<Ranked>> {
        match &self.neighbourhood {
            Some(term) => {
                let retrieval = self.item_scores(query)?;
                let mut blended = retrieval.clone();
                term.blend(&mut blended, history, times);
                Ok(Self::best_of(&blended, &retrieval, excluded, k))
            }
            None => {
                self.check_query(query)?;
                Ok(self.search(query, k, excluded, exact)?.into_iter().map(Ranked::from).collect())
            }
        }
    }

    /// The `k` best items by `scores` (ties to the lower id), skipping the
    /// sorted `excluded`, each with its `retrieval` score.
    pub fn best_of(scores: &[f32], retrieval: &[f32], excluded: &[u32], k: usize) -> Vec<Ranked> {
        let mut order: Vec<u32> =
            (0..scores.len() as u32).filter(|i| excluded.binary_search(i).is_err()).collect();
        let k = k.min(order.len());
        let better = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]).then(a.cmp(b));
        if k < order.len() {
            order.select_nth_unstable_by(k, better);
            order.truncate(k);
        }
        order.sort_by(better);
        order
            .into_iter()
            .map(|i| Ranked { item: i, score: scores[i as usize], retrieval: retrieval[i as usize] })
            .collect()
    }

    /// The job's neighbourhood term, when the bundle has one: the ranking of
    /// `recommend_ranked` (with `rank`) and of `rank_vector` adds it.
    pub fn neighbourhood(&self) -> Option<&Neighbourhood> {
        self.neighbourhood.as_ref()
    }

    /// The version directory this was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether searches go through the HNSW index (else exact search).
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The dense id of raw user `id`.
    ///
    /// # Errors
    /// [`BundleError::Unknown`].
    pub fn user(&self, id: u64) -> Result<u32> {
        self.user_index.get(&id).copied().ok_or(BundleError::Unknown { kind: "user", id })
    }

    /// The dense id of raw item `id`.
    ///
    /// # Errors
    /// [`BundleError::Unknown`].
    pub fn item(&self, id: u64) -> Result<u32> {
        self.items().index.get(&id).copied().ok_or(BundleError::Unknown { kind: "item", id })
    }

    /// Raw id of dense item `item`.
    pub fn item_id(&self, item: u32) -> u64 {
        self.items().ids[item as usize]
    }

    /// Raw id of dense user `user`.
    pub fn user_id(&self, user: u32) -> u64 {
        self.user_ids[user as usize]
    }

    /// Raw category of dense item `item`, if it has one.
    pub fn item_category(&self, item: u32) -> Option<u64> {
        self.items().categories.get(item as usize).copied().filter(|&c| c != u64::MAX)
    }

    /// Dense user `user`'s scoring vector.
    pub fn user_vector(&self, user: u32) -> &[f32] {
        self.vector(&self.user_vectors, user)
    }

    /// Dense user `user`'s training items, sorted.
    pub fn seen(&self, user: u32) -> &[u32] {
        &self.seen_items[self.seen_range(user)]
    }

    /// Where dense user `user`'s entries lie in `seen_items` (and `seen_times`).
    fn seen_range(&self, user: u32) -> std::ops::Range<usize> {
        self.seen_offsets[user as usize] as usize..self.seen_offsets[user as usize + 1] as usize
    }

    fn vector<'a>(&self, of: &'a [f32], row: u32) -> &'a [f32] {
        let d = self.manifest.dim;
        &of[row as usize * d..(row as usize + 1) * d]
    }

    /// The `k` best items for `query`, skipping the `excluded` (sorted)
    /// items; through the index when there is one, unless `exact`.
    fn search(&self, query: &[f32], k: usize, excluded: &[u32], exact: bool) -> Result<Vec<Scored>> {
        let skip = |i: u32| excluded.binary_search(&i).is_ok();
        let items = self.items();
        match &self.index {
            Some(index) if !exact => retrieve::hnsw(index, &items.vectors, self.manifest.dim, query, k, skip),
            _ => Ok(retrieve::exact(query, &items.vectors, self.manifest.dim, k, skip)),
        }
    }

    /// Dense user `user`'s `k` best items, without the items they have
    /// seen when `exclude_seen`; `exact` bypasses the index.
    ///
    /// # Errors
    /// When the index fails.
    pub fn recommend(&self, user: u32, k: usize, exclude_seen: bool, exact: bool) -> Result<Vec<Scored>> {
        let excluded = if exclude_seen { self.seen(user) } else { &[] };
        self.search(self.vector(&self.user_vectors, user), k, excluded, exact)
    }

    /// Refuses a query vector of another width than the bundle's.
    fn check_query(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.manifest.dim {
            return Err(BundleError::Invalid(format!(
                "a query vector of {} values for dim {}",
                query.len(),
                self.manifest.dim
            )));
        }
        Ok(())
    }

    /// The dot product of `query` with every item's embedding, in dense
    /// item order (what exact search ranks).
    ///
    /// # Errors
    /// A vector of another width than the bundle's.
    pub fn item_scores(&self, query: &[f32]) -> Result<Vec<f32>> {
        self.check_query(query)?;
        Ok(self.items().vectors.chunks_exact(self.manifest.dim).map(|v| retrieve::dot(query, v)).collect())
    }

    /// The `k` items most like dense item `item` (itself left out).
    ///
    /// # Errors
    /// When the index fails.
    pub fn similar(&self, item: u32, k: usize, exact: bool) -> Result<Vec<Scored>> {
        let query = self.item_vector(item)?;
        self.search(&query, k, &[item], exact)
    }

    /// Dense item `item`'s embedding.
    ///
    /// # Errors
    /// An item beyond the catalogue.
    pub fn item_vector(&self, item: u32) -> Result<Vec<f32>> {
        let d = self.manifest.dim;
        self.items()
            .vectors
            .get(item as usize * d..(item as usize + 1) * d)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| BundleError::Invalid(format!("item {item} is beyond the catalogue")))
    }

    /// The items served now (the bundle's, then those added online).
    fn items(&self) -> RwLockReadGuard<'_, ItemTable> {
        self.items.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Items served now: the bundle's and those added online.
    pub fn num_items(&self) -> usize {
        self.items().ids.len()
    }

    /// Adds item `id` with `category` and embedding `vector` to the items
    /// served, and to the HNSW index when there is one, so that the next
    /// search can return it; returns its dense id. The bundle on disk is
    /// not changed.
    ///
    /// # Errors
    /// [`BundleError::Invalid`] for an id already served, a vector of
    /// another width or with a non-finite value; an index failure.
    pub fn add_item(&self, id: u64, category: Option<u64>, vector: &[f32]) -> Result<u32> {
        self.check_query(vector)?;
        if let Some(i) = vector.iter().position(|v| !v.is_finite()) {
            return Err(BundleError::Invalid(format!("item {id}: embedding[{i}] is not finite")));
        }
        let mut items = self.items.write().unwrap_or_else(PoisonError::into_inner);
        if items.index.contains_key(&id) {
            return Err(BundleError::Invalid(format!("item {id} is already served")));
        }
        let row = items.ids.len() as u32;
        if let Some(index) = &self.index {
            // Searches hold the read lock, so the index grows with no search running.
            ann::insert(index, u64::from(row), vector, self.max_norm2)?;
        }
        items.push(id, category, vector);
        Ok(row)
    }
}

/// The ranker of the bundle at `dir` from `ranker.json` and `seen_times.npy`.
fn load_ranker(
    dir: &Path,
    json: &[u8],
    seen_times: &[i64],
    seen_offsets: &[u64],
    seen_items: &[u32],
    manifest: &Manifest,
) -> Result<Ranker> {
    let path = dir.join(files::RANKER);
    let weights: RankerWeights =
        serde_json::from_slice(json).map_err(|e| BundleError::corrupt(&path, format!("bad ranker: {e}")))?;
    weights.validate(manifest.dim).map_err(|e| BundleError::corrupt(&path, e))?;
    if !manifest.files.contains_key(files::SEEN_TIMES) {
        return Err(BundleError::corrupt(dir, "the bundle has a ranker but lists no seen_times.npy"));
    }
    let histories = seen_offsets.windows(2).map(|w| {
        let (a, b) = (w[0] as usize, w[1] as usize);
        (&seen_items[a..b], &seen_times[a..b])
    });
    let stats = ItemStats::of(manifest.items, histories);
    Ok(Ranker { weights, stats })
}

/// Reads `.npy` `name` of `dir` from `bytes` and checks its shape.
/// The manifest's states name listed files, and users' and items' states
/// have a row per user and per item.
fn check_states(dir: &Path, manifest: &Manifest) -> Result<()> {
    for s in &manifest.states {
        if !manifest.files.contains_key(&s.file) || s.file != files::state(s.layer, &s.node_type) {
            return Err(BundleError::corrupt(
                dir,
                format!(
                    "layer {} state of {} names {:?}, which is not a listed state file",
                    s.layer, s.node_type, s.file
                ),
            ));
        }
        let want = match s.node_type.as_str() {
            "user" => manifest.users,
            "item" => manifest.items,
            _ => s.rows,
        };
        if s.rows != want {
            return Err(BundleError::corrupt(
                &dir.join(&s.file),
                format!("{} rows for {want} nodes of {}", s.rows, s.node_type),
            ));
        }
    }
    Ok(())
}

fn load<T: npyz::Deserialize>(dir: &Path, name: &str, bytes: &[u8], shape: &[u64]) -> Result<Vec<T>> {
    let path = dir.join(name);
    let (values, got) = crate::npy::read::<T>(bytes, &path)?;
    if got != shape {
        return Err(BundleError::corrupt(&path, format!("shape {got:?}; the manifest implies {shape:?}")));
    }
    Ok(values)
}
