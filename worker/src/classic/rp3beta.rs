//! RP3beta (Paudel et al., 2017): the three-step walk item → user → item,
//! w(i → j) = Σ_{u ∈ U_i ∩ U_j} (1/|U_i|)^α · (1/|I_u|)^α, divided by
//! |U_j|^β; each item i keeps its k largest, and a user's score for j sums
//! w(i → j) over the user's items i.

use tessera_job::classic::Rp3betaSpec;

use super::weights::{co_occurrence, item_users, top_k, ItemWeights};

/// Fits RP3beta on `train_items` (per user, sorted unique items).
pub fn fit(train_items: &[Vec<u32>], num_items: usize, spec: &Rp3betaSpec) -> ItemWeights {
    let users = item_users(train_items, num_items);
    let alpha = spec.alpha as f32;
    let step_in: Vec<f32> = users.iter().map(|u| (1.0 / u.len().max(1) as f32).powf(alpha)).collect();
    let step_out: Vec<f32> = train_items.iter().map(|i| (1.0 / i.len().max(1) as f32).powf(alpha)).collect();
    let penalty: Vec<f32> = users.iter().map(|u| (u.len().max(1) as f32).powf(spec.beta as f32)).collect();
    let k = spec.neighbours as usize;
    let out = co_occurrence(
        train_items,
        &users,
        |v| step_in[v.a as usize] * step_out[v.user as usize],
        |_, weights| {
            for (j, w) in weights.iter_mut() {
                *w /= penalty[*j as usize];
            }
            top_k(weights, k)
        },
    );
    ItemWeights::from_outgoing(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_probabilities_match_a_hand_computation() {
        // u0 {0, 1}, u1 {0, 1, 2}, u2 {2, 3}.
        let m = vec![vec![0, 1], vec![0, 1, 2], vec![2, 3]];
        let w = fit(&m, 4, &Rp3betaSpec { neighbours: 10, alpha: 1.0, beta: 0.0 });
        let get = |i: usize, j: u32| w.out[i].iter().find(|e| e.0 == j).map_or(0.0, |e| e.1);
        // 0 → 1: via u0 (1/2 · 1/2) and u1 (1/2 · 1/3).
        assert!((get(0, 1) - (0.25 + 1.0 / 6.0)).abs() < 1e-6);
        // 3 → 2: via u2 only (1/1 · 1/2).
        assert!((get(3, 2) - 0.5).abs() < 1e-6);
        // β = 1 divides by the destination's degree (|U_2| = 2).
        let wb = fit(&m, 4, &Rp3betaSpec { neighbours: 10, alpha: 1.0, beta: 1.0 });
        let got = wb.out[3].iter().find(|e| e.0 == 2).map_or(0.0, |e| e.1);
        assert!((got - 0.25).abs() < 1e-6);
    }
}
