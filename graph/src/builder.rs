//! Builds a heterogeneous graph from a [`BuildSpec`]: reads the log and side
//! tables, splits, aggregates behaviour edges with time decay, adds
//! belongs_to and co-occurrence relations, and computes node features, all
//! from training rows only; with a validation split cut out of the log, also
//! the graph at test time, which has those rows back.

use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::cooc::{cooccurrence, CoocOptions};
use crate::csr::{aggregate, EdgeAttrs, RelationAdjacency};
use crate::error::Result;
use crate::features::{group_features, item_features, user_features, FeatureMatrix};
use crate::idmap::IdInterner;
use crate::ingest::side::{read_content, read_items, read_users};
use crate::ingest::{read_log, SkipReport};
use crate::schema::{Behavior, NodeType, RelationKind, RelationSpec};
use crate::spec::BuildSpec;
use crate::split::{split, Event, Split};

/// What the build saw and did, stored in the manifest and printed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Rows read and skipped from the log.
    pub log: SkipReport,
    /// Rows read and skipped from the item table.
    pub items_table: Option<SkipReport>,
    /// Rows read and skipped from the user table.
    pub users_table: Option<SkipReport>,
    /// Distinct users in the log (all rows, before the split).
    pub log_users: u64,
    /// Distinct items in the log.
    pub log_items: u64,
    /// Distinct categories named by the log rows or the item table for logged items.
    pub log_categories: u64,
    /// Events per behaviour in the log.
    pub log_events_per_behavior: Vec<(Behavior, u64)>,
    /// Earliest and latest log time, Unix seconds ((0, 0) without times).
    pub time_range: (i64, i64),
    /// Whether the log rows carry times. Without them the edges have no
    /// time decay (their weight is their count), the features no recency,
    /// and the models no temporal encoding.
    #[serde(default = "timed_default")]
    pub timed: bool,
    /// Seconds spent reading the log.
    pub read_secs: f64,
    /// Seconds spent building relations and features.
    pub build_secs: f64,
}

impl BuildReport {
    /// One line on the log's times: their range, or that there are none and
    /// what that turns off.
    pub fn time_line(&self) -> String {
        if self.timed {
            let (lo, hi) = self.time_range;
            format!("time: {lo} to {hi} (Unix seconds, {:.1} days)", (hi - lo) as f64 / 86_400.0)
        } else {
            UNTIMED_NOTE.to_owned()
        }
    }
}

/// What a graph without times turns off: the line `graph stats`, the run
/// report and `coordinator local` print for it.
const UNTIMED_NOTE: &str = "time: none (the log has no time column): no time decay on the edges, \
     no recency features and no temporal encoding; co-occurrence pairs rows by log order";

/// Graphs written before `timed` existed all had times.
fn timed_default() -> bool {
    true
}

/// A built graph held in memory, ready to be written.
#[derive(Debug, Clone)]
pub struct BuiltGraph {
    /// Dense → raw ids per node type (index = `NodeType::index`); types
    /// the data lacks are absent.
    pub raw_ids: Vec<(NodeType, Vec<u64>)>,
    /// Relations with both directions.
    pub relations: Vec<(RelationSpec, RelationAdjacency)>,
    /// Features per present node type.
    pub features: Vec<(NodeType, FeatureMatrix)>,
    /// Evaluation split.
    pub split: Split,
    /// Build report.
    pub report: BuildReport,
    /// The graph at test time, when the split cut validation rows out of
    /// training (`valid_last`): the same nodes and split, with those rows
    /// back in the edges and features. The test evaluation runs on it.
    pub history: Option<Box<BuiltGraph>>,
}

#[derive(Default)]
struct ItemInfo {
    category: Option<u64>,
    shop: Option<u64>,
    brand: Option<u64>,
    price: Option<f32>,
}

