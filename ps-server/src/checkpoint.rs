//! The checkpoint file format of one shard and its atomic write: tables with
//! their specs, every row with its optimizer state, dense parameters, the
//! fencing tokens per scope, and a CRC32 trailer. Files are written as `.tmp`, fsynced,
//! renamed to `ckpt-<id>.bin` and the directory fsynced, so a crash leaves
//! either the old or the new checkpoint, never half of one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message as _;
use tessera_proto::ps::v1 as pb;

use crate::dense::{DenseInner, DenseParam};
use crate::error::{PsError, Result};
use crate::optimizer::Optimizer;
use crate::table::Row;

/// Format 2: fencing tokens per scope. Format 1 (one shard-wide token) is
/// still read; its token becomes the shard-wide scope `""`.
const MAGIC: &[u8; 8] = b"TSPSCKP2";
const MAGIC_V1: &[u8; 8] = b"TSPSCKP1";
/// Checkpoints kept on disk; older ones are deleted after a new one lands.
pub const KEEP: usize = 3;

/// Everything a shard persists.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardImage {
    /// Shard index.
    pub shard: u32,
    /// Number of shards.
    pub num_shards: u32,
    /// Checkpoint id (increasing).
    pub id: u64,
    /// Pushes applied when it was taken.
    pub num_updates: u64,
    /// Fencing token per scope (a job's namespace; `""` is shard-wide).
    pub fencing: BTreeMap<String, u64>,
    /// Tables with their rows.
    pub tables: Vec<(pb::TableSpec, Vec<(u64, Row)>)>,
    /// Dense parameters.
    pub dense: DenseInner,
}

fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> PsError {
    let context = format!("{context} {}", path.display());
    move |source| PsError::Io { context, source }
}

struct CrcWriter<W: Write> {
    out: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.out.write_all(bytes)
    }
    fn u32(&mut self, v: u32) -> std::io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> std::io::Result<()> {
        self.put(&v.to_le_bytes())
    }
    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.u64(b.len() as u64)?;
        self.put(b)
    }
    fn floats(&mut self, values: &[f32]) -> std::io::Result<()> {
        self.u64(values.len() as u64)?;
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(&raw)
    }
}

fn encode(image: &ShardImage, out: &mut CrcWriter<impl Write>) -> std::io::Result<()> {
    out.put(MAGIC)?;
    out.u32(image.shard)?;
    out.u32(image.num_shards)?;
    out.u64(image.id)?;
    out.u64(image.num_updates)?;
    out.u64(image.fencing.len() as u64)?;
    for (scope, token) in &image.fencing {
        out.bytes(scope.as_bytes())?;
        out.u64(*token)?;
    }
    out.u64(image.tables.len() as u64)?;
    for (spec, rows) in &image.tables {
        out.bytes(&spec.encode_to_vec())?;
        out.u64(rows.len() as u64)?;
        for (id, row) in rows {
            out.u64(*id)?;
            out.u64(row.step)?;
            out.floats(row.values())?;
            out.floats(row.state())?;
        }
    }
    out.u64(image.dense.version)?;
    out.u64(image.dense.params.len() as u64)?;
    for (name, p) in &image.dense.params {
        out.bytes(name.as_bytes())?;
        out.bytes(&p.optimizer.to_proto().encode_to_vec())?;
        out.u64(p.shape.len() as u64)?;
        for &d in &p.shape {
            out.u64(d)?;
        }
        out.u64(p.step)?;
        out.floats(&p.values)?;
        out.floats(&p.state)?;
    }
    Ok(())
}

/// The file name of checkpoint `id`.
pub fn file_name(id: u64) -> String {
    format!("ckpt-{id:020}.bin")
}

/// Writes `image` atomically into `dir` and prunes old checkpoints. Returns
/// the path and its size.
///
/// # Errors
/// `Io` on any file-system error.
pub fn write(dir: &Path, image: &ShardImage) -> Result<(PathBuf, u64)> {
    std::fs::create_dir_all(dir).map_err(io("create checkpoint dir", dir))?;
    let path = dir.join(file_name(image.id));
    let tmp = path.with_extension("tmp");
    let file = File::create(&tmp).map_err(io("create", &tmp))?;
    let mut out = CrcWriter { out: BufWriter::with_capacity(1 << 20, file), crc: crc32fast::Hasher::new() };
    encode(image, &mut out).map_err(io("write", &tmp))?;
    let crc = out.crc.finalize();
    let mut buffered = out.out;
    buffered.write_all(&crc.to_le_bytes()).map_err(io("write", &tmp))?;
    let file = buffered.into_inner().map_err(|e| io("flush", &tmp)(e.into_error()))?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    let size = file.metadata().map_err(io("stat", &tmp))?.len();
    std::fs::rename(&tmp, &path).map_err(io("rename", &path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))?;
    for (_, old) in list(dir)?.into_iter().rev().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok((path, size))
}

