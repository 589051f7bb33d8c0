//! Shard logic: exact concurrent SGD, optimizer references, and bad input
//! that leaves the state byte-identical.

use std::sync::Arc;

use tessera_proto::common::v1::{Compression, IdEncoding, ValueEncoding};
use tessera_proto::ps::v1 as pb;

use super::Shard;
use ps_client::codec::{encode_ids, encode_values};
use ps_client::routing::shard_of;

fn spec(name: &str, dim: u32, kind: pb::optimizer_spec::Kind, zeros: bool) -> pb::TableSpec {
    pb::TableSpec {
        name: name.into(),
        dim,
        optimizer: Some(pb::OptimizerSpec { kind: Some(kind), weight_decay: 0.0 }),
        init: Some(pb::InitSpec {
            kind: Some(if zeros {
                pb::init_spec::Kind::Zeros(true)
            } else {
                pb::init_spec::Kind::UniformBound(0.1)
            }),
            seed: 7,
        }),
        num_ids: 0,
        non_finite: 0,
        clip_value: 0.0,
    }
}

fn push(table: &str, ids: &[u64], grads: &[f32], comp: Compression) -> pb::PushRequest {
    pb::PushRequest {
        assign: false,
        table: table.into(),
        ids: Some(encode_ids(ids, IdEncoding::U64Le).unwrap()),
        grads: Some(encode_values(grads, ValueEncoding::F32, comp).unwrap()),
        worker_id: "w".into(),
        fencing_token: 0,
        fencing_scope: String::new(),
        clock: 0,
    }
}

fn pull(shard: &Shard, table: &str, ids: &[u64]) -> Vec<f32> {
    let response = shard
        .pull(&pb::PullRequest {
            table: table.into(),
            ids: Some(encode_ids(ids, IdEncoding::U64Le).unwrap()),
            encoding: ValueEncoding::F32 as i32,
            compression: Compression::Zstd as i32,
            worker_id: String::new(),
            clock: 0,
        })
        .unwrap();
    ps_client::codec::decode_values(&response.rows.unwrap(), ids.len() * response.dim as usize).unwrap()
}

/// An assignment sets the rows exactly (new and existing ones alike), and
/// the optimizer then starts afresh from them.
#[test]
fn assigned_rows_hold_their_values_and_train_from_there() {
    let shard = Shard::new(0, 1);
    let adagrad =
        pb::optimizer_spec::Kind::Adagrad(pb::Adagrad { lr: 0.5, initial_accumulator: 0.0, eps: 1e-10 });
    shard.create_table(&spec("user", 2, adagrad, false)).unwrap();
    shard.push(&push("user", &[1, 2], &[1.0, 1.0, 2.0, 2.0], Compression::None)).unwrap();
    let mut assign = push("user", &[2, 9], &[0.25, -0.5, 3.0, 4.0], Compression::Zstd);
    assign.assign = true;
    shard.push(&assign).unwrap();
    assert_eq!(pull(&shard, "user", &[2, 9]), vec![0.25, -0.5, 3.0, 4.0]);
    // A fresh Adagrad accumulator: the first step moves each value by lr.
    shard.push(&push("user", &[2], &[1.0, -1.0], Compression::None)).unwrap();
    let after = pull(&shard, "user", &[2]);
    assert!((after[0] - (0.25 - 0.5)).abs() < 1e-5 && (after[1] - (-0.5 + 0.5)).abs() < 1e-5, "{after:?}");
}

