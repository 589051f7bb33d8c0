//! `worker coldstart`: how well users the model never trained on are
//! served once folded in (`tessera_bundle::foldin`, what `POST /v1/users`
//! does), against what a shop would otherwise show them. Each held-out user
//! (a CSV of their whole log: `user,item,behavior,time`) gives the model
//! their first N behaviours (N = 1, 2, 3); their later purchases of other
//! items are the targets. The same users are scored by popularity and by
//! item-kNN folded in (the summed similarity to those N items, fitted on the
//! training graph with the job's `classic.itemknn` settings, ties broken by
//! popularity). Ranking is over every item, those N left out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use tessera_bundle::foldin::{Behaviour, FoldIn};
use tessera_bundle::Bundle;
use tessera_graph::schema::{Behavior, NodeType};
use tessera_graph::store::Graph;
use tessera_job::JobSpec;

use crate::classic::itemknn;
use crate::eval::metrics::EvalData;

/// One logged event of a held-out user.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Raw item id.
    pub item: u64,
    /// Behaviour.
    pub behavior: Behavior,
    /// Unix seconds.
    pub time: i64,
}

/// Reads a held-out users' log: a header naming `user`, `item`,
/// `behavior` and `time` (in any order, other columns ignored), one event a
/// row. Returns each user's events in time order.
///
/// # Errors
/// A missing column or a malformed row, with its line number.
pub fn read_users(path: &Path) -> anyhow::Result<BTreeMap<u64, Vec<Event>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().with_context(|| format!("{}: empty", path.display()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let column = |name: &str| {
        names.iter().position(|n| *n == name).with_context(|| format!("{}: no {name} column", path.display()))
    };
    let (cu, ci, cb, ct) = (column("user")?, column("item")?, column("behavior")?, column("time")?);
    let mut users: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let field = |c: usize, name: &str| {
            fields.get(c).copied().with_context(|| format!("{}:{}: no {name}", path.display(), n + 1))
        };
        let bad = |name: &str| format!("{}:{}: bad {name}", path.display(), n + 1);
        let user: u64 = field(cu, "user")?.parse().with_context(|| bad("user"))?;
        let item: u64 = field(ci, "item")?.parse().with_context(|| bad("item"))?;
        let behavior = Behavior::parse_label(field(cb, "behavior")?).with_context(|| bad("behavior"))?;
        let time: i64 = field(ct, "time")?.parse().with_context(|| bad("time"))?;
        users.entry(user).or_default().push(Event { item, behavior, time });
    }
    for events in users.values_mut() {
        events.sort_by_key(|e| e.time);
    }
    Ok(users)
}

/// Recall@20 and NDCG@10 of one method over the users evaluated.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Scores {
    /// Mean over users of hits in the top 20 / targets.
    pub recall_at_20: f64,
    /// Mean over users of binary NDCG@10.
    pub ndcg_at_10: f64,
}

impl Scores {
    pub(crate) fn add(&mut self, ranked: &[u64], targets: &[u64]) {
        let hits20 = ranked.iter().take(20).filter(|i| targets.contains(i)).count();
        let dcg: f64 = ranked
            .iter()
            .take(10)
            .enumerate()
            .filter(|(_, i)| targets.contains(i))
            .map(|(r, _)| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        let ideal: f64 = (0..targets.len().min(10)).map(|r| 1.0 / (r as f64 + 2.0).log2()).sum();
        self.recall_at_20 += hits20 as f64 / targets.len() as f64;
        self.ndcg_at_10 += if ideal > 0.0 { dcg / ideal } else { 0.0 };
    }

    pub(crate) fn mean(self, users: usize) -> Self {
        let n = users.max(1) as f64;
        Self { recall_at_20: self.recall_at_20 / n, ndcg_at_10: self.ndcg_at_10 / n }
    }
}

/// The results for one N.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Behaviours given.
    pub first: usize,
    /// Users with N known behaviours and a later purchase of another item.
    pub users: usize,
    /// The bundle's model, folded in: its embedding alone.
    pub model: Scores,
    /// With the bundle's neighbourhood term (`model.neighbourhood`, at the
    /// weight training chose), as the job's evaluation and `POST /v1/users`
    /// rank: the name (`hgt+timeknn`) and the scores.
    pub blend: Option<(String, Scores)>,
    /// Item-kNN folded in.
    pub itemknn: Scores,
    /// Most interacted-with items first.
    pub popularity: Scores,
}

