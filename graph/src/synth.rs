//! A synthetic e-commerce behaviour generator with learnable structure, in
//! Taobao UserBehavior format (`user,item,category,behavior,timestamp`, no
//! header) plus an item table (`item_id,category_id,shop_id,brand_id,price`).
//!
//! The structure: Zipf item popularity; a category → brand → shop → item
//! hierarchy; users with latent interest in a few categories and favourite
//! brands in them; a pv → cart/fav → buy funnel near Taobao's mix; sessions
//! over days; and new users and items that only appear late (cold start).
//! The output is deterministic for a seed.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Generator settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of events to write.
    pub events: u64,
    /// RNG seed.
    pub seed: u64,
    /// Days covered.
    pub days: u32,
    /// First timestamp (Unix seconds, midnight UTC).
    pub start_ts: i64,
    /// Fraction of users and of items that only appear in the last 30% of days.
    pub new_fraction: f64,
}

impl SynthConfig {
    /// Defaults for the given sizes: 10 days from 2017-11-25, 10% new users and items.
    pub fn new(users: usize, items: usize, events: u64, seed: u64) -> Self {
        Self { users, items, events, seed, days: 10, start_ts: 1_511_568_000, new_fraction: 0.1 }
    }
}

/// Counts written by the generator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    /// Events per behaviour: pv, cart, fav, buy.
    pub events: [u64; 4],
    /// Categories, brands, shops.
    pub categories: usize,
    /// Brands.
    pub brands: usize,
    /// Shops.
    pub shops: usize,
}

