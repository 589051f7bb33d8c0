//! Job spec parsing: defaults, unknown fields, out-of-range values, the
//! typed enums, and the classic baselines kept apart from the trained ones.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::{LayerInit, OptimizerKind, Staleness, Target};

const MINIMAL: &str = r#"
name = "demo"
[dataset]
graph = "g"
[model]
kind = "hgt"
"#;

#[test]
fn minimal_spec_gets_defaults_and_resolves_paths() {
    let spec = JobSpec::parse(MINIMAL, Some(Path::new("/base"))).unwrap();
    assert_eq!(spec.dataset.graph, Path::new("/base/g"));
    assert_eq!(spec.model.dim, 64);
    assert_eq!(spec.sampler.fanouts, vec![10, 5]);
    assert_eq!(spec.cluster.workers, 2);
    assert_eq!(spec.cluster.checkpoint_interval, Duration::from_secs(60));
    assert_eq!(spec.partitions_dir(), Path::new("/base/g.parts2"));
    assert_eq!(spec.halo_hops(), 2);
}

#[test]
fn layer_mean_and_identity_init_parse() {
    let text = MINIMAL.replace("kind = \"hgt\"", "kind = \"hgt\"\nlayer_mean = true\ninit = \"identity\"");
    let spec = JobSpec::parse(&text, None).unwrap();
    assert!(spec.model.layer_mean);
    assert_eq!(spec.model.init, LayerInit::Identity);
    let spec = JobSpec::parse(MINIMAL, None).unwrap();
    assert!(!spec.model.layer_mean);
    assert_eq!(spec.model.init, LayerInit::Glorot);
}

#[test]
fn unknown_field_is_named() {
    let text = MINIMAL.replace("kind = \"hgt\"", "kind = \"hgt\"\nlayerz = 3");
    let err = JobSpec::parse(&text, None).unwrap_err().to_string();
    assert!(err.contains("layerz"), "{err}");
}

#[test]
fn unknown_model_is_named() {
    let err = JobSpec::parse(&MINIMAL.replace("hgt", "gat"), None).unwrap_err().to_string();
    assert!(err.contains("gat") && err.contains("kind"), "{err}");
}

#[test]
fn out_of_range_values_name_their_field() {
    for (patch, field) in [
        ("[model]\nkind = \"hgt\"\nheads = 5", "model.heads"),
        ("[model]\nkind = \"hgt\"\n[sampler]\nfanouts = [10]", "sampler.fanouts"),
        ("[model]\nkind = \"hgt\"\n[train]\nepochs = 0", "train.epochs"),
        ("[model]\nkind = \"hgt\"\n[cluster]\nstaleness = \"sometimes\"", "cluster.staleness"),
        ("[model]\nkind = \"hgt\"\n[tasks]\nbeta = -1.0", "tasks.beta"),
        ("[model]\nkind = \"hgt\"\nscorer = \"mlp\"\n[tasks]\nloss = \"softmax\"", "tasks.loss"),
        ("[model]\nkind = \"hgt\"\ntemperature = 0.0", "model.temperature"),
        ("[model]\nkind = \"hgt\"\n[sampler]\nkind = \"clusters\"", "unknown variant `clusters`"),
        (
            "[model]\nkind = \"hgt\"\n[sampler]\nkind = \"cluster\"\nsub_parts = 4\nparts_per_batch = 5",
            "sampler.parts_per_batch",
        ),
        ("[model]\nkind = \"hgt\"\n[sampler]\nkind = \"random_walk\"\ntop_t = 0", "sampler.top_t"),
        ("[model]\nkind = \"hgt\"\n[sampler]\nkind = \"random_walk\"\nrestart = 1.0", "sampler.restart"),
        ("[model]\nkind = \"hgt\"\n[train.embeddings]\nkind = \"lion\"\nlr = 0.1", "unknown variant `lion`"),
        ("[model]\nkind = \"hgt\"\n[train.dense]\nkind = \"adam\"\nlr = -1.0", "train.dense"),
        ("[model]\nkind = \"hgt\"\n[tasks]\ntarget = \"likes\"", "unknown variant `likes`"),
        ("[model]\nkind = \"hgt\"\ninit = \"zeros\"", "init"),
    ] {
        let text = MINIMAL.replace("[model]\nkind = \"hgt\"", patch);
        let err = JobSpec::parse(&text, None).unwrap_err().to_string();
        assert!(err.contains(field), "{patch}: {err}");
    }
}

#[test]
fn bad_duration_and_oversized_spec_are_refused() {
    let text = format!("{MINIMAL}\n[cluster]\ncheckpoint_interval = \"soon\"\n");
    let err = JobSpec::parse(&text, None).unwrap_err().to_string();
    assert!(err.contains("checkpoint_interval") || err.contains("soon"), "{err}");
    let huge = format!("{MINIMAL}#{}", "x".repeat(MAX_SPEC_BYTES));
    assert!(JobSpec::parse(&huge, None).unwrap_err().to_string().contains("bytes"));
}