#[test]
fn concurrent_sgd_loses_no_update() {
    let shard = Arc::new(Shard::new(0, 1));
    shard.create_table(&spec("item", 4, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 }), true)).unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let shard = shard.clone();
            std::thread::spawn(move || {
                for step in 0..200u64 {
                    let ids: Vec<u64> = (0..16)
                        .map(|k| (k * 7 + step + t) % 50)
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let grads: Vec<f32> =
                        ids.iter().flat_map(|&id| [1.0, 2.0, (id % 3) as f32, -1.0]).collect();
                    shard.push(&push("item", &ids, &grads, Compression::None)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Reference: count how often each id was pushed.
    let mut times = [0f32; 50];
    for t in 0..8u64 {
        for step in 0..200u64 {
            let ids: std::collections::BTreeSet<u64> = (0..16).map(|k| (k * 7 + step + t) % 50).collect();
            ids.iter().for_each(|&id| times[id as usize] += 1.0);
        }
    }
    let ids: Vec<u64> = (0..50).collect();
    let rows = pull(&shard, "item", &ids);
    for id in 0..50usize {
        let n = times[id];
        assert_eq!(&rows[id * 4..id * 4 + 4], &[-n, -2.0 * n, -n * (id % 3) as f32, n], "id {id}");
    }
}

#[test]
fn adagrad_and_adam_match_a_reference() {
    let shard = Shard::new(0, 1);
    let adagrad = pb::Adagrad { lr: 0.1, initial_accumulator: 0.1, eps: 1e-8 };
    let adam = pb::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    shard.create_table(&spec("ada", 2, pb::optimizer_spec::Kind::Adagrad(adagrad), false)).unwrap();
    shard.create_table(&spec("adam", 2, pb::optimizer_spec::Kind::Adam(adam), false)).unwrap();
    let (mut w_ada, mut w_adam) = (pull(&shard, "ada", &[5]), pull(&shard, "adam", &[5]));
    let (mut s, mut m, mut v) = ([0.1f64; 2], [0f64; 2], [0f64; 2]);
    let mut ref_ada: Vec<f64> = w_ada.iter().map(|&x| f64::from(x)).collect();
    let mut ref_adam: Vec<f64> = w_adam.iter().map(|&x| f64::from(x)).collect();
    for t in 1..=20 {
        let g = [0.5f32 * t as f32 / 10.0, -0.3];
        shard.push(&push("ada", &[5], &g, Compression::Zstd)).unwrap();
        shard.push(&push("adam", &[5], &g, Compression::None)).unwrap();
        for k in 0..2 {
            let gk = f64::from(g[k]);
            s[k] += gk * gk;
            ref_ada[k] -= 0.1 * gk / (s[k].sqrt() + 1e-8);
            m[k] = 0.9 * m[k] + 0.1 * gk;
            v[k] = 0.999 * v[k] + 0.001 * gk * gk;
            let (mh, vh) = (m[k] / (1.0 - 0.9f64.powi(t)), v[k] / (1.0 - 0.999f64.powi(t)));
            ref_adam[k] -= 0.01 * mh / (vh.sqrt() + 1e-8);
        }
    }
    w_ada = pull(&shard, "ada", &[5]);
    w_adam = pull(&shard, "adam", &[5]);
    for k in 0..2 {
        assert!(
            (f64::from(w_ada[k]) - ref_ada[k]).abs() < 1e-5,
            "adagrad {k}: {} vs {}",
            w_ada[k],
            ref_ada[k]
        );
        assert!(
            (f64::from(w_adam[k]) - ref_adam[k]).abs() < 1e-5,
            "adam {k}: {} vs {}",
            w_adam[k],
            ref_adam[k]
        );
    }
}

#[test]
fn bad_pushes_are_refused_and_change_nothing() {
    let shard = Shard::new(0, 2);
    shard.create_table(&spec("item", 4, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 }), false)).unwrap();
    let mine: Vec<u64> = (0..100).filter(|&id| shard_of("item", id, 2) == 0).take(3).collect();
    let other = (0..100).find(|&id| shard_of("item", id, 2) == 1).unwrap();
    shard.push(&push("item", &mine, &[0.5; 12], Compression::None)).unwrap();
    let before = shard.snapshot("item").unwrap();
    let stats_before = shard.stats();

    let mut corrupt = push("item", &mine, &[0.5; 12], Compression::Zstd);
    if let Some(g) = corrupt.grads.as_mut() {
        let mut data = g.data.to_vec();
        // The zstd frame follows the three low byte planes of 12 values.
        data[3 * 12 + 3] ^= 0x5a;
        g.data = data.into();
    }
    let mut oversized = push("item", &mine, &[0.5; 12], Compression::None);
    if let Some(ids) = oversized.ids.as_mut() {
        ids.count = u32::MAX;
    }
    let cases: Vec<(pb::PushRequest, &str)> = vec![
        (push("item", &mine, &[0.5; 9], Compression::None), "raw bytes declared"),
        (push("nope", &mine, &[0.5; 12], Compression::None), "table \"nope\" does not exist"),
        (push("item", &mine[..2], &[0.5; 12], Compression::None), "raw bytes declared"),
        (
            push(
                "item",
                &mine,
                &[0.5, f32::NAN, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
                Compression::None,
            ),
            "non-finite gradient",
        ),
        (corrupt, "corrupt zstd frame"),
        (oversized, "exceed the limit"),
        (push("item", &[mine[0], other], &[0.5; 8], Compression::None), "belongs to shard 1"),
        (push("item", &[mine[0], mine[0]], &[0.5; 8], Compression::None), "duplicate ids"),
    ];
    for (request, expected) in cases {
        let err = shard.push(&request).unwrap_err();
        assert!(err.to_string().contains(expected), "{err} (expected {expected:?})");
        let status: tonic::Status = err.into();
        assert!(matches!(status.code(), tonic::Code::InvalidArgument | tonic::Code::NotFound), "{status:?}");
    }
    assert_eq!(shard.snapshot("item").unwrap(), before, "a refused push changed the table");
    assert_eq!(shard.stats().num_updates, stats_before.num_updates);
}

#[test]
fn stale_fencing_token_is_refused() {
    let shard = Shard::new(0, 1);
    shard.create_table(&spec("item", 2, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 }), true)).unwrap();
    let mut request = push("item", &[1], &[1.0, 1.0], Compression::None);
    request.fencing_token = 3;
    shard.push(&request).unwrap();
    request.fencing_token = 2;
    let status: tonic::Status = shard.push(&request).unwrap_err().into();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(pull(&shard, "item", &[1]), vec![-1.0, -1.0]);
}

