//! Optional side tables: item attributes, user profile columns and item
//! content vectors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{default_null_values, Column};
use super::log::{handle_row, open_csv, read_header, ColumnResolver};
use super::parse_u64;
use super::skips::SkipReport;
use crate::error::{GraphError, Result};

/// Item attributes: one CSV row per item, with a header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemTableSpec {
    /// The CSV file.
    pub path: PathBuf,
    /// Item id column.
    pub item: Column,
    /// Category id column.
    #[serde(default)]
    pub category: Option<Column>,
    /// Shop (seller) id column.
    #[serde(default)]
    pub shop: Option<Column>,
    /// Brand id column.
    #[serde(default)]
    pub brand: Option<Column>,
    /// Price column (a decimal number).
    #[serde(default)]
    pub price: Option<Column>,
    /// Values that mean "unknown" in the attribute columns.
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
}

impl ItemTableSpec {
    /// The layout `graph synth` writes: `item_id,category_id,shop_id,brand_id,price`
    /// with a header.
    pub fn synth_layout(path: PathBuf) -> Self {
        Self {
            path,
            item: Column::Name("item_id".into()),
            category: Some(Column::Name("category_id".into())),
            shop: Some(Column::Name("shop_id".into())),
            brand: Some(Column::Name("brand_id".into())),
            price: Some(Column::Name("price".into())),
            null_values: default_null_values(),
        }
    }
}

/// One item's attributes, with raw ids.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ItemAttrs {
    /// Raw category id.
    pub category: Option<u64>,
    /// Raw shop id.
    pub shop: Option<u64>,
    /// Raw brand id.
    pub brand: Option<u64>,
    /// Price.
    pub price: Option<f32>,
}

/// User profile: numeric columns of a CSV with a header, used as features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTableSpec {
    /// The CSV file.
    pub path: PathBuf,
    /// User id column.
    pub user: Column,
    /// Numeric profile columns; non-numeric or null values count as missing.
    pub columns: Vec<Column>,
    /// Values that mean "unknown".
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
}

/// Item content vectors (text or image embeddings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSpec {
    /// `.npy` (2-D f32) or `.csv` (`item_id,v0,v1,…`, no header).
    pub path: PathBuf,
    /// For `.npy`: a 1-D integer `.npy` with the raw item id of each row.
    #[serde(default)]
    pub ids: Option<PathBuf>,
}

fn attr(
    record: &csv::StringRecord,
    index: Option<usize>,
    nulls: &[String],
    what: &str,
) -> Result<Option<u64>, String> {
    let Some(index) = index else { return Ok(None) };
    let value = record.get(index).unwrap_or_default().trim();
    if nulls.iter().any(|n| n == value) {
        return Ok(None);
    }
    parse_u64(value.as_bytes()).map(Some).ok_or_else(|| format!("bad {what} id: {value:?}"))
}

/// Reads the item table into raw id → attributes.
///
/// # Errors
/// Fails on I/O errors, a missing column, or a bad row in strict mode.
pub fn read_items(spec: &ItemTableSpec, strict: bool) -> Result<(HashMap<u64, ItemAttrs>, SkipReport)> {
    let path = spec.path.as_path();
    let mut reader = open_csv(path, b',')?;
    let resolver = ColumnResolver { file: path, header: Some(read_header(&mut reader, path)?) };
    let opt = |c: &Option<Column>, what: &str| c.as_ref().map(|c| resolver.resolve(c, what)).transpose();
    let item_ix = resolver.resolve(&spec.item, "item")?;
    let (cat_ix, shop_ix, brand_ix, price_ix) = (
        opt(&spec.category, "category")?,
        opt(&spec.shop, "shop")?,
        opt(&spec.brand, "brand")?,
        opt(&spec.price, "price")?,
    );
    let mut items = HashMap::new();
    let mut report = SkipReport::default();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader.read_record(&mut record).map_err(|e| bad_row(path, line + 1, e.to_string()))? {
        line += 1;
        report.rows_read += 1;
        let parsed = (|| -> Result<(u64, ItemAttrs), String> {
            let raw = record.get(item_ix).unwrap_or_default();
            let item = parse_u64(raw.as_bytes()).ok_or_else(|| format!("bad item id: {raw:?}"))?;
            let price = match price_ix.map(|i| record.get(i).unwrap_or_default().trim()) {
                None => None,
                Some(v) if spec.null_values.iter().any(|n| n == v) => None,
                Some(v) => match v.parse::<f32>() {
                    Ok(p) if p.is_finite() && p >= 0.0 => Some(p),
                    _ => return Err(format!("bad price: {v:?}")),
                },
            };
            Ok((
                item,
                ItemAttrs {
                    category: attr(&record, cat_ix, &spec.null_values, "category")?,
                    shop: attr(&record, shop_ix, &spec.null_values, "shop")?,
                    brand: attr(&record, brand_ix, &spec.null_values, "brand")?,
                    price,
                },
            ))
        })();
        handle_row(parsed, path, line, strict, &mut report, &mut |(item, attrs)| {
            items.insert(item, attrs);
        })?;
    }
    if items.is_empty() {
        return Err(GraphError::Empty { file: path.to_path_buf(), reason: "no usable item rows".into() });
    }
    Ok((items, report))
}

