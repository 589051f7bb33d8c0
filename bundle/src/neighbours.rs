//! The neighbourhood term of a model's ranking (`model.neighbourhood`):
//! sparse item → item weights from a classic model (item-kNN, time-aware
//! item-kNN, RP3beta), the scores they give a history, and the blend with
//! the model's own scores (after Koren's "Factorization meets the
//! neighborhood", KDD 2008): the model's scores standardised over the
//! catalogue plus a weight times the classic scores divided by their
//! largest. A bundle carries the weights and the blend's weight, so the
//! recommend service ranks a folded-in user as the job's evaluation ranks a
//! trained one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BundleError, Result};
use crate::manifest::Manifest;

/// The files of a bundle's neighbourhood term.
pub mod files {
    /// Kind, blend weight and recency, JSON ([`super::NeighbourhoodInfo`]).
    pub const INFO: &str = "neighbourhood.json";
    /// Offsets into the two lists per source item, `<u8` (items + 1).
    pub const OFFSETS: &str = "neighbours_offsets.npy";
    /// Target items, `<u4`.
    pub const ITEMS: &str = "neighbours_items.npy";
    /// Weights w(i → j), `<f4`.
    pub const WEIGHTS: &str = "neighbours_weights.npy";
}

/// For each item i, the items j it votes for, with weights: a user's score
/// for j is the sum over the user's training items i of w(i → j), each
/// vote times `recency`^r, r the rank of i's last interaction counted back
/// from the user's latest (dense: items of the same time share a rank).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWeights {
    /// `out[i]`: (j, w(i → j)), sorted by j.
    pub out: Vec<Vec<(u32, f32)>>,
    /// The decay per step back in the history; 1 weighs all items alike.
    pub recency: f32,
}

impl ItemWeights {
    /// Weights from per-target lists: `incoming[j]` holds (i, w(i → j)).
    pub fn from_incoming(incoming: Vec<Vec<(u32, f32)>>) -> Self {
        let mut out = vec![Vec::new(); incoming.len()];
        for (j, list) in incoming.into_iter().enumerate() {
            for (i, w) in list {
                out[i as usize].push((j as u32, w));
            }
        }
        Self::from_outgoing(out)
    }

    /// Weights from per-source lists: `out[i]` holds (j, w(i → j)).
    pub fn from_outgoing(mut out: Vec<Vec<(u32, f32)>>) -> Self {
        for list in &mut out {
            list.sort_unstable_by_key(|e| e.0);
        }
        Self { out, recency: 1.0 }
    }

    /// The same weights with the history decayed by `recency` per step back.
    pub fn with_recency(self, recency: f32) -> Self {
        Self { recency, ..self }
    }

    /// The number of weights kept.
    pub fn len(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Whether no weight is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the votes of `history` into `scores` (one slot per item);
    /// `times` holds the time of each history item (empty: unknown, all
    /// weigh alike).
    pub fn score_into(&self, history: &[u32], times: &[i64], scores: &mut [f32]) {
        let decay = self.history_weights(times, history.len());
        for (k, &i) in history.iter().enumerate() {
            let v = decay.as_ref().map_or(1.0, |d| d[k]);
            if let Some(list) = self.out.get(i as usize) {
                for &(j, w) in list {
                    scores[j as usize] += v * w;
                }
            }
        }
    }

    /// `recency`^rank for each history item, or None when all weigh 1.
    fn history_weights(&self, times: &[i64], len: usize) -> Option<Vec<f32>> {
        if self.recency >= 1.0 || times.len() != len {
            return None;
        }
        let mut distinct: Vec<i64> = times.to_vec();
        distinct.sort_unstable_by(|a, b| b.cmp(a));
        distinct.dedup();
        let weights = times
            .iter()
            .map(|t| {
                let rank = distinct.binary_search_by(|d| t.cmp(d)).unwrap_or(0);
                self.recency.powi(rank as i32)
            })
            .collect();
        Some(weights)
    }
}

/// One user's blended scores in place: `row` (the model's, over the
/// catalogue) standardised, plus `weight` × `near` (the classic model's)
/// divided by its largest.
pub fn blend_row(row: &mut [f32], near: &[f32], weight: f32) {
    standardise(row);
    let top = near.iter().copied().fold(0f32, f32::max);
    if top > 0.0 && weight > 0.0 {
        let scale = weight / top;
        for (x, &y) in row.iter_mut().zip(near) {
            *x += scale * y;
        }
    }
}

/// Standardises `row` to mean 0 and standard deviation 1 (a constant row
/// becomes zeros).
pub fn standardise(row: &mut [f32]) {
    let n = row.len().max(1) as f64;
    let mean = row.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = row.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    let scale = if var > 0.0 { 1.0 / var.sqrt() } else { 0.0 };
    for x in row {
        *x = ((f64::from(*x) - mean) * scale) as f32;
    }
}

/// `neighbourhood.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodInfo {
    /// The classic model (`timeknn`, `itemknn`, `rp3beta`).
    pub kind: String,
    /// The blend weight the job chose on validation.
    pub weight: f32,
    /// The weights' recency ([`ItemWeights::recency`]).
    pub recency: f32,
}

