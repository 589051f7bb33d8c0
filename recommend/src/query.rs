//! Parsing of request parameters: ids in the path and the query string of
//! each route. Anything unknown, repeated, out of range or malformed is
//! refused with a message that names the parameter.

use crate::error::ApiError;

/// The largest `k` served.
pub const MAX_K: usize = 1_000;
/// The largest candidate set retrieved.
pub const MAX_CANDIDATES: usize = 10_000;
/// `k` when not given.
pub const DEFAULT_K: usize = 20;
/// `candidates` when not given.
pub const DEFAULT_CANDIDATES: usize = 200;

/// Parameters of `GET /v1/users/{id}/recommendations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommend {
    /// Items returned.
    pub k: usize,
    /// Whether the user's training items are left out.
    pub exclude_seen: bool,
    /// Items retrieved before ranking (at least `k`).
    pub candidates: usize,
    /// Exact search instead of the index.
    pub exact: bool,
    /// Re-rank the candidates with the bundle's ranker, when it has one.
    pub rank: bool,
}

/// Parameters of `GET /v1/items/{id}/similar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Similar {
    /// Items returned.
    pub k: usize,
    /// Exact search instead of the index.
    pub exact: bool,
}

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

/// A `kind` id from the path: an unsigned integer.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the id.
pub fn id(kind: &str, raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| bad(format!("{kind} id {raw:?} is not an unsigned integer")))
}

/// The `key=value` pairs of `raw`, each key at most once and among `known`.
fn pairs<'a>(raw: Option<&'a str>, known: &[&str]) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if !known.contains(&key) {
            return Err(bad(format!("unknown query parameter {key:?}; known: {}", known.join(", "))));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!("query parameter {key:?} given twice")));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn number(key: &str, value: &str) -> Result<usize, ApiError> {
    value.parse().map_err(|_| bad(format!("{key} = {value:?} is not a whole number")))
}

fn check(key: &str, n: usize, min: usize, max: usize) -> Result<usize, ApiError> {
    if n < min || n > max {
        return Err(bad(format!("{key} = {n} is out of range: {min}..={max}")));
    }
    Ok(n)
}

fn flag(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(format!("{key} = {value:?} is not true or false"))),
    }
}

impl Recommend {
    /// Checked parameters; `None` takes the default (`candidates`: the
    /// larger of its default and `k`). HTTP and gRPC both come through here.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter.
    pub fn new(
        k: Option<usize>,
        exclude_seen: bool,
        candidates: Option<usize>,
        exact: bool,
        rank: bool,
    ) -> Result<Self, ApiError> {
        let k = k.map_or(Ok(DEFAULT_K), |k| check("k", k, 1, MAX_K))?;
        let candidates = match candidates {
            Some(c) => {
                let c = check("candidates", c, 1, MAX_CANDIDATES)?;
                if c < k {
                    return Err(bad(format!("candidates = {c} is fewer than k = {k}")));
                }
                c
            }
            None => DEFAULT_CANDIDATES.max(k),
        };
        Ok(Self { k, exclude_seen, candidates, exact, rank })
    }
}

impl Similar {
    /// Checked parameters; `None` takes the default `k`.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the parameter.
    pub fn new(k: Option<usize>, exact: bool) -> Result<Self, ApiError> {
        Ok(Self { k: k.map_or(Ok(DEFAULT_K), |k| check("k", k, 1, MAX_K))?, exact })
    }
}

/// The parameters of a recommendation request.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the parameter.
pub fn recommend(raw: Option<&str>) -> Result<Recommend, ApiError> {
    let (mut k, mut exclude_seen, mut candidates, mut exact, mut rank) = (None, true, None, false, true);
    for (key, value) in pairs(raw, &["k", "exclude_seen", "candidates", "exact", "rank"])? {
        match key {
            "k" => k = Some(number(key, value)?),
            "exclude_seen" => exclude_seen = flag(key, value)?,
            "candidates" => candidates = Some(number(key, value)?),
            "rank" => rank = flag(key, value)?,
            _ => exact = flag(key, value)?,
        }
    }
    Recommend::new(k, exclude_seen, candidates, exact, rank)
}

/// The parameters of a similar-items request.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the parameter.
pub fn similar(raw: Option<&str>) -> Result<Similar, ApiError> {
    let (mut k, mut exact) = (None, false);
    for (key, value) in pairs(raw, &["k", "exact"])? {
        match key {
            "k" => k = Some(number(key, value)?),
            _ => exact = flag(key, value)?,
        }
    }
    Similar::new(k, exact)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn msg(r: Result<Recommend, ApiError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn defaults_values_and_refusals() {
        assert_eq!(
            recommend(None).unwrap(),
            Recommend { k: 20, exclude_seen: true, candidates: 200, exact: false, rank: true }
        );
        let q = recommend(Some("k=5&exclude_seen=false&candidates=50&exact=1&rank=false")).unwrap();
        assert_eq!(q, Recommend { k: 5, exclude_seen: false, candidates: 50, exact: true, rank: false });
        // k above the default candidates raises them.
        assert_eq!(recommend(Some("k=500")).unwrap().candidates, 500);
        assert!(msg(recommend(Some("k=0"))).contains("k = 0 is out of range: 1..=1000"));
        assert!(msg(recommend(Some("k=1001"))).contains("out of range"));
        assert!(msg(recommend(Some("k=ten"))).contains("k = \"ten\" is not a whole number"));
        assert!(msg(recommend(Some("k=5&k=6"))).contains("given twice"));
        assert!(msg(recommend(Some("top=5"))).contains("unknown query parameter \"top\""));
        assert!(msg(recommend(Some("exclude_seen=maybe"))).contains("not true or false"));
        assert!(msg(recommend(Some("k=30&candidates=10"))).contains("candidates = 10 is fewer than k = 30"));
        assert_eq!(similar(Some("k=3")).unwrap(), Similar { k: 3, exact: false });
        assert!(similar(Some("exclude_seen=true")).is_err());
        assert_eq!(id("user", "42").unwrap(), 42);
        assert!(id("user", "-1").unwrap_err().to_string().contains("user id \"-1\""));
    }

    proptest! {
        #[test]
        fn any_query_string_parses_or_is_refused_with_a_message(raw in ".{0,80}") {
            match recommend(Some(&raw)) {
                Ok(q) => prop_assert!((1..=MAX_K).contains(&q.k) && q.candidates >= q.k && q.candidates <= MAX_CANDIDATES.max(MAX_K)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            let _ = similar(Some(&raw));
            let _ = id("item", &raw);
        }

        #[test]
        fn every_valid_k_and_candidates_round_trip(k in 1usize..=MAX_K, extra in 0usize..5_000, seen: bool) {
            let c = (k + extra).min(MAX_CANDIDATES);
            let q = recommend(Some(&format!("k={k}&candidates={c}&exclude_seen={seen}"))).unwrap();
            prop_assert_eq!(q, Recommend { k, exclude_seen: seen, candidates: c, exact: false, rank: true });
        }
    }
}
