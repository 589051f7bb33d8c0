//! Model tests on a tiny generated graph, trained in one process against
//! real `ps-server` child processes (`worker train --standalone`, so the
//! workspace binaries must be built): every model's loss falls and its metrics beat
//! random (also HGT with the MLP scorer and PageRank-weighted sampling, and
//! the models on the Cluster-GCN and PinSAGE samplers); HGT's attention over
//! each target's edges sums to 1, importance weights rescale it per target,
//! and an identity-init layer starts as the gated attention-weighted mean; a
//! one-worker CPU run is reproducible for a seed; a train-only run records
//! its validation passes and the shards' traffic.

use std::path::Path;

use rand::SeedableRng;
use tch::{nn, Device, Kind, Tensor};
use tessera_graph::sample::{MessageGraph, NeighborSampler, Weighting};
use tessera_graph::schema::NodeType;
use tessera_graph::synth::{build_graph, build_graph_with_split, SynthConfig};
use worker::model::hgt::HgtLayer;
use worker::model::layer_input::block_inputs;
use worker::model::{no_tensors, Config, ModelKind, Schema};
use worker::standalone::{run_standalone, ModelResult};

fn spec(dir: &Path, models: &[&str], epochs: u32, deterministic: bool) -> std::path::PathBuf {
    let baselines: Vec<String> = models[1..].iter().map(|m| format!("\"{m}\"")).collect();
    let text = format!(
        r#"
name = "tiny"
seed = 7
baselines = [{}]
[dataset]
graph = "graph"
[model]
kind = "{}"
dim = 16
heads = 2
[sampler]
fanouts = [5, 3]
[train]
epochs = {epochs}
batch_size = 128
deterministic = {deterministic}
[eval]
ks = [10, 20]
[cluster]
ps_shards = 2
report_interval = "50ms"
"#,
        baselines.join(", "),
        models[0]
    );
    let path = dir.join(format!("{}-{epochs}-{deterministic}.toml", models[0]));
    std::fs::write(&path, text).unwrap();
    path
}

fn tiny_graph(dir: &Path) {
    build_graph(&SynthConfig::new(300, 150, 12_000, 3), dir, 0.1).unwrap();
}

#[test]
fn every_model_learns_and_beats_random() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    tiny_graph(dir.path());
    let results: Vec<ModelResult> =
        run_standalone(&spec(dir.path(), &["hgt", "rgcn", "sage", "lightgcn", "mf"], 6, false), Device::Cpu)
            .unwrap();
    assert_learned(&results);
}

/// Every model's loss fell by more than 10% and it beats random ranking
/// (sampled HR@10 = 0.10, AUC = 0.5).
fn assert_learned(results: &[ModelResult]) {
    for r in results {
        eprintln!("{} {:?} losses {:?}", r.model, r.metrics, r.losses);
        let (first, last) = (r.first_loss.unwrap(), r.losses["total"]);
        assert!(last < first * 0.9, "{}: loss {first:.4} -> {last:.4} does not fall", r.model);
        assert_beats_random(r);
    }
}

/// A model beats random ranking: sampled HR@10 above 0.15 (random: 0.10)
/// and AUC above 0.55 (random: 0.5).
fn assert_beats_random(r: &ModelResult) {
    let (hr, auc) = (r.metrics["sampled_hr@10"], r.metrics["auc"]);
    assert!(hr > 0.15, "{}: sampled HR@10 {hr}", r.model);
    assert!(auc > 0.55, "{}: AUC {auc}", r.model);
}

/// Trains `models` for `epochs` with the tiny spec changed by `patch` and
/// checks that every model's loss falls and that it beats random.
fn learns_with(models: &[&str], epochs: u32, patch: impl Fn(&str) -> String) {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    tiny_graph(dir.path());
    let base = std::fs::read_to_string(spec(dir.path(), models, epochs, false)).unwrap();
    let text = patch(&base);
    assert_ne!(text, base);
    let path = dir.path().join("patched.toml");
    std::fs::write(&path, text).unwrap();
    assert_learned(&run_standalone(&path, Device::Cpu).unwrap());
}

#[test]
fn hgt_with_the_mlp_scorer_and_pagerank_sampling_learns_and_beats_random() {
    learns_with(&["hgt"], 6, |base| {
        base.replace("heads = 2\n", "heads = 2\nscorer = \"mlp\"\n")
            .replace("[sampler]\n", "[sampler]\nweighting = \"pagerank\"\n")
    });
}