/// Builds the graph described by `spec`.
///
/// # Errors
/// Fails on unreadable or empty inputs, bad rows in strict mode, or an
/// invalid spec.
pub fn build(spec: &BuildSpec, strict: bool) -> Result<BuiltGraph> {
    spec.validate()?;
    let format = spec.log_format()?;
    let started = Instant::now();
    let base = BaseIds::of(spec)?;
    let mut users = base.interner(NodeType::User);
    let mut items = base.interner(NodeType::Item);
    let mut info: FxHashMap<u32, ItemInfo> = FxHashMap::default();
    let mut events: Vec<Event> = Vec::new();
    let mut per_behavior = [0u64; 4];
    let log_report = read_log(&spec.log.path, &format, strict, |raw| {
        let item = items.intern(raw.item);
        events.push(Event { user: users.intern(raw.user), item, behavior: raw.behavior, ts: raw.ts });
        per_behavior[raw.behavior.index()] += 1;
        if raw.category.is_some() || raw.shop.is_some() || raw.brand.is_some() {
            let entry = info.entry(item).or_default();
            entry.category = entry.category.or(raw.category);
            entry.shop = entry.shop.or(raw.shop);
            entry.brand = entry.brand.or(raw.brand);
        }
    })?;
    let read_secs = started.elapsed().as_secs_f64();
    let (log_users, log_items) = (users.len() as u64, items.len() as u64);

    let mut report = BuildReport {
        log: log_report,
        log_users,
        log_items,
        log_events_per_behavior: Behavior::ALL.iter().map(|b| (*b, per_behavior[b.index()])).collect(),
        time_range: events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.ts), hi.max(e.ts))),
        timed: format.has_time(),
        read_secs,
        ..BuildReport::default()
    };

    if let Some(table) = &spec.items {
        let (rows, skips) = read_items(table, strict)?;
        report.items_table = Some(skips);
        // Intern in file-independent order (sorted raw ids) for determinism.
        let mut raw: Vec<_> = rows.into_iter().collect();
        raw.sort_unstable_by_key(|(id, _)| *id);
        for (raw_item, attrs) in raw {
            let entry = info.entry(items.intern(raw_item)).or_default();
            entry.category = attrs.category.or(entry.category);
            entry.shop = attrs.shop.or(entry.shop);
            entry.brand = attrs.brand.or(entry.brand);
            entry.price = attrs.price.or(entry.price);
        }
    }
    let mut profiles = None;
    if let Some(table) = &spec.users {
        let (rows, names, skips) = read_users(table, strict)?;
        report.users_table = Some(skips);
        let mut raw: Vec<_> = rows.into_iter().collect();
        raw.sort_unstable_by_key(|(id, _)| *id);
        let dense: Vec<(u32, Vec<f32>)> = raw.into_iter().map(|(id, v)| (users.intern(id), v)).collect();
        profiles = Some((names, dense));
    }
    let content = spec.content.as_ref().map(read_content).transpose()?;

    let split = split(&spec.split, &events, &mut users, &mut items, strict)?;
    let inputs = Inputs {
        spec,
        base: &base,
        users: &users,
        items: &items,
        info: &info,
        profiles: profiles.as_ref(),
        content: content.as_ref(),
    };
    let history = match &split.test_time_train {
        Some(rows) => {
            let mut report = report.clone();
            let (relations, features, raw_ids) = assemble(&inputs, &events, rows, &mut report);
            let mut split = Split { train: rows.clone(), test_time_train: None, ..split.clone() };
            split.summary.valid_in_history = false;
            split.summary.train_rows = rows.iter().filter(|&&t| t).count() as u64;
            split.summary.heldout_rows = rows.len() as u64 - split.summary.train_rows;
            Some(Box::new(BuiltGraph { raw_ids, relations, features, split, report, history: None }))
        }
        None => None,
    };
    let (relations, features, raw_ids) = assemble(&inputs, &events, &split.train, &mut report);
    report.build_secs = started.elapsed().as_secs_f64() - read_secs;
    Ok(BuiltGraph { raw_ids, relations, features, split, report, history })
}

