//! Lining rows of several versions up by key without a hash join, when every version is
//! sorted by its key.
//!
//! Dataset tables are very often sorted by their key (ids handed out in increasing order,
//! files written sorted). For those, one linear merge over the key column finds which
//! rows of the versions share a key, in O(rows) with no hashing, and the frame a full
//! outer join would give is assembled from the inputs by slicing runs of consecutive rows
//! (no copy) or, when the runs are many, by gathering rows by index.
//!
//! The fast path applies only when its answer is the join's: one key column, no null
//! keys, an integer, temporal or string key (compared by value, strings bytewise), and
//! keys *strictly* increasing in every version, which also proves them unique. Anything
//! else returns `None` and the caller runs polars' hash join (which also reports
//! duplicate keys).

use polars::prelude::*;

/// Marks a version that has no row with a key.
pub(crate) const NONE: IdxSize = IdxSize::MAX;

/// Which way rows are matched by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinPath {
    /// The linear merge when every version is sorted by key, else the hash join.
    Auto,
    /// Always polars' hash join.
    Hash,
}

impl JoinPath {
    /// `Hash` if the environment variable `COLONY_TABLES_JOIN` is `hash`, else `Auto`.
    pub(crate) fn from_env() -> Self {
        match std::env::var("COLONY_TABLES_JOIN").as_deref() {
            Ok("hash") => JoinPath::Hash,
            _ => JoinPath::Auto,
        }
    }
}

/// One version to line up, and how its columns are named in the joined frame.
pub(crate) struct Side<'a> {
    /// The version's rows.
    pub df: &'a DataFrame,
    /// Prefix given to its non-key columns.
    pub prefix: &'a str,
    /// Name of its presence column: true where it has the key, null where not.
    pub present: &'a str,
    /// Name of its row-number column (null where it lacks the key), if wanted.
    pub index: Option<&'a str>,
}

/// The frame a full outer join of `sides` on `key` gives (with coalesced key columns and
/// nulls matching nulls), or `None` when the sorted fast path does not apply (see the
/// module docs).
///
/// Columns: the key column; then per side its non-key columns renamed with its prefix,
/// its presence flag and, if asked for, its row number. Rows come in *merged order*: the
/// rows of the first side in its order, then the rows whose key is only in later sides,
/// grouped by the first side that has them, each group in that side's order. When this
/// returns `Some`, keys are unique in every side.
pub(crate) fn sorted_join(sides: &[Side], key: &[String]) -> PolarsResult<Option<DataFrame>> {
    let dfs: Vec<&DataFrame> = sides.iter().map(|s| s.df).collect();
    let Some((idx, groups)) = line_up_frames(&dfs, key) else {
        return Ok(None);
    };
    Ok(Some(assemble(sides, key, &idx, &groups)?))
}

/// Each version's row numbers in merged order (`NONE` where it lacks the key) and the
/// length of each group of merged order (see [`sorted_join`]), or `None` when the fast
/// path does not apply to these versions.
#[allow(clippy::type_complexity)]
pub(crate) fn line_up_frames(
    dfs: &[&DataFrame],
    key: &[String],
) -> Option<(Vec<Vec<IdxSize>>, Vec<usize>)> {
    let keys = dfs
        .iter()
        .map(|df| sorted_keys(df, key))
        .collect::<Option<Vec<_>>>()?;
    match &keys[0] {
        Keys::Int(_) => {
            let slices = keys
                .iter()
                .map(|k| match k {
                    Keys::Int(ca) => ca.cont_slice().ok(),
                    Keys::Str(_) => None,
                })
                .collect::<Option<Vec<_>>>()?;
            line_up(&slices)
        }
        Keys::Str(_) => {
            let strs = keys
                .iter()
                .map(|k| match k {
                    Keys::Str(ca) => Some(ca.no_null_iter().collect::<Vec<&str>>()),
                    Keys::Int(_) => None,
                })
                .collect::<Option<Vec<_>>>()?;
            let slices: Vec<&[&str]> = strs.iter().map(Vec::as_slice).collect();
            line_up(&slices)
        }
    }
}

/// True when the one key column of `df` is strictly increasing (so its keys are
/// unique), as the fast path compares keys; false when that cannot be told this way.
pub(crate) fn strictly_increasing(df: &DataFrame, key: &[String]) -> bool {
    fn check<T: Ord>(s: &[T]) -> bool {
        s.windows(2).all(|w| w[0] < w[1])
    }
    match sorted_keys(df, key) {
        Some(Keys::Int(ca)) => ca.cont_slice().is_ok_and(check),
        Some(Keys::Str(ca)) => check(&ca.no_null_iter().collect::<Vec<&str>>()),
        None => false,
    }
}

/// The key of a version, if the fast path can compare it: one non-null column of an
/// integer, temporal or string type. Integers and temporals are compared as i64 (their
/// order is kept; a u64 beyond i64 does not convert and is left to the hash join).
/// Categoricals are left out: their physical codes do not follow their values.
enum Keys {
    Int(Int64Chunked),
    Str(StringChunked),
}