/// Samples indices proportionally to weights, by binary search on the
/// cumulative sums.
struct Weighted {
    items: Vec<u32>,
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(items: Vec<u32>, weight: impl Fn(u32) -> f64) -> Self {
        let mut total = 0.0;
        let cumulative = items
            .iter()
            .map(|&i| {
                total += weight(i);
                total
            })
            .collect();
        Self { items, cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Option<u32> {
        let total = *self.cumulative.last()?;
        let x = rng.random::<f64>() * total;
        let at = self.cumulative.partition_point(|&c| c <= x).min(self.items.len() - 1);
        Some(self.items[at])
    }
}

const BEHAVIORS: [&str; 4] = ["pv", "cart", "fav", "buy"];

/// Writes `config.events` events to `log` and the item table to `items`.
///
/// # Errors
/// Fails on write errors or a config with zero users, items or days.
pub fn generate(
    config: &SynthConfig,
    log: &mut impl Write,
    items_out: &mut impl Write,
) -> std::io::Result<SynthSummary> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_owned());
    if config.users == 0 || config.items == 0 || config.days == 0 {
        return Err(invalid("users, items and days must be > 0"));
    }
    if !(0.0..1.0).contains(&config.new_fraction) {
        return Err(invalid("new_fraction must be in [0, 1)"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let num_items = config.items;
    let num_categories = (num_items / 100).clamp(5, 5000);
    let num_brands = num_categories * 4;
    let num_shops = num_brands * 2;
    // brand → category, shop → brand, item → shop.
    let brand_cat: Vec<u32> = (0..num_brands).map(|b| (b % num_categories) as u32).collect();
    let shop_brand: Vec<u32> = (0..num_shops).map(|s| (s % num_brands) as u32).collect();
    let item_shop: Vec<u32> = (0..num_items).map(|_| rng.random_range(0..num_shops as u32)).collect();
    let item_brand = |i: u32| shop_brand[item_shop[i as usize] as usize];
    let item_cat = |i: u32| brand_cat[item_brand(i) as usize];

    // Zipf popularity over a random permutation of items.
    let mut rank: Vec<u32> = (0..num_items as u32).collect();
    for i in (1..num_items).rev() {
        rank.swap(i, rng.random_range(0..=i));
    }
    let pop = |i: u32| 1.0 / (f64::from(rank[i as usize]) + 10.0).powf(1.05);
    let mut by_cat: Vec<Vec<u32>> = vec![Vec::new(); num_categories];
    let mut by_brand: Vec<Vec<u32>> = vec![Vec::new(); num_brands];
    for i in 0..num_items as u32 {
        by_cat[item_cat(i) as usize].push(i);
        by_brand[item_brand(i) as usize].push(i);
    }
    let cat_samplers: Vec<Weighted> = by_cat.into_iter().map(|v| Weighted::new(v, pop)).collect();
    let brand_samplers: Vec<Weighted> = by_brand.into_iter().map(|v| Weighted::new(v, pop)).collect();
    let cat_pop = Weighted::new((0..num_categories as u32).collect(), |c| 1.0 / (f64::from(c) + 3.0));

    // New items appear at 70% of the time range.
    let day_secs = 86_400i64;
    let late = config.start_ts + (f64::from(config.days) * 0.7) as i64 * day_secs;
    let first_new_item = (((1.0 - config.new_fraction) * num_items as f64) as u32).max(1);
    let first_new_user = ((1.0 - config.new_fraction) * config.users as f64) as usize;

    // Item table.
    writeln!(items_out, "item_id,category_id,shop_id,brand_id,price")?;
    for i in 0..num_items as u32 {
        let base = 5.0 * (1.0 + f64::from(item_cat(i) % 17));
        let price = base * (0.5 + rng.random::<f64>() * 1.5);
        writeln!(
            items_out,
            "{},{},{},{},{price:.2}",
            i + 1,
            item_cat(i) + 1,
            item_shop[i as usize] + 1,
            item_brand(i) + 1
        )?;
    }

    // Events per user: heavy-tailed activity, summing to `events`.
    let activity: Vec<f64> =
        (0..config.users).map(|_| (-rng.random::<f64>().max(1e-12).ln()).powf(1.5) + 0.05).collect();
    let total_activity: f64 = activity.iter().sum();
    let mut quota: Vec<u64> =
        activity.iter().map(|a| (a / total_activity * config.events as f64).floor() as u64).collect();
    let assigned: u64 = quota.iter().sum();
    for k in 0..(config.events - assigned.min(config.events)) as usize {
        quota[k % config.users] += 1;
    }

    let mut summary = SynthSummary {
        categories: num_categories,
        brands: num_brands,
        shops: num_shops,
        ..SynthSummary::default()
    };
    let mut line = Vec::with_capacity(64);
    let mut history: Vec<u32> = Vec::new();
    for (user, &budget) in quota.iter().enumerate() {
        if budget == 0 {
            continue;
        }
        // Latent interests: 1–3 categories, each with a favourite brand.
        let num_interests = rng.random_range(1..=3);
        let interests: Vec<(u32, u32, f64)> = (0..num_interests)
            .filter_map(|_| {
                let cat = cat_pop.sample(&mut rng)?;
                let brand = cat + num_categories as u32 * rng.random_range(0..4);
                Some((cat, brand, rng.random::<f64>() + 0.2))
            })
            .collect();
        let interest_total: f64 = interests.iter().map(|x| x.2).sum();
        let start_day = if user >= first_new_user { (f64::from(config.days) * 0.7) as u32 } else { 0 };
        let mut written = 0u64;
        history.clear();
        while written < budget {
            let day = rng.random_range(start_day..config.days);
            let mut ts = config.start_ts + i64::from(day) * day_secs + rng.random_range(8 * 3600..23 * 3600);
            let session_len = rng.random_range(3..=15u64).min(budget - written);
            // The session's category: an interest, or exploration.
            let mut pick = rng.random::<f64>() * interest_total;
            let mut focus = interests[0];
            for x in &interests {
                if pick < x.2 {
                    focus = *x;
                    break;
                }
                pick -= x.2;
            }
            let explore = rng.random::<f64>() < 0.1;
            let mut in_session = 0;
            let mut misses = 0u32;
            while in_session < session_len && written < budget {
                let item = if !history.is_empty() && rng.random::<f64>() < 0.15 {
                    Some(history[rng.random_range(0..history.len())])
                } else if explore {
                    cat_pop.sample(&mut rng).and_then(|c| cat_samplers[c as usize].sample(&mut rng))
                } else if rng.random::<f64>() < 0.5 {
                    brand_samplers[focus.1 as usize].sample(&mut rng)
                } else {
                    cat_samplers[focus.0 as usize].sample(&mut rng)
                };
                ts += rng.random_range(5..180);
                // Tiny catalogues leave some brands or categories empty, and
                // new items wait for their launch: fall back to an old item.
                let item = match item.filter(|&i| i < first_new_item || ts >= late) {
                    Some(item) => item,
                    None if misses < 100 => {
                        misses += 1;
                        continue;
                    }
                    None => rng.random_range(0..first_new_item),
                };
                misses = 0;
                history.push(item);
                let mut emit = |behavior: usize, ts: i64| -> std::io::Result<()> {
                    line.clear();
                    writeln!(
                        line,
                        "{},{},{},{},{ts}",
                        user + 1,
                        item + 1,
                        item_cat(item) + 1,
                        BEHAVIORS[behavior]
                    )?;
                    log.write_all(&line)?;
                    summary.events[behavior] += 1;
                    Ok(())
                };
                emit(0, ts)?;
                written += 1;
                in_session += 1;
                // Funnel after a view: cart ≈ 6.2%, fav ≈ 3.4%, buy mostly after a cart.
                let carted = rng.random::<f64>() < 0.062;
                for (behavior, chance) in [(1, if carted { 1.0 } else { 0.0 }), (2, 0.034)] {
                    if written < budget && rng.random::<f64>() < chance {
                        ts += rng.random_range(5..60);
                        emit(behavior, ts)?;
                        written += 1;
                    }
                }
                let buy_chance = if carted { 0.3 } else { 0.004 };
                if written < budget && rng.random::<f64>() < buy_chance {
                    ts += rng.random_range(30..600);
                    emit(3, ts)?;
                    written += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// Generates a synthetic log and item table under `dir` and builds the graph
/// at `dir/graph`, holding out the last `test_fraction` of the time range
/// (none when 0). Tests, benchmarks and the demo start from this.
///
/// # Errors
/// Fails on I/O errors or an invalid configuration.
pub fn build_graph(
    config: &SynthConfig,
    dir: &std::path::Path,
    test_fraction: f64,
) -> crate::Result<crate::Graph> {
    let split = if test_fraction > 0.0 {
        crate::spec::SplitSpec::TimeCut {
            at: None,
            fraction: Some(1.0 - test_fraction),
            test_behaviors: Vec::new(),
            valid_fraction: None,
        }
    } else {
        crate::spec::SplitSpec::None
    };
    build_graph_with_split(config, dir, split)
}

/// [`build_graph`] with any split, such as a time cut with a validation period.
///
/// # Errors
/// Fails on I/O errors or an invalid configuration.
pub fn build_graph_with_split(
    config: &SynthConfig,
    dir: &std::path::Path,
    split: crate::spec::SplitSpec,
) -> crate::Result<crate::Graph> {
    use crate::error::GraphError;
    let log_path = dir.join("synth.csv");
    let items_path = dir.join("synth.items.csv");
    let create = |path: &std::path::Path| {
        std::fs::File::create(path)
            .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
            .map_err(GraphError::io("create", path))
    };
    let (mut log, mut items) = (create(&log_path)?, create(&items_path)?);
    generate(config, &mut log, &mut items).map_err(|e| GraphError::Config(format!("synthetic log: {e}")))?;
    log.flush().map_err(GraphError::io("write", &log_path))?;
    items.flush().map_err(GraphError::io("write", &items_path))?;
    let mut spec = crate::BuildSpec::for_preset(log_path, crate::ingest::Preset::Taobao);
    spec.items = Some(crate::ingest::ItemTableSpec::synth_layout(items_path));
    spec.split = split;
    spec.validate()?;
    let out = dir.join("graph");
    crate::store::write(&crate::build(&spec, true)?, &out)?;
    crate::Graph::open(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64) -> (Vec<u8>, Vec<u8>, SynthSummary) {
        let (mut log, mut items) = (Vec::new(), Vec::new());
        let summary = generate(&SynthConfig::new(200, 500, 20_000, seed), &mut log, &mut items).unwrap();
        (log, items, summary)
    }

    #[test]
    fn output_is_deterministic_and_sized() {
        let (a, ai, sa) = run(7);
        let (b, bi, _) = run(7);
        assert_eq!(a, b);
        assert_eq!(ai, bi);
        assert_eq!(sa.events.iter().sum::<u64>(), 20_000);
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 20_000);
        let (c, _, _) = run(8);
        assert_ne!(a, c);
    }

    #[test]
    fn behaviour_mix_is_near_taobao() {
        let (_, _, s) = run(1);
        let total = s.events.iter().sum::<u64>() as f64;
        let share = |i: usize| s.events[i] as f64 / total;
        assert!((0.85..0.93).contains(&share(0)), "pv share {}", share(0));
        assert!((0.035..0.075).contains(&share(1)), "cart share {}", share(1));
        assert!((0.015..0.045).contains(&share(2)), "fav share {}", share(2));
        assert!((0.01..0.03).contains(&share(3)), "buy share {}", share(3));
    }
}
