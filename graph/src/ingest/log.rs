//! Streams a behaviour log (CSV) row by row into [`RawEvent`]s, skipping and
//! counting bad rows, or stopping at the first one in strict mode.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::format::{Column, LogFormat};
use super::parse_u64;
use super::skips::SkipReport;
use crate::error::{GraphError, Result};
use crate::schema::Behavior;

/// One behaviour event with raw (input) ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent {
    /// Raw user id.
    pub user: u64,
    /// Raw item id.
    pub item: u64,
    /// Behaviour.
    pub behavior: Behavior,
    /// Unix seconds; 0 for every row of a log without a time column.
    pub ts: i64,
    /// Raw category id, when the log has one.
    pub category: Option<u64>,
    /// Raw shop id, when the log has one.
    pub shop: Option<u64>,
    /// Raw brand id, when the log has one.
    pub brand: Option<u64>,
}

/// Resolves columns against an optional header row.
pub(crate) struct ColumnResolver<'a> {
    pub(crate) file: &'a Path,
    pub(crate) header: Option<Vec<String>>,
}

impl ColumnResolver<'_> {
    pub(crate) fn resolve(&self, column: &Column, what: &str) -> Result<usize> {
        match column {
            Column::Index(i) => Ok(*i),
            Column::Name(name) => {
                let header = self.header.as_ref().ok_or_else(|| {
                    GraphError::Config(format!("{what} column {name:?} is named but the file has no header"))
                })?;
                header.iter().position(|h| h.trim() == name).ok_or_else(|| GraphError::BadRow {
                    file: self.file.to_path_buf(),
                    line: 1,
                    reason: format!(
                        "header has no column {name:?} for {what} (columns: {})",
                        header.join(",")
                    ),
                })
            }
        }
    }
}

/// Opens a CSV file for streaming, with flexible row lengths.
pub(crate) fn open_csv(path: &Path, delimiter: u8) -> Result<csv::Reader<BufReader<File>>> {
    let file = File::open(path).map_err(GraphError::io("open", path))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

/// Reads the first record as a header.
pub(crate) fn read_header(reader: &mut csv::Reader<BufReader<File>>, path: &Path) -> Result<Vec<String>> {
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_owned).collect()),
        Ok(false) => Err(GraphError::Empty { file: path.to_path_buf(), reason: "the file is empty".into() }),
        Err(e) => Err(GraphError::BadRow { file: path.to_path_buf(), line: 1, reason: e.to_string() }),
    }
}

/// Positions of the log's fields.
pub(crate) struct Indices {
    pub(crate) user: usize,
    pub(crate) item: usize,
    pub(crate) behavior: Option<usize>,
    pub(crate) time: Option<usize>,
    pub(crate) category: Option<usize>,
    pub(crate) shop: Option<usize>,
    pub(crate) brand: Option<usize>,
    pub(crate) needed: usize,
}

impl Indices {
    /// Resolves the format's columns (names need `resolver` to have a header).
    pub(crate) fn resolve(format: &LogFormat, resolver: &ColumnResolver<'_>) -> Result<Self> {
        let opt = |c: &Option<Column>, what: &str| c.as_ref().map(|c| resolver.resolve(c, what)).transpose();
        let mut ix = Indices {
            user: resolver.resolve(&format.user, "user")?,
            item: resolver.resolve(&format.item, "item")?,
            behavior: opt(&format.behavior, "behavior")?,
            time: opt(&format.time, "time")?,
            category: opt(&format.category, "category")?,
            shop: opt(&format.shop, "shop")?,
            brand: opt(&format.brand, "brand")?,
            needed: 0,
        };
        ix.needed = ix.all().into_iter().flatten().max().unwrap_or(0) + 1;
        Ok(ix)
    }

    /// Every used position.
    pub(crate) fn all(&self) -> [Option<usize>; 7] {
        [Some(self.user), Some(self.item), self.behavior, self.time, self.category, self.shop, self.brand]
    }
}

/// A row's fields as bytes, whatever the file format.
pub(crate) trait Fields {
    /// Number of fields.
    fn len(&self) -> usize;
    /// Field `index` (empty when absent or null).
    fn get(&self, index: usize) -> &[u8];
}

impl Fields for csv::ByteRecord {
    fn len(&self) -> usize {
        csv::ByteRecord::len(self)
    }
    fn get(&self, index: usize) -> &[u8] {
        csv::ByteRecord::get(self, index).unwrap_or_default()
    }
}

/// Streams the log at `path` (CSV, or Parquet for `.parquet`/`.pq`), calling `sink` for each good row. Bad rows are
/// counted in the returned report, or fail the read when `strict`.
///
/// # Errors
/// Fails on I/O errors, an unusable header, an empty file, a bad row in strict
/// mode, or a file in which every row is bad.
pub fn read_log(
    path: &Path,
    format: &LogFormat,
    strict: bool,
    sink: impl FnMut(RawEvent),
) -> Result<SkipReport> {
    let is_parquet = path.extension().is_some_and(|e| e == "parquet" || e == "pq");
    if is_parquet {
        super::parquet::read_log_parquet(path, format, strict, sink)
    } else {
        read_log_csv(path, format, strict, sink)
    }
}