/// The best 20 of `scores` (graph item ids), `excluded` left out, ties by
/// `popularity`; as raw ids.
fn top20(scores: &[f32], popularity: &[u64], excluded: &[u32], raw: &[u64]) -> Vec<u64> {
    let mut order: Vec<u32> = (0..scores.len() as u32).filter(|i| !excluded.contains(i)).collect();
    order.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(popularity[b as usize].cmp(&popularity[a as usize]))
            .then(a.cmp(&b))
    });
    order.into_iter().take(20).map(|i| raw[i as usize]).collect()
}

/// One held-out user at one N: what is given and what is to be found.
struct Case<'a> {
    given: Vec<&'a Event>,
    targets: Vec<u64>,
}

/// The first `first` events of `events` on items the graph knows, and the
/// later purchases of other items; None when there are none.
fn case<'a>(events: &'a [Event], first: usize, known: &HashMap<u64, u32>) -> Option<Case<'a>> {
    let positions: Vec<usize> = (0..events.len()).filter(|&k| known.contains_key(&events[k].item)).collect();
    if positions.len() < first {
        return None;
    }
    let given: Vec<&Event> = positions[..first].iter().map(|&k| &events[k]).collect();
    let mut targets: Vec<u64> = events[positions[first - 1] + 1..]
        .iter()
        .filter(|e| e.behavior == Behavior::Buy && given.iter().all(|g| g.item != e.item))
        .map(|e| e.item)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    (!targets.is_empty()).then_some(Case { given, targets })
}

