//! Column mappings of behaviour logs: the `taobao` and `tmall` presets and the
//! `generic` TOML mapping.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{GraphError, Result};
use crate::schema::Behavior;
use crate::timefmt::TimeFormat;

/// A column, by 0-based index or by header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Header name (needs `header = true`).
    Name(String),
}

/// A known log layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Taobao UserBehavior: `user_id,item_id,category_id,behavior,timestamp`,
    /// no header, behaviours pv/cart/fav/buy, Unix seconds.
    Taobao,
    /// IJCAI-15 `user_log_format1`: `user_id,item_id,cat_id,seller_id,
    /// brand_id,time_stamp,action_type` with a header, MMDD dates of 2015,
    /// actions 0 click, 1 cart, 2 buy, 3 fav.
    Tmall,
    /// A column mapping given in TOML.
    Generic,
}

/// Where each field of a behaviour log is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFormat {
    /// Whether the first line is a header.
    #[serde(default)]
    pub header: bool,
    /// Field delimiter, one ASCII character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// User id column (unsigned integers).
    pub user: Column,
    /// Item id column (unsigned integers).
    pub item: Column,
    /// Behaviour column. Without it every row is `default_behavior`.
    #[serde(default)]
    pub behavior: Option<Column>,
    /// Behaviour of rows when there is no behaviour column.
    #[serde(default)]
    pub default_behavior: Option<Behavior>,
    /// Label → behaviour, for codes such as `0`→click. Labels not listed fall
    /// back to the usual names (pv, clk, cart, fav, buy).
    #[serde(default)]
    pub behavior_map: BTreeMap<String, Behavior>,
    /// Time column. Without one (a log of (user, item, behaviour) rows),
    /// rows carry no timestamp: the graph has no time decay and no temporal
    /// encoding, and time-based splits are refused.
    #[serde(default)]
    pub time: Option<Column>,
    /// How the time column is written.
    #[serde(default = "default_time_format")]
    pub time_format: TimeFormat,
    /// Optional category id column.
    #[serde(default)]
    pub category: Option<Column>,
    /// Optional shop (seller) id column.
    #[serde(default)]
    pub shop: Option<Column>,
    /// Optional brand id column.
    #[serde(default)]
    pub brand: Option<Column>,
    /// Attribute values that mean "unknown" (for category, shop, brand).
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
}

fn default_delimiter() -> char {
    ','
}

fn default_time_format() -> TimeFormat {
    TimeFormat::UnixSeconds
}

/// Attribute values that mean "unknown" unless a mapping says otherwise.
pub fn default_null_values() -> Vec<String> {
    vec![String::new(), "-1".to_owned(), "\\N".to_owned(), "NULL".to_owned()]
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "taobao" => Ok(Preset::Taobao),
            "tmall" => Ok(Preset::Tmall),
            "generic" => Ok(Preset::Generic),
            other => Err(format!("unknown preset {other:?} (taobao, tmall or generic)")),
        }
    }
}

impl LogFormat {
    /// The layout of a preset; `None` for `generic`.
    pub fn preset(preset: Preset) -> Option<Self> {
        let base = |user, item, time| LogFormat {
            header: false,
            delimiter: ',',
            user: Column::Index(user),
            item: Column::Index(item),
            behavior: None,
            default_behavior: None,
            behavior_map: BTreeMap::new(),
            time: Some(Column::Index(time)),
            time_format: TimeFormat::UnixSeconds,
            category: None,
            shop: None,
            brand: None,
            null_values: default_null_values(),
        };
        match preset {
            Preset::Taobao => Some(LogFormat {
                behavior: Some(Column::Index(3)),
                category: Some(Column::Index(2)),
                ..base(0, 1, 4)
            }),
            Preset::Tmall => Some(LogFormat {
                header: true,
                behavior: Some(Column::Index(6)),
                behavior_map: [
                    ("0", Behavior::Click),
                    ("1", Behavior::Cart),
                    ("2", Behavior::Buy),
                    ("3", Behavior::Fav),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                time_format: TimeFormat::Mmdd { year: 2015 },
                category: Some(Column::Index(2)),
                shop: Some(Column::Index(3)),
                brand: Some(Column::Index(4)),
                ..base(0, 1, 5)
            }),
            Preset::Generic => None,
        }
    }

    /// Checks the mapping on its own.
    ///
    /// # Errors
    /// Names the bad field.
    pub fn validate(&self) -> Result<()> {
        if !self.delimiter.is_ascii() {
            return Err(GraphError::Config(format!("log.delimiter {:?} is not ASCII", self.delimiter)));
        }
        if self.behavior.is_none() && self.default_behavior.is_none() {
            return Err(GraphError::Config("log.behavior: give a column or log.default_behavior".into()));
        }
        let columns = [
            Some(&self.user),
            Some(&self.item),
            self.behavior.as_ref(),
            self.time.as_ref(),
            self.category.as_ref(),
            self.shop.as_ref(),
            self.brand.as_ref(),
        ];
        for column in columns.into_iter().flatten() {
            if matches!(column, Column::Name(_)) && !self.header {
                return Err(GraphError::Config(format!(
                    "log: column {column:?} is given by name but log.header is false"
                )));
            }
        }
        Ok(())
    }

    /// Whether rows carry a time.
    pub fn has_time(&self) -> bool {
        self.time.is_some()
    }
}
