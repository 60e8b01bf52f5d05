//! Table formats, reading tables from paths or bytes, and writing them back.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TableError};
use crate::row_groups::SpliceWriter;

/// The on-disk formats the table engine reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Apache Parquet (magic bytes `PAR1`), extensions `.parquet`, `.pq`.
    Parquet,
    /// Comma-separated values with a header row, extension `.csv`.
    Csv,
    /// One JSON object per line, extensions `.jsonl`, `.ndjson`.
    JsonLines,
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableFormat::Parquet => "Parquet",
            TableFormat::Csv => "CSV",
            TableFormat::JsonLines => "JSON Lines",
        })
    }
}

const PARQUET_MAGIC: &[u8] = b"PAR1";

impl TableFormat {
    /// The format named by a path's extension (case-insensitive), or `None` if the
    /// extension is not one of `.parquet`, `.pq`, `.csv`, `.jsonl`, `.ndjson`.
    pub fn from_extension(path: impl AsRef<Path>) -> Option<Self> {
        let ext = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(TableFormat::Parquet),
            "csv" => Some(TableFormat::Csv),
            "jsonl" | "ndjson" => Some(TableFormat::JsonLines),
            _ => None,
        }
    }

    /// The format the first bytes of a file show: `PAR1` is Parquet, a first
    /// non-blank byte `{` is JSON Lines. CSV has no magic, so this never returns `Csv`.
    pub fn from_magic(head: &[u8]) -> Option<Self> {
        if head.starts_with(PARQUET_MAGIC) {
            return Some(TableFormat::Parquet);
        }
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Some(TableFormat::JsonLines),
            _ => None,
        }
    }

    /// Decides the format of the table `name` whose first bytes are `head`.
    ///
    /// The extension wins when it names a format; a `.parquet` name whose bytes do not
    /// start with `PAR1` is [`TableError::Malformed`]. Without a known extension the
    /// magic bytes decide, and text whose first line holds a comma is taken as CSV.
    /// Anything else is [`TableError::UnknownFormat`].
    pub fn detect(name: &str, head: &[u8]) -> Result<Self> {
        match Self::from_extension(name) {
            Some(TableFormat::Parquet) if !head.is_empty() && !head.starts_with(PARQUET_MAGIC) => {
                Err(TableError::Malformed {
                    name: name.to_string(),
                    format: TableFormat::Parquet,
                    reason: "it does not start with the Parquet magic bytes `PAR1`".into(),
                })
            }
            Some(f) => Ok(f),
            None => {
                if let Some(f) = Self::from_magic(head) {
                    return Ok(f);
                }
                let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
                if std::str::from_utf8(first_line).is_ok() && first_line.contains(&b',') {
                    Ok(TableFormat::Csv)
                } else {
                    Err(TableError::UnknownFormat {
                        name: name.to_string(),
                    })
                }
            }
        }
    }

    /// The usual file extension of the format, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Parquet => "parquet",
            TableFormat::Csv => "csv",
            TableFormat::JsonLines => "jsonl",
        }
    }
}

/// How values are typed when a table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Types as stored; CSV columns typed by inference. For queries.
    Typed,
    /// Exactly as written: CSV columns are read as text so that diff and merge compare
    /// and write back the very text of each cell. Parquet and JSON Lines as [`Typed`].
    Exact,
}

#[derive(Clone)]
enum Input {
    Path(PathBuf),
    Bytes(ScanSources),
    /// Parquet in memory, decoded once when first scanned (polars does not scan
    /// Parquet from memory lazily).
    ParquetBytes(
        polars_buffer::Buffer<u8>,
        Arc<std::sync::OnceLock<DataFrame>>,
    ),
    Frame(DataFrame),
}

/// One version of a table: where its bytes are, its format, and the name it is reported
/// under (usually its path in the dataset). Cheap to clone; nothing is read until it is
/// scanned.
#[derive(Clone)]
pub struct TableSource {
    name: String,
    format: TableFormat,
    input: Input,
}

impl fmt::Debug for TableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = match &self.input {
            Input::Path(p) => format!("path {}", p.display()),
            Input::Bytes(_) => "bytes".to_string(),
            Input::ParquetBytes(b, _) => format!("{} bytes of Parquet", b.len()),
            Input::Frame(df) => format!("frame of {} rows", df.height()),
        };
        f.debug_struct("TableSource")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("input", &input)
            .finish()
    }
}

