//! Three-way merge of Parquet versions sorted by their key, touching only the row groups
//! that changed.
//!
//! Row groups of ours or theirs that are byte for byte a row group of the base
//! ([`identical_groups`]) hold rows that side left alone. A key that one side left alone
//! takes the other side's row with no rule to evaluate (and cannot conflict); only keys
//! both sides touched (in row groups that differ from the base, or added by both) are
//! decoded and merged by the general rules, on frames holding just those rows. The
//! merged table is then a sequence of [`Piece`]s: runs of ours' rows, runs of theirs'
//! rows and runs of the merged rows, in merged order. Written as Parquet, whole row
//! groups of ours and theirs inside a run are copied without decoding
//! ([`SpliceWriter::copy_group`]).
//!
//! Applies when all three versions are Parquet with the same columns and layout, one key
//! column, keys strictly increasing in each, and some row group left alone; otherwise the
//! merge reads everything as before.

use std::ops::Range;

use polars::prelude::*;

use crate::error::Result;
use crate::format::TableSource;
use crate::row_groups::{ParquetFile, SpliceWriter, identical_groups, open_alike};
use crate::sorted::{NONE, line_up_frames};

/// Offset of merged order keys new in ours, and twice it of keys new only in theirs (the
/// merge's order column; must match `merge.rs`).
pub(crate) const SHIFT: i64 = 1 << 40;

/// A run of rows of the merged table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// These rows of ours, as they are.
    Ours(Range<usize>),
    /// These rows of theirs, as they are.
    Theirs(Range<usize>),
    /// These rows of the merge of the rows both sides touched.
    Merged(Range<usize>),
}

/// Where rows of merged order come from (rows gone from the merged table are left out).
#[derive(Debug, Clone)]
enum Source {
    /// A run of ours' rows.
    Ours(Range<usize>),
    /// A run of theirs' rows.
    Theirs(Range<usize>),
    /// One row touched by both, merged by the rules: its place in the merge's order
    /// column if it is kept.
    Touched(i64),
}

/// Appends `s` to `runs`, extending the last run where it continues it.
fn push_source(runs: &mut Vec<Source>, s: Source) {
    match (runs.last_mut(), &s) {
        (Some(Source::Ours(a)), Source::Ours(b)) | (Some(Source::Theirs(a)), Source::Theirs(b))
            if a.end == b.start =>
        {
            a.end = b.end;
        }
        _ => runs.push(s),
    }
}

/// The three versions read far enough to merge them a row group at a time.
pub(crate) struct Prepared {
    pub(crate) ours: ParquetFile,
    pub(crate) theirs: ParquetFile,
    /// The rows both sides touched, of base, ours and theirs, each in its own order.
    pub(crate) touched: [DataFrame; 3],
    sources: Vec<Source>,
}

