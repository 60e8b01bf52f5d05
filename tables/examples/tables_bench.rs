//! Benchmark driver for `bench/tables-bench.sh`: generates 10M-row Parquet versions and
//! times reading, diff and three-way merge, one step per process so that peak RSS can be
//! measured per step.
//!
//! Usage: `tables_bench gen DIR [ROWS]` | `read DIR` | `diff DIR` | `merge DIR`

use std::path::Path;
use std::time::Instant;

use colony_tables::polars::prelude::*;
use colony_tables::{
    DiffOptions, MergeOptions, Strategy, TableFormat, TableSource, diff, merge3_with,
};

const CATEGORIES: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

fn frame(ids: std::ops::Range<i64>, edit: Option<(i64, i64, f64)>) -> DataFrame {
    let id: Vec<i64> = ids.collect();
    let value: Vec<f64> = id
        .iter()
        .map(|&i| {
            let v =
                ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            match edit {
                Some((lo, hi, d)) if i >= lo && i < hi => v * 1000.0 + d,
                _ => v * 1000.0,
            }
        })
        .collect();
    let category: Vec<&str> = id
        .iter()
        .map(|&i| match edit {
            Some((lo, hi, _)) if i >= lo && i < hi => "edited",
            _ => CATEGORIES[(i % 8) as usize],
        })
        .collect();
    let ts: Vec<i64> = id
        .iter()
        .map(|&i| 1_700_000_000_000_000 + i * 1_000_000)
        .collect();
    let ts = Series::new("ts".into(), ts)
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .expect("cast");
    DataFrame::new_infer_height(vec![
        Column::new("id".into(), id),
        Column::new("value".into(), value),
        Column::new("category".into(), category),
        ts.into(),
    ])
    .expect("frame")
}

fn write(df: &mut DataFrame, path: &Path) {
    colony_tables::write_table_to_path(df, path, None).expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: tables_bench gen DIR [ROWS] | read DIR | diff DIR | merge DIR";
    let (cmd, dir) = match (args.get(1), args.get(2)) {
        (Some(c), Some(d)) => (c.as_str(), Path::new(d)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    };
    let v1 = dir.join("v1.parquet");
    let v2 = dir.join("v2.parquet");
    let v3 = dir.join("v3.parquet");
    let key = vec!["id".to_string()];
    let t = Instant::now();
    match cmd {
        "gen" => {
            let n: i64 = args
                .get(3)
                .map(|s| s.parse().expect("ROWS"))
                .unwrap_or(10_000_000);
            std::fs::create_dir_all(dir).expect("mkdir");
            write(&mut frame(0..n, None), &v1);
            // v2 (ours): 1% of rows edited in one block + 0.5% appended.
            let mut df2 = frame(0..n, Some((n / 2, n / 2 + n / 100, 1.0)));
            df2.vstack_mut(&frame(n..n + n / 200, None))
                .expect("append");
            write(&mut df2, &v2);
            // v3 (theirs): another 0.5% block edited + 0.5% appended with other ids.
            let mut df3 = frame(0..n, Some((n / 10, n / 10 + n / 200, 2.0)));
            df3.vstack_mut(&frame(2 * n..2 * n + n / 200, None))
                .expect("append");
            write(&mut df3, &v3);
            println!("gen rows={n} secs={:.3}", t.elapsed().as_secs_f64());
        }
        "read" => {
            let a = TableSource::from_path(&v1)
                .and_then(|s| s.read())
                .expect("read v1");
            let b = TableSource::from_path(&v2)
                .and_then(|s| s.read())
                .expect("read v2");
            println!(
                "read rows={}+{} secs={:.3}",
                a.height(),
                b.height(),
                t.elapsed().as_secs_f64()
            );
        }
        "diff" => {
            let d = diff(
                &TableSource::from_path(&v1).expect("v1"),
                &TableSource::from_path(&v2).expect("v2"),
                &key,
                &DiffOptions {
                    assume_unique_keys: std::env::var("ASSUME_UNIQUE").is_ok(),
                    ..Default::default()
                },
            )
            .expect("diff");
            println!(
                "diff added={} removed={} modified={} secs={:.3}",
                d.added,
                d.removed,
                d.modified,
                t.elapsed().as_secs_f64()
            );
        }
        "merge" => {
            let out = merge3_with(
                &TableSource::from_path(&v1).expect("v1"),
                &TableSource::from_path(&v2).expect("v2"),
                &TableSource::from_path(&v3).expect("v3"),
                &key,
                Strategy::Manual,
                &MergeOptions {
                    assume_unique_keys: std::env::var("ASSUME_UNIQUE").is_ok(),
                },
            )
            .expect("merge");
            let conflicts = out.conflicts().len();
            let merged_secs = t.elapsed().as_secs_f64();
            let path = dir.join("merged.parquet");
            let f = std::fs::File::create(&path).expect("create merged.parquet");
            let rows = out
                .write_to(TableFormat::Parquet, std::io::BufWriter::new(f))
                .expect("clean merge");
            println!(
                "merge rows={rows} conflicts={conflicts} secs={merged_secs:.3} with_write_secs={:.3}",
                t.elapsed().as_secs_f64()
            );
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2)
        }
    }
}
