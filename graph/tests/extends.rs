//! A graph built on appended logs with `extends` keeps every node of the
//! graph it extends at its dense id (users, items, categories, shops and
//! brands), so a model resumes with its rows where they were; new nodes
//! follow. Without `extends` the same rows, read in another order, renumber.

use std::path::Path;

use tessera_graph::ingest::{ItemTableSpec, Preset};
use tessera_graph::schema::NodeType;
use tessera_graph::spec::BuildSpec;
use tessera_graph::store::Graph;
use tessera_graph::synth::SynthConfig;

fn build(spec: &BuildSpec, out: &Path) -> Graph {
    tessera_graph::store::write(&tessera_graph::build(spec, true).unwrap(), out).unwrap();
    Graph::open(out).unwrap()
}

#[test]
fn an_extending_graph_keeps_every_id_and_appends_the_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut items) = (Vec::new(), Vec::new());
    tessera_graph::synth::generate(&SynthConfig::new(400, 300, 8_000, 3), &mut log, &mut items).unwrap();
    let log = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // The base: the first 80% of the rows and every item of the table but
    // those ending in 3 (new items arrive with the appended rows).
    let cut = lines.len() * 4 / 5;
    let items = String::from_utf8(items).unwrap();
    let (header, rows) = items.split_once('\n').unwrap();
    let base_items: String = rows
        .lines()
        .filter(|l| !l.split(',').next().unwrap().ends_with('3'))
        .map(|l| format!("{l}\n"))
        .collect();
    let base_rows: Vec<&str> =
        lines[..cut].iter().copied().filter(|l| !l.split(',').nth(1).unwrap().ends_with('3')).collect();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let spec = |log_name: &str, log: String, items_name: &str, items: String| {
        let mut spec = BuildSpec::for_preset(write(log_name, log), Preset::Taobao);
        spec.items = Some(ItemTableSpec::synth_layout(write(items_name, items)));
        spec
    };
    let base = build(
        &spec("base.csv", base_rows.join("\n") + "\n", "base_items.csv", format!("{header}\n{base_items}")),
        &dir.path().join("base"),
    );
    // Everything, the new rows first: first appearance would renumber.
    let all: Vec<&str> = lines[cut..].iter().chain(&base_rows).copied().collect();
    let mut grown = spec("all.csv", all.join("\n") + "\n", "items.csv", items.clone());
    let renumbered = build(&grown, &dir.path().join("renumbered"));
    grown.extends = Some(dir.path().join("base"));
    let extended = build(&grown, &dir.path().join("extended"));
    let mut moved = 0;
    for t in NodeType::ALL {
        let (old, new) = (base.raw_ids(t), extended.raw_ids(t));
        assert!(!old.is_empty(), "the base has no {t}");
        assert_eq!(&new[..old.len()], old, "{t} ids were renumbered");
        assert_eq!(new.len(), renumbered.raw_ids(t).len(), "{t}: the same nodes either way");
        let again = renumbered.raw_ids(t);
        moved += old.iter().zip(again).filter(|(a, b)| a != b).count();
    }
    assert!(extended.num_nodes(NodeType::Item) > base.num_nodes(NodeType::Item), "no new item");
    assert!(moved > 0, "without extends the ids would not have moved: the test proves nothing");
    // A missing base is refused, naming the field.
    grown.extends = Some(dir.path().join("missing"));
    let err = tessera_graph::build(&grown, true).unwrap_err().to_string();
    assert!(err.contains("extends"), "{err}");
}