#[test]
fn fencing_is_scoped_per_job_namespace() {
    let shard = Shard::new(0, 1);
    let sgd = || pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 });
    for table in ["ja_item", "jb_item"] {
        shard.create_table(&spec(table, 2, sgd(), true)).unwrap();
    }
    let fenced = |table: &str, scope: &str, token: u64| {
        let mut request = push(table, &[1], &[1.0, 1.0], Compression::None);
        (request.fencing_scope, request.fencing_token) = (scope.into(), token);
        shard.push(&request).map(|_| ()).map_err(|e| tonic::Status::from(e).code())
    };
    // Job b's newer token (as a cluster-wide counter hands out) does not
    // fence job a, whose token is older.
    assert_eq!(fenced("jb_item", "jb", 2), Ok(()));
    assert_eq!(fenced("ja_item", "ja", 1), Ok(()));
    // Within one job, a stale token is still refused, and changes nothing.
    assert_eq!(fenced("ja_item", "ja", 3), Ok(()));
    assert_eq!(fenced("ja_item", "ja", 1), Err(tonic::Code::FailedPrecondition));
    assert_eq!(pull(&shard, "ja_item", &[1]), vec![-2.0, -2.0]);
    // A scope must prefix the names it pushes to: a stale worker cannot
    // dodge its job's token by naming another scope.
    assert_eq!(fenced("ja_item", "jb", 9), Err(tonic::Code::InvalidArgument));
    assert_eq!(fenced("ja_item", "Bad Scope", 9), Err(tonic::Code::InvalidArgument));
    assert_eq!(pull(&shard, "ja_item", &[1]), vec![-2.0, -2.0]);
    assert_eq!(shard.fencing_tokens(), [("ja".to_owned(), 3), ("jb".to_owned(), 2)].into());
}

#[test]
fn fencing_tokens_survive_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::new(0, 1);
    shard.set_checkpoint_dir(dir.path().to_path_buf());
    shard
        .create_table(&spec("ja_item", 2, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 }), true))
        .unwrap();
    let mut request = push("ja_item", &[1], &[1.0, 1.0], Compression::None);
    (request.fencing_scope, request.fencing_token) = ("ja".into(), 3);
    shard.push(&request).unwrap();
    shard.checkpoint().unwrap();
    let fresh = Shard::new(0, 1);
    fresh.set_checkpoint_dir(dir.path().to_path_buf());
    fresh.restore(0).unwrap();
    assert_eq!(fresh.fencing_tokens(), [("ja".to_owned(), 3)].into());
    request.fencing_token = 2;
    let status: tonic::Status = fresh.push(&request).unwrap_err().into();
    assert_eq!(
        status.code(),
        tonic::Code::FailedPrecondition,
        "a restored shard still fences the stale token"
    );
}