#[test]
fn hgt_and_mf_with_the_sampled_softmax_learn_and_beat_random() {
    learns_with(&["hgt", "mf"], 6, |base| {
        base.replace("heads = 2\n", "heads = 2\ntemperature = 0.1\n")
            .replace("[eval]\n", "[tasks]\nloss = \"softmax\"\n[eval]\n")
    });
}

#[test]
fn the_classic_baselines_run_with_the_job_and_beat_random() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    tiny_graph(dir.path());
    let base = std::fs::read_to_string(spec(dir.path(), &["mf"], 1, false)).unwrap();
    let text = base.replace("baselines = []", "baselines = [\"itemknn\", \"rp3beta\"]");
    assert_ne!(text, base);
    let path = dir.path().join("classic.toml");
    std::fs::write(&path, text).unwrap();
    let results = run_standalone(&path, Device::Cpu).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(names, ["mf", "itemknn", "rp3beta"]);
    for r in &results[1..] {
        eprintln!("{} {:?}", r.model, r.metrics);
        assert_beats_random(r);
    }
}

#[test]
fn the_neighbourhood_term_is_chosen_on_validation_and_reported_beside_its_parts() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    // Leave-one-out buys as the test, each test user's last training buy
    // before that as validation (with the graph at test time beside it).
    let split = tessera_graph::spec::SplitSpec::LeaveLastOut {
        behavior: tessera_graph::Behavior::Buy,
        valid_last: Some(tessera_graph::Behavior::Buy),
    };
    let graph = build_graph_with_split(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), split).unwrap();
    assert!(graph.open_history().unwrap().is_some());
    let base = std::fs::read_to_string(spec(dir.path(), &["hgt"], 4, false)).unwrap();
    let text = base
        .replace("baselines = []", "baselines = [\"itemknn\"]")
        .replace("heads = 2\n", "heads = 2\ntemperature = 0.1\nneighbourhood = \"itemknn\"\n")
        .replace("[eval]\n", "[tasks]\nloss = \"softmax\"\n[eval]\n");
    let path = dir.path().join("neighbourhood.toml");
    std::fs::write(&path, text).unwrap();
    let results = run_standalone(&path, Device::Cpu).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(names, ["hgt", "hgt+itemknn", "itemknn"]);
    let (hgt, both, knn) = (&results[0].metrics, &results[1].metrics, &results[2].metrics);
    for r in &results {
        eprintln!("{} {:?}", r.model, r.metrics);
        assert_beats_random(r);
        assert!(r.metrics["val_eval_users"] > 0.0, "{}: no validation metrics", r.model);
    }
    // Weight 0 is HGT's own ranking and the largest weight nearly item-kNN's,
    // so the chosen weight is at least as good as HGT on validation.
    let w = both["neighbourhood_weight"];
    assert!(blend_grid_has(w), "weight {w}");
    assert!(both["val_ndcg@10"] >= hgt["val_ndcg@10"] - 1e-9, "{both:?} vs {hgt:?}");
    assert!(both["val_ndcg@10"] >= 0.9 * knn["val_ndcg@10"], "{both:?} vs {knn:?}");
}

fn blend_grid_has(w: f64) -> bool {
    worker::eval::blend::WEIGHT_GRID.iter().any(|&g| f64::from(g) == w)
}

#[test]
fn models_learn_and_beat_random_with_the_cluster_gcn_sampler() {
    learns_with(&["hgt", "rgcn", "sage"], 10, |base| {
        base.replace("[sampler]\n", "[sampler]\nkind = \"cluster\"\nsub_parts = 8\nparts_per_batch = 2\n")
    });
}

#[test]
fn models_learn_and_beat_random_with_the_pinsage_random_walk_sampler() {
    learns_with(&["hgt", "rgcn", "sage", "lightgcn"], 6, |base| {
        base.replace(
            "[sampler]\n",
            "[sampler]\nkind = \"random_walk\"\nwalks = 10\nwalk_length = 3\ntop_t = 6\n",
        )
    });
}

#[test]
fn one_worker_cpu_run_is_reproducible_for_a_seed() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    tiny_graph(dir.path());
    let path = spec(dir.path(), &["hgt", "mf"], 1, true);
    let a = run_standalone(&path, Device::Cpu).unwrap();
    let b = run_standalone(&path, Device::Cpu).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.losses, y.losses, "{} losses", x.model);
        assert_eq!(x.metrics, y.metrics, "{} metrics", x.model);
    }
}

