//! The MCP server: tools with JSON schemas, and the files of any revision as resources.
//!
//! Tool failures (an unknown revision, a path outside the tree, a range past the end, a
//! SQL statement that would write, a read over the cap) are tool results with `isError`
//! and a message saying what to ask instead, as the protocol wants for errors an agent
//! can correct; the server goes on serving. Resource reads that fail are protocol errors
//! (`resource not found`, `invalid params`).

use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig,
};
use rmcp::schemars::JsonSchema;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::Value;

use crate::dataset::{self, DEFAULT_PAGE, DEFAULT_ROWS, Dataset, MAX_READ_BYTES};
use crate::error::ToolError;
use crate::resources;

/// The server of one dataset. Cheap to clone; every clone serves the same dataset.
#[derive(Clone)]
pub struct ColonyServer {
    data: Arc<Dataset>,
}

fn head() -> String {
    "HEAD".into()
}

/// `log`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LogArgs {
    /// Where to start: a branch, tag, pin, commit id (or prefix), `HEAD~N`, or a 64-hex
    /// snapshot root (default: HEAD).
    #[serde(default)]
    pub rev: Option<String>,
    /// The most commits to return (default: all).
    #[serde(default)]
    pub max_count: Option<usize>,
}

/// `ls`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LsArgs {
    /// The revision (branch, tag, pin, commit id, or snapshot root; default HEAD).
    #[serde(default = "head")]
    pub rev: String,
    /// The folder, relative to the dataset's root (default: the root, "").
    #[serde(default)]
    pub path: String,
    /// List every file beneath the folder instead of its direct children.
    #[serde(default)]
    pub recursive: bool,
    /// Start at this entry (the `next_cursor` of the previous page; default 0).
    #[serde(default)]
    pub cursor: usize,
    /// Entries per page (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `stat`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct StatArgs {
    /// The revision (default HEAD).
    #[serde(default = "head")]
    pub rev: String,
    /// The path, relative to the dataset's root ("" is the root folder).
    pub path: String,
}

/// `read`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ReadArgs {
    /// The revision (default HEAD).
    #[serde(default = "head")]
    pub rev: String,
    /// The file, relative to the dataset's root.
    pub path: String,
    /// First byte to read (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Bytes to read (default: to the end of the file, at most 1048576 per call).
    #[serde(default)]
    pub length: Option<u64>,
}

/// `query`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct QueryArgs {
    /// The revision whose tables to query (default HEAD).
    #[serde(default = "head")]
    pub rev: String,
    /// One SELECT (polars SQL). Tables are named by their path in double quotes
    /// (`SELECT count(*) FROM "data/penguins.csv"`) or by their file stem where unique.
    pub sql: String,
    /// The most rows to return (default 100, at most 10000).
    #[serde(default)]
    pub max_rows: Option<usize>,
}

/// `diff`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DiffArgs {
    /// The old revision.
    pub from: String,
    /// The new revision.
    pub to: String,
    /// A table (.parquet, .csv, .jsonl) to compare row by row instead of files.
    #[serde(default)]
    pub table: Option<String>,
    /// Key columns matching rows of the table (default: the key recorded for it).
    #[serde(default)]
    pub key: Vec<String>,
    /// With `table`: list the rows added, removed and modified, not only counts.
    #[serde(default)]
    pub rows: bool,
}

/// Arguments of tools that take only a revision.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct RevArgs {
    /// The revision (default HEAD).
    #[serde(default = "head")]
    pub rev: String,
}

/// Arguments of tools that take none.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct NoArgs {}

impl ColonyServer {
    /// Serves `data`.
    pub fn new(data: Dataset) -> ColonyServer {
        ColonyServer {
            data: Arc::new(data),
        }
    }

    /// Runs blocking library work off the async threads and turns its outcome into a
    /// tool result.
    async fn answer(
        &self,
        work: impl FnOnce(&Dataset) -> Result<Value, ToolError> + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let data = self.data.clone();
        let out = tokio::task::spawn_blocking(move || work(&data))
            .await
            .map_err(|e| ErrorData::internal_error(format!("the tool stopped: {e}"), None))?;
        Ok(result(out))
    }
}

/// A tool's outcome as the protocol carries it: JSON, or an error the agent can read.
fn result(out: Result<Value, ToolError>) -> CallToolResult {
    match out {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!("error: {e}"))]),
    }
}

