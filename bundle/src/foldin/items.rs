//! Embedding an item the model has never seen: the trained HGT's layers
//! applied to the new item over its category, shop and brand, reading those
//! nodes' cached input state at every layer (`state_l<l>_<type>.npy`, with
//! their raw ids in `<type>_ids.npy`). Its layer-0 input is what full-graph
//! inference gives an item with no training interaction: no id row (the
//! id embedding of such an item is dropped, or untrained and zero on
//! average) plus the projection of its features, which are encoded from its
//! price and content vector as the graph encoded its items'
//! (`item_features.json`, the graph's record of its item columns), or given
//! already encoded.
//!
//! For a model trained on stored relations this is exactly what full-graph
//! inference computes for an item with no interactions (its only edges are
//! `belongs_to`, whose time is 0). For a model trained on random-walk
//! neighbourhoods it is an approximation: the item's neighbourhood is taken
//! to be its category, shop and brand, weighing alike, where a trained
//! item's came from walks.

use std::collections::HashMap;

use tessera_graph::features::encode_new_item;
use tessera_graph::store::NodeTypeInfo;

use crate::foldin::hgt::{Edge, NodeLayer, RelationName};
use crate::foldin::weights::{Linear, Weights};
use crate::foldin::{unsupported, FoldInError};
use crate::manifest::files;
use crate::read::Bundle;

/// The grouping node types an item belongs to, in request order.
pub const GROUPS: [&str; 3] = ["category", "shop", "brand"];

/// A new item's attributes, as raw ids and values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ItemAttributes<'a> {
    /// Raw category, shop and brand ids, in [`GROUPS`] order.
    pub groups: [Option<u64>; 3],
    /// The model's item feature row, already encoded (excludes `price`
    /// and `content`).
    pub features: Option<&'a [f32]>,
    /// The raw price.
    pub price: Option<f32>,
    /// The raw content vector.
    pub content: Option<&'a [f32]>,
    /// When the item is embedded, Unix seconds (its edges' ages are read
    /// from it).
    pub now: i64,
}

/// One grouping type the model passes messages from into items.
#[derive(Debug)]
struct Group {
    /// Index into [`GROUPS`].
    slot: usize,
    /// Index of its relation into items in the layers.
    relation: usize,
    /// Raw id → row of the states.
    index: HashMap<u64, u32>,
    /// Per layer, every node's input state (nodes × dim).
    states: Vec<Vec<f32>>,
}

/// What embeds new items.
#[derive(Debug)]
pub struct ItemFoldIn {
    dim: usize,
    layers: Vec<NodeLayer>,
    groups: Vec<Group>,
    /// The item-feature projection, when the model reads item features.
    projection: Option<Linear>,
    /// How the graph encoded its items' features.
    encoding: Option<NodeTypeInfo>,
}

impl ItemFoldIn {
    /// What `bundle`'s HGT (`num_layers` layers of `heads` heads over
    /// `weights`) needs to embed new items.
    ///
    /// # Errors
    /// [`FoldInError::Unsupported`] naming what is missing: no grouping
    /// type with states, ids and a relation into items.
    pub(crate) fn load(
        bundle: &Bundle,
        weights: &Weights,
        num_layers: usize,
        heads: usize,
        temporal: bool,
    ) -> Result<Self, FoldInError> {
        let manifest = bundle.manifest();
        let dim = manifest.dim;
        let mut names = Vec::new();
        let mut found = Vec::new();
        for (slot, group) in GROUPS.iter().enumerate() {
            let name = [format!("rev_item_{group}"), format!("walk_{group}_item")]
                .into_iter()
                .find(|r| weights.has(&format!("hgt.0.mu.{r}")));
            let ids = files::node_ids(group);
            let (Some(name), true) = (name, manifest.files.contains_key(&ids)) else { continue };
            let (raw, _) = crate::npy::read::<u64>(&bundle.read_listed(&ids)?, &bundle.dir().join(&ids))?;
            let states = (0..num_layers).map(|l| bundle.state(l, group)).collect::<Result<Vec<_>, _>>()?;
            if states.iter().any(|s| s.len() != raw.len() * dim) {
                return Err(unsupported(format!("{ids}: {} ids for states of another size", raw.len())));
            }
            let index = raw.iter().enumerate().map(|(i, &id)| (id, i as u32)).collect();
            found.push(Group { slot, relation: names.len(), index, states });
            names.push(name);
        }
        if found.is_empty() {
            return Err(unsupported(
                "new items are folded in over their category, shop or brand; this bundle's model \
                 has none of them (a graph without item attributes)",
            ));
        }
        let relations: Vec<RelationName<'_>> =
            names.iter().zip(&found).map(|(name, g)| RelationName { name, src: GROUPS[g.slot] }).collect();
        let layers = (0..num_layers)
            .map(|l| NodeLayer::read(weights, l, dim, heads, "item", &relations, temporal))
            .collect::<Result<Vec<_>, _>>()?;
        let projection = "input.features.item";
        let projection = match weights.shape(&format!("{projection}.weight")) {
            Some(shape) => Some(Linear::read(weights, projection, dim, shape[shape.len() - 1])?),
            None => None,
        };
        let encoding = if manifest.files.contains_key(files::ITEM_FEATURES) {
            let bytes = bundle.read_listed(files::ITEM_FEATURES)?;
            Some(serde_json::from_slice::<NodeTypeInfo>(&bytes).map_err(|e| {
                unsupported(format!("{}: {e}", bundle.dir().join(files::ITEM_FEATURES).display()))
            })?)
        } else {
            None
        };
        Ok(Self { dim, layers, groups: found, projection, encoding })
    }

