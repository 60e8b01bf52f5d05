//! The globs of sparse work trees and `clone --paths`, matched in time linear in the
//! path's length.
//!
//! # Syntax and semantics
//!
//! A glob is matched against a path's bytes (components joined by `/`):
//!
//! - a byte other than `*` and `?` matches itself;
//! - `?` matches one byte other than `/`;
//! - `*` (alone) matches any run of bytes without `/`, the empty run included;
//! - `**` matches any run of bytes, `/` included; `**/` matches the empty run or any
//!   run that ends in `/` (so `**/a.bin` matches `a.bin` and `x/y/a.bin`), and `***`
//!   is `**` followed by `*`;
//! - trailing `/` of the glob are ignored; an empty glob and `.` match every path;
//! - a glob also matches every path under what it matches: `data` matches `data/x/y`
//!   (by plain prefix when the glob has no `*`), and `d*` matches `data/x/y` as `d*/**`
//!   would.
//!
//! These are the semantics the earlier backtracking matcher had; the difference is the
//! cost. That matcher tried every split of the path at each `*` and `**`, so that
//! `**` repeated twenty times then a byte that never matches took hours on a path of a
//! few dozen bytes (and a peer could send such a glob). Here the glob is compiled into
//! a small automaton whose states are "the first k tokens have matched", and a path is
//! run through it once, tracking every live state at the same time as bits of a few
//! 64-bit words: `O(path length × (tokens / 64 + 1))` word operations, whatever the
//! pattern. Runs of `*`/`**` that mean the same are folded into one token when the glob
//! is compiled, which keeps the "match nothing" closure to at most three passes.

/// One piece of a compiled glob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// This byte.
    Byte(u8),
    /// `?`: one byte other than `/`.
    One,
    /// `*`: bytes other than `/`, any number.
    Star,
    /// `**` (not followed by `/`): any bytes.
    Any,
    /// `**/`: nothing, or any bytes ending in `/`.
    AnyDir,
}

/// Splits a glob into tokens, folding sequences that match the same strings: `**` next
/// to `*`, `**` or `**/` is `**`, and `**/**/` is `**/`.
fn tokens(glob: &[u8]) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < glob.len() {
        let t = match glob[i] {
            b'*' if glob.get(i + 1) == Some(&b'*') => {
                if glob.get(i + 2) == Some(&b'/') {
                    i += 3;
                    Token::AnyDir
                } else {
                    i += 2;
                    Token::Any
                }
            }
            b'*' => {
                i += 1;
                Token::Star
            }
            b'?' => {
                i += 1;
                Token::One
            }
            c => {
                i += 1;
                Token::Byte(c)
            }
        };
        match (out.last().copied(), t) {
            (Some(Token::Any), Token::Any | Token::AnyDir | Token::Star) => {}
            (Some(Token::AnyDir | Token::Star), Token::Any) => {
                // `**/**` and `***`-like runs: any bytes. The token before a folded
                // `**/` or `*` is never `**` (that would have been folded into it).
                out.pop();
                out.push(Token::Any);
            }
            (Some(Token::AnyDir), Token::AnyDir) => {}
            _ => out.push(t),
        }
    }
    out
}

/// A set of automaton states as bits.
type Bits = Vec<u64>;

/// A glob compiled into an automaton: state `k` means "the tokens before position `k`
/// have matched the bytes read so far" (see [`Automaton::new`] for `**/`).
#[derive(Clone, Debug)]
struct Automaton {
    /// Number of states (tokens + 1); the last one accepts.
    states: usize,
    /// 64-bit words per state set.
    words: usize,
    /// States that may be left without reading a byte, to the next state (`*`, `**`,
    /// and the entry of `**/`).
    skip: Bits,
    /// States that may be left without reading a byte to the state after next: the entry
    /// of `**/`, which matches nothing by jumping over its loop.
    skip2: Bits,
    /// States that advance on `/`: `Byte(b'/')` and the loop of `**/`.
    adv_slash: Bits,
    /// States that advance on any other byte: `?` (and `Byte(b)`, from `bytes`).
    adv_other: Bits,
    /// States that stay on `/`: `**` and the loop of `**/`.
    stay_slash: Bits,
    /// States that stay on any other byte: `*`, `**` and the loop of `**/`.
    stay_other: Bits,
    /// For each byte value other than `/`, 1 + its index in `byte_sets`, or 0.
    byte_index: Box<[u16; 256]>,
    /// The states whose token is that byte.
    byte_sets: Vec<Bits>,
}