/// A bundle's neighbourhood term.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbourhood {
    /// What it is and its blend weight.
    pub info: NeighbourhoodInfo,
    /// The item → item weights.
    pub weights: ItemWeights,
}

/// The bundle files of a neighbourhood term (`info` with `item_weights`),
/// as (name, bytes).
///
/// # Errors
/// When the `.npy` writer or the JSON encoder fails.
pub fn bundle_files(info: &NeighbourhoodInfo, item_weights: &ItemWeights) -> Result<Vec<(String, Vec<u8>)>> {
    let mut offsets = vec![0u64];
    let (mut items, mut weights) = (Vec::new(), Vec::new());
    for list in &item_weights.out {
        for &(j, w) in list {
            items.push(j);
            weights.push(w);
        }
        offsets.push(items.len() as u64);
    }
    let npy = |shape: u64, write: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        write(&mut out).map_err(|e| BundleError::Invalid(format!("neighbours ({shape} values): {e}")))?;
        Ok(out)
    };
    let info = serde_json::to_vec_pretty(info)
        .map_err(|e| BundleError::Invalid(format!("neighbourhood.json: {e}")))?;
    Ok(vec![
        (files::INFO.to_owned(), info),
        (
            files::OFFSETS.to_owned(),
            npy(offsets.len() as u64, &|o| crate::npy::write(o, &[offsets.len() as u64], &offsets))?,
        ),
        (
            files::ITEMS.to_owned(),
            npy(items.len() as u64, &|o| crate::npy::write(o, &[items.len() as u64], &items))?,
        ),
        (
            files::WEIGHTS.to_owned(),
            npy(weights.len() as u64, &|o| crate::npy::write(o, &[weights.len() as u64], &weights))?,
        ),
    ])
}

impl Neighbourhood {
    /// The term of the bundle at `dir`, when its manifest lists one, from
    /// the bytes of its files (`file`, already checked against the
    /// manifest by `Bundle::open`).
    ///
    /// # Errors
    /// A listed file that is missing, malformed or inconsistent.
    pub fn from_files<'a>(
        dir: &Path,
        manifest: &Manifest,
        file: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<Option<Self>> {
        if !manifest.files.contains_key(files::INFO) {
            return Ok(None);
        }
        let read = |name: &str| -> Result<&'a [u8]> {
            file(name).ok_or_else(|| {
                BundleError::corrupt(dir, format!("the bundle has {} but no {name}", files::INFO))
            })
        };
        let info_path = dir.join(files::INFO);
        let info: NeighbourhoodInfo = serde_json::from_slice(read(files::INFO)?)
            .map_err(|e| BundleError::corrupt(&info_path, format!("bad neighbourhood: {e}")))?;
        if !info.weight.is_finite() || info.weight < 0.0 || !(info.recency > 0.0 && info.recency <= 1.0) {
            return Err(BundleError::corrupt(
                &info_path,
                format!("weight {} or recency {} out of range", info.weight, info.recency),
            ));
        }
        let (offsets, _) = crate::npy::read::<u64>(read(files::OFFSETS)?, &dir.join(files::OFFSETS))?;
        let (items, _) = crate::npy::read::<u32>(read(files::ITEMS)?, &dir.join(files::ITEMS))?;
        let (weights, _) = crate::npy::read::<f32>(read(files::WEIGHTS)?, &dir.join(files::WEIGHTS))?;
        let consistent = offsets.len() == manifest.items + 1
            && offsets.first() == Some(&0)
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && offsets.last().copied() == Some(items.len() as u64)
            && items.len() == weights.len()
            && items.iter().all(|&j| (j as usize) < manifest.items)
            && weights.iter().all(|w| w.is_finite());
        if !consistent {
            return Err(BundleError::corrupt(dir, "the neighbour lists do not fit the bundle's items"));
        }
        let out = offsets
            .windows(2)
            .map(|w| (w[0] as usize..w[1] as usize).map(|k| (items[k], weights[k])).collect())
            .collect();
        let weights = ItemWeights::from_outgoing(out).with_recency(info.recency);
        Ok(Some(Self { info, weights }))
    }

    /// Blends `scores` (the model's, one per item) in place with this
    /// term's scores for `history` (dense items, times aligned or empty).
    pub fn blend(&self, scores: &mut [f32], history: &[u32], times: &[i64]) {
        let mut near = vec![0f32; scores.len()];
        self.weights.score_into(history, times, &mut near);
        blend_row(scores, &near, self.info.weight);
    }
}
