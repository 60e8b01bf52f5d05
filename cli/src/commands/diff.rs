use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Compare two revisions, or a revision and the work tree.
///
/// Without arguments, HEAD against the work tree. Lists files added,
/// removed, modified (with sizes) and renamed (same content, new path).
///
/// `colony diff REV1 REV2 -- TABLE...` compares tables row by row instead, rows matched
/// by `--key` or the key recorded with `colony table key`: rows added, removed and
/// modified, changes per column, schema changes; `--rows` lists the rows.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old side (default: HEAD).
    pub from: Option<String>,
    /// The new side (default: the work tree).
    pub to: Option<String>,
    /// Only a count per kind of change.
    #[arg(long)]
    pub stat: bool,
    /// Key columns of the tables (comma-separated), overriding recorded keys.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// With tables: list the rows added, removed and modified.
    #[arg(long)]
    pub rows: bool,
    /// Tables to compare row by row (after `--`).
    #[arg(last = true, value_name = "TABLE")]
    pub tables: Vec<String>,
}

fn table_diffs(ctx: &Ctx, args: &Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let (Some(from), Some(to)) = (&args.from, &args.to) else {
        return Err(CliError::new("a row-level diff needs two revisions")
            .hint("colony diff REV1 REV2 -- TABLE"));
    };
    let mut out = Vec::new();
    for t in &args.tables {
        out.push(repo.diff_table(from, to, t, &args.key, args.rows)?);
    }
    if ctx.json {
        if out.len() == 1 {
            output::json(&out[0]);
        } else {
            output::json(&out);
        }
        return Ok(0);
    }
    for d in &out {
        let n = |k: &str| d.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        println!(
            "{}: {} added, {} removed, {} modified, {} unchanged (key {})",
            d["path"].as_str().unwrap_or_default(),
            n("added"),
            n("removed"),
            n("modified"),
            n("unchanged"),
            d["key"]
        );
        if let Some(cols) = d.get("columns").and_then(|c| c.as_array()) {
            for c in cols {
                println!(
                    "  column {}: {} modified",
                    c["name"].as_str().unwrap_or_default(),
                    c["modified"]
                );
            }
        }
        let schema = &d["schema"];
        for (what, sign) in [("added", "+"), ("removed", "-")] {
            for c in schema[what].as_array().into_iter().flatten() {
                println!(
                    "  schema {sign} {} ({})",
                    c["name"].as_str().unwrap_or_default(),
                    c["dtype"].as_str().unwrap_or_default()
                );
            }
        }
        for c in schema["type_changed"].as_array().into_iter().flatten() {
            println!(
                "  schema ~ {}: {} -> {}",
                c["name"].as_str().unwrap_or_default(),
                c["from"],
                c["to"]
            );
        }
        if let Some(rows) = d.get("rows").filter(|r| !r.is_null()) {
            for r in rows["added"].as_array().into_iter().flatten() {
                println!("  + {r}");
            }
            for r in rows["removed"].as_array().into_iter().flatten() {
                println!("  - {r}");
            }
            for m in rows["modified"].as_array().into_iter().flatten() {
                println!("  ~ {} {} -> {}", m["key"], m["base"], m["other"]);
            }
        }
    }
    Ok(0)
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    if !args.tables.is_empty() {
        return table_diffs(ctx, &args);
    }
    let repo = ctx.open(Access::Read)?;
    let from = args.from.as_deref().unwrap_or("HEAD");
    let r = repo.diff(from, args.to.as_deref())?;
    if ctx.json {
        output::json(&r);
        return Ok(0);
    }
    if !args.stat {
        for a in &r.added {
            println!("A  {:>12}  {}", a.size, a.path);
        }
        for d in &r.removed {
            println!("D  {:>12}  {}", d.size, d.path);
        }
        for m in &r.modified {
            println!("M  {:>12} -> {:<12}  {}", m.old_size, m.new_size, m.path);
        }
        for m in &r.renamed {
            println!("R  {:>12}  {} -> {}", m.size, m.from, m.to);
        }
    }
    println!(
        "{} added, {} removed, {} modified, {} renamed; {:+} bytes",
        r.added.len(),
        r.removed.len(),
        r.modified.len(),
        r.renamed.len(),
        r.bytes_delta
    );
    let _ = output::short;
    Ok(0)
}
