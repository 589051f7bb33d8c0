//! The ranker after retrieval (`[ranker]`): candidate lists from the main
//! model's embeddings, a DeepFM-style model trained on them with libtorch,
//! and the scores of retrieval plus ranker for the evaluation. The features
//! and the scoring at serving time are `tessera_bundle::rank`'s, so the
//! evaluation scores what the recommend service serves.

pub mod deepfm;
pub mod lists;
pub mod scores;
pub mod train;

pub use scores::RankedScores;
pub use train::train;
