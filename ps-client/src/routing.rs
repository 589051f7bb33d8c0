//! Row placement: the one hash that maps (table, id) to a shard, used by the
//! servers and the client alike, and the per-job namespace of PS names.

/// splitmix64 finaliser: a fast, well-mixing 64-bit hash step.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of a table name.
pub fn table_hash(table: &str) -> u64 {
    table.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The shard of row (table, id).
pub fn shard_of(table: &str, id: u64, num_shards: u32) -> u32 {
    Router::new(table, num_shards).shard_of(id)
}

/// The prefix of a job's PS names: `j` and 48 bits of a stable hash of the
/// job id, so jobs sharing the PS shards never share a table or a dense
/// weight, while a restarted worker of the same job finds its own. It is
/// also the job's fencing scope on the shards.
pub fn job_namespace(job: &str) -> String {
    format!("j{:012x}", table_hash(job) & 0xffff_ffff_ffff)
}

/// [`shard_of`] for many ids of one table: the table's hash is taken once.
#[derive(Debug, Clone, Copy)]
pub struct Router {
    table: u64,
    num_shards: u64,
}

impl Router {
    /// The router of `table` over `num_shards` shards.
    pub fn new(table: &str, num_shards: u32) -> Self {
        Self { table: table_hash(table), num_shards: u64::from(num_shards.max(1)) }
    }

    /// The shard of row `id`.
    pub fn shard_of(&self, id: u64) -> u32 {
        (mix64(self.table ^ mix64(id)) % self.num_shards) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn routing_is_stable_and_in_range(id in any::<u64>(), n in 1u32..64) {
            let s = shard_of("item", id, n);
            prop_assert!(s < n);
            prop_assert_eq!(s, shard_of("item", id, n));
        }
    }

    #[test]
    fn job_namespaces_are_stable_distinct_and_valid_table_names() {
        let (a, b) = (job_namespace("ecomm-1795924652"), job_namespace("ecomm-1795924653"));
        assert_eq!(a, job_namespace("ecomm-1795924652"), "a restarted worker finds its job's names");
        assert_ne!(a, b, "two jobs never share a table");
        for ns in [a, b] {
            let table = format!("{ns}_lightgcn_category");
            assert!(table.len() <= 64, "{table} fits the PS name limit");
            assert!(
                ns.starts_with('j')
                    && ns[1..].bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            );
        }
    }

    #[test]
    fn routing_spreads_rows() {
        let mut counts = [0u32; 4];
        for id in 0..40_000 {
            counts[shard_of("user", id, 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    }
}