/// Checkpoint files in `dir`, oldest first, with their ids.
///
/// # Errors
/// `Io` when the directory cannot be read.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let entry = entry.map_err(io("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) =
            name.strip_prefix("ckpt-").and_then(|n| n.strip_suffix(".bin")).and_then(|n| n.parse().ok())
        {
            found.push((id, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| PsError::InvalidArgument("checkpoint is truncated".into()))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
    fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len())
            .ok_or_else(|| PsError::InvalidArgument("checkpoint length is corrupt".into()))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn floats(&mut self) -> Result<Vec<f32>> {
        let n = self.len()?;
        let raw = self.take(
            n.checked_mul(4)
                .ok_or_else(|| PsError::InvalidArgument("checkpoint length is corrupt".into()))?,
        )?;
        Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Reads and verifies a checkpoint file.
///
/// # Errors
/// `Io` when unreadable; `InvalidArgument` when truncated, of another format
/// or failing its checksum.
pub fn read(path: &Path) -> Result<ShardImage> {
    let data = std::fs::read(path).map_err(io("read", path))?;
    let corrupt = |why: &str| PsError::InvalidArgument(format!("checkpoint {}: {why}", path.display()));
    if data.len() < MAGIC.len() + 4 || (&data[..MAGIC.len()] != MAGIC && &data[..MAGIC.len()] != MAGIC_V1) {
        return Err(corrupt("not a Tessera checkpoint"));
    }
    let v1 = &data[..MAGIC.len()] == MAGIC_V1;
    let (body, trailer) = data.split_at(data.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(trailer.try_into().unwrap_or_default()) {
        return Err(corrupt("checksum mismatch"));
    }
    let mut c = Cursor { data: body, at: MAGIC.len() };
    let (shard, num_shards, id, num_updates) = (c.u32()?, c.u32()?, c.u64()?, c.u64()?);
    let mut fencing = BTreeMap::new();
    if v1 {
        fencing.insert(String::new(), c.u64()?);
    } else {
        for _ in 0..c.len()? {
            let scope =
                String::from_utf8(c.bytes()?.to_vec()).map_err(|_| corrupt("fencing scope is not UTF-8"))?;
            fencing.insert(scope, c.u64()?);
        }
    }
    let num_tables = c.len()?;
    let mut tables = Vec::with_capacity(num_tables.min(1024));
    for _ in 0..num_tables {
        let spec = pb::TableSpec::decode(c.bytes()?).map_err(|e| corrupt(&format!("table spec: {e}")))?;
        let num_rows = c.len()?;
        let mut rows = Vec::with_capacity(num_rows.min(1 << 20));
        for _ in 0..num_rows {
            let (id, step) = (c.u64()?, c.u64()?);
            let (values, state) = (c.floats()?, c.floats()?);
            if values.len() != spec.dim as usize {
                return Err(corrupt(&format!(
                    "row {id} of {} has {} values, dim {}",
                    spec.name,
                    values.len(),
                    spec.dim
                )));
            }
            rows.push((id, Row::new(&values, &state, step)));
        }
        tables.push((spec, rows));
    }
    let mut dense = DenseInner { version: c.u64()?, ..DenseInner::default() };
    for _ in 0..c.len()? {
        let name = String::from_utf8(c.bytes()?.to_vec()).map_err(|_| corrupt("dense name is not UTF-8"))?;
        let spec = pb::OptimizerSpec::decode(c.bytes()?).map_err(|e| corrupt(&format!("optimizer: {e}")))?;
        let optimizer = Optimizer::from_proto(&spec)?;
        let shape = (0..c.len()?).map(|_| c.u64()).collect::<Result<Vec<_>>>()?;
        let step = c.u64()?;
        let (values, state) = (c.floats()?, c.floats()?);
        dense.params.insert(name, DenseParam { shape, values, state, optimizer, step });
    }
    if c.at != body.len() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(ShardImage { shard, num_shards, id, num_updates, fencing, tables, dense })
}
