//! SQL over tables, and rendering results as text, CSV or JSON.

use std::io::Write;

use std::ops::ControlFlow;

use polars::prelude::*;
use polars::sql::SQLContext;
use serde::{Deserialize, Serialize};
use sqlparser::ast::{Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use crate::error::{Result, TableError};
use crate::format::{ReadMode, TableSource, collect_checked};

/// Runs one SQL statement (polars SQL dialect) over `tables` and returns its result.
///
/// Each table is registered under its name (its path, e.g. `"data/penguins.csv"`, quoted
/// in SQL with double quotes) and, when no other table claims it, under its file stem
/// (`penguins`). CSV columns are typed by inference. Scans are lazy and run on the
/// streaming engine, so filters and projections are pushed into the readers.
///
/// Only a read of the given tables is run ([`check_read_only`]): anything else is refused
/// before the engine sees it.
///
/// Errors: [`TableError::NotReadOnly`] for any statement but one `SELECT` (or `WITH …
/// SELECT`) over the given tables; [`TableError::Query`] for SQL that does not parse or
/// plan (the message lists the table names); [`TableError::Malformed`] naming the table
/// that cannot be read.
pub fn query(tables: &[TableSource], sql: &str) -> Result<DataFrame> {
    check_read_only(sql)?;
    let ctx = SQLContext::new();
    let mut names = Vec::new();
    let stems: Vec<Option<String>> = tables.iter().map(|t| stem(t.name())).collect();
    for (t, s) in tables.iter().zip(&stems) {
        let lf = t.scan_mode(ReadMode::Typed)?.0;
        ctx.register(t.name(), lf.clone());
        names.push(format!("\"{}\"", t.name()));
        if let Some(s) = s
            && s != t.name()
            && stems.iter().filter(|x| x.as_deref() == Some(s)).count() == 1
            && !tables.iter().any(|o| o.name() == s)
        {
            ctx.register(s, lf);
            names.push(s.clone());
        }
    }
    let mut ctx = ctx;
    let tables_list = names.join(", ");
    let lf = ctx.execute(sql).map_err(|e| TableError::Query {
        reason: e.to_string(),
        tables: tables_list.clone(),
    })?;
    let refs: Vec<&TableSource> = tables.iter().collect();
    collect_checked(lf, &refs, ReadMode::Typed).map_err(|e| match e {
        TableError::Engine(e) => TableError::Query {
            reason: e.to_string(),
            tables: tables_list,
        },
        e => e,
    })
}

/// Checks that `sql` is one query that only reads the tables it is given: a single
/// `SELECT` (or `WITH … SELECT`, `UNION`, …) without `INTO` and without table functions
/// (`read_csv('/any/file')` and its kind would read the host's files). Statements that
/// write or change anything (`INSERT`, `UPDATE`, `DELETE`, `COPY`, `CREATE`, `DROP`,
/// `TRUNCATE`, `ATTACH`, `SET`, …) are refused, whatever the engine would make of them.
///
/// Errors: [`TableError::NotReadOnly`] naming what was refused; [`TableError::Query`]
/// when the SQL does not parse.
pub fn check_read_only(sql: &str) -> Result<()> {
    let refuse = |what: String| TableError::NotReadOnly { what };
    let statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| TableError::Query {
            reason: e.to_string(),
            tables: "(not read: the SQL does not parse)".into(),
        })?;
    let [statement] = statements.as_slice() else {
        return Err(refuse(format!(
            "{} statements (exactly one SELECT is run)",
            statements.len()
        )));
    };
    let Statement::Query(q) = statement else {
        let text = statement.to_string();
        let verb: String = text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(refuse(format!("a `{verb}` statement")));
    };
    struct Reads(Option<String>);
    impl Visitor for Reads {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            match t {
                TableFactor::Table { args: None, .. }
                | TableFactor::Derived { .. }
                | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
                TableFactor::Table { name, .. } => {
                    self.0 = Some(format!("the table function `{name}(…)`"));
                    ControlFlow::Break(())
                }
                other => {
                    self.0 = Some(format!("the table expression `{other}`"));
                    ControlFlow::Break(())
                }
            }
        }
        fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
            if matches!(s, Statement::Query(_)) {
                return ControlFlow::Continue(());
            }
            self.0 = Some(format!("a nested `{s}`"));
            ControlFlow::Break(())
        }
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> ControlFlow<()> {
            if let sqlparser::ast::SetExpr::Select(s) = q.body.as_ref()
                && s.into.is_some()
            {
                self.0 = Some("`SELECT … INTO`".into());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut reads = Reads(None);
    let _ = q.visit(&mut reads);
    match reads.0 {
        Some(what) => Err(refuse(what)),
        None => Ok(()),
    }
}

fn stem(name: &str) -> Option<String> {
    let s = std::path::Path::new(name).file_stem()?.to_str()?;
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| s.to_string())
}

/// How [`render`] shows a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// An aligned text table with a header and a rule; every row shown, numbers right
    /// aligned, nulls as `null`.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects.
    Json,
}

/// Writes `df` to `out` as `format`.
pub fn render_to<W: Write>(df: &DataFrame, format: OutputFormat, mut out: W) -> Result<()> {
    let mut df = df.clone();
    match format {
        OutputFormat::Csv => CsvWriter::new(&mut out)
            .include_header(true)
            .finish(&mut df)?,
        OutputFormat::Json => {
            if df.height() == 0 {
                out.write_all(b"[]")
                    .map_err(|e| TableError::io("write", std::path::Path::new("<output>"), e))?;
            } else {
                JsonWriter::new(&mut out)
                    .with_json_format(JsonFormat::Json)
                    .finish(&mut df)?
            }
            out.write_all(b"\n")
                .map_err(|e| TableError::io("write", std::path::Path::new("<output>"), e))?;
        }
        OutputFormat::Table => {
            let text = text_table(&df)?;
            out.write_all(text.as_bytes())
                .map_err(|e| TableError::io("write", std::path::Path::new("<output>"), e))?;
        }
    }
    Ok(())
}

/// `df` rendered as `format` into a string.
pub fn render(df: &DataFrame, format: OutputFormat) -> Result<String> {
    let mut buf = Vec::new();
    render_to(df, format, &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => "null".to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        v => v.to_string(),
    }
}

fn text_table(df: &DataFrame) -> Result<String> {
    let cols = df.columns();
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(cols.len());
    let mut widths = Vec::with_capacity(cols.len());
    for c in cols {
        let mut v = Vec::with_capacity(df.height());
        let mut w = c.name().chars().count();
        for i in 0..df.height() {
            let s = cell(&c.get(i)?);
            w = w.max(s.chars().count());
            v.push(s);
        }
        widths.push(w);
        cells.push(v);
    }
    let right: Vec<bool> = cols
        .iter()
        .map(|c| c.dtype().is_primitive_numeric())
        .collect();
    let pad = |s: &str, w: usize, right: bool| {
        let n = w - s.chars().count();
        if right {
            format!("{}{s}", " ".repeat(n))
        } else {
            format!("{s}{}", " ".repeat(n))
        }
    };
    let mut out = String::new();
    let header: Vec<String> = cols
        .iter()
        .zip(&widths)
        .zip(&right)
        .map(|((c, w), r)| pad(c.name().as_str(), *w, *r))
        .collect();
    out.push_str(header.join("  ").trim_end());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for i in 0..df.height() {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&right)
            .map(|((v, w), r)| pad(&v[i], *w, *r))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "({} row{})\n",
        df.height(),
        if df.height() == 1 { "" } else { "s" }
    ));
    Ok(out)
}
