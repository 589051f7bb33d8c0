//! One training step on a batch whose rows are pulled: encode inputs,
//! forward over the block, combine the task losses with the job's weights,
//! backward, and hand back the row gradients (one per unique row, so a row
//! that appears twice in a batch gets its gradient summed once).

use std::collections::BTreeMap;

use tch::nn::Module;
use tch::{nn, Device, Kind, Tensor};
use tessera_graph::schema::NodeType;

use crate::model::layer_input::block_inputs;
use crate::model::{no_tensors, Model, TypedTensors};
use crate::train::batch::Batch;
use crate::train::loss::{bce, bpr, hardest_negative, info_nce, pool_log_q, sampled_softmax};
use crate::view::TrainView;
use tessera_job::{Loss, TasksSpec};

/// Pulled rows per node type index (None for types with no nodes).
pub type Rows = Vec<Option<Vec<f32>>>;

/// Task settings of a step.
#[derive(Debug, Clone)]
pub struct StepTasks {
    /// The job's task weights and main-task settings.
    pub tasks: TasksSpec,
    /// Behaviour index of the main task, or None for all behaviours.
    pub main_behavior: Option<u8>,
    /// Negatives per positive.
    pub negatives: usize,
    /// Share of the main loss on in-batch hard negatives.
    pub hard_ratio: f64,
    /// Whether easy negatives follow popularity^0.75 (else uniform); the
    /// softmax's logQ correction needs to know.
    pub popularity_negatives: bool,
}

/// What a step produced.
#[derive(Debug)]
pub struct StepOutput {
    /// Loss per task and `total`.
    pub losses: BTreeMap<String, f64>,
    /// (type, local ids, gradients) per node type.
    pub row_grads: Vec<(NodeType, Vec<u32>, Vec<f32>)>,
}

/// Features of `nodes` (local ids) of a type as a tensor, when wanted.
pub fn feature_rows(
    view: &TrainView<'_>,
    model: &Model,
    node_type: NodeType,
    nodes: &[u32],
    device: Device,
) -> Option<Tensor> {
    if !model.input.wants_features(node_type) || nodes.is_empty() {
        return None;
    }
    let (values, dim) = view.graph.features(node_type);
    let mut out = Vec::with_capacity(nodes.len() * dim);
    for &n in nodes {
        out.extend_from_slice(&values[n as usize * dim..(n as usize + 1) * dim]);
    }
    Some(Tensor::from_slice(&out).view([nodes.len() as i64, dim as i64]).to_device(device))
}