#[tool_router]
impl ColonyServer {
    #[tool(
        description = "Commits reachable from a revision, newest first: commit id, parents, author, time, message and snapshot root (the BLAKE3 root a DAO anchors). Same JSON as `colony log --json`, under `commits`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn log(&self, Parameters(a): Parameters<LogArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| d.log(a.rev.as_deref(), a.max_count))
            .await
    }

    #[tool(
        description = "List a folder of a revision: its files (size, BLAKE3, mode), symlinks and subfolders, or with recursive=true every file beneath it. Paged: pass `next_cursor` back as `cursor`. Paths are relative to the dataset's root; `..` and absolute paths are refused.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn ls(&self, Parameters(a): Parameters<LsArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| {
            d.ls(
                &a.rev,
                &a.path,
                a.recursive,
                a.cursor,
                a.limit.unwrap_or(DEFAULT_PAGE),
            )
        })
        .await
    }

    #[tool(
        description = "What a path is in a revision: file, folder or symlink, its size, its BLAKE3 content hash (what the snapshot root commits to) and mode.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn stat(&self, Parameters(a): Parameters<StatArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| d.stat(&a.rev, &a.path)).await
    }

    #[tool(
        description = "Read a file of a revision, whole or a byte range (offset, length), every byte verified against BLAKE3. At most 1048576 bytes (1 MiB) per call: a longer file is returned in part with `next_offset` to continue from, and a larger `length` is refused. Text comes back as text (`encoding: utf-8`, field `text`), anything else as base64 (field `base64`).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read(&self, Parameters(a): Parameters<ReadArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| {
            let out = d.read(&a.rev, &a.path, a.offset, a.length)?;
            let mut v = out.meta;
            let field = if out.is_text { "text" } else { "base64" };
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    field.into(),
                    dataset::encode(&out.bytes, out.is_text).into(),
                );
            }
            Ok(v)
        })
        .await
    }

    #[tool(
        description = "Run one read-only SQL SELECT (polars SQL) over the tables (.parquet, .csv, .jsonl, .ndjson) of a revision, read from the store and verified. Name a table by its path in double quotes (`SELECT species, count(*) FROM \"data/penguins.csv\" GROUP BY species`) or by its file stem where unique. Returns `rows` (the JSON `colony query --json` prints), at most `max_rows` (default 100, max 10000), with `row_count` and `truncated`. Anything but one SELECT (INSERT, UPDATE, DELETE, COPY, CREATE, ATTACH, table functions like read_csv(...)) is refused.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn query(
        &self,
        Parameters(a): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| d.query(&a.rev, &a.sql, a.max_rows.unwrap_or(DEFAULT_ROWS)))
            .await
    }

    #[tool(
        description = "Compare two revisions (e.g. two forks' branches): files added, removed, modified (with sizes) and renamed, as `colony diff FROM TO --json`. With `table`, compare that table row by row instead, rows matched by `key` (or the key recorded for it): counts of rows added/removed/modified, changed columns, schema changes, and with rows=true the rows themselves.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn diff(&self, Parameters(a): Parameters<DiffArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| d.diff(&a.from, &a.to, a.table.as_deref(), &a.key, a.rows))
            .await
    }

    #[tool(
        description = "The chain of forks from this dataset back to its origin: each parent's id, name, path, and the commit and snapshot root it was forked at. When the dataset has a DAO, also `chain`: the lineage the on-chain registry records.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn lineage(
        &self,
        Parameters(_): Parameters<NoArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(result(self.data.lineage().await))
    }

    #[tool(
        description = "The head the dataset's DAO anchored on chain (snapshot root, commit id, locator, block), as `colony dao head --json`. Needs a DAO configured for the dataset.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn anchored_head(
        &self,
        Parameters(_): Parameters<NoArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(result(self.data.anchored_head().await))
    }

    #[tool(
        description = "Check whether a revision is the head the DAO anchored: reads every byte of the revision back, recomputes its snapshot root (nothing recorded is trusted) and compares it with the root anchored on chain. `ok` is true only when they match; otherwise both roots and the anchored commit are named. Same JSON as `colony dao verify REV --json`.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn verify(
        &self,
        Parameters(a): Parameters<RevArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(result(self.data.verify(&a.rev).await))
    }

    #[tool(
        description = "Training runs recorded on a revision (by `colony train`): id, kind, model, steps, final loss, record hash, and `claim`, the values a bounty claim on the run posts (record hash, final weights hash, step-chain root). Entries as in `colony run list --json`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn runs(&self, Parameters(a): Parameters<RevArgs>) -> Result<CallToolResult, ErrorData> {
        self.answer(move |d| d.runs(&a.rev)).await
    }
}

#[tool_handler]
impl ServerHandler for ColonyServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("colony", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "A colony dataset, read-only: any revision (branch, tag, pin, commit id, or \
             snapshot root) can be listed (ls, stat), read (read; at most {MAX_READ_BYTES} \
             bytes per call, every byte verified), queried with SQL (query), compared \
             (diff), traced to its origin (lineage), checked against the head its DAO \
             anchored (anchored_head, verify), and its training runs listed (runs). Files \
             are also resources: colony://REV/PATH."
        ))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let data = self.data.clone();
        let cursor = request.and_then(|r| r.cursor);
        tokio::task::spawn_blocking(move || resources::list(&data, cursor.as_deref()))
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let data = self.data.clone();
        let uri = request.uri;
        tokio::task::spawn_blocking(move || resources::read(&data, &uri))
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
            .map(Into::into)
    }
}
