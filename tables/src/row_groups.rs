//! Parquet versions handled a row group at a time: which row groups two versions share
//! byte for byte, reading only some rows, and writing a file whose row groups are partly
//! copied, page by page and still compressed, from other files.
//!
//! Versions of a table written by the same tool keep most row groups identical: an edit
//! changes the groups it touches, an append adds groups at the end. A row group whose
//! column chunks are the same bytes holds the same rows, so diff and merge need not
//! decode it, and a merge that keeps it can copy it without re-encoding it (the costly
//! part of writing Parquet).

use std::io::{Cursor, Write};
use std::ops::Range;

use polars::prelude::*;
use polars_buffer::Buffer;
use polars_parquet::parquet::metadata::FileMetadata;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::{PageReader, get_page_iterator, read_metadata};

use crate::Result;
use crate::format::TableSource;

/// Rows a written row group holds at most (polars' default).
const GROUP_ROWS: usize = 512 * 512;

/// False when the environment variable `COLONY_TABLES_ROW_GROUPS` is `off`: diff and
/// merge then take the general path even where row groups are shared (to compare the
/// two).
pub(crate) fn enabled() -> bool {
    std::env::var("COLONY_TABLES_ROW_GROUPS").as_deref() != Ok("off")
}

/// One Parquet version: its bytes and its footer.
pub(crate) struct ParquetFile {
    bytes: Buffer<u8>,
    meta: FileMetadata,
    /// First row of each row group, then the number of rows.
    starts: Vec<usize>,
}

impl ParquetFile {
    /// Reads the footer of `bytes`.
    pub(crate) fn new(bytes: Buffer<u8>) -> PolarsResult<Self> {
        let meta = read_metadata(&mut Cursor::new(bytes.clone()))?;
        let mut starts = vec![0];
        for g in &meta.row_groups {
            starts.push(starts.last().copied().unwrap_or(0) + g.num_rows());
        }
        Ok(ParquetFile {
            bytes,
            meta,
            starts,
        })
    }