fn set(bits: &mut [u64], k: usize) {
    bits[k / 64] |= 1 << (k % 64);
}

impl Automaton {
    /// Compiles a glob. Each token is one state, except `**/`, which is two: an entry
    /// that either jumps over the whole token (matching nothing) or enters a loop that
    /// takes any bytes and leaves on a `/`. (One state with a loop and a jump would let
    /// `**/a` match `xa`: the jump must not be taken once bytes were read.)
    fn new(glob: &[u8]) -> Automaton {
        let toks = tokens(glob);
        let positions = toks.len() + toks.iter().filter(|t| **t == Token::AnyDir).count();
        let states = positions + 1;
        let words = states.div_ceil(64);
        let empty = vec![0u64; words];
        let mut a = Automaton {
            states,
            words,
            skip: empty.clone(),
            skip2: empty.clone(),
            adv_slash: empty.clone(),
            adv_other: empty.clone(),
            stay_slash: empty.clone(),
            stay_other: empty.clone(),
            byte_index: Box::new([0; 256]),
            byte_sets: Vec::new(),
        };
        let mut k = 0;
        for t in &toks {
            match *t {
                Token::Byte(b'/') => set(&mut a.adv_slash, k),
                Token::Byte(c) => {
                    if a.byte_index[c as usize] == 0 {
                        a.byte_sets.push(empty.clone());
                        a.byte_index[c as usize] = a.byte_sets.len() as u16;
                    }
                    let i = a.byte_index[c as usize] as usize - 1;
                    set(&mut a.byte_sets[i], k);
                }
                Token::One => set(&mut a.adv_other, k),
                Token::Star => {
                    set(&mut a.skip, k);
                    set(&mut a.stay_other, k);
                }
                Token::Any => {
                    set(&mut a.skip, k);
                    set(&mut a.stay_other, k);
                    set(&mut a.stay_slash, k);
                }
                Token::AnyDir => {
                    set(&mut a.skip, k);
                    set(&mut a.skip2, k);
                    k += 1;
                    set(&mut a.stay_other, k);
                    set(&mut a.stay_slash, k);
                    set(&mut a.adv_slash, k);
                }
            }
            k += 1;
        }
        a
    }