/// Evaluates the bundle at `bundle_dir` (trained on `graph_dir`) on the
/// held-out users of `users_csv`, for 1, 2 and 3 behaviours given; returns
/// the bundle's model and the rows.
///
/// # Errors
/// A bundle without a fold-in (MF), an unreadable graph or log.
pub fn evaluate(bundle_dir: &Path, graph_dir: &Path, users_csv: &Path) -> anyhow::Result<(String, Vec<Row>)> {
    let bundle = Bundle::open(bundle_dir).with_context(|| format!("open {}", bundle_dir.display()))?;
    let foldin = FoldIn::load(&bundle).context("fold-in")?;
    let graph = Graph::open(graph_dir).with_context(|| format!("open {}", graph_dir.display()))?;
    let graph = graph.open_history()?.unwrap_or(graph);
    let spec_text = std::fs::read_to_string(bundle.dir().join(tessera_bundle::manifest::files::JOB))?;
    let spec = JobSpec::parse(&spec_text, None)?;
    let data = EvalData::of(&graph, false);
    let n_items = graph.num_nodes(NodeType::Item);
    let raw_items = graph.raw_ids(NodeType::Item);
    let dense: HashMap<u64, u32> = raw_items.iter().enumerate().map(|(i, &r)| (r, i as u32)).collect();
    // Graph item → bundle item.
    let in_bundle: Vec<u32> = raw_items.iter().map(|&r| bundle.item(r)).collect::<Result<_, _>>()?;
    let mut popularity = vec![0u64; n_items];
    for items in &data.train_items {
        for &i in items {
            popularity[i as usize] += 1;
        }
    }
    let knn = itemknn::fit(&data.train_items, n_items, &spec.classic.itemknn);
    let neighbourhood = bundle.neighbourhood();
    let users = read_users(users_csv)?;
    let start = foldin.start(None)?;
    let mut rows = Vec::new();
    for first in 1..=3usize {
        let (mut model, mut blend, mut near, mut popular) =
            (Scores::default(), Scores::default(), Scores::default(), Scores::default());
        let mut evaluated = 0usize;
        for events in users.values() {
            let Some(case) = case(events, first, &dense) else { continue };
            let mut excluded: Vec<u32> = case.given.iter().map(|g| dense[&g.item]).collect();
            excluded.sort_unstable();
            excluded.dedup();
            let history: Vec<Behaviour> = case
                .given
                .iter()
                .filter_map(|g| {
                    let behaviour = foldin.behaviours().iter().position(|b| b == g.behavior.as_str())?;
                    Some(Behaviour { item: in_bundle[dense[&g.item] as usize], behaviour, time: g.time })
                })
                .collect();
            // The model's scores over the bundle's items (zeros when no given behaviour is one it reads).
            let mut in_model = vec![0f32; bundle.manifest().items];
            if !history.is_empty() {
                let v = foldin.embed(&start, &history, case.given[first - 1].time)?;
                in_model = bundle.item_scores(&v)?;
            }
            let on_graph = |s: &[f32]| -> Vec<f32> { in_bundle.iter().map(|&b| s[b as usize]).collect() };
            model.add(&top20(&on_graph(&in_model), &popularity, &excluded, raw_items), &case.targets);
            let given_times: Vec<i64> = case.given.iter().map(|g| g.time).collect();
            let given_items: Vec<u32> = case.given.iter().map(|g| dense[&g.item]).collect();
            if let Some(term) = neighbourhood {
                let given_in_bundle: Vec<u32> = given_items.iter().map(|&g| in_bundle[g as usize]).collect();
                term.blend(&mut in_model, &given_in_bundle, &given_times);
                blend.add(&top20(&on_graph(&in_model), &popularity, &excluded, raw_items), &case.targets);
            }
            let mut terms = vec![0f32; n_items];
            knn.score_into(&given_items, &[], &mut terms);
            near.add(&top20(&terms, &popularity, &excluded, raw_items), &case.targets);
            popular.add(&top20(&vec![0f32; n_items], &popularity, &excluded, raw_items), &case.targets);
            evaluated += 1;
        }
        rows.push(Row {
            first,
            users: evaluated,
            model: model.mean(evaluated),
            blend: neighbourhood
                .as_ref()
                .map(|t| (format!("{}+{}", bundle.manifest().model, t.info.kind), blend.mean(evaluated))),
            itemknn: near.mean(evaluated),
            popularity: popular.mean(evaluated),
        });
    }
    Ok((bundle.manifest().model.clone(), rows))
}

/// The rows as a Markdown table, `model` naming the bundle's model.
pub fn render(model: &str, rows: &[Row]) -> String {
    let blend = rows.iter().find_map(|r| r.blend.as_ref().map(|(name, _)| name.clone()));
    let mut methods = vec![model.to_owned()];
    methods.extend(blend.clone());
    methods.extend(["item-kNN".to_owned(), "popularity".to_owned()]);
    let mut out = String::from("| first behaviours | users |");
    for metric in ["Recall@20", "NDCG@10"] {
        for m in &methods {
            out.push_str(&format!(" {m} {metric} |"));
        }
    }
    out.push_str(&format!("\n|---|---:|{}\n", "---:|".repeat(2 * methods.len())));
    for r in rows {
        let mut scores = vec![&r.model];
        scores.extend(r.blend.as_ref().map(|(_, s)| s));
        scores.extend([&r.itemknn, &r.popularity]);
        out.push_str(&format!("| {} | {} |", r.first, r.users));
        for s in &scores {
            out.push_str(&format!(" {:.4} |", s.recall_at_20));
        }
        for s in &scores {
            out.push_str(&format!(" {:.4} |", s.ndcg_at_10));
        }
        out.push('\n');
    }
    out
}