#[test]
fn dense_pushes_are_fenced_per_scope_too() {
    let shard = Shard::new(0, 1);
    let optimizer = pb::OptimizerSpec {
        kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 })),
        weight_decay: 0.0,
    };
    let tensors =
        vec![dense_tensor("ja_hgt/w", vec![2], &[0.0, 0.0]), dense_tensor("jb_hgt/w", vec![2], &[0.0, 0.0])];
    shard.init_dense(&pb::InitDenseRequest { tensors, optimizer: Some(optimizer) }).unwrap();
    let push = |name: &str, scope: &str, token: u64| {
        let request = pb::PushDenseRequest {
            grads: vec![dense_tensor(name, vec![2], &[1.0, 1.0])],
            worker_id: "w".into(),
            fencing_token: token,
            fencing_scope: scope.into(),
        };
        shard.push_dense(&request).map(|_| ()).map_err(|e| tonic::Status::from(e).code())
    };
    assert_eq!(push("jb_hgt/w", "jb", 5), Ok(()));
    assert_eq!(push("ja_hgt/w", "ja", 1), Ok(()));
    assert_eq!(push("jb_hgt/w", "jb", 4), Err(tonic::Code::FailedPrecondition));
}

#[test]
fn unseen_rows_are_deterministic_and_create_table_is_idempotent() {
    let (a, b) = (Shard::new(0, 1), Shard::new(0, 1));
    let s = spec("user", 8, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 0.1 }), false);
    assert!(a.create_table(&s).unwrap());
    assert!(!a.create_table(&s).unwrap());
    b.create_table(&s).unwrap();
    assert_eq!(pull(&a, "user", &[1, 99, 12345]), pull(&b, "user", &[1, 99, 12345]));
    let stats = a.stats();
    assert_eq!(
        (stats.tables[0].rows_pulled, stats.tables[0].rows_pushed, stats.tables[0].num_rows),
        (3, 0, 0)
    );
    assert_ne!(pull(&a, "user", &[1]), pull(&a, "user", &[2]));
    let mut other = s.clone();
    other.dim = 16;
    assert!(a.create_table(&other).unwrap_err().to_string().contains("different spec"));
}

fn dense_tensor(name: &str, shape: Vec<u64>, values: &[f32]) -> pb::DenseTensor {
    pb::DenseTensor {
        name: name.into(),
        shape,
        values: Some(encode_values(values, ValueEncoding::F32, Compression::None).unwrap()),
    }
}

#[test]
fn dense_parameters_update_all_or_nothing() {
    let shard = Shard::new(0, 1);
    let sgd = pb::OptimizerSpec {
        kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 0.5 })),
        weight_decay: 0.0,
    };
    let init = pb::InitDenseRequest {
        tensors: vec![
            dense_tensor("w", vec![2, 2], &[1.0, 2.0, 3.0, 4.0]),
            dense_tensor("b", vec![2], &[0.0, 0.0]),
        ],
        optimizer: Some(sgd),
    };
    assert_eq!(shard.init_dense(&init).unwrap().created, vec!["w".to_owned(), "b".to_owned()]);
    assert!(shard.init_dense(&init).unwrap().created.is_empty(), "init is idempotent");
    let push = |grads: Vec<pb::DenseTensor>| pb::PushDenseRequest {
        grads,
        worker_id: "w".into(),
        fencing_token: 0,
        fencing_scope: String::new(),
    };
    let version = shard.push_dense(&push(vec![dense_tensor("w", vec![2, 2], &[2.0; 4])])).unwrap().version;
    assert_eq!(version, 1);
    // One good and one misshapen gradient: nothing is applied.
    let err = shard
        .push_dense(&push(vec![
            dense_tensor("b", vec![2], &[1.0, 1.0]),
            dense_tensor("w", vec![4], &[1.0; 4]),
        ]))
        .unwrap_err();
    assert!(err.to_string().contains("gradient shape [4] differs"), "{err}");
    let err = shard.push_dense(&push(vec![dense_tensor("nope", vec![1], &[1.0])])).unwrap_err();
    assert!(matches!(err, crate::error::PsError::NotFound(_)), "{err}");
    let pulled = shard
        .pull_dense(&pb::PullDenseRequest {
            names: vec![],
            encoding: ValueEncoding::F32 as i32,
            compression: 0,
        })
        .unwrap();
    assert_eq!(pulled.version, 1);
    let values: Vec<Vec<f32>> = pulled
        .tensors
        .iter()
        .map(|t| {
            ps_client::codec::decode_values(
                t.values.as_ref().unwrap(),
                t.shape.iter().product::<u64>() as usize,
            )
            .unwrap()
        })
        .collect();
    // BTreeMap order: b, then w.
    assert_eq!(values, vec![vec![0.0, 0.0], vec![0.0, 1.0, 2.0, 3.0]]);
}