    /// Rows in the file.
    pub(crate) fn rows(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Number of row groups.
    pub(crate) fn groups(&self) -> usize {
        self.meta.row_groups.len()
    }

    /// The rows of row group `g`.
    pub(crate) fn group_rows(&self, g: usize) -> Range<usize> {
        self.starts[g]..self.starts[g + 1]
    }

    /// The row group holding row `row` (`row < self.rows()`).
    fn group_of(&self, row: usize) -> usize {
        self.starts.partition_point(|&s| s <= row) - 1
    }

    /// Rows `rows` of columns `columns` (all if `None`), decoding only the row groups
    /// they fall in.
    pub(crate) fn read(
        &self,
        columns: Option<Vec<String>>,
        rows: Range<usize>,
    ) -> PolarsResult<DataFrame> {
        ParquetReader::new(Cursor::new(self.bytes.clone()))
            .with_columns(columns)
            .with_slice(Some((rows.start, rows.len())))
            .finish()
    }

    /// Every row of row groups `groups` (ascending), in order.
    pub(crate) fn read_groups(&self, groups: &[usize]) -> PolarsResult<DataFrame> {
        let mut out = self.read(None, 0..0)?;
        let mut i = 0;
        while i < groups.len() {
            let mut j = i + 1;
            while j < groups.len() && groups[j] == groups[j - 1] + 1 {
                j += 1;
            }
            let rows = self.starts[groups[i]]..self.starts[groups[j - 1] + 1];
            out.vstack_mut_owned(self.read(None, rows)?)?;
            i = j;
        }
        Ok(out)
    }

    /// Rows `idx` (strictly increasing) of every column, decoding each row group that
    /// holds any of them once and only those.
    pub(crate) fn take(&self, idx: &[usize]) -> PolarsResult<DataFrame> {
        let mut parts: Vec<DataFrame> = Vec::new();
        let mut i = 0;
        while i < idx.len() {
            // A run of consecutive row groups holding wanted rows, read in one go.
            let first = self.group_of(idx[i]);
            let mut last = first;
            let mut j = i;
            while j < idx.len() {
                let g = self.group_of(idx[j]);
                if g > last + 1 {
                    break;
                }
                last = g;
                j += 1;
            }
            let span = self.starts[first]..self.starts[last + 1];
            let df = self.read(None, span.clone())?;
            let rel = IdxCa::from_vec(
                "".into(),
                idx[i..j]
                    .iter()
                    .map(|&r| (r - span.start) as IdxSize)
                    .collect(),
            );
            parts.push(df.take(&rel)?);
            i = j;
        }
        match parts.len() {
            0 => Ok(self.read(None, 0..0)?),
            _ => {
                let mut out = parts.remove(0);
                for p in parts {
                    out.vstack_mut_owned(p)?;
                }
                Ok(out)
            }
        }
    }

    fn chunk_bytes(&self, g: usize, c: usize) -> &[u8] {
        let r = self.meta.row_groups[g].parquet_columns()[c].byte_range();
        &self.bytes[r.start as usize..r.end as usize]
    }

    fn same_group(&self, g: usize, other: &ParquetFile, h: usize) -> bool {
        let n = self.meta.row_groups[g].n_columns();
        self.meta.row_groups[g].num_rows() == other.meta.row_groups[h].num_rows()
            && n == other.meta.row_groups[h].n_columns()
            && (0..n).all(|c| self.chunk_bytes(g, c) == other.chunk_bytes(h, c))
    }

    /// The compressed pages of column `c` of row group `g`, as they are in the file.
    fn pages(&self, g: usize, c: usize) -> PolarsResult<PageReader> {
        let chunk = &self.meta.row_groups[g].parquet_columns()[c];
        Ok(get_page_iterator(
            chunk,
            Cursor::new(self.bytes.clone()),
            vec![],
            usize::MAX,
        )?)
    }
}

/// The Parquet files of `sources`, when every one is Parquet (from a path or bytes) with
/// the same columns and types, holds every `key` column, and lays its columns out as
/// [`SpliceWriter`] writes them (so their row groups can be compared and copied); `None`
/// otherwise, or when the row-group paths are off. Files whose footer cannot be read
/// give `None` too: the general path names them.
pub(crate) fn open_alike(
    sources: &[&TableSource],
    key: &[String],
) -> Result<Option<Vec<ParquetFile>>> {
    if !enabled() {
        return Ok(None);
    }
    let mut files = Vec::with_capacity(sources.len());
    for src in sources {
        let Some(bytes) = src.parquet_bytes()? else {
            return Ok(None);
        };
        match ParquetFile::new(bytes) {
            Ok(f) => files.push(f),
            Err(_) => return Ok(None),
        }
    }
    let Some(Ok(first)) = files.first().map(|f| f.read(None, 0..0)) else {
        return Ok(None);
    };
    let schema = first.schema();
    if key.iter().any(|k| schema.get(k).is_none()) {
        return Ok(None);
    }
    let mut probe = SpliceWriter::new(std::io::sink(), schema)?;
    for f in &files {
        let same_schema = f.read(None, 0..0).is_ok_and(|df| df.schema() == schema);
        if !same_schema || !probe.accepts(f) {
            return Ok(None);
        }
    }
    Ok(Some(files))
}

/// For each row group of `new`, the row group of `old` whose column chunks are the very
/// same bytes, if any (each old group matched at most once). Both files must have the
/// same layout ([`ParquetFile::same_layout`]).
pub(crate) fn identical_groups(old: &ParquetFile, new: &ParquetFile) -> Vec<Option<usize>> {
    use std::collections::HashMap;
    // Candidates by shape (rows and compressed size of each chunk): only groups of the
    // same shape have their bytes compared.
    let shape = |f: &ParquetFile, g: usize| -> (usize, Vec<i64>) {
        let rg = &f.meta.row_groups[g];
        (
            rg.num_rows(),
            rg.parquet_columns()
                .iter()
                .map(|c| c.compressed_size())
                .collect(),
        )
    };
    let mut by_shape: HashMap<(usize, Vec<i64>), Vec<usize>> = HashMap::new();
    for g in (0..old.groups()).rev() {
        by_shape.entry(shape(old, g)).or_default().push(g);
    }
    (0..new.groups())
        .map(|h| {
            let cands = by_shape.get_mut(&shape(new, h))?;
            let at = cands.iter().rposition(|&g| old.same_group(g, new, h))?;
            Some(cands.remove(at))
        })
        .collect()
}

/// Writes a Parquet file from frames and from row groups copied out of other files,
/// in the order given. Rows of frames are cut into row groups of a fixed number of rows
/// (not split evenly, as polars' writer does), so that two versions of a table that
/// differ by an edit or an append share every other row group byte for byte; they are
/// encoded as [`write_table`] encodes them (zstd).
pub(crate) struct SpliceWriter<W: Write> {
    writer: polars::io::parquet::write::BatchedWriter<W>,
    group_rows: usize,
    pending: Option<DataFrame>,
    rows: usize,
}

impl<W: Write> SpliceWriter<W> {
    /// A writer of a file with the columns of `schema`.
    pub(crate) fn new(out: W, schema: &Schema) -> Result<Self> {
        Self::with_group_rows(out, schema, GROUP_ROWS)
    }