/// The raw ids of the graph a build extends (`BuildSpec::extends`), per
/// node type in dense order: they are interned first, so they keep their
/// dense ids.
#[derive(Debug, Default)]
struct BaseIds {
    raw: Vec<(NodeType, Vec<u64>)>,
}

impl BaseIds {
    /// The ids of the graph `spec` extends (none when it extends none).
    fn of(spec: &BuildSpec) -> Result<Self> {
        let Some(dir) = &spec.extends else { return Ok(Self::default()) };
        let graph = crate::store::Graph::open(dir)
            .map_err(|e| crate::error::GraphError::Config(format!("extends: {}: {e}", dir.display())))?;
        let raw = graph.node_types().into_iter().map(|t| (t, graph.raw_ids(t).to_vec())).collect();
        Ok(Self { raw })
    }

    /// An interner holding the base's `node_type` ids, in order.
    fn interner(&self, node_type: NodeType) -> IdInterner {
        let mut interner = IdInterner::default();
        for (_, ids) in self.raw.iter().filter(|(t, _)| *t == node_type) {
            for &id in ids {
                interner.intern(id);
            }
        }
        interner
    }
}

/// User profile columns: names, and (user, values) rows.
type Profiles = (Vec<String>, Vec<(u32, Vec<f32>)>);

/// What [`assemble`] reads besides the rows.
struct Inputs<'a> {
    spec: &'a BuildSpec,
    base: &'a BaseIds,
    users: &'a IdInterner,
    items: &'a IdInterner,
    info: &'a FxHashMap<u32, ItemInfo>,
    profiles: Option<&'a Profiles>,
    content: Option<&'a (std::collections::HashMap<u64, Vec<f32>>, usize)>,
}

type Assembled =
    (Vec<(RelationSpec, RelationAdjacency)>, Vec<(NodeType, FeatureMatrix)>, Vec<(NodeType, Vec<u64>)>);

