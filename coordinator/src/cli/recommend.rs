//! `coordinator recommend`: a user's top items (or an item's most similar
//! items) from a model bundle, with their categories and scores, the way
//! the run report shows its examples. It reads the bundle directly, the
//! same code the recommend service answers with.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use tessera_bundle::{Bundle, Scored};

/// Flags of `recommend`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["user", "item"])))]
pub struct RecommendArgs {
    /// A bundle: a version directory, or a job's bundle directory (its
    /// `LATEST` version), such as `runs/demo/bundles/demo`.
    #[arg(long, env = "TESSERA_BUNDLE")]
    pub bundle: PathBuf,
    /// Raw user id (as in the logs): print this user's recommendations.
    #[arg(long)]
    pub user: Option<u64>,
    /// Raw item id: print the items most similar to it.
    #[arg(long)]
    pub item: Option<u64>,
    /// How many items.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Keep the user's training items in the ranking.
    #[arg(long)]
    pub include_seen: bool,
}

fn lines(out: &mut String, bundle: &Bundle, found: &[Scored]) {
    for (r, s) in found.iter().enumerate() {
        let category = bundle.item_category(s.item).map_or_else(|| "-".to_owned(), |c| c.to_string());
        let _ = writeln!(
            out,
            "    {:>2}. item {:<10} category {:<8} score {:>8.4}",
            r + 1,
            bundle.item_id(s.item),
            category,
            s.score
        );
    }
}

/// The text `recommend` prints for `args`.
///
/// # Errors
/// A missing or corrupt bundle, an unknown id, or k outside 1..=1000.
pub fn render(args: &RecommendArgs) -> anyhow::Result<String> {
    anyhow::ensure!((1..=1000).contains(&args.k), "-k {} is out of range: 1..=1000", args.k);
    let bundle =
        Bundle::open(&args.bundle).with_context(|| format!("open bundle {}", args.bundle.display()))?;
    let m = bundle.manifest();
    let search = if bundle.has_index() { "HNSW index" } else { "exact search" };
    let mut out = format!(
        "bundle {} ({}, version {}, {} users, {} items, {search})\n",
        bundle.dir().display(),
        m.model,
        m.version,
        m.users,
        m.items
    );
    if let Some(id) = args.user {
        let user = bundle.user(id)?;
        let seen = bundle.seen(user).len();
        // The service's default: 200 candidates, re-ranked when the bundle has a ranker.
        let found: Vec<Scored> = bundle
            .recommend_ranked(user, args.k, args.k.max(200), !args.include_seen, false, true)?
            .into_iter()
            .map(|r| Scored { item: r.item, score: r.score })
            .collect();
        let what = if args.include_seen { "seen items included" } else { "seen items left out" };
        let how = if bundle.ranker().is_some() { ", re-ranked by the bundle's ranker" } else { "" };
        let _ = writeln!(out, "user {id}: {seen} items in training ({what}{how})\n  top {}:", found.len());
        lines(&mut out, &bundle, &found);
    } else if let Some(id) = args.item {
        let found = bundle.similar(bundle.item(id)?, args.k, false)?;
        let _ = writeln!(out, "item {id}: the {} most similar items", found.len());
        lines(&mut out, &bundle, &found);
    }
    Ok(out)
}

/// Runs `recommend`.
///
/// # Errors
/// As [`render`].
pub fn run(args: &RecommendArgs) -> anyhow::Result<()> {
    print!("{}", render(args)?);
    Ok(())
}