impl TableSource {
    /// A table read from a file; the name is the path as given. The format comes from the
    /// extension, else from the first bytes (see [`TableFormat::detect`]).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut head = [0u8; 512];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| TableError::io("open", path, e))?;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(TableError::io("read", path, e)),
                }
            }
            n
        };
        let name = path.display().to_string();
        let format = TableFormat::detect(&name, &head[..n])?;
        Ok(TableSource {
            name,
            format,
            input: Input::Path(path.to_path_buf()),
        })
    }

    /// A table held in memory (for instance a file's contents at some revision), reported
    /// as `name`. The format comes from `name`'s extension, else from the bytes.
    pub fn from_bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let name = name.into();
        let bytes: Vec<u8> = bytes.into();
        let format = TableFormat::detect(&name, &bytes[..bytes.len().min(512)])?;
        let input = match format {
            TableFormat::Parquet => Input::ParquetBytes(bytes.into(), Default::default()),
            _ => Input::Bytes(ScanSources::Buffers(Arc::from(vec![bytes.into()]))),
        };
        Ok(TableSource {
            name,
            format,
            input,
        })
    }

    /// A table that is already a [`DataFrame`]; `format` is the format it will be
    /// written in by callers that follow [`TableSource::format`].
    pub fn from_frame(name: impl Into<String>, format: TableFormat, df: DataFrame) -> Self {
        TableSource {
            name: name.into(),
            format,
            input: Input::Frame(df),
        }
    }

    /// The same table read as `format` instead of the detected one.
    pub fn with_format(mut self, format: TableFormat) -> Self {
        self.format = format;
        self
    }

    /// The name the table is reported under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format the table is read as.
    pub fn format(&self) -> TableFormat {
        self.format
    }

    fn sources(&self) -> Result<ScanSources> {
        Ok(match &self.input {
            Input::Path(p) => ScanSources::Paths(
                vec![PlRefPath::try_from_path(p).map_err(|e| self.malformed(e))?].into(),
            ),
            Input::Bytes(s) => s.clone(),
            Input::ParquetBytes(..) | Input::Frame(_) => {
                unreachable!("frames and Parquet bytes are not scanned from sources")
            }
        })
    }

    /// The bytes of a Parquet table read from a path or held in memory; `None` for other
    /// formats and for frames.
    pub(crate) fn parquet_bytes(&self) -> Result<Option<polars_buffer::Buffer<u8>>> {
        if self.format != TableFormat::Parquet {
            return Ok(None);
        }
        Ok(match &self.input {
            Input::Path(p) => Some(
                std::fs::read(p)
                    .map_err(|e| TableError::io("read", p, e))?
                    .into(),
            ),
            Input::ParquetBytes(b, _) => Some(b.clone()),
            Input::Bytes(ScanSources::Buffers(b)) => b.first().cloned(),
            _ => None,
        })
    }

    pub(crate) fn malformed(&self, e: impl fmt::Display) -> TableError {
        TableError::Malformed {
            name: self.name.clone(),
            format: self.format,
            reason: e.to_string(),
        }
    }

    /// A lazy scan of the table whose schema has been read and checked, so that a file
    /// that is not a table of its format fails here with [`TableError::Malformed`].
    pub(crate) fn scan_mode(&self, mode: ReadMode) -> Result<(LazyFrame, SchemaRef)> {
        let mut lf = match &self.input {
            Input::Frame(df) => df.clone().lazy(),
            Input::ParquetBytes(..) => self.parquet_frame()?.lazy(),
            _ => {
                let sources = self.sources()?;
                let lf = match self.format {
                    TableFormat::Parquet => {
                        let args = ScanArgsParquet {
                            glob: false,
                            ..Default::default()
                        };
                        LazyFrame::scan_parquet_sources(sources, args)
                    }
                    TableFormat::Csv => {
                        let infer = match mode {
                            ReadMode::Exact => Some(0),
                            ReadMode::Typed => Some(10_000),
                        };
                        LazyCsvReader::new_with_sources(sources)
                            .with_glob(false)
                            .with_has_header(true)
                            .with_infer_schema_length(infer)
                            .finish()
                    }
                    TableFormat::JsonLines => LazyJsonLineReader::new_with_sources(sources)
                        .with_infer_schema_length(None)
                        .finish(),
                };
                lf.map_err(|e| self.malformed(e))?
            }
        };
        let schema = lf.collect_schema().map_err(|e| self.malformed(e))?;
        Ok((lf, schema))
    }

    /// A lazy scan of the table with its types as stored (CSV types inferred from the
    /// first 10 000 rows). Fails with [`TableError::Malformed`] if its schema cannot be read.
    pub fn scan(&self) -> Result<LazyFrame> {
        Ok(self.scan_mode(ReadMode::Typed)?.0)
    }

    /// The column names and types of the table (CSV types inferred).
    pub fn schema(&self) -> Result<SchemaRef> {
        if let Input::ParquetBytes(bytes, frame) = &self.input
            && frame.get().is_none()
        {
            // From the footer alone, without decoding the rows.
            let arrow = ParquetReader::new(std::io::Cursor::new(bytes.clone()))
                .schema()
                .map_err(|e| self.malformed(e))?;
            return Ok(Arc::new(Schema::from_arrow_schema(&arrow)));
        }
        Ok(self.scan_mode(ReadMode::Typed)?.1)
    }

    /// Reads the whole table into memory. Any read error is [`TableError::Malformed`]
    /// naming this table.
    pub fn read(&self) -> Result<DataFrame> {
        self.scan()?.collect().map_err(|e| self.malformed(e))
    }

    /// Runs `lf`, a scan of this table from [`TableSource::scan_mode`], into memory. Any
    /// read error is [`TableError::Malformed`] naming this table.
    pub(crate) fn read_scan(&self, lf: LazyFrame) -> Result<DataFrame> {
        match &self.input {
            Input::Frame(df) => Ok(df.clone()),
            Input::ParquetBytes(..) => self.parquet_frame(),
            _ => lf.collect().map_err(|e| self.malformed(e)),
        }
    }

    /// Parquet bytes decoded (once).
    fn parquet_frame(&self) -> Result<DataFrame> {
        let Input::ParquetBytes(bytes, frame) = &self.input else {
            unreachable!("only Parquet bytes are decoded here")
        };
        if let Some(df) = frame.get() {
            return Ok(df.clone());
        }
        let df = ParquetReader::new(std::io::Cursor::new(bytes.clone()))
            .finish()
            .map_err(|e| self.malformed(e))?;
        Ok(frame.get_or_init(|| df).clone())
    }
}