fn sorted_keys(df: &DataFrame, key: &[String]) -> Option<Keys> {
    let [k] = key else { return None };
    let s = df.column(k).ok()?.as_materialized_series();
    if s.null_count() > 0 {
        return None;
    }
    match s.dtype() {
        DataType::String => Some(Keys::Str(s.str().ok()?.clone())),
        dt if dt.is_integer() || dt.is_temporal() => {
            let phys = s.to_physical_repr().strict_cast(&DataType::Int64).ok()?;
            Some(Keys::Int(phys.i64().ok()?.rechunk().into_owned()))
        }
        _ => None,
    }
}

/// Lines up keys that are strictly increasing in every side, straight into merged
/// order: keys grouped by the first side that has them, groups in side order, key order
/// within a group (which, keys being sorted, is that side's row order). Returns each
/// side's row numbers in that order (`NONE` where it lacks the key) and the length of
/// each group; `None` if some side is not strictly increasing (unsorted or duplicate
/// keys).
#[allow(clippy::type_complexity)]
fn line_up<T: Ord>(sides: &[&[T]]) -> Option<(Vec<Vec<IdxSize>>, Vec<usize>)> {
    let sorted = |s: &[T]| s.windows(2).all(|w| w[0] < w[1]);
    if !sides.iter().all(|s| sorted(s) && s.len() < NONE as usize) {
        return None;
    }
    let k = sides.len();
    // by_group[g][side]: row numbers of `side` for the keys of group g.
    let mut by_group: Vec<Vec<Vec<IdxSize>>> = (0..k)
        .map(|g| {
            let cap = if g == 0 { sides[0].len() } else { 0 };
            (0..k).map(|_| Vec::with_capacity(cap)).collect()
        })
        .collect();
    let mut pos = vec![0usize; k];
    // Versions mostly share long stretches of identical keys: those are matched a block
    // at a time by comparing key slices (vectorised) instead of key by key.
    const BLOCK: usize = 256;
    loop {
        let block_matches = sides.iter().zip(&pos).all(|(s, &p)| {
            p + BLOCK <= s.len() && s[p..p + BLOCK] == sides[0][pos[0]..pos[0] + BLOCK]
        });
        if block_matches {
            for (i, p) in pos.iter_mut().enumerate() {
                by_group[0][i].extend(*p as IdxSize..(*p + BLOCK) as IdxSize);
                *p += BLOCK;
            }
            continue;
        }
        let mut min: Option<(usize, &T)> = None;
        for (g, (s, &p)) in sides.iter().zip(&pos).enumerate() {
            if let Some(v) = s.get(p)
                && min.is_none_or(|(_, m)| v < m)
            {
                min = Some((g, v));
            }
        }
        let Some((_, min)) = min else { break };
        // The group is the first side holding the smallest key.
        let g = (0..k)
            .find(|&i| sides[i].get(pos[i]) == Some(min))
            .unwrap_or(0);
        for (i, (s, p)) in sides.iter().zip(pos.iter_mut()).enumerate() {
            if s.get(*p) == Some(min) {
                by_group[g][i].push(*p as IdxSize);
                *p += 1;
            } else {
                by_group[g][i].push(NONE);
            }
        }
    }
    let groups: Vec<usize> = by_group.iter().map(|g| g[0].len()).collect();
    // The first group holds nearly every row: the later ones are appended to it in
    // place rather than everything copied into new vectors.
    let mut later = by_group.split_off(1);
    let mut idx = by_group.pop().expect("a group per side");
    for group in &mut later {
        for (side, rows) in idx.iter_mut().zip(group.iter_mut()) {
            side.append(rows);
        }
    }
    Some((idx, groups))
}

/// Builds the joined frame from each side's row numbers in merged order.
fn assemble(
    sides: &[Side],
    key: &[String],
    idx: &[Vec<IdxSize>],
    groups: &[usize],
) -> PolarsResult<DataFrame> {
    let is_key = |n: &str| key.iter().any(|k| k == n);
    let mut columns: Vec<Column> = Vec::new();
    // The key comes from the side that owns each group of rows (it has them all).
    for k in key {
        let mut out: Option<Series> = None;
        let mut start = 0;
        for ((side, rows), &len) in sides.iter().zip(idx).zip(groups) {
            let part = gather(
                side.df.column(k)?.as_materialized_series(),
                &rows[start..start + len],
            )?;
            start += len;
            match &mut out {
                None => out = Some(part),
                Some(s) => {
                    s.append_owned(part)?;
                }
            }
        }
        if let Some(s) = out {
            columns.push(s.into());
        }
    }
    for (side, rows) in sides.iter().zip(idx) {
        let pick = Pick::new(rows);
        for c in side.df.columns() {
            if is_key(c.name()) {
                continue;
            }
            let g = pick
                .apply(c.as_materialized_series())?
                .with_name(format!("{}{}", side.prefix, c.name()).into());
            columns.push(g.into());
        }
        // Presence and row numbers share one validity mask: set where the side has the key.
        let numbers = IdxCa::from_vec(side.index.unwrap_or("").into(), rows.to_vec());
        let valid = numbers
            .not_equal(NONE)
            .rechunk()
            .downcast_iter()
            .next()
            .map(|mask| mask.values().clone());
        let present = BooleanChunked::full(side.present.into(), true, rows.len());
        columns.push(present.with_validity(valid.clone()).into_column());
        if side.index.is_some() {
            columns.push(numbers.with_validity(valid).into_column());
        }
    }
    DataFrame::new_infer_height(columns)
}

