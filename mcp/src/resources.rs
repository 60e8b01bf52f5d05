//! The files of a revision as MCP resources: `colony://REV/PATH`, each path segment
//! percent-encoded. The listing is HEAD's files under its commit id (so a URI keeps
//! naming the same bytes after HEAD moves), paged; any revision is readable through the
//! template `colony://{rev}/{path}`.

use colony_store::StoreError;
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use serde_json::json;

use crate::dataset::{Dataset, MAX_PAGE, MAX_READ_BYTES, encode};
use crate::error::ToolError;

/// The URI scheme.
pub const SCHEME: &str = "colony://";

/// The URI of `path` in `rev`.
pub fn uri(rev: &str, path: &str) -> String {
    let segs: Vec<String> = path.split('/').map(escape).collect();
    format!("{SCHEME}{}/{}", escape(rev), segs.join("/"))
}

/// One page of HEAD's files, from the entry the cursor names.
pub fn list(data: &Dataset, cursor: Option<&str>) -> Result<ListResourcesResult, ErrorData> {
    let from: usize = match cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ErrorData::invalid_params(format!("bad cursor `{c}`"), None))?,
    };
    let r = data.reader("HEAD").map_err(|e| not_found(e, "HEAD"))?;
    let commit = r.commit().to_string();
    let files = r.files();
    let resources: Vec<Resource> = files
        .iter()
        .skip(from)
        .take(MAX_PAGE)
        .map(|(p, e)| {
            Resource::new(uri(&commit, p), p.clone())
                .with_size(e.size)
                .with_description(format!("{p} at commit {commit} (HEAD), BLAKE3 {}", e.hash))
        })
        .collect();
    let next = from + resources.len();
    let mut out = ListResourcesResult::with_all_items(resources);
    out.next_cursor = (next < files.len()).then(|| next.to_string());
    Ok(out)
}

/// The template that names a file of any revision.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(format!("{SCHEME}{{rev}}/{{+path}}"), "file of a revision")
            .with_description(format!(
                "A file of any revision (branch, tag, pin, commit id or snapshot root), \
                 verified; at most {MAX_READ_BYTES} bytes (larger files: the read tool with \
                 offset and length)."
            )),
    ])
}

/// Reads the file a URI names, whole (up to the cap).
pub fn read(data: &Dataset, uri_text: &str) -> Result<ReadResourceResult, ErrorData> {
    let bad = |why: String| ErrorData::invalid_params(why, Some(json!({ "uri": uri_text })));
    let rest = uri_text.strip_prefix(SCHEME).ok_or_else(|| {
        bad(format!(
            "`{uri_text}` is not a colony resource; URIs are {SCHEME}REV/PATH"
        ))
    })?;
    let (rev, path) = rest
        .split_once('/')
        .ok_or_else(|| bad(format!("`{uri_text}` names no file; use {SCHEME}REV/PATH")))?;
    let rev = unescape(rev)
        .ok_or_else(|| bad("the revision is not valid percent-encoded UTF-8".into()))?;
    let path =
        unescape(path).ok_or_else(|| bad("the path is not valid percent-encoded UTF-8".into()))?;
    let r = data.reader(&rev).map_err(|e| not_found(e, uri_text))?;
    let info = r.stat(&path).map_err(|e| not_found(e.into(), uri_text))?;
    if info.size > MAX_READ_BYTES {
        return Err(bad(format!(
            "{path} is {} bytes, over the {MAX_READ_BYTES}-byte cap of a resource read; use \
             the read tool with offset and length",
            info.size
        )));
    }
    let out = data
        .read(&rev, &path, 0, Some(MAX_READ_BYTES))
        .map_err(|e| not_found(e, uri_text))?;
    let text = encode(&out.bytes, out.is_text);
    let contents = if out.is_text {
        ResourceContents::text(text, uri_text)
    } else {
        ResourceContents::BlobResourceContents {
            uri: uri_text.to_owned(),
            mime_type: Some("application/octet-stream".into()),
            blob: text,
            meta: None,
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// A failed lookup as a protocol error: not found where the revision or path is unknown,
/// invalid params where the path is refused.
fn not_found(e: ToolError, uri: &str) -> ErrorData {
    let data = Some(json!({ "uri": uri }));
    match &e {
        ToolError::Store(StoreError::InvalidPath { .. }) => {
            ErrorData::invalid_params(e.to_string(), data)
        }
        ToolError::Store(
            StoreError::UnknownRevision { .. }
            | StoreError::NoSuchPath { .. }
            | StoreError::IsAFolder { .. },
        ) => ErrorData::resource_not_found(e.to_string(), data),
        _ => ErrorData::internal_error(e.to_string(), data),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        let u = uri("main", "data/a b%/é.csv");
        assert_eq!(u, "colony://main/data/a%20b%25/%C3%A9.csv");
        let rest = u.strip_prefix(SCHEME).unwrap();
        let (rev, path) = rest.split_once('/').unwrap();
        assert_eq!(unescape(rev).unwrap(), "main");
        assert_eq!(unescape(path).unwrap(), "data/a b%/é.csv");
        // An encoded `/` in a segment decodes to `/`, and `..` is still refused by the
        // reader's path check.
        assert_eq!(unescape("%2E%2E/x").unwrap(), "../x");
    }
}