    /// A writer cutting row groups of `group_rows` rows.
    pub(crate) fn with_group_rows(out: W, schema: &Schema, group_rows: usize) -> Result<Self> {
        let writer = ParquetWriter::new(out)
            .with_compression(ParquetCompression::Zstd(None))
            .with_row_group_size(Some(group_rows))
            .batched(schema)?;
        Ok(SpliceWriter {
            writer,
            group_rows,
            pending: None,
            rows: 0,
        })
    }

    /// True when row groups of `file` can be copied into this file as they are: same
    /// Parquet layout, and no nested columns (whose pages do not say how many rows
    /// they hold).
    pub(crate) fn accepts(&mut self, file: &ParquetFile) -> bool {
        let mine = self.writer.parquet_schema();
        format!("{:?}", mine.fields()) == format!("{:?}", file.meta.schema().fields())
            && mine
                .columns()
                .iter()
                .all(|c| c.descriptor.max_rep_level == 0)
    }

    /// Appends the rows of `df` (columns as in the schema).
    pub(crate) fn push(&mut self, df: DataFrame) -> Result<()> {
        let mut pending = match self.pending.take() {
            None => df,
            Some(mut p) => {
                p.vstack_mut_owned(df)?;
                p
            }
        };
        while pending.height() >= self.group_rows {
            let rest = pending.slice(self.group_rows as i64, usize::MAX);
            self.write_group(pending.slice(0, self.group_rows))?;
            pending = rest;
        }
        self.pending = Some(pending);
        Ok(())
    }

    fn write_group(&mut self, df: DataFrame) -> Result<()> {
        if df.height() == 0 {
            return Ok(());
        }
        // One chunk is one row group.
        let mut df = df;
        df.rechunk_mut_par();
        self.writer.write_batch(&df)?;
        self.rows += df.height();
        Ok(())
    }

    /// Appends row group `g` of `file` (which [`SpliceWriter::accepts`]) without
    /// decoding it. Rows pushed before it make a row group of their own.
    pub(crate) fn copy_group(&mut self, file: &ParquetFile, g: usize) -> Result<()> {
        if let Some(p) = self.pending.take() {
            self.write_group(p)?;
        }
        let n = file.meta.row_groups[g].n_columns();
        let mut columns = Vec::with_capacity(n);
        for c in 0..n {
            let mut pages = Vec::new();
            for page in file.pages(g, c)? {
                let mut page = page.map_err(PolarsError::from)?;
                if let CompressedPage::Data(d) = &mut page {
                    // Flat columns: a value per row (version 1 pages do not say).
                    d.num_rows.get_or_insert(d.num_values());
                }
                pages.push(page);
            }
            columns.push(pages);
        }
        let rows = file.meta.row_groups[g].num_rows();
        self.writer.write_row_group(rows as u64, &columns)?;
        self.rows += rows;
        Ok(())
    }

