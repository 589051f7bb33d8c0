//! `coordinator graph build | stats | synth`.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tessera_graph::ingest::{ItemTableSpec, Preset};
use tessera_graph::spec::SplitSpec;
use tessera_graph::synth::{generate, SynthConfig};
use tessera_graph::{Behavior, BuildSpec, Graph, GraphStats};

/// Graph verbs.
#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Build a graph directory from behaviour logs and print its figures.
    Build(BuildArgs),
    /// Print the figures of an existing graph directory.
    Stats(StatsArgs),
    /// Write synthetic Taobao-format logs and an item table.
    Synth(SynthArgs),
}

/// Flags of `graph build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A TOML build spec (log layout, side tables, split, edge options).
    /// Relative paths in it are taken from its folder.
    #[arg(long, env = "TESSERA_GRAPH_SPEC")]
    pub spec: Option<PathBuf>,
    /// Log layout when no spec is given: taobao or tmall.
    #[arg(long, env = "TESSERA_GRAPH_PRESET", default_value = "taobao")]
    pub preset: Preset,
    /// The behaviour log (overrides the spec's log.path).
    #[arg(long, env = "TESSERA_GRAPH_INPUT")]
    pub input: Option<PathBuf>,
    /// Item table `item_id,category_id,shop_id,brand_id,price` with a header
    /// (what `graph synth` writes); used when no spec is given.
    #[arg(long, env = "TESSERA_GRAPH_ITEMS")]
    pub items: Option<PathBuf>,
    /// Hold out rows after this fraction of the time range (no spec only).
    #[arg(long, env = "TESSERA_GRAPH_SPLIT_TIME_FRACTION")]
    pub split_time_fraction: Option<f64>,
    /// Hold out each user's last row of this behaviour (no spec only).
    #[arg(long, env = "TESSERA_GRAPH_SPLIT_LEAVE_LAST")]
    pub split_leave_last: Option<Behavior>,
    /// Output graph directory (replaced atomically if it is a graph).
    #[arg(long, env = "TESSERA_GRAPH_OUT")]
    pub out: PathBuf,
    /// Stop at the first bad row instead of skipping and counting.
    #[arg(long, env = "TESSERA_GRAPH_STRICT", default_value_t = false)]
    pub strict: bool,
    /// Print the figures as JSON.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Flags of `graph stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The graph directory.
    pub dir: PathBuf,
    /// Print the figures as JSON.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Flags of `graph synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of users.
    #[arg(long, env = "TESSERA_SYNTH_USERS", default_value_t = 20_000)]
    pub users: usize,
    /// Number of items.
    #[arg(long, env = "TESSERA_SYNTH_ITEMS", default_value_t = 10_000)]
    pub items: usize,
    /// Number of events.
    #[arg(long, env = "TESSERA_SYNTH_EVENTS", default_value_t = 200_000)]
    pub events: u64,
    /// RNG seed; the output is deterministic for a seed.
    #[arg(long, env = "TESSERA_SYNTH_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Days covered.
    #[arg(long, env = "TESSERA_SYNTH_DAYS", default_value_t = 10)]
    pub days: u32,
    /// Output log file (Taobao format, no header).
    #[arg(long, env = "TESSERA_SYNTH_OUT")]
    pub out: PathBuf,
    /// Output item table; defaults to `<out>.items.csv`.
    #[arg(long, env = "TESSERA_SYNTH_ITEMS_OUT")]
    pub items_out: Option<PathBuf>,
}

/// Runs a graph verb.
///
/// # Errors
/// Fails on bad flags, unreadable inputs or write errors.
pub fn run(command: GraphCommand) -> anyhow::Result<()> {
    match command {
        GraphCommand::Build(args) => build(args),
        GraphCommand::Stats(args) => {
            let graph =
                Graph::open(&args.dir).with_context(|| format!("open graph {}", args.dir.display()))?;
            print_stats(&GraphStats::of(&graph), args.json)
        }
        GraphCommand::Synth(args) => synth(args),
    }
}

fn print_stats(stats: &GraphStats, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(stats).context("encode stats")?);
    } else {
        println!("{stats}");
    }
    Ok(())
}

/// The spec `graph build` runs: from `--spec`, or from the flags.
///
/// # Errors
/// Fails on an unreadable spec or inconsistent flags.
pub fn build_spec(args: &BuildArgs) -> anyhow::Result<BuildSpec> {
    let mut spec = match &args.spec {
        Some(path) => {
            anyhow::ensure!(
                args.items.is_none() && args.split_time_fraction.is_none() && args.split_leave_last.is_none(),
                "--items and --split-* go in the spec when --spec is given"
            );
            BuildSpec::from_file(path).with_context(|| format!("read build spec {}", path.display()))?
        }
        None => {
            let input = args.input.clone().context("--input is required without --spec")?;
            anyhow::ensure!(
                args.preset != Preset::Generic,
                "--preset generic needs a --spec with the column mapping"
            );
            let mut spec = BuildSpec::for_preset(input, args.preset);
            spec.items = args.items.clone().map(ItemTableSpec::synth_layout);
            spec.split = match (args.split_time_fraction, args.split_leave_last) {
                (Some(_), Some(_)) => {
                    anyhow::bail!("give one of --split-time-fraction and --split-leave-last")
                }
                (Some(fraction), None) => SplitSpec::TimeCut {
                    at: None,
                    fraction: Some(fraction),
                    test_behaviors: Vec::new(),
                    valid_fraction: None,
                },
                (None, Some(behavior)) => SplitSpec::LeaveLastOut { behavior, valid_last: None },
                (None, None) => SplitSpec::None,
            };
            spec
        }
    };
    if let (Some(input), Some(_)) = (&args.input, &args.spec) {
        spec.log.path = input.clone();
    }
    spec.validate().context("check build spec")?;
    Ok(spec)
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let spec = build_spec(&args)?;
    let built = tessera_graph::build(&spec, args.strict)
        .with_context(|| format!("build graph from {}", spec.log.path.display()))?;
    tessera_graph::store::write(&built, &args.out)
        .with_context(|| format!("write graph {}", args.out.display()))?;
    drop(built);
    let graph = Graph::open(&args.out).with_context(|| format!("reopen graph {}", args.out.display()))?;
    print_stats(&GraphStats::of(&graph), args.json)
}

fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let items_out = args.items_out.clone().unwrap_or_else(|| {
        let mut name = args.out.clone().into_os_string();
        name.push(".items.csv");
        PathBuf::from(name)
    });
    let mut config = SynthConfig::new(args.users, args.items, args.events, args.seed);
    config.days = args.days;
    let create = |path: &PathBuf| -> anyhow::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("create {}", path.display()))?,
        ))
    };
    let (mut log, mut items) = (create(&args.out)?, create(&items_out)?);
    let summary = generate(&config, &mut log, &mut items).context("generate synthetic logs")?;
    log.flush().with_context(|| format!("write {}", args.out.display()))?;
    items.flush().with_context(|| format!("write {}", items_out.display()))?;
    let [pv, cart, fav, buy] = summary.events;
    println!(
        "wrote {} events (pv {pv}, cart {cart}, fav {fav}, buy {buy}) to {}; {} items in {} categories, {} brands, {} shops to {}",
        pv + cart + fav + buy,
        args.out.display(),
        args.items,
        summary.categories,
        summary.brands,
        summary.shops,
        items_out.display()
    );
    Ok(())
}
