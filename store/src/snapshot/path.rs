//! Paths given to a reader: checked and normalised before anything is looked up, so a
//! front end that passes on what a client sent can never reach outside the snapshot.

use crate::error::{Result, StoreError};

/// Checks `path` and returns its normal form: components joined by `/`, without empty or
/// `.` components and without a trailing `/`; `""` is the snapshot's root.
///
/// Refused, with [`StoreError::InvalidPath`]: absolute paths, `..` components (even ones
/// that would stay inside), NUL, backslashes, and `.colony`/`.git` components — none of
/// which a snapshot can hold (the history refuses them), so refusing them loses nothing.
/// Percent-decoding and the like are the front end's job; this sees the decoded path.
pub fn normalize(path: &str) -> Result<String> {
    let bad = |why: &str| StoreError::InvalidPath {
        path: path.escape_debug().to_string(),
        why: why.to_string(),
    };
    if path.starts_with('/') {
        return Err(bad(
            "absolute paths are not allowed; paths are relative to the snapshot",
        ));
    }
    if path.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if path.contains('\\') {
        return Err(bad("contains a backslash"));
    }
    let mut out = String::with_capacity(path.len());
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("`..` components are not allowed")),
            p if p.eq_ignore_ascii_case(".colony") || p.eq_ignore_ascii_case(".git") => {
                return Err(bad(
                    "colony's and git's metadata are not part of a snapshot",
                ));
            }
            p => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms() {
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize(".").unwrap(), "");
        assert_eq!(normalize("a/b").unwrap(), "a/b");
        assert_eq!(normalize("a//./b/").unwrap(), "a/b");
        assert_eq!(normalize("./a").unwrap(), "a");
        assert_eq!(normalize("a..b/c.").unwrap(), "a..b/c.");
    }

    #[test]
    fn hostile_paths_are_refused() {
        for p in [
            "..",
            "../x",
            "a/../../etc/passwd",
            "a/../b",
            "/etc/passwd",
            "//x",
            "a\\..\\b",
            "a\0b",
            ".colony/config.toml",
            "x/.GIT/config",
        ] {
            let err = normalize(p).unwrap_err();
            assert!(matches!(err, StoreError::InvalidPath { .. }), "{p}: {err}");
        }
    }
}