/// The relations, features and raw ids from the rows of `events` that
/// `keep` marks.
fn assemble(inputs: &Inputs<'_>, events: &[Event], keep: &[bool], report: &mut BuildReport) -> Assembled {
    let Inputs { spec, base, users, items, info, profiles, content } = *inputs;
    let (num_users, num_items) = (users.len(), items.len());
    let train: Vec<Event> = events.iter().zip(keep).filter(|(_, &t)| t).map(|(e, _)| *e).collect();
    let now = train.iter().map(|e| e.ts).max().unwrap_or(0);
    let lambda = std::f64::consts::LN_2 / (spec.edges.half_life_days * 86_400.0);

    let mut relations = Vec::new();
    // user → item, one relation per behaviour present in training, built one
    // behaviour at a time to bound peak memory.
    for behavior in Behavior::ALL {
        let mut keyed: Vec<(u64, i64)> = train
            .iter()
            .filter(|e| e.behavior == behavior)
            .map(|e| (u64::from(e.user) << 32 | u64::from(e.item), e.ts))
            .collect();
        if keyed.is_empty() {
            continue;
        }
        let edges = aggregate(&mut keyed, now, lambda);
        drop(keyed);
        let spec = RelationSpec {
            name: behavior.as_str().into(),
            kind: RelationKind::Behavior(behavior),
            src: NodeType::User,
            dst: NodeType::Item,
        };
        relations.push((spec, RelationAdjacency::from_sorted(num_users, num_items, &edges)));
    }

    // belongs_to: item → category / shop / brand.
    // (type, raw ids, (item, group) memberships)
    type Group = (NodeType, IdInterner, Vec<(u32, u32)>);
    let mut groups: Vec<Group> = Vec::new();
    for node_type in [NodeType::Category, NodeType::Shop, NodeType::Brand] {
        let mut interner = base.interner(node_type);
        let mut members = Vec::new();
        for item in 0..num_items as u32 {
            let Some(i) = info.get(&item) else { continue };
            let raw = match node_type {
                NodeType::Category => i.category,
                NodeType::Shop => i.shop,
                _ => i.brand,
            };
            if let Some(raw) = raw {
                members.push((item, interner.intern(raw)));
            }
        }
        if !interner.is_empty() {
            groups.push((node_type, interner, members));
        }
    }
    let logged_categories: std::collections::HashSet<u64> =
        (0..report.log_items as u32).filter_map(|item| info.get(&item).and_then(|i| i.category)).collect();
    report.log_categories = logged_categories.len() as u64;
    for (node_type, interner, members) in &groups {
        let edges: Vec<_> = members
            .iter()
            .map(|&(item, g)| (item, g, EdgeAttrs { count: 1.0, weight: 1.0, ts: 0 }))
            .collect();
        let spec = RelationSpec {
            name: format!("item_{node_type}"),
            kind: RelationKind::BelongsTo,
            src: NodeType::Item,
            dst: *node_type,
        };
        relations.push((spec, RelationAdjacency::from_sorted(num_items, interner.len(), &edges)));
    }

    // item → item co-occurrence, from training rows sorted by (user, ts).
    let mut train = train;
    train.sort_by_key(|e| (e.user, e.ts));
    let e = &spec.edges;
    for (name, kind, behaviors, window, gap) in [
        ("co_view", RelationKind::CoView, &Behavior::ALL[..], e.coview_window_secs, e.coview_max_gap),
        ("co_buy", RelationKind::CoBuy, &[Behavior::Buy][..], e.cobuy_window_secs, e.cobuy_max_gap),
    ] {
        let opts =
            CoocOptions { window_secs: window, max_gap: gap, top_k: e.cooc_top_k, score: e.cooc_score };
        let edges = cooccurrence(&train, |ev| behaviors.contains(&ev.behavior), num_items, opts);
        if !edges.is_empty() {
            let spec = RelationSpec { name: name.into(), kind, src: NodeType::Item, dst: NodeType::Item };
            relations.push((spec, RelationAdjacency::from_sorted(num_items, num_items, &edges)));
        }
    }

    // Features (no recency or active days without times).
    let mut user_feats = user_features(&train, num_users, report.timed.then_some(now));
    if let Some((names, dense)) = profiles {
        let mut cols = vec![vec![f32::NAN; num_users]; names.len()];
        for (u, values) in dense {
            for (c, &v) in values.iter().enumerate() {
                cols[c][*u as usize] = v;
            }
        }
        user_feats.push_columns(names.iter().map(|n| format!("profile_{n}")).collect(), cols);
    }
    let prices: Option<Vec<f32>> = spec.items.as_ref().and_then(|t| t.price.as_ref()).map(|_| {
        (0..num_items as u32).map(|i| info.get(&i).and_then(|x| x.price).unwrap_or(f32::NAN)).collect()
    });
    let mut item_feats = item_features(&train, num_items, prices.as_deref());
    if let Some((vectors, dim)) = content {
        let mut cols = vec![vec![f32::NAN; num_items]; *dim];
        for (raw, v) in vectors {
            if let Some(item) = items.get(*raw) {
                for (c, &x) in v.iter().enumerate() {
                    cols[c][item as usize] = x;
                }
            }
        }
        item_feats.push_columns((0..*dim).map(|c| format!("content_{c}")).collect(), cols);
    }
    let mut item_pop = vec![0f32; num_items];
    for ev in &train {
        item_pop[ev.item as usize] += 1.0;
    }
    let mut features = vec![(NodeType::User, user_feats), (NodeType::Item, item_feats)];
    let mut raw_ids =
        vec![(NodeType::User, users.raw_ids().to_vec()), (NodeType::Item, items.raw_ids().to_vec())];
    for (node_type, interner, members) in groups {
        features.push((node_type, group_features(&members, &item_pop, interner.len())));
        raw_ids.push((node_type, interner.raw_ids().to_vec()));
    }
    (relations, features, raw_ids)
}