    /// Adds to `s` every state reachable from it without reading a byte.
    fn close(&self, s: &mut [u64]) {
        loop {
            let mut changed = false;
            let mut carry = 0u64;
            for (i, w) in s.iter_mut().enumerate() {
                let (one, two) = (*w & self.skip[i], *w & self.skip2[i]);
                let add = (one << 1) | (two << 2) | carry;
                carry = (one >> 63) | (two >> 62);
                if add & !*w != 0 {
                    *w |= add;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    fn matches(&self, path: &[u8]) -> bool {
        let mut cur = vec![0u64; self.words];
        let mut next = vec![0u64; self.words];
        cur[0] = 1;
        self.close(&mut cur);
        for &b in path {
            let (adv, stay, byte) = if b == b'/' {
                (&self.adv_slash, &self.stay_slash, None)
            } else {
                let i = self.byte_index[b as usize] as usize;
                (
                    &self.adv_other,
                    &self.stay_other,
                    i.checked_sub(1).map(|i| &self.byte_sets[i]),
                )
            };
            let mut carry = 0u64;
            let mut live = 0u64;
            for i in 0..self.words {
                let go = cur[i] & (adv[i] | byte.map_or(0, |s| s[i]));
                next[i] = (go << 1) | carry | (cur[i] & stay[i]);
                carry = go >> 63;
                live |= next[i];
            }
            if live == 0 {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        let last = self.states - 1;
        cur[last / 64] & (1 << (last % 64)) != 0
    }
}

/// A compiled glob (see the [module documentation](self) for the syntax). Matching a
/// path costs time linear in the path's length times (tokens / 64 + 1), whatever the
/// pattern; compile once and match many paths.
#[derive(Clone, Debug)]
pub struct Glob {
    /// The glob without trailing `/`.
    trimmed: String,
    /// Matches every path (`""` or `.`).
    everything: bool,
    /// The glob itself.
    whole: Automaton,
    /// `GLOB/**`, when the glob has a `*`: what lies under a folder it matches.
    under: Option<Automaton>,
}

impl Glob {
    /// Compiles `glob`.
    pub fn new(glob: &str) -> Glob {
        let g = glob.trim_end_matches('/');
        Glob {
            trimmed: g.to_string(),
            everything: g.is_empty() || g == ".",
            whole: Automaton::new(g.as_bytes()),
            under: g
                .contains('*')
                .then(|| Automaton::new(format!("{g}/**").as_bytes())),
        }
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        self.everything
            || self.whole.matches(path.as_bytes())
            || path
                .strip_prefix(self.trimmed.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
            || self
                .under
                .as_ref()
                .is_some_and(|u| u.matches(path.as_bytes()))
    }
}

/// Whether `path` matches `glob` (see [`Glob`]): `*` and `?` within a path component,
/// `**` across components; a pattern naming a folder matches everything under it.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    Glob::new(glob).matches(path)
}

#[cfg(test)]
mod tests {
    use super::{Token, glob_matches, tokens};

    /// The backtracking matcher colony used before (exponential on `**` runs), kept as
    /// the reference for the semantics.
    fn reference(glob: &str, path: &str) -> bool {
        fn m(p: &[u8], s: &[u8]) -> bool {
            match p.first() {
                None => s.is_empty(),
                Some(b'*') if p.get(1) == Some(&b'*') => {
                    let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                    (0..=s.len()).any(|i| (i == 0 || s[i - 1] == b'/') && m(rest, &s[i..]))
                        || (0..=s.len()).any(|i| m(&p[2..], &s[i..]))
                }
                Some(b'*') => (0..=s.len())
                    .take_while(|&i| i == 0 || s[i - 1] != b'/')
                    .any(|i| m(&p[1..], &s[i..])),
                Some(b'?') => !s.is_empty() && s[0] != b'/' && m(&p[1..], &s[1..]),
                Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
            }
        }
        let g = glob.trim_end_matches('/');
        if g.is_empty() || g == "." {
            return true;
        }
        m(g.as_bytes(), path.as_bytes())
            || path
                .strip_prefix(g)
                .is_some_and(|rest| rest.starts_with('/'))
            || (g.contains('*') && m(format!("{g}/**").as_bytes(), path.as_bytes()))
    }

    #[test]
    fn globs() {
        assert!(glob_matches("data/*.csv", "data/a.csv"));
        assert!(!glob_matches("data/*.csv", "data/x/a.csv"));
        assert!(glob_matches("data/**/*.csv", "data/x/y/a.csv"));
        assert!(glob_matches("data/**/*.csv", "data/a.csv"));
        assert!(glob_matches("data/**", "data/x/y/a.csv"));
        assert!(glob_matches("data", "data/x/y/a.csv"));
        assert!(glob_matches("data/", "data/a"));
        assert!(!glob_matches("data", "database/a"));
        assert!(glob_matches("**/a.bin", "x/y/a.bin"));
        assert!(glob_matches("**/a.bin", "a.bin"));
        assert!(glob_matches("a?.bin", "ab.bin"));
        assert!(!glob_matches("a?.bin", "a/.bin"));
        assert!(glob_matches(".", "any/thing"));
        assert!(glob_matches("", "any/thing"));
        assert!(glob_matches("d*", "data/x/y"));
        assert!(glob_matches("a**b", "ax/y/zb"));
        assert!(
            glob_matches("a**/b", "ab"),
            "the old matcher's quirk is kept"
        );
    }

    #[test]
    fn equivalent_runs_of_stars_fold_into_one_token() {
        assert_eq!(tokens(b"********"), vec![Token::Any]);
        assert_eq!(
            tokens(b"**/**/**/x"),
            vec![Token::AnyDir, Token::Byte(b'x')]
        );
        assert_eq!(tokens(b"**/**"), vec![Token::Any]);
        assert_eq!(
            tokens(b"**/*/**"),
            vec![Token::AnyDir, Token::Star, Token::Byte(b'/'), Token::Any]
        );
        assert_eq!(tokens(b"***"), vec![Token::Any]);
        assert_eq!(
            tokens(b"a/**/*.c"),
            vec![
                Token::Byte(b'a'),
                Token::Byte(b'/'),
                Token::AnyDir,
                Token::Star,
                Token::Byte(b'.'),
                Token::Byte(b'c')
            ]
        );
    }

    /// Every glob and path over a small alphabet, up to a few bytes, agrees with the
    /// reference matcher (and random longer ones do too).
    #[test]
    fn same_answers_as_the_backtracking_matcher() {
        fn all(alphabet: &[u8], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut layer = vec![String::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &layer {
                    for &c in alphabet {
                        let mut t = s.clone();
                        t.push(c as char);
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                layer = next;
            }
            out
        }
        let globs = all(b"a/*?", 6);
        let paths = all(b"ab/", 5);
        let mut checked = 0;
        for g in &globs {
            for p in &paths {
                assert_eq!(glob_matches(g, p), reference(g, p), "glob {g:?} path {p:?}");
                checked += 1;
            }
        }
        assert!(checked > 1_000_000, "{checked}");
        // Longer random ones (seeded xorshift), still small enough for the reference.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n) as usize
        };
        for _ in 0..20_000 {
            let g: String = (0..next(12)).map(|_| b"ab/*?."[next(6)] as char).collect();
            let p: String = (0..next(16)).map(|_| b"ab/."[next(4)] as char).collect();
            assert_eq!(
                glob_matches(&g, &p),
                reference(&g, &p),
                "glob {g:?} path {p:?}"
            );
        }
    }

    /// The glob a peer sent to stall `serve` (issue 21): `**` forty times then a byte no
    /// path holds, against long paths. The backtracking matcher did not finish this in
    /// hours; here each path is one pass. A watchdog fails the test rather than letting
    /// it hang, should the matcher ever go exponential again.
    #[test]
    fn the_pathological_glob_is_answered_at_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let long = format!("{}/{}", "d/".repeat(60), "x".repeat(200));
            let mut answers = Vec::new();
            for glob in [
                format!("{}Q", "**".repeat(40)),
                format!("{}Q", "*?".repeat(200)),
                format!("{}Q", "**/".repeat(100)),
                format!("{}Q", "**/*".repeat(100)),
                format!("{}x", "*d/".repeat(100)),
            ] {
                for path in [&long, "a/b", "Q", &"x".repeat(5000)] {
                    answers.push(glob_matches(&glob, path));
                }
            }
            tx.send(answers).unwrap();
        });
        let answers = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the pathological globs are matched without backtracking");
        // `**…Q` and `**/…Q` match `Q` only; the others match none of these paths.
        assert_eq!(answers[..4], [false, false, true, false]);
        assert_eq!(answers[8..12], [false, false, true, false]);
    }
}
