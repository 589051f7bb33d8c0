//! Raw (input) id ↔ dense id maps, one per node type. Dense ids are given in
//! order of first appearance, so a build is deterministic.

use rustc_hash::FxHashMap;

/// Interns raw u64 ids into dense u32 ids.
#[derive(Debug, Clone, Default)]
pub struct IdInterner {
    index: FxHashMap<u64, u32>,
    raw: Vec<u64>,
}

impl IdInterner {
    /// The dense id of `raw`, assigning the next one when new.
    ///
    /// # Panics
    /// Never in practice: more than 4 billion nodes of one type would overflow.
    pub fn intern(&mut self, raw: u64) -> u32 {
        let next = self.raw.len() as u32;
        *self.index.entry(raw).or_insert_with(|| {
            self.raw.push(raw);
            next
        })
    }

    /// The dense id of `raw`, if known.
    pub fn get(&self, raw: u64) -> Option<u32> {
        self.index.get(&raw).copied()
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether no id was interned.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Dense → raw.
    pub fn raw_ids(&self) -> &[u64] {
        &self.raw
    }
}

/// A read-only raw → dense index built from a stored dense → raw array.
#[derive(Debug, Clone, Default)]
pub struct RawIndex {
    index: FxHashMap<u64, u32>,
}

impl RawIndex {
    /// Indexes `raw_ids` (dense id = position).
    pub fn new(raw_ids: &[u64]) -> Self {
        Self { index: raw_ids.iter().enumerate().map(|(dense, &raw)| (raw, dense as u32)).collect() }
    }

    /// Dense id of a raw id.
    pub fn dense(&self, raw: u64) -> Option<u32> {
        self.index.get(&raw).copied()
    }
}