    /// The width of the item features the model reads (0 when none).
    pub fn feature_width(&self) -> usize {
        self.projection.as_ref().map_or(0, Linear::inputs)
    }

    /// Whether raw id `raw` of grouping type `GROUPS[slot]` is one the
    /// model can fold a new item in over.
    pub fn knows(&self, slot: usize, raw: u64) -> bool {
        self.groups.iter().any(|g| g.slot == slot && g.index.contains_key(&raw))
    }

    /// The grouping types a new item may name.
    pub fn groups(&self) -> Vec<&'static str> {
        self.groups.iter().map(|g| GROUPS[g.slot]).collect()
    }

    /// The encoded feature row of `item` (checked against the model).
    fn features(&self, item: &ItemAttributes<'_>) -> Result<Option<Vec<f32>>, FoldInError> {
        let invalid = |m: String| Err(FoldInError::Invalid(m));
        let width = self.feature_width();
        if width == 0 {
            for (given, field) in [
                (item.features.is_some(), "features"),
                (item.price.is_some(), "price"),
                (item.content.is_some(), "content"),
            ] {
                if given {
                    return invalid(format!(
                        "{field}: this model reads no item features; leave the field out"
                    ));
                }
            }
            return Ok(None);
        }
        if let Some(f) = item.features {
            if item.price.is_some() || item.content.is_some() {
                return invalid(
                    "features: give either the encoded features or price and content, not both".into(),
                );
            }
            if f.len() != width {
                return invalid(format!("features: {} values; the model reads {width}", f.len()));
            }
            if let Some(i) = f.iter().position(|v| !v.is_finite()) {
                return invalid(format!("features[{i}] is not a finite number"));
            }
            return Ok(Some(f.to_vec()));
        }
        let Some(info) = &self.encoding else {
            return invalid(format!(
                "features: required ({width} encoded values): the bundle has no {}, which encodes price and content",
                files::ITEM_FEATURES
            ));
        };
        if let Some(p) = item.price {
            if !p.is_finite() || p < 0.0 {
                return invalid(format!("price: {p} is not a finite, non-negative number"));
            }
        }
        if let Some(c) = item.content {
            let want = info.feature_names.iter().filter(|n| n.starts_with("content_")).count();
            if c.len() != want {
                return invalid(format!(
                    "content: {} values; the model's content vectors have {want}",
                    c.len()
                ));
            }
            if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                return invalid(format!("content[{i}] is not a finite number"));
            }
        }
        let row = encode_new_item(
            &info.feature_names,
            &info.feature_scales,
            &info.price_thresholds,
            item.price,
            item.content,
        );
        if row.len() != width {
            return Err(unsupported(format!(
                "{} has {} columns; the model reads {width}",
                files::ITEM_FEATURES,
                row.len()
            )));
        }
        Ok(Some(row))
    }

    /// The new item's last-layer output (before the model's output
    /// normalisation) and the sum of its layers' outputs.
    ///
    /// # Errors
    /// [`FoldInError::Invalid`] naming the field: an unknown category, shop
    /// or brand, one this model has no relation for, bad features, or an
    /// item with neither a group nor features.
    pub(crate) fn propagate(&self, item: &ItemAttributes<'_>) -> Result<(Vec<f32>, Vec<f32>), FoldInError> {
        let mut rows = Vec::new();
        for (slot, raw) in item.groups.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let name = GROUPS[slot];
            let Some(group) = self.groups.iter().find(|g| g.slot == slot) else {
                return Err(FoldInError::Invalid(format!(
                    "{name}: this model passes no messages from a {name} (it has {})",
                    self.groups().join(", ")
                )));
            };
            let row = group
                .index
                .get(raw)
                .ok_or_else(|| FoldInError::Invalid(format!("{name}: unknown {name} {raw}")))?;
            rows.push((group, *row as usize));
        }
        let described = item.features.is_some() || item.price.is_some() || item.content.is_some();
        if rows.is_empty() && !described {
            return Err(FoldInError::Invalid(format!(
                "category, shop, brand: a new item needs at least one of its {}, or its features",
                self.groups().join(", ")
            )));
        }
        let features = self.features(item)?;
        let mut x = match (&self.projection, &features) {
            (Some(p), Some(f)) => p.apply(f),
            _ => vec![0f32; self.dim],
        };
        let mut sum = x.clone();
        // `belongs_to` edges carry time 0.
        let age_days = item.now.max(0) as f32 / 86_400.0;
        for (l, layer) in self.layers.iter().enumerate() {
            let edges: Vec<Edge<'_>> = rows
                .iter()
                .map(|(g, row)| Edge {
                    source_state: &g.states[l][row * self.dim..(row + 1) * self.dim],
                    relation: g.relation,
                    age_days,
                })
                .collect();
            x = layer.forward(&x, &edges);
            for (s, v) in sum.iter_mut().zip(&x) {
                *s += v;
            }
        }
        Ok((x, sum))
    }
}
