//! `worker cold-items`: how well items the model never trained on are
//! ranked once folded in (`tessera_bundle::foldin`, what `POST /v1/items`
//! does) from their category, shop, brand and price alone. The items (a CSV
//! `item,category,shop,brand,price`, empty for unknown) are absent from the
//! bundle; each user of the pairs (a CSV `user,item`) who trained has their
//! items among them as targets, and every listed item is a candidate
//! (ranking restricted to the new items). The same users are scored by the
//! popularity of the item's category (interactions with its items in the
//! bundle's histories) and, as a stronger reference, by the user's own
//! interactions with the category (ties by its popularity).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use tessera_bundle::foldin::{FoldIn, ItemAttributes};
use tessera_bundle::retrieve::dot;
use tessera_bundle::Bundle;

use crate::coldstart::Scores;

/// A new item's attributes as listed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColdItem {
    /// Raw id.
    pub item: u64,
    /// Raw category, shop and brand ids.
    pub groups: [Option<u64>; 3],
    /// Raw price.
    pub price: Option<f32>,
}

/// The results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemResults {
    /// New items (the candidates).
    pub items: usize,
    /// Of them, embedded with at least one known category, shop or brand
    /// (the rest from their price alone).
    pub with_group: usize,
    /// Users evaluated (trained users with a new item among their pairs).
    pub users: usize,
    /// Their (user, new item) pairs.
    pub pairs: usize,
    /// The bundle's model, the new items folded in.
    pub model: Scores,
    /// Items of the most interacted-with categories first.
    pub category_popularity: Scores,
    /// Items of the user's own most interacted-with categories first.
    pub user_category: Scores,
}

/// The fields of a CSV line, trimmed.
fn fields(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

/// Reads the new items' CSV (header `item,category,shop,brand,price`, in
/// any order; only `item` is required; empty, `0` or `-1` is unknown).
///
/// # Errors
/// A missing `item` column or a malformed value, with its line.
pub fn read_items(path: &Path) -> anyhow::Result<Vec<ColdItem>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().with_context(|| format!("{}: empty", path.display()))?;
    let names = fields(header);
    let column = |name: &str| names.iter().position(|n| *n == name);
    let item_col = column("item").with_context(|| format!("{}: no item column", path.display()))?;
    let group_cols = [column("category"), column("shop"), column("brand")];
    let price_col = column("price");
    let mut out = Vec::new();
    for (n, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let f = fields(line);
        let at =
            |c: Option<usize>| c.and_then(|c| f.get(c).copied()).filter(|v| !["", "0", "-1"].contains(v));
        let bad = |name: &str| format!("{}:{}: bad {name}", path.display(), n + 1);
        let item = f.get(item_col).copied().unwrap_or("").parse().with_context(|| bad("item"))?;
        let mut groups = [None; 3];
        for (slot, c) in group_cols.iter().enumerate() {
            groups[slot] = at(*c).map(str::parse).transpose().with_context(|| bad("group id"))?;
        }
        let price = at(price_col).map(str::parse).transpose().with_context(|| bad("price"))?;
        out.push(ColdItem { item, groups, price });
    }
    Ok(out)
}

/// Reads `user,item` pairs (a header naming both).
///
/// # Errors
/// A missing column or a malformed value, with its line.
pub fn read_pairs(path: &Path) -> anyhow::Result<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().with_context(|| format!("{}: empty", path.display()))?;
    let names = fields(header);
    let column = |name: &str| {
        names.iter().position(|n| *n == name).with_context(|| format!("{}: no {name} column", path.display()))
    };
    let (cu, ci) = (column("user")?, column("item")?);
    let mut out = Vec::new();
    for (n, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let f = fields(line);
        let bad = |name: &str| format!("{}:{}: bad {name}", path.display(), n + 1);
        let user = f.get(cu).copied().unwrap_or("").parse().with_context(|| bad("user"))?;
        let item = f.get(ci).copied().unwrap_or("").parse().with_context(|| bad("item"))?;
        out.push((user, item));
    }
    Ok(out)
}

/// The candidates ordered by `score` (higher first, ties by the lower id),
/// as raw ids.
fn ranked(items: &[ColdItem], score: impl Fn(usize) -> f64) -> Vec<u64> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(items[a].item.cmp(&items[b].item)));
    order.into_iter().take(20).map(|k| items[k].item).collect()
}