/// Streams a CSV log; see [`read_log`].
///
/// # Errors
/// As [`read_log`].
pub fn read_log_csv(
    path: &Path,
    format: &LogFormat,
    strict: bool,
    mut sink: impl FnMut(RawEvent),
) -> Result<SkipReport> {
    format.validate()?;
    let mut reader = open_csv(path, format.delimiter as u8)?;
    let header = if format.header { Some(read_header(&mut reader, path)?) } else { None };
    let resolver = ColumnResolver { file: path, header };
    let ix = Indices::resolve(format, &resolver)?;
    let nulls: Vec<&[u8]> = format.null_values.iter().map(|s| s.as_bytes()).collect();
    let mut report = SkipReport::default();
    let mut record = csv::ByteRecord::new();
    let mut line: u64 = u64::from(format.header);
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The csv reader cannot resynchronise after an I/O or UTF-8
                // framing error, so this always stops the read.
                return Err(GraphError::BadRow {
                    file: path.to_path_buf(),
                    line: line + 1,
                    reason: e.to_string(),
                });
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue; // blank line
        }
        report.rows_read += 1;
        handle_row(parse_row(&record, &ix, format, &nulls), path, line, strict, &mut report, &mut sink)?;
    }
    finish(report, path)
}

/// Passes a parsed row on, or records (or, when strict, returns) its error.
/// The text of a reason before its first `:` is the key it is counted under.
pub(crate) fn handle_row<T>(
    parsed: Result<T, String>,
    path: &Path,
    line: u64,
    strict: bool,
    report: &mut SkipReport,
    sink: &mut impl FnMut(T),
) -> Result<()> {
    match parsed {
        Ok(event) => sink(event),
        Err(reason) => {
            if strict {
                return Err(GraphError::BadRow { file: path.to_path_buf(), line, reason });
            }
            let key = reason.split(':').next().unwrap_or("bad row").to_owned();
            report.skip(&key, || format!("{}:{line}: {reason}", path.display()));
        }
    }
    Ok(())
}

/// Refuses a read that produced no usable row.
pub(crate) fn finish(report: SkipReport, path: &Path) -> Result<SkipReport> {
    if report.rows_read == 0 {
        return Err(GraphError::Empty { file: path.to_path_buf(), reason: "no data rows".into() });
    }
    if report.num_skipped() == report.rows_read {
        return Err(GraphError::Empty {
            file: path.to_path_buf(),
            reason: format!("all {} rows are bad; first: {}", report.rows_read, report.examples.join("; ")),
        });
    }
    Ok(report)
}

fn field(record: &impl Fields, index: usize) -> &[u8] {
    record.get(index)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(40).collect()
}

fn parse_attr(
    record: &impl Fields,
    index: Option<usize>,
    what: &str,
    nulls: &[&[u8]],
) -> Result<Option<u64>, String> {
    let Some(index) = index else { return Ok(None) };
    let value = field(record, index).trim_ascii();
    if nulls.contains(&value) {
        return Ok(None);
    }
    parse_u64(value).map(Some).ok_or_else(|| format!("bad {what} id: {:?}", show(value)))
}

pub(crate) fn parse_row(
    record: &impl Fields,
    ix: &Indices,
    format: &LogFormat,
    nulls: &[&[u8]],
) -> Result<RawEvent, String> {
    if record.len() < ix.needed {
        return Err(format!("too few columns: {} (need {})", record.len(), ix.needed));
    }
    let user = field(record, ix.user);
    let user = parse_u64(user).ok_or_else(|| format!("bad user id: {:?}", show(user)))?;
    let item = field(record, ix.item);
    let item = parse_u64(item).ok_or_else(|| format!("bad item id: {:?}", show(item)))?;
    let behavior = match ix.behavior {
        Some(index) => {
            let raw = field(record, index);
            let label =
                std::str::from_utf8(raw).map_err(|_| format!("unknown behaviour: {:?}", show(raw)))?.trim();
            format
                .behavior_map
                .get(label)
                .copied()
                .or_else(|| Behavior::parse_label(label))
                .ok_or_else(|| format!("unknown behaviour: {label:?}"))?
        }
        None => format.default_behavior.ok_or("unknown behaviour: no column and no default")?,
    };
    let ts = match ix.time {
        Some(index) => {
            let time = field(record, index);
            let time_str =
                std::str::from_utf8(time).map_err(|_| format!("bad timestamp: {:?}", show(time)))?;
            format.time_format.parse(time_str).map_err(|e| format!("bad timestamp: {e}"))?
        }
        None => 0,
    };
    Ok(RawEvent {
        user,
        item,
        behavior,
        ts,
        category: parse_attr(record, ix.category, "category", nulls)?,
        shop: parse_attr(record, ix.shop, "shop", nulls)?,
        brand: parse_attr(record, ix.brand, "brand", nulls)?,
    })
}