#[test]
fn enums_parse_from_their_names() {
    let text = format!(
        "{MINIMAL}[tasks]\ntarget = \"buy\"\n[train.embeddings]\nkind = \"adam\"\nlr = 0.01\n[cluster]\nstaleness = \"ssp:2\"\n"
    );
    let spec = JobSpec::parse(&text, None).unwrap();
    assert_eq!(spec.tasks.target, Target::Buy);
    assert_eq!(spec.train.embeddings.kind, OptimizerKind::Adam);
    assert_eq!(spec.train.dense, crate::train::DEFAULT_DENSE_OPTIMIZER);
    assert_eq!(spec.cluster.staleness, Staleness::Ssp(2));
    let back = JobSpec::parse(&toml::to_string(&spec).unwrap(), None).unwrap();
    assert_eq!(back, spec, "a spec survives a TOML round trip");
}

#[test]
fn a_section_given_in_part_keeps_the_other_defaults() {
    let text = format!("{MINIMAL}[sampler]\nkind = \"random_walk\"\n[train]\nepochs = 3\n");
    let spec = JobSpec::parse(&text, None).unwrap();
    assert_eq!(spec.sampler.top_t, crate::sampler::DEFAULT_TOP_T);
    assert_eq!(spec.sampler.fanouts, crate::sampler::DEFAULT_FANOUTS.to_vec());
    assert_eq!(spec.train.batch_size, crate::train::DEFAULT_BATCH_SIZE);
    assert_eq!(spec.train.epochs, 3);
}

#[test]
fn classic_baselines_are_kept_apart_from_the_trained_ones() {
    let text = MINIMAL.replace(
        "name = \"demo\"",
        "name = \"demo\"\nbaselines = [\"mf\", \"itemknn\", \"rp3beta\", \"mf\"]",
    );
    let text = format!("{text}[classic.itemknn]\nneighbours = 50\n");
    let spec = JobSpec::parse(&text, None).unwrap();
    assert_eq!(spec.models(), vec![crate::ModelKind::Hgt, crate::ModelKind::Mf]);
    assert_eq!(spec.classic_models(), vec![crate::ClassicKind::Itemknn, crate::ClassicKind::Rp3beta]);
    assert_eq!(spec.model_names(), vec!["hgt", "mf", "itemknn", "rp3beta"]);
    assert_eq!(spec.classic.itemknn.neighbours, 50);
    assert_eq!(spec.classic.rp3beta.neighbours, crate::classic::DEFAULT_RP3_NEIGHBOURS);
    assert_eq!(spec.total_epochs(), 2 * spec.train.epochs, "classic models take no epochs");
    let bad = MINIMAL.replace("name = \"demo\"", "name = \"demo\"\nbaselines = [\"knn\"]");
    let err = JobSpec::parse(&bad, None).unwrap_err().to_string();
    assert!(err.contains("unknown baseline") && err.contains("itemknn"), "{err}");
    let bad = format!("{MINIMAL}[classic.rp3beta]\nalpha = 3.0\n");
    assert!(JobSpec::parse(&bad, None).unwrap_err().to_string().contains("classic.rp3beta.alpha"));
}

#[test]
fn a_neighbourhood_term_without_a_weight_needs_validation_targets() {
    let spec = JobSpec::parse(&format!("{MINIMAL}neighbourhood = \"itemknn\"\n"), None).unwrap();
    assert_eq!(spec.main_name().as_deref(), Some("hgt+itemknn"));
    assert!(spec.check_validation(5).is_ok());
    let err = spec.check_validation(0).unwrap_err().to_string();
    assert!(err.contains("model.neighbourhood") && err.contains("valid_last"), "{err}");
    // With a weight set, nothing is chosen on validation.
    let fixed =
        JobSpec::parse(&format!("{MINIMAL}neighbourhood = \"itemknn\"\nneighbourhood_weight = 4.0\n"), None)
            .unwrap();
    assert!(fixed.check_validation(0).is_ok());
    // A weight without the term, or a negative one, is refused by name.
    for bad in ["neighbourhood_weight = 4.0\n", "neighbourhood = \"itemknn\"\nneighbourhood_weight = -1.0\n"]
    {
        let err = JobSpec::parse(&format!("{MINIMAL}{bad}"), None).unwrap_err().to_string();
        assert!(err.contains("model.neighbourhood_weight"), "{err}");
    }
}

#[test]
fn the_ranker_section_is_checked_and_named() {
    let on = JobSpec::parse(&format!("{MINIMAL}[ranker]\nenabled = true\ncandidates = 50\n"), None).unwrap();
    assert_eq!(on.ranker.candidates, 50);
    assert_eq!(on.ranker.hidden, crate::ranker::DEFAULT_RANKER_HIDDEN.to_vec());
    assert_eq!(on.model_names(), vec!["hgt", "hgt+ranker"]);
    let err = on.check_validation(0).unwrap_err().to_string();
    assert!(err.contains("ranker.enabled"), "{err}");
    let off = JobSpec::parse(MINIMAL, None).unwrap();
    assert!(!off.ranker.enabled && off.ranker_name().is_none());
    for (bad, field) in [
        ("candidates = 1", "ranker.candidates"),
        ("hidden = []", "ranker.hidden"),
        ("recency = 0.0", "ranker.recency"),
        ("holdout = 1.0", "ranker.holdout"),
        ("lr = -1.0", "ranker.lr"),
        ("depth = 3", "depth"),
    ] {
        let err = JobSpec::parse(&format!("{MINIMAL}[ranker]\n{bad}\n"), None).unwrap_err().to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
}
