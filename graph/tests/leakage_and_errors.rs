//! No feature or edge uses a test-period row; bad input gets an error that
//! names the file and line; a failed build leaves no directory; a damaged
//! graph is refused; and no input line makes the parser panic.

use std::io::Write as _;
use std::path::Path;

use proptest::prelude::*;
use tessera_graph::ingest::{read_log, LogFormat, Preset};
use tessera_graph::spec::SplitSpec;
use tessera_graph::{BuildSpec, Graph, GraphError, NodeType};

fn write(path: &Path, text: &str) {
    std::fs::File::create(path).unwrap().write_all(text.as_bytes()).unwrap();
}

fn time_cut_graph(dir: &Path, log: &str) -> Graph {
    let input = dir.join("log.csv");
    write(&input, log);
    let mut spec = BuildSpec::for_preset(input, Preset::Taobao);
    spec.split = SplitSpec::TimeCut {
        at: Some(1000),
        fraction: None,
        test_behaviors: Vec::new(),
        valid_fraction: None,
    };
    let out = dir.join("graph");
    tessera_graph::store::write(&tessera_graph::build(&spec, true).unwrap(), &out).unwrap();
    Graph::open(&out).unwrap()
}

#[test]
fn test_period_rows_change_no_feature_and_no_edge() {
    let train = "1,10,5,pv,100\n1,11,5,buy,200\n2,10,5,pv,300\n2,12,6,cart,400\n3,11,5,pv,500\n";
    let test = "1,12,6,buy,1500\n2,11,5,pv,1600\n3,10,5,buy,1700\n1,10,5,pv,1800\n";
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let only_train = time_cut_graph(a.path(), train);
    let with_test = time_cut_graph(b.path(), &format!("{train}{test}"));
    for t in [NodeType::User, NodeType::Item] {
        assert_eq!(only_train.raw_ids(t), with_test.raw_ids(t), "{t} ids");
        assert_eq!(only_train.features(t), with_test.features(t), "{t} features use test rows");
    }
    for rel in &only_train.manifest().relations {
        let (_, x, _) = only_train.relation(&rel.spec.name).unwrap();
        let (_, y, _) = with_test.relation(&rel.spec.name).unwrap();
        assert_eq!(
            (x.indptr, x.indices, x.count, x.ts),
            (y.indptr, y.indices, y.count, y.ts),
            "{}",
            rel.spec.name
        );
    }
    // (1,12) and (3,10) are new pairs; (2,11) too; (1,10) was seen in training.
    assert_eq!(with_test.manifest().split.test_pairs, 3);
    assert_eq!(with_test.manifest().split.dropped_seen_in_train, 1);
}

#[test]
fn a_validation_period_is_held_out_of_training_and_becomes_the_validation_targets() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("log.csv");
    // Time range 0..1000: train below 600, validation 600..800, test from 800.
    write(&input, "1,10,5,pv,0\n2,11,5,buy,100\n1,11,5,pv,650\n2,10,5,cart,700\n1,10,5,pv,750\n3,12,6,buy,900\n1,12,6,pv,1000\n");
    let mut spec = BuildSpec::for_preset(input.clone(), Preset::Taobao);
    spec.split = SplitSpec::TimeCut {
        at: None,
        fraction: Some(0.8),
        test_behaviors: Vec::new(),
        valid_fraction: Some(0.6),
    };
    spec.validate().unwrap();
    let out = dir.path().join("graph");
    tessera_graph::store::write(&tessera_graph::build(&spec, true).unwrap(), &out).unwrap();
    let graph = Graph::open(&out).unwrap();
    let split = &graph.manifest().split;
    assert_eq!((split.train_rows, split.heldout_rows), (2, 5));
    // (1,11) and (2,10) are new; (1,10) was seen in training.
    assert_eq!((split.valid_pairs, split.test_pairs, split.dropped_seen_in_train), (2, 2, 1));
    let raw = |t, ids: Vec<(u32, u32)>| -> Vec<(u64, u64)> {
        let (users, items) = (graph.raw_ids(NodeType::User), graph.raw_ids(t));
        let mut v: Vec<_> = ids.into_iter().map(|(u, i)| (users[u as usize], items[i as usize])).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(raw(NodeType::Item, graph.valid_pairs()), vec![(1, 11), (2, 10)]);
    // A validation period that starts after the test cut is refused by name.
    spec.split = SplitSpec::TimeCut {
        at: None,
        fraction: Some(0.5),
        test_behaviors: Vec::new(),
        valid_fraction: Some(0.7),
    };
    assert!(spec.validate().unwrap_err().to_string().contains("valid_fraction"));
}