#[test]
fn checkpoint_round_trips_and_a_corrupt_one_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::new(0, 1);
    shard.set_checkpoint_dir(dir.path().to_path_buf());
    let adam = pb::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    shard.create_table(&spec("item", 4, pb::optimizer_spec::Kind::Adam(adam), false)).unwrap();
    shard.push(&push("item", &[1, 2, 3], &[0.5; 12], Compression::None)).unwrap();
    let first = shard.checkpoint().unwrap();
    let saved = shard.snapshot("item").unwrap();
    shard.push(&push("item", &[1, 4], &[0.25; 8], Compression::None)).unwrap();
    let outcome = shard.restore(0).unwrap();
    assert_eq!((outcome.checkpoint_id, outcome.num_rows, outcome.updates_lost), (first.checkpoint_id, 3, 1));
    assert_eq!(shard.snapshot("item").unwrap(), saved, "rows and optimizer state differ after restore");

    // A newer but corrupt checkpoint is skipped in favour of the good one.
    shard.push(&push("item", &[7], &[1.0; 4], Compression::None)).unwrap();
    let second = shard.checkpoint().unwrap();
    let mut bytes = std::fs::read(&second.path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&second.path, bytes).unwrap();
    let fresh = Shard::new(0, 1);
    fresh.set_checkpoint_dir(dir.path().to_path_buf());
    assert_eq!(fresh.restore(0).unwrap().checkpoint_id, first.checkpoint_id);
    assert!(fresh.restore(second.checkpoint_id).unwrap_err().to_string().contains("checksum mismatch"));
    assert_eq!(fresh.snapshot("item").unwrap(), saved);
    // A checkpoint of another shard is refused.
    let other = Shard::new(1, 2);
    other.set_checkpoint_dir(dir.path().to_path_buf());
    assert!(other.restore(first.checkpoint_id).unwrap_err().to_string().contains("shard 0/1"));
}

#[test]
fn export_writes_ids_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::new(0, 1);
    shard.create_table(&spec("item", 3, pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 }), true)).unwrap();
    shard.push(&push("item", &[9, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], Compression::None)).unwrap();
    let path = dir.path().join("item.npy");
    let request = pb::ExportRequest {
        table: "item".into(),
        path: path.display().to_string(),
        format: pb::ExportFormat::Npy as i32,
    };
    assert_eq!(shard.export(&request).unwrap().num_rows, 2);
    let (values, shape) = tessera_graph::ingest::npy::read_f32_matrix(&path).unwrap();
    assert_eq!(shape, (2, 3));
    assert_eq!(values, vec![-4.0, -5.0, -6.0, -1.0, -2.0, -3.0]);
    let ids = tessera_graph::ingest::npy::read_ids(&dir.path().join("item.npy.ids.npy")).unwrap();
    assert_eq!(ids, vec![4, 9]);
    let parquet_path = dir.path().join("item.parquet");
    let request = pb::ExportRequest {
        table: "item".into(),
        path: parquet_path.display().to_string(),
        format: pb::ExportFormat::Parquet as i32,
    };
    assert_eq!(shard.export(&request).unwrap().num_rows, 2);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&parquet_path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    assert_eq!(batches[0].schema().field(0).name(), "id");
    let bad = pb::ExportRequest { table: "item".into(), path: path.display().to_string(), format: 0 };
    assert!(shard.export(&bad).unwrap_err().to_string().contains("unknown format"));
}