    /// Writes what is pending and the footer; returns the rows written.
    pub(crate) fn finish(mut self) -> Result<usize> {
        if let Some(p) = self.pending.take() {
            self.write_group(p)?;
        }
        self.writer.finish()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ids: Range<i64>, edit: Option<i64>) -> DataFrame {
        let id: Vec<i64> = ids.collect();
        let v: Vec<f64> = id
            .iter()
            .map(|&i| if Some(i) == edit { -1.0 } else { i as f64 })
            .collect();
        let s: Vec<String> = id.iter().map(|i| format!("row {i}")).collect();
        df!("id" => id, "v" => v, "s" => s).unwrap()
    }

    fn file(df: &mut DataFrame, group: usize) -> ParquetFile {
        let mut buf = Vec::new();
        let mut w = SpliceWriter::with_group_rows(&mut buf, df.schema(), group).unwrap();
        w.push(df.clone()).unwrap();
        w.finish().unwrap();
        ParquetFile::new(Buffer::from(buf)).unwrap()
    }

    #[test]
    fn groups_left_alone_are_found_identical_and_edited_ones_are_not() {
        let old = file(&mut frame(0..1000, None), 100);
        let new = file(&mut frame(0..1050, Some(432)), 100);
        assert_eq!(old.groups(), 10);
        assert_eq!(new.groups(), 11);
        let m = identical_groups(&old, &new);
        let want: Vec<Option<usize>> = (0..11).map(|g| (g != 4 && g != 10).then_some(g)).collect();
        assert_eq!(m, want);
        let rows = new.take(&[5, 432, 433, 1049]).unwrap();
        assert_eq!(
            rows.column("v").unwrap().f64().unwrap().to_vec(),
            vec![Some(5.0), Some(-1.0), Some(433.0), Some(1049.0)]
        );
    }

    #[test]
    fn a_spliced_file_reads_back_as_its_parts_in_order() {
        let mut a = frame(0..300, None);
        let src = file(&mut a, 100);
        let mut buf = Vec::new();
        let mut w = SpliceWriter::new(&mut buf, a.schema()).unwrap();
        assert!(w.accepts(&src));
        w.push(frame(1000..1010, None)).unwrap();
        w.copy_group(&src, 2).unwrap();
        w.push(frame(2000..2005, None)).unwrap();
        w.copy_group(&src, 0).unwrap();
        assert_eq!(w.finish().unwrap(), 215);
        let back = ParquetReader::new(Cursor::new(buf)).finish().unwrap();
        let ids: Vec<i64> = back
            .column("id")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let want: Vec<i64> = (1000..1010)
            .chain(200..300)
            .chain(2000..2005)
            .chain(0..100)
            .collect();
        assert_eq!(ids, want);
        let s = back
            .column("s")
            .unwrap()
            .str()
            .unwrap()
            .get(10)
            .unwrap()
            .to_string();
        assert_eq!(s, "row 200");
    }

    #[test]
    fn frames_are_cut_into_fixed_row_groups_and_an_empty_one_reads_back() {
        let mut buf = Vec::new();
        let df = frame(0..1000, None);
        let mut w = SpliceWriter::with_group_rows(&mut buf, df.schema(), 300).unwrap();
        w.push(df.slice(0, 250)).unwrap();
        w.push(df.slice(250, 750)).unwrap();
        assert_eq!(w.finish().unwrap(), 1000);
        let f = ParquetFile::new(Buffer::from(buf)).unwrap();
        let sizes: Vec<usize> = (0..f.groups()).map(|g| f.group_rows(g).len()).collect();
        assert_eq!(sizes, vec![300, 300, 300, 100]);
        assert!(f.read(None, 0..1000).unwrap().equals_missing(&df));

        let mut empty = df.clear();
        let mut buf = Vec::new();
        crate::write_table(&mut empty, crate::TableFormat::Parquet, &mut buf).unwrap();
        let back = ParquetReader::new(Cursor::new(buf)).finish().unwrap();
        assert_eq!(back.height(), 0);
        assert_eq!(back.schema(), df.schema());
    }
}
