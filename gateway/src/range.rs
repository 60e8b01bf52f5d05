//! The `Range` header of plain HTTP requests (RFC 9110 §14), one byte range at a time.
//!
//! What is answered:
//! - one satisfiable range (`bytes=a-b`, `bytes=a-`, `bytes=-n`): 206 with that part, the
//!   end clamped to the file's last byte;
//! - a range starting at or past the end, `bytes=-0`, or a reversed range (`bytes=9-3`):
//!   416 with `Content-Range: bytes */SIZE`;
//! - several ranges (`bytes=0-1,5-6`): 200 with the whole file (the RFC lets a server
//!   ignore `Range`; multipart answers are not produced), as S3 does;
//! - a header that is not a byte range at all (another unit, garbage): ignored, 200.

use std::ops::Range;

/// What to send for a request's `Range` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The whole file (no header, or one that is ignored).
    Whole,
    /// These bytes (non-empty, inside the file).
    Part(Range<u64>),
    /// Nothing can be sent: 416.
    Unsatisfiable,
}

/// Decides what a `Range` header value asks of a file of `size` bytes.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(h) = header else {
        return Wanted::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.trim(), last.trim()) {
        ("", n) => match num(n) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(size.saturating_sub(n)..size),
            None => Wanted::Whole,
        },
        (a, "") => match num(a) {
            Some(a) if a >= size => Wanted::Unsatisfiable,
            Some(a) => Wanted::Part(a..size),
            None => Wanted::Whole,
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if b < a || a >= size => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part(a..b.saturating_add(1).min(size)),
            _ => Wanted::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Wanted::*;
        let cases: &[(Option<&str>, u64, Wanted)] = &[
            (None, 10, Whole),
            (Some("bytes=0-3"), 10, Part(0..4)),
            (Some("bytes=2-"), 10, Part(2..10)),
            (Some("bytes=-3"), 10, Part(7..10)),
            (Some("bytes=-30"), 10, Part(0..10)),
            (Some("bytes=5-100"), 10, Part(5..10)),
            (Some("bytes=9-9"), 10, Part(9..10)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-12"), 10, Unsatisfiable),
            (Some("bytes=7-3"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-5"), 0, Unsatisfiable),
            (Some("bytes=0-1,4-5"), 10, Whole),
            (Some("items=0-1"), 10, Whole),
            (Some("bytes=x-1"), 10, Whole),
            (Some("bytes=+1-2"), 10, Whole),
            (Some("bytes=18446744073709551615-"), 10, Unsatisfiable),
            (Some("bytes=0-18446744073709551615"), 10, Part(0..10)),
            (Some("bytes=0-99999999999999999999999"), 10, Whole),
        ];
        for (h, size, want) in cases {
            assert_eq!(&wanted(*h, *size), want, "{h:?} of {size}");
        }
    }
}
