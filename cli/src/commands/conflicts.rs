use colony_store::Access;

use crate::{CliError, Ctx, output};

/// Show the conflicts of a merge in progress.
///
/// Without a path, lists the conflicting paths. With one: for a table, every conflicting
/// row with its key and its base, ours and theirs versions (and conflicting columns);
/// for another file, its three versions' hashes and sizes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The conflicting path.
    pub path: Option<String>,
}

fn row(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(none)".into(),
        Some(v) => v.to_string(),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let repo = ctx.open(Access::Read)?;
    let Some(path) = args.path else {
        let state = repo
            .merge_state()?
            .ok_or_else(|| CliError::new("no merge in progress"))?;
        if ctx.json {
            output::json(&serde_json::json!({
                "theirs": state.theirs,
                "unresolved": state.unresolved(),
                "conflicts": state.conflicts.keys().collect::<Vec<_>>(),
            }));
        } else {
            for (p, c) in &state.conflicts {
                let mark = if c.resolved { "resolved" } else { "conflict" };
                println!("{mark:<9} {:?} {p}", c.kind);
            }
        }
        return Ok(0);
    };
    let v = repo.conflict(&path)?;
    if ctx.json {
        output::json(&v);
        return Ok(0);
    }
    let c = &v.conflict;
    println!(
        "{}: {:?} conflict{}",
        v.path,
        c.kind,
        if c.resolved { " (resolved)" } else { "" }
    );
    let side = |e: &Option<colony_store::FileEntry>| {
        e.as_ref().map_or_else(
            || "(absent)".to_string(),
            |e| format!("{} ({} bytes)", e.hash.short(), e.size),
        )
    };
    println!("  base:   {}", side(&c.base));
    println!("  ours:   {}", side(&c.ours));
    println!("  theirs: {}", side(&c.theirs));
    if !c.key.is_empty() {
        println!("  key: {}", c.key.join(","));
    }
    for s in &c.schema {
        println!("  column {}", s);
    }
    for r in &c.rows {
        let key = r.get("key").map(|k| k.to_string()).unwrap_or_default();
        let kind = r.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let chosen = c
            .row_choices
            .get(&key)
            .map_or(String::new(), |s| format!(" → {s:?}").to_lowercase());
        println!("  row {key} [{kind}]{chosen}");
        println!("    base:   {}", row(r.get("base")));
        println!("    ours:   {}", row(r.get("ours")));
        println!("    theirs: {}", row(r.get("theirs")));
    }
    Ok(0)
}