/// Evaluates the bundle at `bundle_dir` on the new items of `items_csv`
/// and the pairs of `pairs_csv`; `now` dates the fold-in.
///
/// # Errors
/// A bundle without an item fold-in, an item the bundle already has, an
/// unreadable file.
pub fn evaluate(
    bundle_dir: &Path,
    items_csv: &Path,
    pairs_csv: &Path,
    now: i64,
) -> anyhow::Result<ItemResults> {
    let bundle = Bundle::open(bundle_dir).with_context(|| format!("open {}", bundle_dir.display()))?;
    let foldin = FoldIn::load(&bundle).context("fold-in")?;
    let item_foldin = foldin.items()?;
    let items = read_items(items_csv)?;
    let mut vectors = Vec::with_capacity(items.len());
    let mut with_group = 0;
    for it in &items {
        anyhow::ensure!(bundle.item(it.item).is_err(), "item {} is in the bundle: not a new item", it.item);
        // A category, shop or brand the training graph lacks (or the model has no relation for) is left out.
        let mut known = [None; 3];
        for (slot, raw) in it.groups.iter().enumerate() {
            known[slot] = raw.filter(|&r| item_foldin.knows(slot, r));
        }
        with_group += usize::from(known.iter().any(Option::is_some));
        let attributes = ItemAttributes { groups: known, price: it.price, now, ..ItemAttributes::default() };
        vectors.push(foldin.embed_item(&attributes).with_context(|| format!("fold in item {}", it.item))?);
    }
    // Interactions per category, overall and per user, from the bundle's histories.
    let mut category_pop: HashMap<u64, f64> = HashMap::new();
    let mut per_user: Vec<HashMap<u64, f64>> = Vec::with_capacity(bundle.manifest().users);
    for u in 0..bundle.manifest().users as u32 {
        let mut mine: HashMap<u64, f64> = HashMap::new();
        for &i in bundle.seen(u) {
            if let Some(c) = bundle.item_category(i) {
                *category_pop.entry(c).or_default() += 1.0;
                *mine.entry(c).or_default() += 1.0;
            }
        }
        per_user.push(mine);
    }
    let category = |k: usize| items[k].groups[0];
    let popularity = |k: usize| category(k).and_then(|c| category_pop.get(&c)).copied().unwrap_or(0.0);
    let index: HashMap<u64, usize> = items.iter().enumerate().map(|(k, it)| (it.item, k)).collect();
    let mut targets: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (user, item) in read_pairs(pairs_csv)? {
        if let (Ok(u), true) = (bundle.user(user), index.contains_key(&item)) {
            targets.entry(u).or_default().push(item);
        }
    }
    let (mut model, mut popular, mut personal) = (Scores::default(), Scores::default(), Scores::default());
    let mut pairs = 0;
    for (&u, found) in &mut targets {
        found.sort_unstable();
        found.dedup();
        pairs += found.len();
        let query = bundle.user_vector(u);
        model.add(&ranked(&items, |k| f64::from(dot(query, &vectors[k]))), found);
        popular.add(&ranked(&items, popularity), found);
        let mine = &per_user[u as usize];
        let affinity = |k: usize| category(k).and_then(|c| mine.get(&c)).copied().unwrap_or(0.0);
        personal.add(&ranked(&items, |k| affinity(k) * 1e9 + popularity(k)), found);
    }
    let users = targets.len();
    Ok(ItemResults {
        items: items.len(),
        with_group,
        users,
        pairs,
        model: model.mean(users),
        category_popularity: popular.mean(users),
        user_category: personal.mean(users),
    })
}

/// The results as a Markdown table, `model` naming the bundle's model.
pub fn render(model: &str, r: &ItemResults) -> String {
    let mut out = format!(
        "{} new items ({} with a known category, shop or brand), {} users, {} pairs\n\n",
        r.items, r.with_group, r.users, r.pairs
    );
    out.push_str("| method | Recall@20 | NDCG@10 |\n|---|---:|---:|\n");
    for (name, s) in [
        (format!("{model} (folded in)"), &r.model),
        ("category popularity".to_owned(), &r.category_popularity),
        ("user's categories".to_owned(), &r.user_category),
    ] {
        out.push_str(&format!("| {name} | {:.4} | {:.4} |\n", s.recall_at_20, s.ndcg_at_10));
    }
    out
}