fn bad_row(path: &Path, line: u64, reason: String) -> GraphError {
    GraphError::BadRow { file: path.to_path_buf(), line, reason }
}

/// Profile values of one user; `NaN` marks a missing value.
pub type Profile = Vec<f32>;

/// Reads the user table into raw id → profile values (NaN = missing).
///
/// # Errors
/// Fails on I/O errors, a missing column, or a bad user id in strict mode.
pub fn read_users(
    spec: &UserTableSpec,
    strict: bool,
) -> Result<(HashMap<u64, Profile>, Vec<String>, SkipReport)> {
    let path = spec.path.as_path();
    let mut reader = open_csv(path, b',')?;
    let header = read_header(&mut reader, path)?;
    let resolver = ColumnResolver { file: path, header: Some(header.clone()) };
    let user_ix = resolver.resolve(&spec.user, "user")?;
    let cols: Vec<usize> =
        spec.columns.iter().map(|c| resolver.resolve(c, "profile")).collect::<Result<_>>()?;
    let names = cols.iter().map(|&i| header.get(i).cloned().unwrap_or_else(|| format!("col{i}"))).collect();
    let mut users = HashMap::new();
    let mut report = SkipReport::default();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader.read_record(&mut record).map_err(|e| bad_row(path, line + 1, e.to_string()))? {
        line += 1;
        report.rows_read += 1;
        let raw = record.get(user_ix).unwrap_or_default();
        let parsed = parse_u64(raw.as_bytes()).ok_or_else(|| format!("bad user id: {raw:?}")).map(|user| {
            let values: Profile = cols
                .iter()
                .map(|&i| {
                    let v = record.get(i).unwrap_or_default().trim();
                    if spec.null_values.iter().any(|n| n == v) {
                        f32::NAN
                    } else {
                        v.parse::<f32>().ok().filter(|x| x.is_finite()).unwrap_or(f32::NAN)
                    }
                })
                .collect();
            (user, values)
        });
        handle_row(parsed, path, line, strict, &mut report, &mut |(user, values)| {
            users.insert(user, values);
        })?;
    }
    Ok((users, names, report))
}

/// Reads content vectors into raw item id → vector, all of one dimension.
///
/// # Errors
/// Fails on I/O errors, a malformed file or rows of different lengths.
pub fn read_content(spec: &ContentSpec) -> Result<(HashMap<u64, Vec<f32>>, usize)> {
    let path = spec.path.as_path();
    let is_npy = path.extension().is_some_and(|e| e == "npy");
    if is_npy {
        let ids_path = spec.ids.as_ref().ok_or_else(|| {
            GraphError::Config(format!(
                "content.ids: {} is .npy, so a .npy of item ids is needed",
                path.display()
            ))
        })?;
        let (values, shape) = super::npy::read_f32_matrix(path)?;
        let ids = super::npy::read_ids(ids_path)?;
        if ids.len() != shape.0 {
            return Err(GraphError::Config(format!(
                "content: {} has {} rows but {} has {} ids",
                path.display(),
                shape.0,
                ids_path.display(),
                ids.len()
            )));
        }
        let dim = shape.1;
        let map = ids
            .into_iter()
            .enumerate()
            .map(|(r, id)| (id, values[r * dim..(r + 1) * dim].to_vec()))
            .collect();
        return Ok((map, dim));
    }
    let mut reader = open_csv(path, b',')?;
    let mut record = csv::StringRecord::new();
    let mut map = HashMap::new();
    let mut dim = None;
    let mut line = 0;
    while reader.read_record(&mut record).map_err(|e| bad_row(path, line + 1, e.to_string()))? {
        line += 1;
        let raw = record.get(0).unwrap_or_default();
        let id =
            parse_u64(raw.as_bytes()).ok_or_else(|| bad_row(path, line, format!("bad item id: {raw:?}")))?;
        let values: Vec<f32> = record
            .iter()
            .skip(1)
            .map(|v| v.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad_row(path, line, "non-numeric or non-finite value".into()))?;
        match dim {
            None => dim = Some(values.len()),
            Some(d) if d != values.len() => {
                return Err(bad_row(path, line, format!("{} values, expected {d}", values.len())))
            }
            Some(_) => {}
        }
        map.insert(id, values);
    }
    let dim = dim
        .filter(|d| *d > 0)
        .ok_or_else(|| GraphError::Empty { file: path.to_path_buf(), reason: "no content vectors".into() })?;
    Ok((map, dim))
}
