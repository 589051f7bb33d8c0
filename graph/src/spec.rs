//! The graph build specification (TOML): the log and its layout, side
//! tables, the evaluation split and the edge options.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{GraphError, Result};
use crate::ingest::{Column, ContentSpec, ItemTableSpec, LogFormat, Preset, UserTableSpec};
use crate::schema::Behavior;

/// Everything `coordinator graph build` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The behaviour log.
    pub log: LogSpec,
    /// Optional item attribute table.
    #[serde(default)]
    pub items: Option<ItemTableSpec>,
    /// Optional user profile table.
    #[serde(default)]
    pub users: Option<UserTableSpec>,
    /// Optional item content vectors.
    #[serde(default)]
    pub content: Option<ContentSpec>,
    /// How to split off evaluation pairs.
    #[serde(default)]
    pub split: SplitSpec,
    /// Edge weighting and co-occurrence options.
    #[serde(default)]
    pub edges: EdgeSpec,
    /// A graph directory whose id maps this graph extends: every node of
    /// it keeps its dense id (users, items, categories, shops and brands
    /// first, in its order), and nodes new here follow. A model trained on
    /// it then resumes with its rows where they were (incremental training
    /// on appended logs).
    #[serde(default)]
    pub extends: Option<PathBuf>,
}

/// The behaviour log and its layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// The CSV file.
    pub path: PathBuf,
    /// A known layout, or `generic` with `format`.
    #[serde(default = "default_preset")]
    pub preset: Preset,
    /// The column mapping (required for `generic`, refused otherwise).
    #[serde(default)]
    pub format: Option<LogFormat>,
}

fn default_preset() -> Preset {
    Preset::Generic
}

/// How evaluation pairs are separated from training rows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitSpec {
    /// Every row trains; no evaluation pairs.
    #[default]
    None,
    /// Rows before the cut train; pairs after it are test targets.
    TimeCut {
        /// Cut as Unix seconds.
        #[serde(default)]
        at: Option<i64>,
        /// Cut as a fraction of the log's time range, in (0, 1).
        #[serde(default)]
        fraction: Option<f64>,
        /// Behaviours whose test-period pairs are targets (all when empty).
        #[serde(default)]
        test_behaviors: Vec<Behavior>,
        /// Start of a validation period, as a fraction of the log's time
        /// range: rows from there to the cut are held out of training and
        /// their pairs are validation targets. None = no validation set.
        #[serde(default)]
        valid_fraction: Option<f64>,
    },
    /// A random share of the distinct (user, item) pairs are test targets
    /// (and another share validation targets); every row of a held-out pair
    /// leaves training. Needs no times, so it suits (user, item) logs.
    Random {
        /// Share of the pairs held out as test targets, in (0, 1).
        fraction: f64,
        /// Share of the pairs held out as validation targets, in [0, 1 −
        /// fraction). None = no validation set.
        #[serde(default)]
        valid_fraction: Option<f64>,
        /// Behaviours whose pairs can be targets (all when empty); the other
        /// pairs always train.
        #[serde(default)]
        test_behaviors: Vec<Behavior>,
        /// Seed of the draw (the same seed holds out the same pairs).
        #[serde(default)]
        seed: u64,
    },
    /// Each user's last row of `behavior` is the test pair.
    LeaveLastOut {
        /// The behaviour held out.
        behavior: Behavior,
        /// See [`SplitSpec::TestFile`]'s `valid_last`.
        #[serde(default)]
        valid_last: Option<Behavior>,
    },
    /// Test (and validation) pairs come from a file; every log row trains.
    TestFile {
        /// CSV with a header.
        path: PathBuf,
        /// User id column.
        user: Column,
        /// Item id column.
        item: Column,
        /// Optional 0/1 label column, for AUC pairs.
        #[serde(default)]
        label: Option<Column>,
        /// Optional column that says which split a row is in.
        #[serde(default)]
        split_column: Option<Column>,
        /// Values of `split_column` that are test rows.
        #[serde(default)]
        test_values: Vec<String>,
        /// Values of `split_column` that are validation rows.
        #[serde(default)]
        valid_values: Vec<String>,
        /// A leave-one-out validation split: each test user's last training
        /// row of this behaviour becomes a validation target, and every row
        /// of that (user, item) pair and every later row of the user leave
        /// training. At test time they are part of the user's history again
        /// (the graph at test time). Excludes `valid_values`.
        #[serde(default)]
        valid_last: Option<Behavior>,
    },
}

impl SplitSpec {
    /// The name of the part of this split that needs row times, if any:
    /// a time cut, and the "last row" of leave-last-out and `valid_last`.
    pub fn time_based(&self) -> Option<&'static str> {
        match self {
            SplitSpec::TimeCut { .. } => Some("kind = \"time_cut\""),
            SplitSpec::LeaveLastOut { .. } => Some("kind = \"leave_last_out\""),
            SplitSpec::TestFile { valid_last: Some(_), .. } => Some("valid_last"),
            SplitSpec::None | SplitSpec::Random { .. } | SplitSpec::TestFile { .. } => None,
        }
    }
}

/// Edge weighting and co-occurrence options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeSpec {
    /// Half-life of the time-decayed weight, in days.
    pub half_life_days: f64,
    /// Co-view: a pair is two items viewed by a user within this many seconds…
    pub coview_window_secs: i64,
    /// …and at most this many events apart.
    pub coview_max_gap: usize,
    /// Co-purchase window in seconds.
    pub cobuy_window_secs: i64,
    /// Co-purchase: at most this many purchases apart.
    pub cobuy_max_gap: usize,
    /// Partners kept per item for each co-occurrence relation.
    pub cooc_top_k: usize,
    /// Score used to rank partners.
    pub cooc_score: CoocScore,
}