#[test]
fn leave_one_out_validation_holds_out_each_test_users_last_training_purchase() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("log.csv");
    // User 1 buys 10 then 11 (and carted 11 first); user 2 buys 12; user 3
    // buys 10 but has no test row, so it keeps its purchase.
    write(
        &input,
        "1,10,5,buy,100\n1,11,5,cart,150\n1,11,5,buy,200\n2,12,6,buy,300\n2,10,5,pv,400\n3,10,5,buy,500\n",
    );
    let test = dir.path().join("test.csv");
    write(&test, "user,item\n1,12\n2,11\n");
    let mut spec = BuildSpec::for_preset(input, Preset::Taobao);
    spec.split = SplitSpec::TestFile {
        path: test,
        user: tessera_graph::ingest::Column::Name("user".into()),
        item: tessera_graph::ingest::Column::Name("item".into()),
        label: None,
        split_column: None,
        test_values: Vec::new(),
        valid_values: Vec::new(),
        valid_last: Some(tessera_graph::Behavior::Buy),
    };
    let out = dir.path().join("graph");
    tessera_graph::store::write(&tessera_graph::build(&spec, true).unwrap(), &out).unwrap();
    let graph = Graph::open(&out).unwrap();
    let split = &graph.manifest().split;
    assert!(split.valid_in_history);
    // Both rows of (1, 11), the one of (2, 12) and user 2's later click leave training.
    assert_eq!((split.train_rows, split.heldout_rows, split.valid_pairs, split.test_pairs), (2, 4, 2, 2));
    let (users, items) = (graph.raw_ids(NodeType::User), graph.raw_ids(NodeType::Item));
    let mut valid: Vec<(u64, u64)> =
        graph.valid_pairs().into_iter().map(|(u, i)| (users[u as usize], items[i as usize])).collect();
    valid.sort_unstable();
    assert_eq!(valid, vec![(1, 11), (2, 12)]);
    let (_, buys, _) = graph.relation("buy").unwrap();
    assert_eq!(buys.indices.len(), 2, "the purchases left in training: (1,10) and (3,10)");
    // The graph at test time has every training row back, and the same nodes.
    let history = graph.open_history().unwrap().expect("a graph at test time");
    assert_eq!(history.manifest().split.train_rows, 6);
    assert_eq!(history.raw_ids(NodeType::Item), graph.raw_ids(NodeType::Item));
    assert_eq!(history.test_pairs(), graph.test_pairs());
    assert_eq!(history.relation("buy").unwrap().1.indices.len(), 4);
    // A graph whose split keeps every row has none.
    let other = tempfile::tempdir().unwrap();
    assert!(time_cut_graph(other.path(), "1,10,5,pv,100\n1,11,5,pv,2000\n")
        .open_history()
        .unwrap()
        .is_none());
}