/// Reads the keys of the three versions and finds what both sides touched; `None` when
/// the row-group merge does not apply (see the module docs).
pub(crate) fn prepare(
    base: &TableSource,
    ours: &TableSource,
    theirs: &TableSource,
    key: &[String],
) -> Result<Option<Prepared>> {
    if key.len() != 1 {
        return Ok(None);
    }
    let Some(files) = open_alike(&[base, ours, theirs], key)? else {
        return Ok(None);
    };
    let [b, o, t]: [ParquetFile; 3] = files.try_into().ok().expect("three files");
    let same_o = identical_groups(&b, &o);
    let same_t = identical_groups(&b, &t);
    if same_o.iter().chain(&same_t).all(Option::is_none) {
        return Ok(None);
    }
    let keys = |f: &ParquetFile| {
        // One chunk per key column, made one version at a time: lining up needs
        // contiguous keys, and three multi-chunk columns would be copied all at once.
        f.read(Some(key.to_vec()), 0..f.rows()).map(|mut df| {
            df.rechunk_mut_par();
            df
        })
    };
    let (kb, ko, kt) = match (keys(&b), keys(&o), keys(&t)) {
        (Ok(kb), Ok(ko), Ok(kt)) => (kb, ko, kt),
        _ => return Ok(None),
    };
    let Some((idx, _groups)) = line_up_frames(&[&kb, &ko, &kt], key) else {
        return Ok(None);
    };
    drop((kb, ko, kt));
    let left_alone = |f: &ParquetFile, same: &[Option<usize>]| -> Vec<bool> {
        let mut v = vec![false; f.rows()];
        for (g, s) in same.iter().enumerate() {
            if s.is_some() {
                v[f.group_rows(g)].fill(true);
            }
        }
        v
    };
    let (o_alone, t_alone) = (left_alone(&o, &same_o), left_alone(&t, &same_t));

    // What both sides touched, each side's row numbers in its own order.
    let mut touched: [Vec<usize>; 3] = Default::default();
    let mut sources = Vec::new();
    let present = |i: IdxSize| i != NONE;
    let one = |i: IdxSize| i as usize..i as usize + 1;
    let rows = idx[0].iter().zip(&idx[1]).zip(&idx[2]);
    for ((&ib, &io), &it) in rows {
        let ou = present(io) && o_alone[io as usize];
        let tu = present(it) && t_alone[it as usize];
        let source = match (present(ib), present(io), present(it)) {
            // Rows a side left alone are the base's: take the other side's change
            // (a deletion drops the row).
            (true, true, true) if tu => Some(Source::Ours(one(io))),
            (true, true, true) if ou => Some(Source::Theirs(one(it))),
            (true, true, false) if ou => None,
            (true, false, true) if tu => None,
            (true, false, false) => None,
            (false, true, false) => Some(Source::Ours(one(io))),
            (false, false, true) => Some(Source::Theirs(one(it))),
            _ => {
                // For now the first side holding the row and its row number there.
                let (side, i) = [ib, io, it]
                    .into_iter()
                    .enumerate()
                    .find(|&(_, i)| present(i))
                    .expect("a merged row is in some version");
                for (side, i) in [ib, io, it].into_iter().enumerate() {
                    if present(i) {
                        touched[side].push(i as usize);
                    }
                }
                Some(Source::Touched(side as i64 * SHIFT + i as i64))
            }
        };
        if let Some(s) = source {
            push_source(&mut sources, s);
        }
    }
    drop(idx);
    for t in &mut touched {
        t.sort_unstable();
    }
    // Each touched row's place in the merge's order column: its row number among the
    // touched rows of the first side that has it, shifted by that side.
    for s in &mut sources {
        if let Source::Touched(ord) = s {
            let (side, row) = (*ord / SHIFT, (*ord % SHIFT) as usize);
            let rank = touched[side as usize]
                .binary_search(&row)
                .expect("touched rows are listed") as i64;
            *ord = side * SHIFT + rank;
        }
    }
    let read = |src: &TableSource, f: &ParquetFile, rows: &[usize]| {
        f.take(rows).map_err(|e| src.malformed(e))
    };
    let touched = [
        read(base, &b, &touched[0])?,
        read(ours, &o, &touched[1])?,
        read(theirs, &t, &touched[2])?,
    ];
    Ok(Some(Prepared {
        ours: o,
        theirs: t,
        touched,
        sources,
    }))
}

impl Prepared {
    /// The merged table as pieces, given the order column of the merge of the touched
    /// rows (one value per kept row, ascending). `None` if the two do not fit together,
    /// which would be a bug; the caller then merges the general way.
    pub(crate) fn pieces(&self, merged_order: &[i64]) -> Option<Vec<Piece>> {
        let mut out: Vec<Piece> = Vec::new();
        let mut next = 0usize;
        let mut push = |p: Piece| {
            if let Some(last) = out.last_mut() {
                match (last, &p) {
                    (Piece::Ours(a), Piece::Ours(b))
                    | (Piece::Theirs(a), Piece::Theirs(b))
                    | (Piece::Merged(a), Piece::Merged(b))
                        if a.end == b.start =>
                    {
                        a.end = b.end;
                        return;
                    }
                    _ => {}
                }
            }
            out.push(p);
        };
        for s in &self.sources {
            match s {
                Source::Ours(r) => push(Piece::Ours(r.clone())),
                Source::Theirs(r) => push(Piece::Theirs(r.clone())),
                Source::Touched(ord) => {
                    if merged_order.get(next) == Some(ord) {
                        push(Piece::Merged(next..next + 1));
                        next += 1;
                    }
                }
            }
        }
        (next == merged_order.len()).then_some(out)
    }
}

/// Rows in the pieces.
pub(crate) fn piece_rows(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Ours(r) | Piece::Theirs(r) | Piece::Merged(r) => r.len(),
        })
        .sum()
}

/// Writes the pieces as one Parquet file, copying the row groups of ours and theirs they
/// cover whole; `merged` holds the merged touched rows, columns as in the output.
pub(crate) fn write_pieces<W: std::io::Write>(
    out: W,
    pieces: &[Piece],
    ours: &ParquetFile,
    theirs: &ParquetFile,
    merged: &DataFrame,
) -> Result<usize> {
    let mut w = SpliceWriter::new(out, merged.schema())?;
    for p in pieces {
        match p {
            Piece::Merged(r) => w.push(merged.slice(r.start as i64, r.len()))?,
            Piece::Ours(r) => copy_rows(&mut w, ours, r.clone())?,
            Piece::Theirs(r) => copy_rows(&mut w, theirs, r.clone())?,
        }
    }
    w.finish()
}

