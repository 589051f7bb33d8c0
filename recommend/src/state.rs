//! The served bundle and how it changes: an atomic pointer swapped by
//! reloads (one at a time), so a request sees one whole bundle from start to
//! end and never a half-loaded one; and the watcher that reloads when the
//! job directory's `LATEST` moves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tessera_bundle::foldin::FoldIn;
use tessera_bundle::{Bundle, BundleError};
use tokio_util::sync::CancellationToken;

use crate::answer::{self, Recommendations};
use crate::error::ApiError;
use crate::metrics::{Metrics, ReloadLabels};
use crate::new_items::{self, NewItem, NewItemAnswer};
use crate::new_users::{self, Loaded, NewUser, NewUserAnswer};
use crate::overlay::Overlay;
use crate::query;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    bundle: ArcSwap<Bundle>,
    /// What `--bundle` (or the last reload) named: a version or job directory.
    source: Mutex<PathBuf>,
    reload: tokio::sync::Mutex<()>,
    /// The fold-in of the bundle served, read on first use: the bundle's
    /// directory with what was loaded.
    foldin: tokio::sync::Mutex<Option<(PathBuf, Arc<Loaded>)>>,
    /// New users kept (`--overlay`).
    overlay: Option<Overlay>,
    /// The Prometheus metrics.
    pub metrics: Metrics,
}

async fn open(path: PathBuf) -> Result<Bundle, BundleError> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || Bundle::open(&path))
        .await
        .map_err(|e| BundleError::corrupt(&shown, format!("loader stopped: {e}")))?
}

impl AppState {
    /// Loads the bundle `source` names.
    ///
    /// # Errors
    /// A missing or corrupt bundle.
    pub async fn load(source: PathBuf) -> Result<Self, BundleError> {
        let bundle = open(source.clone()).await?;
        let metrics = Metrics::default();
        metrics.serving(&bundle);
        Ok(Self {
            bundle: ArcSwap::from_pointee(bundle),
            source: Mutex::new(source),
            reload: tokio::sync::Mutex::new(()),
            foldin: tokio::sync::Mutex::new(None),
            overlay: None,
            metrics,
        })
    }

    /// The bundle served now.
    pub fn current(&self) -> Arc<Bundle> {
        self.bundle.load_full()
    }

    /// The same state keeping new users in `overlay`.
    pub fn with_overlay(self, overlay: Option<Overlay>) -> Self {
        Self { overlay, ..self }
    }

    /// A new item's answer: folded into the bundle served now, kept in the
    /// overlay when there is one (before it is served), and added to the
    /// items served.
    ///
    /// # Errors
    /// As [`crate::new_items::embed`]; a failed write of the overlay.
    pub async fn new_item(&self, mut request: NewItem) -> Result<NewItemAnswer, ApiError> {
        // Fixed now, so that the overlay folds it in again the same way.
        request.now.get_or_insert_with(new_items::unix_now);
        let bundle = self.current();
        let foldin = self.foldin(&bundle).await;
        let (b, r) = (bundle.clone(), request.clone());
        let embedding = tokio::task::spawn_blocking(move || new_items::embed(&b, &foldin, &r))
            .await
            .map_err(|e| ApiError::Internal(format!("the fold-in stopped: {e}")))??;
        if let Some(overlay) = &self.overlay {
            overlay.put_item(&request).await?;
        }
        tokio::task::spawn_blocking(move || new_items::insert(&bundle, &request, embedding))
            .await
            .map_err(|e| ApiError::Internal(format!("the insertion stopped: {e}")))?
    }

    /// Folds the overlay's items into `bundle` (before it serves); one that
    /// it cannot take (it trained on the id, or lacks its category) is
    /// logged and left out.
    pub async fn restore_items(&self, bundle: &Arc<Bundle>) {
        let Some(overlay) = &self.overlay else { return };
        let items = overlay.items();
        if items.is_empty() {
            return;
        }
        let foldin = self.foldin(bundle).await;
        let b = bundle.clone();
        let added = tokio::task::spawn_blocking(move || {
            let mut added = 0usize;
            for item in &items {
                if b.item(item.item).is_ok() {
                    continue;
                }
                match new_items::embed(&b, &foldin, item).and_then(|e| new_items::insert(&b, item, e)) {
                    Ok(_) => added += 1,
                    Err(e) => tracing::warn!(item = item.item, "an overlay item is not served: {e}"),
                }
            }
            added
        })
        .await
        .unwrap_or(0);
        tracing::info!(bundle = %bundle.dir().display(), added, "overlay items folded in");
    }