/// One HGT layer (dim 16, 4 heads) over a block of 40 users and 40 items of
/// the tiny graph, with random inputs: its schema, layer input and inputs.
fn hgt_layer_on_tiny_block(
    dir: &Path,
    vs: &nn::VarStore,
    identity_init: bool,
    temporal: bool,
) -> (HgtLayer, Schema, worker::model::LayerInput, worker::model::TypedTensors) {
    tiny_graph(dir);
    let graph = tessera_graph::Graph::open(&dir.join("graph")).unwrap();
    let messages = MessageGraph::new(&graph);
    let schema = Schema::of(&graph, &messages);
    let config = Config {
        kind: ModelKind::Hgt,
        dim: 16,
        layers: 1,
        heads: 4,
        dropout: 0.0,
        features: false,
        num_bases: 0,
        temporal,
        id_dropout: 0.0,
        mlp_scorer: false,
        layer_mean: false,
        identity_init,
        edge_importance: false,
        temperature: tessera_job::model::DEFAULT_TEMPERATURE,
    };
    let layer = HgtLayer::new(&(vs.root() / "hgt"), &config, &schema);
    let sampler = NeighborSampler::new(&messages, vec![8], Weighting::Uniform);
    let mut seeds = vec![Vec::new(); NodeType::ALL.len()];
    seeds[NodeType::User.index()] = (0..40).collect();
    seeds[NodeType::Item.index()] = (0..40).collect();
    let (block, _) = sampler.sample(&seeds, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let input = block_inputs(&block, 1, 0, false, Device::Cpu).remove(0);
    let mut h = no_tensors();
    for t in graph.node_types() {
        let n = block.nodes_of(t).len() as i64;
        if n > 0 {
            h[t.index()] = Some(Tensor::randn([n, 16], (Kind::Float, Device::Cpu)));
        }
    }
    (layer, schema, input, h)
}

/// The edge types into `t` that have edges in `input`: (source type,
/// attention weights E × H, edges).
fn incoming<'a>(
    schema: &Schema,
    attention: &'a [Option<Tensor>],
    input: &'a worker::model::LayerInput,
    t: NodeType,
) -> Vec<(NodeType, &'a Tensor, &'a worker::model::LayerEdges)> {
    schema
        .edge_types
        .iter()
        .enumerate()
        .filter(|(_, (_, _, dst, _))| *dst == t)
        .filter_map(|(e, (_, src, _, _))| Some((*src, attention[e].as_ref()?, input.edges[e].as_ref()?)))
        .collect()
}

#[test]
fn hgt_attention_over_each_target_sums_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let (layer, schema, input, h) = hgt_layer_on_tiny_block(dir.path(), &vs, false, true);
    let (_, attention) = layer.forward_with_attention(&h, &input, false);
    for t in NodeType::ALL {
        let n = input.n_dst[t.index()];
        let edge_types = incoming(&schema, &attention, &input, t);
        if edge_types.is_empty() {
            continue;
        }
        let mut sums = Tensor::zeros([n, 4], (Kind::Float, Device::Cpu));
        for (_, a, edges) in edge_types {
            sums = sums.index_add(0, &edges.dst, a);
        }
        let has_edges = sums.sum_dim_intlist(-1, false, Kind::Float).gt(0.0);
        let picked = sums.index_select(0, &has_edges.nonzero().squeeze_dim(1));
        assert!(picked.size()[0] > 0);
        let err = (picked - 1.0).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{t}: attention sums differ from 1 by {err}");
    }
}

/// With the identity init, an untrained HGT layer is the gated residual of
/// an attention-weighted mean of the neighbours' inputs:
/// out = σ(1)·gelu(Σ α·x_src) + (1 − σ(1))·x_dst.
#[test]
fn identity_init_hgt_starts_as_attention_weighted_neighbour_mean() {
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let (layer, schema, input, h) = hgt_layer_on_tiny_block(dir.path(), &vs, true, false);
    let (out, attention) = layer.forward_with_attention(&h, &input, false);
    let gate = 1.0 / (1.0 + (-1.0f64).exp());
    let mut checked = 0;
    for t in NodeType::ALL {
        let (Some(x), Some(y)) = (&h[t.index()], &out[t.index()]) else { continue };
        let n = input.n_dst[t.index()];
        let edge_types = incoming(&schema, &attention, &input, t);
        if edge_types.is_empty() {
            continue;
        }
        let mut agg = Tensor::zeros([n, 4, 4], (Kind::Float, Device::Cpu));
        for (src, a, edges) in edge_types {
            let xs = h[src.index()].as_ref().expect("a source type with edges has inputs");
            let msg = xs.index_select(0, &edges.src).view([-1, 4, 4]) * a.unsqueeze(-1);
            agg = agg.index_add(0, &edges.dst, &msg);
        }
        let expected = agg.view([n, 16]).gelu("none") * gate + x.narrow(0, 0, n) * (1.0 - gate);
        let err = (y - expected).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{t}: identity-init output differs by {err}");
        checked += 1;
    }
    assert!(checked >= 2, "users and items both have incoming edges");
}

