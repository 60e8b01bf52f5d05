//! The built-in models: small enough to train in seconds on a CPU, written with candle
//! tensor operations only, initialised from our own seeded generator.

mod charlm;
mod mlp;

pub use candle_core::Tensor;
use candle_core::{D, DType, Device, Var};

pub use charlm::{CharLm, CharLmDims};
pub use mlp::{Mlp, MlpDims};

use crate::error::Result;
use crate::rng::SplitMix64;

/// Which built-in model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A two-layer perceptron classifying table rows by their numeric feature columns.
    Mlp,
    /// A one-block byte-level transformer predicting the next byte of text.
    CharLm,
}

impl ModelKind {
    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::CharLm => "charlm",
        }
    }

    /// Parses `mlp` or `charlm`.
    pub fn parse(s: &str) -> Option<ModelKind> {
        match s {
            "mlp" => Some(ModelKind::Mlp),
            "charlm" => Some(ModelKind::CharLm),
            _ => None,
        }
    }
}

/// One training batch.
pub enum Batch {
    /// Rows of features `(B, F)` f32 and class labels `(B,)` u32.
    Rows {
        /// Features.
        x: Tensor,
        /// Labels.
        y: Tensor,
    },
    /// Byte windows `(B, T)` u32 and their next bytes `(B, T)` u32.
    Tokens {
        /// Inputs.
        x: Tensor,
        /// Targets.
        y: Tensor,
    },
}

/// A model: its parameters in a fixed order, and its loss on a batch.
pub trait Model {
    /// The trainable parameters, always in the same order (hashing and checkpoints
    /// follow it).
    fn params(&self) -> &[Var];
    /// Mean cross-entropy of the batch.
    fn loss(&self, batch: &Batch) -> Result<Tensor>;
}

/// A parameter of `shape` drawn from N(0, std²) by `rng` (std 0: zeros; NaN: ones).
pub(crate) fn param(rng: &mut SplitMix64, shape: &[usize], std: f64, dev: &Device) -> Result<Var> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = if std.is_nan() {
        vec![1.0; n]
    } else if std == 0.0 {
        vec![0.0; n]
    } else {
        (0..n).map(|_| (rng.normal() * std) as f32).collect()
    };
    Ok(Var::from_tensor(&Tensor::from_vec(v, shape, dev)?)?)
}

/// `x @ w + b` for `x` of shape `(N, in)`.
pub(crate) fn linear(x: &Tensor, w: &Var, b: &Var) -> Result<Tensor> {
    Ok(x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?)
}

/// Layer normalisation over the last dimension.
pub(crate) fn layer_norm(x: &Tensor, g: &Var, b: &Var) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    Ok(xn
        .broadcast_mul(g.as_tensor())?
        .broadcast_add(b.as_tensor())?)
}

/// Softmax over the last dimension (max subtracted, detached).
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// Mean cross-entropy of `logits` `(N, C)` against class indices `y` `(N,)` u32.
pub(crate) fn cross_entropy(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&y.unsqueeze(1)?, 1)?;
    Ok((lse - picked)?.mean_all()?)
}

/// The f32 values of a tensor, row-major.
pub fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}