#[test]
fn bad_rows_are_skipped_and_counted_or_fatal_in_strict_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    write(
        &path,
        "1,10,5,pv,100\nx,10,5,pv,100\n1,10,5,jump,100\n1,10,5,pv,yesterday\n1,10\n2,11,5,buy,200\n",
    );
    let format = LogFormat::preset(Preset::Taobao).unwrap();
    let mut n = 0;
    let report = read_log(&path, &format, false, |_| n += 1).unwrap();
    assert_eq!(n, 2);
    assert_eq!(report.rows_read, 6);
    assert_eq!(report.num_skipped(), 4);
    assert_eq!(report.skipped["unknown behaviour"], 1);
    assert_eq!(report.skipped["bad timestamp"], 1);
    assert!(report.examples[0].contains("log.csv:2: bad user id"), "{:?}", report.examples);

    let err = read_log(&path, &format, true, |_| {}).unwrap_err();
    assert!(matches!(err, GraphError::BadRow { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("log.csv:2: bad user id"), "{err}");
}

#[test]
fn empty_file_is_an_error_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    write(&path, "");
    let spec = BuildSpec::for_preset(path, Preset::Taobao);
    let err = tessera_graph::build(&spec, false).unwrap_err();
    assert!(err.to_string().contains("empty.csv: no usable rows"), "{err}");
    assert!(!dir.path().join("graph").exists());
}

#[test]
fn damaged_graph_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let graph = time_cut_graph(dir.path(), "1,10,5,pv,100\n2,11,5,buy,200\n");
    drop(graph);
    let file = dir.path().join("graph/rel.click.csr.indices.u32");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let err = Graph::open(&dir.path().join("graph")).unwrap_err();
    assert!(err.to_string().contains("fails its checksum"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn parser_never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.csv");
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend(line);
            bytes.push(b'\n');
        }
        std::fs::write(&path, &bytes).unwrap();
        for preset in [Preset::Taobao, Preset::Tmall] {
            let format = LogFormat::preset(preset).unwrap();
            let _ = read_log(&path, &format, false, |_| {});
            let _ = read_log(&path, &format, true, |_| {});
        }
    }

    #[test]
    fn well_formed_rows_all_parse(rows in proptest::collection::vec((0u64..1_000_000, 0u64..1_000_000, 0usize..4, 0i64..2_000_000_000), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.csv");
        let labels = ["pv", "cart", "fav", "buy"];
        let text: String = rows.iter().map(|(u, i, b, t)| format!("{u},{i},7,{},{t}\n", labels[*b])).collect();
        std::fs::write(&path, text).unwrap();
        let mut seen = Vec::new();
        let report = read_log(&path, &LogFormat::preset(Preset::Taobao).unwrap(), true, |e| seen.push(e)).unwrap();
        prop_assert_eq!(report.num_skipped(), 0);
        prop_assert_eq!(seen.len(), rows.len());
        for (e, (u, i, _, t)) in seen.iter().zip(&rows) {
            prop_assert_eq!((e.user, e.item, e.ts), (*u, *i, *t));
        }
    }
}

#[test]
fn parquet_logs_read_like_csv() {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("item_id", DataType::Int64, false),
        Field::new("behavior", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Int64Array::from(vec![10, 11, 12])),
            Arc::new(StringArray::from(vec!["pv", "buy", "teleport"])),
            Arc::new(Int64Array::from(vec![100, 200, 300])),
        ],
    )
    .unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let format: LogFormat = toml::from_str(
        "header = true\nuser = \"user_id\"\nitem = \"item_id\"\nbehavior = \"behavior\"\ntime = \"ts\"\n",
    )
    .unwrap();
    let mut events = Vec::new();
    let report = read_log(&path, &format, false, |e| events.push(e)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!((events[1].user, events[1].item, events[1].ts), (2, 11, 200));
    assert_eq!(report.skipped["unknown behaviour"], 1);
    assert!(report.examples[0].contains("log.parquet:3: unknown behaviour"), "{:?}", report.examples);
    let err = read_log(&path, &format, true, |_| {}).unwrap_err();
    assert!(err.to_string().contains("log.parquet:3"), "{err}");

    std::fs::write(&path, b"PAR1 but not really").unwrap();
    let err = read_log(&path, &format, false, |_| {}).unwrap_err();
    assert!(err.to_string().contains("not a Parquet file"), "{err}");
}