/// PinSAGE importance pooling in HGT: with edge weights w, each target's
/// attention becomes α·w renormalised over its incoming edges (and still
/// sums to 1).
#[test]
fn hgt_importance_weights_scale_attention_per_target() {
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let (layer, schema, mut input, h) = hgt_layer_on_tiny_block(dir.path(), &vs, false, false);
    let (_, plain) = layer.forward_with_attention(&h, &input, false);
    tch::manual_seed(3);
    for edges in input.edges.iter_mut().flatten() {
        edges.weight = Some(Tensor::rand([edges.src.size()[0]], (Kind::Float, Device::Cpu)) + 0.05);
    }
    let (_, weighted) = layer.forward_with_attention(&h, &input, false);
    let mut checked = 0;
    for t in NodeType::ALL {
        let n = input.n_dst[t.index()];
        let before = incoming(&schema, &plain, &input, t);
        let after = incoming(&schema, &weighted, &input, t);
        if before.is_empty() {
            continue;
        }
        let mut norm = Tensor::zeros([n, 4], (Kind::Float, Device::Cpu));
        for (_, a, edges) in &before {
            let w = edges.weight.as_ref().expect("weights set");
            norm = norm.index_add(0, &edges.dst, &(*a * w.unsqueeze(-1)));
        }
        for ((_, a, edges), (_, b, _)) in before.iter().zip(&after) {
            let w = edges.weight.as_ref().expect("weights set").unsqueeze(-1);
            let expected = *a * &w / norm.index_select(0, &edges.dst);
            let err = (*b - expected).abs().max().double_value(&[]);
            assert!(err < 1e-5, "{t}: weighted attention differs from α·w/Σα·w by {err}");
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

#[test]
fn train_only_records_validation_passes_and_parameter_server_traffic() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let split = tessera_graph::spec::SplitSpec::LeaveLastOut {
        behavior: tessera_graph::Behavior::Buy,
        valid_last: Some(tessera_graph::Behavior::Buy),
    };
    build_graph_with_split(&SynthConfig::new(300, 150, 12_000, 3), dir.path(), split).unwrap();
    let base = std::fs::read_to_string(spec(dir.path(), &["hgt"], 3, false)).unwrap();
    let path = dir.path().join("train-only.toml");
    std::fs::write(&path, base.replace("[eval]\n", "[eval]\nevery_epochs = 1\n")).unwrap();
    let results =
        worker::standalone::train_only(&path, Device::Cpu, std::time::Duration::from_secs(3600)).unwrap();
    assert_eq!(results.len(), 1, "one row per trained model, no classic or blended rows");
    let r = &results[0];
    assert!(r.metrics.is_empty(), "no final evaluation: {:?}", r.metrics);
    assert!(r.steps > 0 && r.edges > 0 && r.train_secs > 0.0);
    // A pass after each epoch, in order, its training time below the run's.
    assert_eq!(r.validation.iter().map(|v| v.epochs).collect::<Vec<_>>(), [1, 2, 3]);
    let steps: Vec<u64> = r.validation.iter().map(|v| v.steps).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]) && steps[2] == r.steps, "{steps:?} of {}", r.steps);
    for w in r.validation.windows(2) {
        assert!(w[0].train_secs < w[1].train_secs);
    }
    assert!(r.validation[2].train_secs <= r.train_secs + 1e-6);
    let last = &r.validation[2].metrics;
    assert!(
        last["eval_users"] > 0.0 && last["auc"] > 0.55,
        "the trained model ranks validation targets: {last:?}"
    );
    // The shards counted the training's rows and bytes, and not the
    // validation passes' pulls of every row: fewer rows than all nodes'
    // rows once per pass.
    let t = r.ps_traffic.expect("traffic");
    assert!(t.rows_pulled > 0 && t.rows_pushed > 0 && t.bytes_in_wire > 0 && t.bytes_out_wire > 0);
    assert!(t.bytes_in_wire <= t.bytes_in_raw && t.updates >= r.steps, "{t:?}");
}