/// How co-occurrence partners are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoocScore {
    /// Number of co-occurrences.
    Count,
    /// Pointwise mutual information (favours specific partners over hot items).
    Pmi,
}

impl Default for EdgeSpec {
    fn default() -> Self {
        Self {
            half_life_days: 7.0,
            coview_window_secs: 3600,
            coview_max_gap: 3,
            cobuy_window_secs: 7 * 86_400,
            cobuy_max_gap: 5,
            cooc_top_k: 20,
            cooc_score: CoocScore::Count,
        }
    }
}

impl BuildSpec {
    /// A spec for a preset log with no side tables and no split.
    pub fn for_preset(path: PathBuf, preset: Preset) -> Self {
        Self {
            log: LogSpec { path, preset, format: None },
            items: None,
            users: None,
            content: None,
            split: SplitSpec::None,
            edges: EdgeSpec::default(),
            extends: None,
        }
    }

    /// Reads a TOML spec; relative paths are taken from the file's folder.
    ///
    /// # Errors
    /// Fails on I/O, TOML or validation errors, naming the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(GraphError::io("read", path))?;
        Self::parse(&text, path)
    }

    /// Parses the TOML `text` of the spec file at `path` (named in errors;
    /// relative paths are taken from its folder).
    ///
    /// # Errors
    /// Fails on TOML or validation errors, naming the field.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut spec: BuildSpec =
            toml::from_str(text).map_err(|e| GraphError::Config(format!("{}: {e}", path.display())))?;
        spec.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        spec.validate()?;
        Ok(spec)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.log.path);
        if let Some(items) = &mut self.items {
            fix(&mut items.path);
        }
        if let Some(users) = &mut self.users {
            fix(&mut users.path);
        }
        if let Some(content) = &mut self.content {
            fix(&mut content.path);
            if let Some(ids) = &mut content.ids {
                fix(ids);
            }
        }
        if let SplitSpec::TestFile { path, .. } = &mut self.split {
            fix(path);
        }
        if let Some(extends) = &mut self.extends {
            fix(extends);
        }
    }

    /// The effective log layout.
    ///
    /// # Errors
    /// Fails when `generic` has no `log.format`, or a preset has one.
    pub fn log_format(&self) -> Result<LogFormat> {
        match (LogFormat::preset(self.log.preset), &self.log.format) {
            (Some(format), None) => Ok(format),
            (None, Some(format)) => Ok(format.clone()),
            (None, None) => {
                Err(GraphError::Config("log.format: the generic preset needs a column mapping".into()))
            }
            (Some(_), Some(_)) => {
                Err(GraphError::Config("log.format: only the generic preset takes a column mapping".into()))
            }
        }
    }

    /// Checks the spec, naming the bad field.
    ///
    /// # Errors
    /// Returns `GraphError::Config` naming the field.
    pub fn validate(&self) -> Result<()> {
        let format = self.log_format()?;
        format.validate()?;
        if !format.has_time() {
            if let Some(kind) = self.split.time_based() {
                return Err(GraphError::Config(format!(
                    "split: {kind} orders rows by time, but the log has no time column (log.format.time); \
                     hold out random pairs (kind = \"random\"), give the test pairs in a file (kind = \"test_file\", \
                     without valid_last), or add a time column"
                )));
            }
        }
        let e = &self.edges;
        if !(e.half_life_days.is_finite() && e.half_life_days > 0.0) {
            return Err(GraphError::Config(format!(
                "edges.half_life_days must be > 0, got {}",
                e.half_life_days
            )));
        }
        if e.coview_window_secs < 0 || e.cobuy_window_secs < 0 {
            return Err(GraphError::Config("edges.*_window_secs must be ≥ 0".into()));
        }
        if e.cooc_top_k == 0 {
            return Err(GraphError::Config("edges.cooc_top_k must be ≥ 1".into()));
        }
        match &self.split {
            SplitSpec::TimeCut { at, fraction, valid_fraction, .. } => {
                match (at, fraction) {
                    (Some(_), None) => {}
                    (None, Some(f)) if *f > 0.0 && *f < 1.0 => {}
                    (None, Some(f)) => {
                        return Err(GraphError::Config(format!("split.fraction must be in (0, 1), got {f}")))
                    }
                    _ => {
                        return Err(GraphError::Config(
                            "split: time_cut takes exactly one of `at` or `fraction`".into(),
                        ))
                    }
                }
                if let Some(v) = valid_fraction {
                    if !(*v > 0.0 && *v < fraction.unwrap_or(1.0)) {
                        return Err(GraphError::Config(format!(
                            "split.valid_fraction must be in (0, split.fraction), got {v}"
                        )));
                    }
                }
            }
            SplitSpec::Random { fraction, valid_fraction, .. } => {
                if !(*fraction > 0.0 && *fraction < 1.0) {
                    return Err(GraphError::Config(format!(
                        "split.fraction must be in (0, 1), got {fraction}"
                    )));
                }
                if let Some(v) = valid_fraction {
                    if !(*v >= 0.0 && v + fraction < 1.0) {
                        return Err(GraphError::Config(format!(
                            "split.valid_fraction must be ≥ 0 with valid_fraction + fraction < 1, got {v}"
                        )));
                    }
                }
            }
            SplitSpec::TestFile { split_column, test_values, .. } => {
                if split_column.is_some() && test_values.is_empty() {
                    return Err(GraphError::Config(
                        "split.test_values: needed with split.split_column".into(),
                    ));
                }
            }
            SplitSpec::None | SplitSpec::LeaveLastOut { .. } => {}
        }
        Ok(())
    }
}
