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

use candle_core::{Device, Tensor, Var};

use crate::error::{Result, TrainError};
use crate::model::values;
use crate::optim::AdamW;

/// Magic of a checkpoint file.
const MAGIC: &[u8; 8] = b"CLNYCKP1";

/// Appends the little-endian f32 bytes of `t`.
fn push_tensor(out: &mut Vec<u8>, t: &Tensor) -> Result<()> {
    for x in values(t)? {
        out.extend_from_slice(&x.to_le_bytes());
    }
    Ok(())
}

/// The state bytes of parameters and optimiser.
pub fn state_bytes(vars: &[Var], opt: &AdamW) -> Result<Vec<u8>> {
    let n: usize = vars.iter().map(|v| v.elem_count()).sum();
    let mut out = Vec::with_capacity(n * 12 + 8);
    for v in vars {
        push_tensor(&mut out, v.as_tensor())?;
    }
    for t in opt.m.iter().chain(&opt.v) {
        push_tensor(&mut out, t)?;
    }
    out.extend_from_slice(&opt.t.to_le_bytes());
    Ok(out)
}

/// BLAKE3 of the parameters alone: the final weights hash.
pub fn weights_hash(vars: &[Var]) -> Result<[u8; 32]> {
    let mut out = Vec::new();
    for v in vars {
        push_tensor(&mut out, v.as_tensor())?;
    }
    Ok(*blake3::hash(&out).as_bytes())
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
