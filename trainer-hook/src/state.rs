//! The training state as bytes: what each step's hash covers and what a checkpoint holds.
//!
//! ```text
//! state bytes = for each parameter (model order): its f32 values, little-endian
//!               || for each parameter: AdamW m || for each parameter: AdamW v
//!               || u64le(AdamW step count)
//! state hash  = BLAKE3(state bytes)
//! chain       : h_0 = BLAKE3([0; 32] || state hash after initialisation)
//!               h_i = BLAKE3(h_{i-1} || state hash after step i)
//! checkpoint  = "CLNYCKP1" || u64le(step) || u32le(n params) || per param: u32le(rank),
//!               u64le(dims)… || state bytes
//! final weights hash = BLAKE3(parameter bytes only)
//! ```

use candle_core::{DType, Device, Storage, Tensor, Var};

use crate::error::{Result, TrainError};
use crate::model::values;
use crate::optim::AdamW;

/// Magic of a checkpoint file.
const MAGIC: &[u8; 8] = b"CLNYCKP1";

/// f32 values converted to bytes per round on big-endian machines.
#[cfg_attr(target_endian = "little", allow(dead_code))]
const FEED_BATCH: usize = 1024;

/// Hands the little-endian bytes of `vals` to `sink`: on little-endian machines the
/// values' own memory, viewed as bytes (no copy); elsewhere converted a stack buffer at
/// a time.
fn feed_f32(vals: &[f32], sink: &mut impl FnMut(&[u8])) {
    #[cfg(target_endian = "little")]
    sink(bytemuck::cast_slice(vals));
    #[cfg(not(target_endian = "little"))]
    {
        let mut buf = [0u8; FEED_BATCH * 4];
        for part in vals.chunks(FEED_BATCH) {
            for (dst, x) in buf.chunks_exact_mut(4).zip(part) {
                dst.copy_from_slice(&x.to_le_bytes());
            }
            sink(&buf[..part.len() * 4]);
        }
    }
}

/// Hands the little-endian f32 bytes of `t` (row-major) to `sink`. A contiguous f32 CPU
/// tensor (every built-in parameter and moment) is read in place under its storage's read
/// lock, without first copying it out of candle: this runs after every step, and for the
/// small MLP the copies were most of the recording cost. Anything else (another device or
/// dtype, a strided view) goes through [`values`]; the bytes are the same either way.
fn feed_tensor(t: &Tensor, sink: &mut impl FnMut(&[u8])) -> Result<()> {
    if t.dtype() == DType::F32 {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            feed_f32(&cpu.as_slice::<f32>()?[start..end], sink);
            return Ok(());
        }
    }
    feed_f32(&values(t)?, sink);
    Ok(())
}

/// Hands the state bytes of parameters and optimiser to `sink`, in the order of the
/// module docs.
fn feed_state(vars: &[Var], opt: &AdamW, sink: &mut impl FnMut(&[u8])) -> Result<()> {
    for v in vars {
        feed_tensor(v.as_tensor(), sink)?;
    }
    for t in opt.m.iter().chain(&opt.v) {
        feed_tensor(t, sink)?;
    }
    sink(&opt.t.to_le_bytes());
    Ok(())
}

/// The state bytes of parameters and optimiser.
pub fn state_bytes(vars: &[Var], opt: &AdamW) -> Result<Vec<u8>> {
    let n: usize = vars.iter().map(|v| v.elem_count()).sum();
    let mut out = Vec::with_capacity(n * 12 + 8);
    feed_state(vars, opt, &mut |b| out.extend_from_slice(b))?;
    Ok(out)
}

/// Pieces shorter than this are gathered before they reach the hasher.
const STAGE: usize = 64 << 10;

