//! Classic baselines with no training loop (item-kNN, RP3beta, and item-kNN
//! with the times), fitted on the training interactions with every
//! behaviour a binary positive, as in `shared/BASELINES.md`. Each becomes a sparse item → item weight list, and
//! a user's score for item j is the sum of the weights from the user's
//! training items to j. They tell a user what a GNN has to beat on their
//! data, and they are scored by the same evaluation code as every model.

pub mod itemknn;
pub mod rp3beta;
pub mod timeknn;
pub mod weights;

use tessera_job::{ClassicKind, ClassicSpec};

pub use weights::{ItemWeights, WeightScores};

/// Fits `kind` on `train_items` (per user, sorted unique items, with the
/// last interaction times `train_times`) over a catalogue of `num_items`.
pub fn fit(
    kind: ClassicKind,
    spec: &ClassicSpec,
    train_items: &[Vec<u32>],
    train_times: &[Vec<i64>],
    num_items: usize,
) -> ItemWeights {
    match kind {
        ClassicKind::Itemknn => itemknn::fit(train_items, num_items, &spec.itemknn),
        ClassicKind::Rp3beta => rp3beta::fit(train_items, num_items, &spec.rp3beta),
        ClassicKind::Timeknn => timeknn::fit(train_items, train_times, num_items, &spec.timeknn),
    }
}
