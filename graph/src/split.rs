//! Evaluation splits: which rows train, and which (user, item) pairs are test
//! and validation targets. Pairs that also occur in training are dropped from
//! the targets and counted, so no target is a training edge.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{GraphError, Result};
use crate::idmap::IdInterner;
use crate::ingest::log::{open_csv, read_header, ColumnResolver};
use crate::ingest::parse_u64;
use crate::schema::Behavior;
use crate::spec::SplitSpec;

/// One behaviour event with dense ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Dense user id.
    pub user: u32,
    /// Dense item id.
    pub item: u32,
    /// Behaviour.
    pub behavior: Behavior,
    /// Unix seconds.
    pub ts: i64,
}

/// A labelled pair for AUC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabeledPair {
    /// Dense user id.
    pub user: u32,
    /// Dense item id.
    pub item: u32,
    /// 1 for an interaction, 0 for a negative.
    pub label: u8,
}

/// The result of splitting.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Per event: whether it is a training row.
    pub train: Vec<bool>,
    /// Test targets (user, item), unique, none of them a training pair.
    pub test: Vec<(u32, u32)>,
    /// Validation targets, likewise.
    pub valid: Vec<(u32, u32)>,
    /// Labelled pairs for AUC, as given.
    pub labeled: Vec<LabeledPair>,
    /// Figures about the split.
    pub summary: SplitSummary,
    /// With `valid_last`: per event, whether it trains at test time (the
    /// training rows plus the validation rows).
    pub test_time_train: Option<Vec<bool>>,
}

/// Figures about a split, stored in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// `none`, `time_cut`, `random`, `leave_last_out` or `test_file`.
    pub kind: String,
    /// Training rows.
    pub train_rows: u64,
    /// Rows held out of training.
    pub heldout_rows: u64,
    /// Time cut (Unix seconds) for `time_cut`.
    pub cut: Option<i64>,
    /// Test targets kept.
    pub test_pairs: u64,
    /// Validation targets kept.
    pub valid_pairs: u64,
    /// Candidate targets dropped because the pair occurs in training.
    pub dropped_seen_in_train: u64,
    /// Labelled AUC pairs.
    pub labeled_pairs: u64,
    /// The validation pairs were cut out of the training log (`valid_last`),
    /// so at test time they are part of each user's history.
    #[serde(default)]
    pub valid_in_history: bool,
}

fn key(user: u32, item: u32) -> u64 {
    u64::from(user) << 32 | u64::from(item)
}