/// How to pick rows `idx` of a column: by slicing runs of consecutive row numbers (or
/// of `NONE`) and appending the slices without copying values, when there are few runs;
/// otherwise by gathering the rows one by one. Worked out once per side, used for each
/// of its columns.
enum Pick {
    Runs(Vec<(IdxSize, usize)>),
    Rows(IdxCa),
}

impl Pick {
    fn new(idx: &[IdxSize]) -> Self {
        // Beyond this many runs the per-chunk overhead outweighs the saved copy.
        let max_runs = 16 + idx.len() / 65_536;
        match runs(idx, max_runs) {
            Some(r) => Pick::Runs(r),
            None => Pick::Rows(idx.iter().map(|&i| (i != NONE).then_some(i)).collect()),
        }
    }

    /// The picked rows of `s`, `NONE` giving null.
    fn apply(&self, s: &Series) -> PolarsResult<Series> {
        match self {
            Pick::Runs(runs) => {
                let mut out = Series::new_empty(s.name().clone(), s.dtype());
                for &(start, len) in runs {
                    let part = if start == NONE {
                        Series::full_null(s.name().clone(), len, s.dtype())
                    } else {
                        s.slice(start as i64, len)
                    };
                    out.append_owned(part)?;
                }
                Ok(out)
            }
            Pick::Rows(rows) => s.take(rows),
        }
    }
}

/// Rows `idx` of `s` in order, `NONE` giving null (see [`Pick`]).
fn gather(s: &Series, idx: &[IdxSize]) -> PolarsResult<Series> {
    Pick::new(idx).apply(s)
}

/// `idx` as runs `(first row number or NONE, length)`, or `None` if there are more than
/// `max` of them.
fn runs(idx: &[IdxSize], max: usize) -> Option<Vec<(IdxSize, usize)>> {
    let mut out: Vec<(IdxSize, usize)> = Vec::new();
    for &i in idx {
        if let Some((start, len)) = out.last_mut() {
            let continues = if *start == NONE {
                i == NONE
            } else {
                i != NONE && i as usize == *start as usize + *len
            };
            if continues {
                *len += 1;
                continue;
            }
        }
        if out.len() == max {
            return None;
        }
        out.push((i, 1));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_up_matches_keys_in_merged_order_and_rejects_unsorted_sides() {
        let (a, b) = ([1, 3, 5], [2, 3, 6]);
        let (idx, groups) = line_up::<i32>(&[&a, &b]).unwrap();
        assert_eq!(groups, vec![3, 2]);
        assert_eq!(idx[0], vec![0, 1, 2, NONE, NONE]);
        assert_eq!(idx[1], vec![NONE, 1, NONE, 0, 2]);
        assert!(line_up::<i32>(&[&[1, 1, 2], &b]).is_none());
        assert!(line_up::<i32>(&[&a, &[3, 2]]).is_none());
        let (idx, groups) = line_up::<i32>(&[&[], &[]]).unwrap();
        assert_eq!((idx, groups), (vec![vec![], vec![]], vec![0, 0]));
        // Keys 1..=4: 1 in b only, 2 in a and c, 3 in c only, 4 in a and b.
        let (idx, groups) = line_up::<i32>(&[&[2, 4], &[1, 4], &[2, 3]]).unwrap();
        assert_eq!(groups, vec![2, 1, 1]);
        assert_eq!(idx[0], vec![0, 1, NONE, NONE]);
        assert_eq!(idx[1], vec![NONE, 1, 0, NONE]);
        assert_eq!(idx[2], vec![0, NONE, NONE, 1]);
    }

    #[test]
    fn gather_slices_few_runs_and_takes_many() {
        let s = Series::new("v".into(), (0..100i64).collect::<Vec<_>>());
        let idx: Vec<IdxSize> = (10..20).chain([NONE, NONE]).chain(50..55).collect();
        let want: Vec<Option<i64>> = idx
            .iter()
            .map(|&i| (i != NONE).then_some(i as i64))
            .collect();
        let got = gather(&s, &idx).unwrap();
        assert_eq!(got.i64().unwrap().iter().collect::<Vec<_>>(), want);
        assert!(got.n_chunks() > 1, "few runs are sliced");
        let scattered: Vec<IdxSize> = (0..100).rev().chain([NONE]).collect();
        let got = gather(&s, &scattered).unwrap();
        let want: Vec<Option<i64>> = (0..100i64).rev().map(Some).chain([None]).collect();
        assert_eq!(got.i64().unwrap().iter().collect::<Vec<_>>(), want);
        assert_eq!(
            runs(&[1, 2, 3, NONE, 7], 10).unwrap(),
            vec![(1, 3), (NONE, 1), (7, 1)]
        );
        assert!(runs(&[1, 3, 5], 2).is_none());
    }
}
