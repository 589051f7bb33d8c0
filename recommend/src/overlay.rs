//! The overlay of new users: each `POST /v1/users` that names a `user` id
//! is appended to a JSON-lines file and synced to disk before it is
//! answered, and the file is read back at start. An overlay user is then
//! served by `GET /v1/users/{id}/recommendations` (and gRPC `Recommend`)
//! like a trained one, folded in again from their stored behaviours with
//! whichever bundle serves, so a reload to a newer model carries them over.
//! The latest record of an id wins. A bundle that trained on an id serves
//! it from the bundle.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::error::ApiError;
use crate::new_users::NewUser;

/// The overlay's users and its file.
#[derive(Debug)]
pub struct Overlay {
    path: PathBuf,
    users: std::sync::RwLock<HashMap<u64, NewUser>>,
    file: tokio::sync::Mutex<std::fs::File>,
}

impl Overlay {
    /// Opens (or creates) the overlay at `path` and reads its users.
    ///
    /// # Errors
    /// An unreadable file, or a line that is not a new user with an id
    /// (named by its number): the overlay is never silently dropped.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut users = HashMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    let record: NewUser = serde_json::from_str(line)
                        .with_context(|| format!("{}:{}: not a new user", path.display(), n + 1))?;
                    let id =
                        record.user.with_context(|| format!("{}:{}: no user id", path.display(), n + 1))?;
                    users.insert(id, record);
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
        let mut line =
            serde_json::to_vec(&stored).map_err(|e| ApiError::Internal(format!("encode user {id}: {e}")))?;
        line.push(b'\n');
        let mut file = self.file.lock().await;
        file.write_all(&line).and_then(|()| file.sync_data()).map_err(|e| {
            ApiError::Internal(format!("user {id} not kept: write {}: {e}", self.path.display()))
        })?;
        if let Ok(mut users) = self.users.write() {
            users.insert(id, stored);
        }
        Ok(())
    }
}
