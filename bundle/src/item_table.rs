//! The items a loaded bundle serves: the ones it was written with, in dense
//! order, then the ones added while it serves (`Bundle::add_item`), which
//! take the next dense ids. Raw id → dense id, each item's raw category and
//! its embedding.

use std::collections::HashMap;

/// The items served, in dense order.
#[derive(Debug, Default)]
pub(crate) struct ItemTable {
    /// Raw ids.
    pub ids: Vec<u64>,
    /// Raw id → dense id.
    pub index: HashMap<u64, u32>,
    /// Each item's raw category, `u64::MAX` for none.
    pub categories: Vec<u64>,
    /// Embeddings, row-major (items × dim).
    pub vectors: Vec<f32>,
}

impl ItemTable {
    /// The bundle's items.
    pub fn new(ids: Vec<u64>, categories: Vec<u64>, vectors: Vec<f32>) -> Self {
        let index = ids.iter().enumerate().map(|(i, &id)| (id, i as u32)).collect();
        Self { ids, index, categories, vectors }
    }

    /// Appends item `id` (not yet held) as the next dense id.
    pub fn push(&mut self, id: u64, category: Option<u64>, vector: &[f32]) {
        self.index.insert(id, self.ids.len() as u32);
        self.ids.push(id);
        self.categories.push(category.unwrap_or(u64::MAX));
        self.vectors.extend_from_slice(vector);
    }
}