/// A uniform draw in [0, 1) from a seed and a pair key (SplitMix64), so a
/// pair's fate does not depend on row order.
fn unit_hash(seed: u64, key: u64) -> f64 {
    let mut z = seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Keeps unique targets not seen in training; returns the number dropped.
fn keep_unseen(candidates: &[(u32, u32)], train_pairs: &HashSet<u64>) -> (Vec<(u32, u32)>, u64) {
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let mut dropped = 0;
    for &(u, i) in candidates {
        if !seen.insert(key(u, i)) {
            continue;
        }
        if train_pairs.contains(&key(u, i)) {
            dropped += 1;
        } else {
            kept.push((u, i));
        }
    }
    (kept, dropped)
}

fn train_pairs(events: &[Event], train: &[bool]) -> HashSet<u64> {
    events.iter().zip(train).filter(|(_, &t)| t).map(|(e, _)| key(e.user, e.item)).collect()
}

/// Each user's last row of `behavior` among the rows `eligible` accepts
/// (the later row wins a tie), as (ts, item).
fn last_rows(
    events: &[Event],
    behavior: Behavior,
    num_users: usize,
    eligible: impl Fn(usize, &Event) -> bool,
) -> Vec<Option<(i64, u32)>> {
    let mut last: Vec<Option<(i64, u32)>> = vec![None; num_users];
    for (k, e) in events.iter().enumerate() {
        if e.behavior != behavior || !eligible(k, e) {
            continue;
        }
        let slot = &mut last[e.user as usize];
        if slot.is_none_or(|(ts, _)| e.ts >= ts) {
            *slot = Some((e.ts, e.item));
        }
    }
    last
}

/// Holds each user's `last` pair out of training, with every later row of
/// the user, so nothing from that moment on is known when the pair is
/// scored; returns the pairs as targets.
fn hold_out(events: &[Event], train: &mut [bool], last: &[Option<(i64, u32)>]) -> Vec<(u32, u32)> {
    for (e, train) in events.iter().zip(train.iter_mut()) {
        if last[e.user as usize].is_some_and(|(ts, item)| item == e.item || e.ts > ts) {
            *train = false;
        }
    }
    last.iter().enumerate().filter_map(|(u, l)| l.map(|(_, item)| (u as u32, item))).collect()
}

/// The leave-one-out validation split: each test user's last training row
/// of `behavior` becomes a validation target, held out as a test pair is.
fn hold_out_last(events: &[Event], out: &mut Split, behavior: Behavior, num_users: usize) {
    let mut tested = vec![false; num_users];
    for &(u, _) in &out.test {
        if let Some(t) = tested.get_mut(u as usize) {
            *t = true;
        }
    }
    out.test_time_train = Some(out.train.clone());
    let train = &out.train;
    let last = last_rows(events, behavior, num_users, |k, e| {
        train[k] && tested.get(e.user as usize).copied().unwrap_or(false)
    });
    out.valid = hold_out(events, &mut out.train, &last);
    out.summary.valid_in_history = true;
}

/// Splits `events` as `spec` says. The test file may name users and items
/// the log never saw; they are interned as new (cold) nodes.
///
/// # Errors
/// Fails on a malformed test file or a split that leaves nothing to train on.
pub fn split(
    spec: &SplitSpec,
    events: &[Event],
    users: &mut IdInterner,
    items: &mut IdInterner,
    strict: bool,
) -> Result<Split> {
    let mut out = Split { train: vec![true; events.len()], ..Split::default() };
    match spec {
        SplitSpec::None => out.summary.kind = "none".into(),
        SplitSpec::TimeCut { at, fraction, test_behaviors, valid_fraction } => {
            out.summary.kind = "time_cut".into();
            let (min, max) =
                events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.ts), hi.max(e.ts)));
            let at_fraction = |f: f64| min + ((max - min) as f64 * f).round() as i64;
            let cut = match (at, fraction) {
                (Some(at), _) => *at,
                (None, Some(f)) => at_fraction(*f),
                (None, None) => {
                    return Err(GraphError::Config("split: time_cut needs `at` or `fraction`".into()))
                }
            };
            let valid_cut = valid_fraction.map(at_fraction).unwrap_or(cut);
            if valid_cut > cut {
                return Err(GraphError::Config(format!(
                    "split: the validation period starts at {valid_cut}, after the test cut {cut}"
                )));
            }
            out.summary.cut = Some(cut);
            let (mut test_candidates, mut valid_candidates) = (Vec::new(), Vec::new());
            for (e, train) in events.iter().zip(out.train.iter_mut()) {
                if e.ts < valid_cut {
                    continue;
                }
                *train = false;
                if test_behaviors.is_empty() || test_behaviors.contains(&e.behavior) {
                    if e.ts >= cut { &mut test_candidates } else { &mut valid_candidates }
                        .push((e.user, e.item));
                }
            }
            let seen = train_pairs(events, &out.train);
            let (test, dropped_test) = keep_unseen(&test_candidates, &seen);
            let (valid, dropped_valid) = keep_unseen(&valid_candidates, &seen);
            out.test = test;
            out.valid = valid;
            out.summary.dropped_seen_in_train = dropped_test + dropped_valid;
        }
        SplitSpec::Random { fraction, valid_fraction, test_behaviors, seed } => {
            out.summary.kind = "random".into();
            let valid_share = valid_fraction.unwrap_or(0.0);
            let (mut test_candidates, mut valid_candidates) = (Vec::new(), Vec::new());
            let mut held = HashSet::new();
            for e in
                events.iter().filter(|e| test_behaviors.is_empty() || test_behaviors.contains(&e.behavior))
            {
                let draw = unit_hash(*seed, key(e.user, e.item));
                if draw < fraction + valid_share {
                    if draw < *fraction { &mut test_candidates } else { &mut valid_candidates }
                        .push((e.user, e.item));
                    held.insert(key(e.user, e.item));
                }
            }
            for (e, train) in events.iter().zip(out.train.iter_mut()) {
                if held.contains(&key(e.user, e.item)) {
                    *train = false;
                }
            }
            let seen = train_pairs(events, &out.train);
            (out.test, _) = keep_unseen(&test_candidates, &seen);
            (out.valid, _) = keep_unseen(&valid_candidates, &seen);
        }
        SplitSpec::LeaveLastOut { behavior, valid_last } => {
            out.summary.kind = "leave_last_out".into();
            let last = last_rows(events, *behavior, users.len(), |_, _| true);
            out.test = hold_out(events, &mut out.train, &last);
            if let Some(b) = valid_last {
                hold_out_last(events, &mut out, *b, users.len());
            }
        }
        SplitSpec::TestFile {
            path,
            user,
            item,
            label,
            split_column,
            test_values,
            valid_values,
            valid_last,
        } => {
            if valid_last.is_some() && !valid_values.is_empty() {
                return Err(GraphError::Config(
                    "split: give one of valid_last and valid_values, not both".into(),
                ));
            }
            out.summary.kind = "test_file".into();
            let mut test_candidates = Vec::new();
            let mut valid_candidates = Vec::new();
            let mut reader = open_csv(path, b',')?;
            let resolver = ColumnResolver { file: path, header: Some(read_header(&mut reader, path)?) };
            let user_ix = resolver.resolve(user, "user")?;
            let item_ix = resolver.resolve(item, "item")?;
            let label_ix = label.as_ref().map(|c| resolver.resolve(c, "label")).transpose()?;
            let split_ix = split_column.as_ref().map(|c| resolver.resolve(c, "split")).transpose()?;
            let mut record = csv::ByteRecord::new();
            let mut line = 1u64;
            let mut rows = 0u64;
            let bad = |line, reason: String| GraphError::BadRow { file: path.clone(), line, reason };
            while reader.read_byte_record(&mut record).map_err(|e| bad(line + 1, e.to_string()))? {
                line += 1;
                let parsed = (|| -> std::result::Result<_, &'static str> {
                    let get = |i: usize| record.get(i).unwrap_or_default();
                    let u = parse_u64(get(user_ix)).ok_or("bad user id")?;
                    let it = parse_u64(get(item_ix)).ok_or("bad item id")?;
                    let l = match label_ix {
                        None => 1,
                        Some(i) => match get(i).trim_ascii() {
                            b"0" => 0u8,
                            b"1" => 1u8,
                            _ => return Err("bad label (expected 0 or 1)"),
                        },
                    };
                    let part = split_ix.map(|i| String::from_utf8_lossy(get(i).trim_ascii()).into_owned());
                    Ok((u, it, l, part))
                })();
                let (u, it, l, part) = match parsed {
                    Ok(v) => v,
                    Err(reason) if strict => return Err(bad(line, reason.into())),
                    Err(_) => continue,
                };
                rows += 1;
                let (u, it) = (users.intern(u), items.intern(it));
                let is_test = part.as_ref().is_none_or(|p| test_values.contains(p));
                let is_valid = part.as_ref().is_some_and(|p| valid_values.contains(p));
                if is_test {
                    if label_ix.is_some() {
                        out.labeled.push(LabeledPair { user: u, item: it, label: l });
                    }
                    if l == 1 {
                        test_candidates.push((u, it));
                    }
                } else if is_valid && l == 1 {
                    valid_candidates.push((u, it));
                }
            }
            if rows == 0 {
                return Err(GraphError::Empty { file: path.clone(), reason: "no usable test pairs".into() });
            }
            let seen = train_pairs(events, &out.train);
            let (test, dropped_test) = keep_unseen(&test_candidates, &seen);
            let (valid, dropped_valid) = keep_unseen(&valid_candidates, &seen);
            out.test = test;
            out.valid = valid;
            out.summary.dropped_seen_in_train = dropped_test + dropped_valid;
            if let Some(b) = valid_last {
                hold_out_last(events, &mut out, *b, users.len());
            }
        }
    }
    out.summary.train_rows = out.train.iter().filter(|&&t| t).count() as u64;
    out.summary.heldout_rows = events.len() as u64 - out.summary.train_rows;
    out.summary.test_pairs = out.test.len() as u64;
    out.summary.valid_pairs = out.valid.len() as u64;
    out.summary.labeled_pairs = out.labeled.len() as u64;
    if out.summary.train_rows == 0 {
        return Err(GraphError::Config("split: no training rows are left".into()));
    }
    Ok(out)
}