/// Appends rows `rows` of `file`: whole row groups copied, the rest decoded.
fn copy_rows<W: std::io::Write>(
    w: &mut SpliceWriter<W>,
    file: &ParquetFile,
    rows: Range<usize>,
) -> Result<()> {
    let mut at = rows.start;
    for g in 0..file.groups() {
        let gr = file.group_rows(g);
        if gr.end <= at || at >= rows.end {
            continue;
        }
        let end = gr.end.min(rows.end);
        if gr.start == at && end == gr.end {
            w.copy_group(file, g)?;
        } else {
            w.push(file.read(None, at..end)?)?;
        }
        at = end;
    }
    Ok(())
}

/// The pieces as one frame (every row decoded).
pub(crate) fn materialize(
    pieces: &[Piece],
    ours: &ParquetFile,
    theirs: &ParquetFile,
    merged: &DataFrame,
) -> Result<DataFrame> {
    let mut out = merged.clear();
    for p in pieces {
        let part = match p {
            Piece::Merged(r) => merged.slice(r.start as i64, r.len()),
            Piece::Ours(r) => ours.read(None, r.clone())?,
            Piece::Theirs(r) => theirs.read(None, r.clone())?,
        };
        out.vstack_mut_owned(part)?;
    }
    out.rechunk_mut_par();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::merge3_on;
    use crate::row_groups::SpliceWriter;
    use crate::sorted::JoinPath;
    use crate::{MergeOptions, Strategy, TableFormat};

    /// Rows `(id, value, label)`.
    type Rows = Vec<(i64, Option<f64>, String)>;

    fn parquet(name: &str, rows: &Rows) -> TableSource {
        let df = df!(
            "id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "value" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "label" => rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
        )
        .unwrap();
        let mut buf = Vec::new();
        let mut w = SpliceWriter::with_group_rows(&mut buf, df.schema(), 16).unwrap();
        w.push(df).unwrap();
        w.finish().unwrap();
        TableSource::from_bytes(name, buf).unwrap()
    }

    fn base() -> Rows {
        (0..400)
            .map(|i| {
                (
                    2 * i,
                    (i % 7 != 0).then_some(i as f64),
                    format!("l{}", i % 5),
                )
            })
            .collect()
    }

    fn edit(rows: &mut Rows, at: &[usize], value: f64) {
        for &i in at {
            rows[i].1 = Some(value);
        }
    }

    /// Merges by row groups and by the hash join on decoded frames; both must agree,
    /// and the Parquet the row-group merge writes must read back as its table.
    fn check(b: &Rows, o: &Rows, t: &Rows, strategy: Strategy, spliced: bool) {
        let (bs, os, ts) = (
            parquet("b.parquet", b),
            parquet("o.parquet", o),
            parquet("t.parquet", t),
        );
        let key = vec!["id".to_string()];
        let opts = MergeOptions::default();
        let fast = merge3_on(&bs, &os, &ts, &key, strategy, &opts, JoinPath::Auto).unwrap();
        assert_eq!(fast.is_spliced(), spliced, "{strategy:?}");
        let frame = |s: &TableSource| {
            TableSource::from_frame(s.name(), TableFormat::Parquet, s.read().unwrap())
        };
        let slow = merge3_on(
            &frame(&bs),
            &frame(&os),
            &frame(&ts),
            &key,
            strategy,
            &opts,
            JoinPath::Hash,
        )
        .unwrap();
        assert_eq!(fast.stats(), slow.stats());
        assert_eq!(
            serde_json::to_value(fast.conflicts()).unwrap(),
            serde_json::to_value(slow.conflicts()).unwrap()
        );
        let want = slow.settled_rows().unwrap();
        assert!(fast.settled_rows().unwrap().equals_missing(&want));
        if fast.is_clean() {
            let mut buf = Vec::new();
            let rows = fast.write_to(TableFormat::Parquet, &mut buf).unwrap();
            assert_eq!(rows as usize, want.height());
            let back = ParquetReader::new(std::io::Cursor::new(buf))
                .finish()
                .unwrap();
            assert!(back.equals_missing(&want), "{back}\n{want}");
        }
    }

    #[test]
    fn a_row_group_merge_gives_what_the_full_merge_gives() {
        let b = base();
        let (mut o, mut t) = (b.clone(), b.clone());
        // Edits in place: ours in groups 2 and 9, theirs in 5 and 9 (other rows, one
        // row edited the same way by both), a cell set to null.
        edit(&mut o, &[33, 40, 150, 151], 1.5);
        edit(&mut t, &[80, 95, 151], 1.5);
        edit(&mut t, &[152], 7.0);
        t[90].1 = None;
        // Appends: new ids on each side, one id added by both alike.
        o.push((1001, Some(1.0), "o".into()));
        o.push((1003, Some(3.0), "both".into()));
        t.push((1002, Some(2.0), "t".into()));
        t.push((1003, Some(3.0), "both".into()));
        // A deletion in ours' last groups and one theirs left alone.
        o.remove(390);
        t.remove(10);
        for s in [Strategy::Manual, Strategy::Ours, Strategy::Theirs] {
            check(&b, &o, &t, s, true);
        }
        // A row both changed differently conflicts: reported by the full merge, or
        // settled one way row group by row group.
        edit(&mut o, &[152], 9.0);
        check(&b, &o, &t, Strategy::Manual, false);
        check(&b, &o, &t, Strategy::Ours, true);
        check(&b, &o, &t, Strategy::Theirs, true);
        // Modified on one side, deleted on the other.
        let mut t2 = b.clone();
        t2.remove(151);
        check(&b, &o, &t2, Strategy::Manual, false);
        check(&b, &o, &t2, Strategy::Theirs, true);
        // Nothing shared: the general merge.
        let shifted: Rows = b.iter().skip(1).cloned().collect();
        check(&b, &shifted, &shifted, Strategy::Manual, false);
    }

    #[test]
    fn pieces_copy_whole_groups_and_run_together() {
        let b = base();
        let mut o = b.clone();
        edit(&mut o, &[40], 1.0);
        o.push((2000, None, "new".into()));
        let (bs, os) = (parquet("b.parquet", &b), parquet("o.parquet", &o));
        let p = prepare(&bs, &os, &bs, &["id".to_string()])
            .unwrap()
            .unwrap();
        // Theirs left everything alone: the merge is ours, row for row, in one piece.
        assert_eq!(p.touched.iter().map(DataFrame::height).sum::<usize>(), 0);
        assert_eq!(p.pieces(&[]).unwrap(), vec![Piece::Ours(0..401)]);
    }

    #[test]
    fn a_row_group_diff_gives_what_the_full_diff_gives() {
        use crate::diff::diff_on;
        use crate::{DiffOptions, TableError};
        let b = base();
        let mut o = b.clone();
        edit(&mut o, &[33, 40, 150], 1.5);
        o[200].2 = "relabelled".into();
        o.remove(380);
        o.push((5000, None, "new".into()));
        let (bs, os) = (parquet("b.parquet", &b), parquet("o.parquet", &o));
        let frame = |s: &TableSource| {
            TableSource::from_frame(s.name(), TableFormat::Parquet, s.read().unwrap())
        };
        let key = vec!["id".to_string()];
        let opts = DiffOptions {
            rows: true,
            ..Default::default()
        };
        for (x, y) in [(&bs, &os), (&os, &bs)] {
            let by_groups = crate::diff::diff_row_groups(x, y, &key, &opts).unwrap();
            assert!(by_groups.is_some(), "the versions share row groups");
            let fast = diff_on(x, y, &key, &opts, JoinPath::Auto).unwrap();
            let slow = diff_on(&frame(x), &frame(y), &key, &opts, JoinPath::Hash).unwrap();
            assert_eq!(
                (fast.added, fast.removed, fast.modified),
                (slow.added, slow.removed, slow.modified)
            );
            let j = |d: &crate::TableDiff| {
                let mut v = serde_json::to_value(d).unwrap();
                for kind in ["added", "removed", "modified"] {
                    let list = v["rows"][kind].as_array_mut().unwrap();
                    list.sort_by_key(|r| r.to_string());
                }
                v
            };
            assert_eq!(j(&fast), j(&slow));
        }
        // A key repeated in a group the versions do not share is still caught.
        let mut dup = b.clone();
        dup[390].0 = dup[389].0;
        let ds = parquet("dup.parquet", &dup);
        let err = diff_on(&bs, &ds, &key, &opts, JoinPath::Auto).unwrap_err();
        assert!(matches!(err, TableError::DuplicateKey { .. }), "{err}");
    }
}
