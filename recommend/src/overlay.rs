//! The overlay of new users and items: each `POST /v1/users` that names a
//! `user` id, and each `POST /v1/items`, is appended to a JSON-lines file
//! and synced to disk before it is answered, and the file is read back at
//! start. An overlay user is then served by
//! `GET /v1/users/{id}/recommendations` (and gRPC `Recommend`) like a
//! trained one, folded in again from their stored behaviours with whichever
//! bundle serves, so a reload to a newer model carries them over; the
//! latest record of an id wins. Overlay items are folded into each bundle
//! that comes to serve (at start and at every reload) before it serves. A
//! bundle that trained on an id serves it from the bundle.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::new_items::NewItem;
use crate::new_users::NewUser;

/// One line of the overlay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    /// A new user (has `behaviours`).
    User(NewUser),
    /// A new item (has `item`).
    Item(NewItem),
}

/// The overlay's users and items and its file.
#[derive(Debug)]
pub struct Overlay {
    path: PathBuf,
    users: std::sync::RwLock<HashMap<u64, NewUser>>,
    items: std::sync::RwLock<Vec<NewItem>>,
    file: tokio::sync::Mutex<std::fs::File>,
}

impl Overlay {
    /// Opens (or creates) the overlay at `path` and reads its users and items.
    ///
    /// # Errors
    /// An unreadable file, or a line that is neither a new user with an id
    /// nor a new item (named by its number): the overlay is never silently
    /// dropped.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut users = HashMap::new();
        let mut items = Vec::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    let record: Record = serde_json::from_str(line).with_context(|| {
                        format!("{}:{}: neither a new user nor a new item", path.display(), n + 1)
                    })?;
                    match record {
                        Record::User(user) => {
                            let id = user
                                .user
                                .with_context(|| format!("{}:{}: no user id", path.display(), n + 1))?;
                            users.insert(id, user);
                        }
                        Record::Item(item) => items.push(item),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open {} for appending", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            users: std::sync::RwLock::new(users),
            items: std::sync::RwLock::new(items),
            file: tokio::sync::Mutex::new(file),
        })
    }

    /// The stored record of user `id`.
    pub fn get(&self, id: u64) -> Option<NewUser> {
        self.users.read().ok()?.get(&id).cloned()
    }

    /// Users held.
    pub fn len(&self) -> usize {
        self.users.read().map_or(0, |u| u.len())
    }

    /// Whether no user is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items held, in the order they came.
    pub fn items(&self) -> Vec<NewItem> {
        self.items.read().map(|i| i.clone()).unwrap_or_default()
    }

    /// Appends `line` and syncs it.
    async fn append(&self, record: &Record, what: &str) -> Result<(), ApiError> {
        let mut line =
            serde_json::to_vec(record).map_err(|e| ApiError::Internal(format!("encode {what}: {e}")))?;
        line.push(b'\n');
        let mut file = self.file.lock().await;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| ApiError::Internal(format!("{what} not kept: write {}: {e}", self.path.display())))
    }

    /// Appends item `record` and syncs it; it is then folded into every
    /// bundle that comes to serve.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the write fails; the item is then not
    /// kept (nor served), and the answer says so.
    pub async fn put_item(&self, record: &NewItem) -> Result<(), ApiError> {
        let mut stored = record.clone();
        stored.k = None;
        self.append(&Record::Item(stored.clone()), &format!("item {}", record.item)).await?;
        if let Ok(mut items) = self.items.write() {
            items.push(stored);
        }
        Ok(())
    }

    /// Appends `record` (which has a user id) and syncs it, then serves it.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the write fails; the user is then not
    /// held, and the answer says so.
    pub async fn put(&self, record: &NewUser) -> Result<(), ApiError> {
        let id = record
            .user
            .ok_or_else(|| ApiError::BadRequest("user: the overlay keeps users with an id".into()))?;
        let mut stored = record.clone();
        (stored.k, stored.exact) = (None, false);
        self.append(&Record::User(stored.clone()), &format!("user {id}")).await?;
        if let Ok(mut users) = self.users.write() {
            users.insert(id, stored);
        }
        Ok(())
    }
}