/// Runs one step; gradients of the dense weights are left in their `.grad()`.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    model: &Model,
    category_head: Option<&nn::Linear>,
    view: &TrainView<'_>,
    batch: &Batch,
    rows: &Rows,
    tasks: &StepTasks,
    now: i64,
    device: Device,
) -> StepOutput {
    let dim = model.config.dim;
    let mut leaves: TypedTensors = no_tensors();
    let mut features: TypedTensors = no_tensors();
    for t in NodeType::ALL {
        let (Some(values), nodes) = (&rows[t.index()], &batch.block.nodes[t.index()]) else { continue };
        if nodes.is_empty() {
            continue;
        }
        let x = Tensor::from_slice(values)
            .view([nodes.len() as i64, dim])
            .to_device(device)
            .set_requires_grad(true);
        leaves[t.index()] = Some(x);
        features[t.index()] = feature_rows(view, model, t, nodes, device);
    }
    // Item id dropout: the model learns to score an item from its features
    // and neighbours, as it must for items never seen in training.
    let mut ids = no_tensors();
    for t in NodeType::ALL {
        ids[t.index()] = leaves[t.index()].as_ref().map(|x| {
            if t == NodeType::Item && model.config.id_dropout > 0.0 {
                let keep = Tensor::rand([x.size()[0], 1], (Kind::Float, device)).ge(model.config.id_dropout);
                x * keep.to_kind(Kind::Float)
            } else {
                x.shallow_clone()
            }
        });
    }
    let x = model.input.encode(&ids, &features);
    let inputs =
        block_inputs(&batch.block, model.config.num_layers(), now, model.config.edge_importance, device);
    let inputs: Vec<&crate::model::LayerInput> = inputs.iter().collect();
    let out = model.forward_t(x, &inputs, true);
    let to_index = |v: &[u32]| {
        Tensor::from_slice(&v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>()).to_device(device)
    };
    let (Some(users_out), Some(items_out)) = (&out[NodeType::User.index()], &out[NodeType::Item.index()])
    else {
        return StepOutput { losses: BTreeMap::new(), row_grads: Vec::new() };
    };
    let b = batch.users.len() as i64;
    let n = tasks.negatives as i64;
    let u = model.scoring_vectors(&users_out.index_select(0, &to_index(&batch.user_pos)));
    let items = model.scoring_vectors(&items_out.index_select(0, &to_index(&batch.item_pos)));
    let pos = items.narrow(0, 0, b);
    let neg = items.narrow(0, b, b * n).view([b, n, dim]);
    let s_pos = model.scorer.pairs(&u, &pos);
    let s_neg = model.scorer.per_user(&u, &neg);
    // The softmax scores every positive against the whole pool: the
    // batch's positives (column b is row b's own) and its negatives.
    let pool = (tasks.tasks.loss == Loss::Softmax).then(|| {
        let pool_ids: Vec<u32> = batch.items.iter().chain(&batch.negatives).copied().collect();
        let uniform = -(view.item_popularity.len().max(1) as f32).ln();
        let negative = |i: u32| {
            if tasks.popularity_negatives {
                view.log_popularity_negative[i as usize]
            } else {
                uniform
            }
        };
        let log_q = pool_log_q(&view.log_popularity, negative, &batch.items, &batch.negatives);
        let same = to_index(&batch.items).unsqueeze(1).eq_tensor(&to_index(&pool_ids).unsqueeze(0));
        let own = Tensor::eye_m(b, pool_ids.len() as i64, (Kind::Bool, device));
        let false_negative = same.logical_and(&own.logical_not());
        (model.scorer.all(&u, &items), Tensor::from_slice(&log_q).to_device(device), false_negative)
    });
    let link = |mask: &Tensor| -> Option<Tensor> {
        let idx = mask.nonzero().squeeze_dim(1);
        if idx.size()[0] == 0 {
            return None;
        }
        let (p, ng) = (s_pos.index_select(0, &idx), s_neg.index_select(0, &idx));
        Some(match (tasks.tasks.loss, &pool) {
            (Loss::Softmax, Some((logits, log_q, false_negative))) => sampled_softmax(
                &logits.index_select(0, &idx),
                log_q,
                &false_negative.index_select(0, &idx),
                &idx,
            ),
            (Loss::Bce, _) => bce(&p, &ng),
            _ => bpr(&p, &ng),
        })
    };
    let behaviors = Tensor::from_slice(&batch.behaviors.iter().map(|&x| i64::from(x)).collect::<Vec<_>>())
        .to_device(device);
    let main_mask = match tasks.main_behavior {
        Some(bh) => behaviors.eq(i64::from(bh)),
        None => behaviors.ones_like().to_kind(Kind::Bool),
    };
    let mut losses = BTreeMap::new();
    let mut total = Tensor::zeros([], (Kind::Float, device));
    let mut add = |name: &str, weight: f64, loss: Option<Tensor>| {
        if let Some(loss) = loss {
            losses.insert(name.to_owned(), loss.double_value(&[]));
            if weight > 0.0 {
                total = &total + loss * weight;
            }
        }
    };
    let mut main = link(&main_mask);
    if tasks.hard_ratio > 0.0 {
        if let Some(easy) = main.take() {
            let pool_ids = to_index(&batch.items.iter().chain(&batch.negatives).copied().collect::<Vec<_>>());
            // Mined by the dot product: the MLP scorer's b × pool × hidden would not fit.
            let scores = u.matmul(&items.transpose(0, 1));
            let hard = hardest_negative(&scores, &pool_ids, &to_index(&batch.items));
            let hard_loss = bpr(&s_pos, &hard.unsqueeze(1));
            main = Some(easy * (1.0 - tasks.hard_ratio) + hard_loss * tasks.hard_ratio);
        }
    }
    add("main", tasks.tasks.alpha, main);
    if tasks.main_behavior.is_some() {
        add("link", tasks.tasks.beta, link(&main_mask.logical_not()));
    }
    if let (Some(head), true) = (category_head, tasks.tasks.gamma > 0.0) {
        let labels: Vec<i64> = batch.items.iter().map(|&i| view.item_category[i as usize]).collect();
        let known: Vec<i64> =
            labels.iter().enumerate().filter(|(_, &c)| c >= 0).map(|(i, _)| i as i64).collect();
        if !known.is_empty() {
            let idx = Tensor::from_slice(&known).to_device(device);
            let y = Tensor::from_slice(&labels).to_device(device).index_select(0, &idx);
            let logits = head.forward(&pos.index_select(0, &idx));
            add("node", tasks.tasks.gamma, Some(logits.cross_entropy_for_logits(&y)));
        }
    }
    if tasks.tasks.delta > 0.0 {
        if let Some(x_users) = &leaves[NodeType::User.index()] {
            let own = x_users.index_select(0, &to_index(&batch.user_pos));
            add("contrastive", tasks.tasks.delta, Some(info_nce(&u, &own, tasks.tasks.temperature)));
        }
    }
    losses.insert("total".into(), total.double_value(&[]));
    total.backward();
    let row_grads = NodeType::ALL
        .iter()
        .filter_map(|&t| {
            let leaf = leaves[t.index()].as_ref()?;
            let grad = leaf.grad();
            let values = if grad.defined() { crate::params::values(&grad) } else { vec![0.0; leaf.numel()] };
            Some((t, batch.block.nodes[t.index()].clone(), values))
        })
        .collect();
    StepOutput { losses, row_grads }
}