/// The polars engine a query runs on: `default` unless the environment variable
/// `COLONY_TABLES_ENGINE` says `streaming`, `in-memory` or `auto`.
fn engine(default: Engine) -> Engine {
    match std::env::var("COLONY_TABLES_ENGINE").as_deref() {
        Ok("streaming") => Engine::Streaming,
        Ok("in-memory") => Engine::InMemory,
        Ok("auto") => Engine::Auto,
        _ => default,
    }
}

/// Runs `lf`, which reads `sources`; if it fails, finds which source is unreadable and
/// reports it by name, so that a malformed table is named even when the error surfaces
/// mid-query.
pub(crate) fn collect_checked(
    lf: LazyFrame,
    sources: &[&TableSource],
    mode: ReadMode,
) -> Result<DataFrame> {
    collect_checked_on(lf, sources, mode, Engine::Streaming)
}

/// [`collect_checked`] on a chosen default engine.
pub(crate) fn collect_checked_on(
    lf: LazyFrame,
    sources: &[&TableSource],
    mode: ReadMode,
    default: Engine,
) -> Result<DataFrame> {
    match lf.collect_with_engine(engine(default)) {
        Ok(r) => Ok(r.unwrap_single()),
        Err(e) => {
            for s in sources {
                if let Err(err) = s.scan_mode(mode).and_then(|(lf, _)| {
                    lf.collect_with_engine(engine(default))
                        .map_err(|e| s.malformed(e))
                }) {
                    return Err(match err {
                        TableError::Engine(e) => s.malformed(e),
                        other => other,
                    });
                }
            }
            Err(TableError::Engine(e))
        }
    }
}

/// Writes `df` to `out` as a complete file of `format` that polars and pyarrow read back:
/// Parquet (zstd-compressed, in row groups of 262,144 rows, so that versions differing
/// by edits or appends share their other row groups byte for byte), CSV with a header
/// row, or JSON Lines.
pub fn write_table<W: Write>(df: &mut DataFrame, format: TableFormat, out: W) -> Result<()> {
    match format {
        TableFormat::Parquet => {
            let mut w = SpliceWriter::new(out, df.schema())?;
            w.push(df.clone())?;
            w.finish()?;
        }
        TableFormat::Csv => CsvWriter::new(out).include_header(true).finish(df)?,
        TableFormat::JsonLines => JsonWriter::new(out)
            .with_json_format(JsonFormat::JsonLines)
            .finish(df)?,
    }
    Ok(())
}

/// [`write_table`] into a byte vector.
pub fn table_to_bytes(df: &mut DataFrame, format: TableFormat) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    write_table(df, format, &mut buf)?;
    Ok(buf)
}

/// Writes `df` to `path` in `format` (or the format its extension names, CSV if none)
/// atomically: into a temporary file beside it, synced, then renamed over `path`, so a
/// crash leaves either the old file or the complete new one.
pub fn write_table_to_path(
    df: &mut DataFrame,
    path: impl AsRef<Path>,
    format: Option<TableFormat>,
) -> Result<()> {
    let path = path.as_ref();
    let format = format
        .or_else(|| TableFormat::from_extension(path))
        .unwrap_or(TableFormat::Csv);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "table".into());
    let tmp = path.with_file_name(format!(".{file_name}.colony-tmp-{}", std::process::id()));
    let result = (|| {
        let f = std::fs::File::create(&tmp).map_err(|e| TableError::io("create", &tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        write_table(df, format, &mut w)?;
        let f = w
            .into_inner()
            .map_err(|e| TableError::io("write", &tmp, e.into_error()))?;
        f.sync_all().map_err(|e| TableError::io("sync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| TableError::io("rename into", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
