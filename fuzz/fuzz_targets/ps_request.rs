//! A parameter-server shard fed arbitrary bytes as `Push`, `Pull` and
//! `PushDense` requests (prost decoding, then the shard's id lists, f16/f32
//! payloads and zstd frames, fencing and bounds checks). It must answer
//! every one with a response or a typed error, never panic, and a refused
//! push must leave the table as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use ps_server::shard::Shard;
use tessera_proto::ps::v1 as pb;

fn shard() -> Shard {
    let shard = Shard::new(0, 1);
    let spec = pb::TableSpec {
        name: "t".into(),
        dim: 4,
        optimizer: Some(pb::OptimizerSpec {
            kind: Some(pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr: 1.0 })),
            weight_decay: 0.0,
        }),
        init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::UniformBound(0.05)), seed: 1 }),
        num_ids: 1000,
        non_finite: 0,
        clip_value: 0.0,
    };
    shard.create_table(&spec).expect("a valid table");
    shard
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let shard = shard();
    match kind % 3 {
        0 => {
            let Ok(mut request) = pb::PushRequest::decode(body) else { return };
            request.table = "t".into();
            let before = shard.snapshot("t").expect("the table exists");
            if shard.push(&request).is_err() {
                assert_eq!(shard.snapshot("t").expect("the table exists"), before, "a refused push changed rows");
            }
        }
        1 => {
            let Ok(mut request) = pb::PullRequest::decode(body) else { return };
            request.table = "t".into();
            if let Ok(response) = shard.pull(&request) {
                assert_eq!(response.dim, 4);
            }
        }
        _ => {
            let Ok(request) = pb::PushDenseRequest::decode(body) else { return };
            let _ = shard.push_dense(&request);
        }
    }
});