/// A BLAKE3 hasher fed through a small staging buffer. BLAKE3 hashes several 1 KiB
/// chunks at once with SIMD only when one `update` spans them; the state of a small model
/// is a dozen pieces of a few hundred bytes, which hashed one by one cost twice as much
/// as hashing them gathered. Large tensors go to the hasher directly, so memory stays
/// bounded by [`STAGE`] whatever the model's size.
///
/// The buffer is reused from one hash to the next (per thread): a fresh allocation of a
/// kilobyte or more after every step made glibc consolidate the many small blocks candle
/// had just freed, which cost more than the hashing itself.
struct StagedHasher {
    hasher: blake3::Hasher,
    stage: Vec<u8>,
}

thread_local! {
    /// The staging buffer between hashes.
    static STAGE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl StagedHasher {
    fn new(total: usize) -> StagedHasher {
        let mut stage = STAGE_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        stage.clear();
        stage.reserve(total.min(STAGE));
        StagedHasher {
            hasher: blake3::Hasher::new(),
            stage,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if self.stage.len() + bytes.len() > STAGE {
            self.hasher.update(&self.stage);
            self.stage.clear();
        }
        if bytes.len() >= STAGE {
            self.hasher.update(bytes);
        } else {
            self.stage.extend_from_slice(bytes);
        }
    }

    fn finalize(mut self) -> [u8; 32] {
        self.hasher.update(&self.stage);
        STAGE_BUFFER.with(|b| *b.borrow_mut() = std::mem::take(&mut self.stage));
        *self.hasher.finalize().as_bytes()
    }
}

/// BLAKE3 of [`state_bytes`], streamed without building the bytes: the same hash,
/// computed after every recorded step.
pub fn state_hash(vars: &[Var], opt: &AdamW) -> Result<[u8; 32]> {
    let n: usize = vars.iter().map(|v| v.elem_count()).sum();
    let mut h = StagedHasher::new(n * 12 + 8);
    feed_state(vars, opt, &mut |b| h.update(b))?;
    Ok(h.finalize())
}

/// BLAKE3 of the parameters alone: the final weights hash.
pub fn weights_hash(vars: &[Var]) -> Result<[u8; 32]> {
    let n: usize = vars.iter().map(|v| v.elem_count()).sum();
    let mut h = StagedHasher::new(n * 4);
    for v in vars {
        feed_tensor(v.as_tensor(), &mut |b| h.update(b))?;
    }
    Ok(h.finalize())
}

/// The next chain link.
pub fn chain(prev: &[u8; 32], state_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(state_hash);
    *h.finalize().as_bytes()
}

/// Encodes a checkpoint of the state after `step`; also returns the state hash.
pub fn encode_checkpoint(step: u64, vars: &[Var], opt: &AdamW) -> Result<(Vec<u8>, [u8; 32])> {
    let state = state_bytes(vars, opt)?;
    let hash = *blake3::hash(&state).as_bytes();
    let mut out = Vec::with_capacity(state.len() + 256);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&step.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for v in vars {
        let dims = v.dims();
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend_from_slice(&(*d as u64).to_le_bytes());
        }
    }
    out.extend_from_slice(&state);
    Ok((out, hash))
}

/// Loads a checkpoint into `vars` and `opt` (whose shapes must match); returns the step
/// it was taken after and the state hash.
pub fn load_checkpoint(
    bytes: &[u8],
    vars: &[Var],
    opt: &mut AdamW,
    dev: &Device,
) -> Result<(u64, [u8; 32])> {
    let bad = |why: &str| TrainError::Record(format!("malformed checkpoint: {why}"));
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
        pos += n;
        Ok(s)
    };
    if take(8)? != MAGIC {
        return Err(bad("bad magic"));
    }
    let step = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    if n != vars.len() {
        return Err(bad("parameter count differs from the model"));
    }
    let mut shapes = Vec::with_capacity(n);
    for v in vars {
        let rank = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let mut dims = Vec::with_capacity(rank);
        for _ in 0..rank {
            dims.push(u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")) as usize);
        }
        if dims != v.dims() {
            return Err(bad("parameter shape differs from the model"));
        }
        shapes.push(dims);
    }
    let state = &bytes[pos..];
    let hash = *blake3::hash(state).as_bytes();
    let mut at = 0usize;
    let mut read = |dims: &[usize]| -> Result<Tensor> {
        let count: usize = dims.iter().product();
        let raw = state
            .get(at..at + count * 4)
            .ok_or_else(|| bad("truncated state"))?;
        at += count * 4;
        let v: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Tensor::from_vec(v, dims, dev)?)
    };
    for (v, dims) in vars.iter().zip(&shapes) {
        v.set(&read(dims)?)?;
    }
    for (m, dims) in opt.m.iter_mut().zip(&shapes) {
        *m = read(dims)?;
    }
    for (v, dims) in opt.v.iter_mut().zip(&shapes) {
        *v = read(dims)?;
    }
    let t = state
        .get(at..at + 8)
        .ok_or_else(|| bad("truncated state"))?;
    opt.t = u64::from_le_bytes(t.try_into().expect("8 bytes"));
    if at + 8 != state.len() {
        return Err(bad("trailing bytes"));
    }
    Ok((step, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::AdamWParams;

    /// The bytes hashed are the documented ones whatever a tensor's layout: contiguous
    /// CPU tensors read in place and a strided view copied out give the same state hash
    /// as BLAKE3 over the state bytes built value by value.
    #[test]
    fn state_hash_streams_the_documented_bytes() {
        let dev = Device::Cpu;
        let w = Tensor::arange(0f32, 12.0, &dev)
            .unwrap()
            .reshape((3, 4))
            .unwrap();
        let b = Tensor::new(&[0.5f32, -1.25, 3.0], &dev).unwrap();
        let vars = vec![Var::from_tensor(&w).unwrap(), Var::from_tensor(&b).unwrap()];
        let mut opt = AdamW::new(&vars, AdamWParams::with_lr(0.1)).unwrap();
        // A transposed (strided) moment, and a row range (offset into its storage).
        opt.m[0] = (Tensor::arange(0f32, 12.0, &dev)
            .unwrap()
            .reshape((4, 3))
            .unwrap()
            * 0.3)
            .unwrap()
            .t()
            .unwrap();
        assert!(!opt.m[0].is_contiguous());
        opt.v[1] = Tensor::arange(0f32, 6.0, &dev)
            .unwrap()
            .narrow(0, 2, 3)
            .unwrap();
        opt.t = 7;
        let mut reference = Vec::new();
        for t in vars
            .iter()
            .map(|v| v.as_tensor())
            .chain(&opt.m)
            .chain(&opt.v)
        {
            for x in values(t).unwrap() {
                reference.extend_from_slice(&x.to_le_bytes());
            }
        }
        reference.extend_from_slice(&7u64.to_le_bytes());
        assert_eq!(state_bytes(&vars, &opt).unwrap(), reference);
        assert_eq!(
            state_hash(&vars, &opt).unwrap(),
            *blake3::hash(&reference).as_bytes()
        );
        let params = &reference[..(12 + 3) * 4];
        assert_eq!(
            weights_hash(&vars).unwrap(),
            *blake3::hash(params).as_bytes()
        );
    }

    /// The staged hasher gives plain BLAKE3 of the concatenation for any mix of small
    /// and large pieces.
    #[test]
    fn staged_hasher_is_plain_blake3() {
        let pieces: Vec<Vec<u8>> = [3usize, STAGE - 1, 10, STAGE, 2 * STAGE + 7, 1, 0, 700]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect())
            .collect();
        let mut h = StagedHasher::new(16);
        let mut all = Vec::new();
        for p in &pieces {
            h.update(p);
            all.extend_from_slice(p);
        }
        assert_eq!(h.finalize(), *blake3::hash(&all).as_bytes());
    }

    /// Tensors longer than one big-endian feed batch are fed whole.
    #[test]
    fn long_tensors_are_fed_whole() {
        let dev = Device::Cpu;
        let n = FEED_BATCH * 2 + 5;
        let t = Tensor::arange(0u32, n as u32, &dev)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let mut got = Vec::new();
        feed_tensor(&t, &mut |b| got.extend_from_slice(b)).unwrap();
        let want: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
        assert_eq!(got, want);
    }
}
