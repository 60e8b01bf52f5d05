//! File manifests: the ordered chunk list of one file version.

use crate::Hash;

const MAGIC: &[u8; 8] = b"CLNYMAN1";

/// The chunks of one file, in order. Its identity is the BLAKE3 of [`FileManifest::encode`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileManifest {
    /// (chunk hash, chunk length) in file order.
    pub chunks: Vec<(Hash, u32)>,
}

impl FileManifest {
    /// Total length of the file.
    pub fn size(&self) -> u64 {
        self.chunks.iter().map(|(_, l)| *l as u64).sum()
    }

    /// The canonical encoding: magic, count (u64 LE), then (hash, length u32 LE) pairs.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.chunks.len() * 36);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.chunks.len() as u64).to_le_bytes());
        for (h, l) in &self.chunks {
            out.extend_from_slice(&h.0);
            out.extend_from_slice(&l.to_le_bytes());
        }
        out
    }

    /// Parses [`FileManifest::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<FileManifest, String> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err("not a file manifest".into());
        }
        let n = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let body = &bytes[16..];
        if body.len() != n.checked_mul(36).ok_or("count overflows")? {
            return Err(format!(
                "manifest says {n} chunks but holds {} bytes",
                body.len()
            ));
        }
        let chunks = body
            .chunks(36)
            .map(|c| {
                (
                    Hash(c[..32].try_into().unwrap()),
                    u32::from_le_bytes(c[32..].try_into().unwrap()),
                )
            })
            .collect();
        Ok(FileManifest { chunks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let m = FileManifest {
            chunks: vec![(Hash::of(b"a"), 1), (Hash::of(b"bc"), 2)],
        };
        assert_eq!(FileManifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.size(), 3);
        assert!(FileManifest::decode(b"nonsense-nonsense").is_err());
        let mut e = m.encode();
        e.pop();
        assert!(FileManifest::decode(&e).is_err());
    }
}