    /// A new user's answer: folded into the bundle served now, and kept in
    /// the overlay when the request names a user and there is one.
    ///
    /// # Errors
    /// As [`crate::new_users::answer`]; a failed write of the overlay.
    pub async fn new_user(&self, request: NewUser) -> Result<NewUserAnswer, ApiError> {
        let answer = self.fold(self.current(), request.clone()).await?;
        if let (Some(overlay), Some(_)) = (&self.overlay, request.user) {
            overlay.put(&request).await?;
        }
        Ok(answer)
    }

    /// `request` folded into `bundle`, off the async threads.
    async fn fold(&self, bundle: Arc<Bundle>, request: NewUser) -> Result<NewUserAnswer, ApiError> {
        let foldin = self.foldin(&bundle).await;
        tokio::task::spawn_blocking(move || new_users::answer(&bundle, &foldin, &request))
            .await
            .map_err(|e| ApiError::Internal(format!("the fold-in stopped: {e}")))?
    }

    /// User `user`'s recommendations under `q`: from the bundle when it
    /// trained on them, else folded in from the overlay's record.
    ///
    /// # Errors
    /// An unknown user (in neither), a bad query, an index failure.
    pub async fn recommend(&self, user: u64, q: &query::Recommend) -> Result<Recommendations, ApiError> {
        let bundle = self.current();
        match answer::recommend(&bundle, user, q) {
            Err(ApiError::NotFound(missing)) => {
                let Some(mut record) = self.overlay.as_ref().and_then(|o| o.get(user)) else {
                    return Err(ApiError::NotFound(missing));
                };
                (record.k, record.exact) = (Some(q.k), q.exact);
                let a = self.fold(bundle, record).await?;
                // Ordered by the term when the bundle has one, as for a trained user.
                let ranked = a.ranked_by != a.model;
                Ok(Recommendations {
                    user,
                    model: a.model,
                    bundle_version: a.bundle_version,
                    ranked,
                    items: a.items,
                })
            }
            other => other,
        }
    }

    /// The fold-in of `bundle` (see `tessera_bundle::foldin`), loaded the
    /// first time it is asked for and kept until another bundle serves.
    pub async fn foldin(&self, bundle: &Arc<Bundle>) -> Arc<Loaded> {
        let mut cached = self.foldin.lock().await;
        if let Some((dir, loaded)) = cached.as_ref() {
            if dir == bundle.dir() {
                return loaded.clone();
            }
        }
        let for_loader = bundle.clone();
        let loaded =
            tokio::task::spawn_blocking(move || FoldIn::load(&for_loader).map_err(|e| e.to_string()))
                .await
                .unwrap_or_else(|e| Err(format!("the fold-in loader stopped: {e}")));
        if let Err(reason) = &loaded {
            tracing::info!(bundle = %bundle.dir().display(), "no fold-in of new users: {reason}");
        }
        let loaded = Arc::new(loaded);
        *cached = Some((bundle.dir().to_owned(), loaded.clone()));
        loaded
    }

    fn source(&self) -> PathBuf {
        self.source.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Loads the bundle `path` names (else the current source again, which
    /// for a job directory means its `LATEST` version) and swaps it in. A
    /// bundle that fails its checks is refused and the old one stays.
    ///
    /// # Errors
    /// [`ApiError::BadBundle`] with the reason.
    pub async fn reload(&self, path: Option<PathBuf>) -> Result<Arc<Bundle>, ApiError> {
        let _one_at_a_time = self.reload.lock().await;
        let source = path.unwrap_or_else(|| self.source());
        match open(source.clone()).await {
            Ok(bundle) => {
                let bundle = Arc::new(bundle);
                self.restore_items(&bundle).await;
                self.metrics.serving(&bundle);
                self.bundle.store(bundle.clone());
                if let Ok(mut s) = self.source.lock() {
                    *s = source;
                }
                self.metrics.reloads.get_or_create(&ReloadLabels { outcome: "ok".into() }).inc();
                let m = bundle.manifest();
                tracing::info!(bundle = %bundle.dir().display(), version = m.version, items = m.items, "reloaded");
                Ok(bundle)
            }
            Err(e) => {
                self.metrics.reloads.get_or_create(&ReloadLabels { outcome: "refused".into() }).inc();
                tracing::warn!(source = %source.display(), "reload refused, the old bundle serves on: {e}");
                Err(ApiError::BadBundle(format!("reload refused, the old bundle serves on: {e}")))
            }
        }
    }
}

/// The version directory `source` names now, if it can be told.
fn resolved(source: &Path) -> Option<PathBuf> {
    tessera_bundle::read::resolve(source).ok()
}

/// Every `every`, reloads when the source names another version than the
/// one served (a new job wrote one and moved `LATEST`).
pub async fn watch(state: Arc<AppState>, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Some(now) = resolved(&state.source()) else { continue };
        if now != state.current().dir() {
            tracing::info!(bundle = %now.display(), "a new bundle version appeared");
            let _ = state.reload(None).await;
        }
    }
}
