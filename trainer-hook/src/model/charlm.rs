//! A small byte-level transformer: embeddings, one pre-norm block (causal self-attention
//! and a ReLU feed-forward), a final norm and a projection onto the 256 byte values.

use candle_core::{Device, Tensor, Var};

use super::{Batch, Model, layer_norm, linear, param, softmax_last};
use crate::error::{Result, TrainError};
use crate::rng::SplitMix64;

/// The transformer's sizes (recorded in the run config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CharLmDims {
    /// Context length in bytes.
    pub context: usize,
    /// Model width.
    pub width: usize,
    /// Attention heads (`width` must be a multiple).
    pub heads: usize,
    /// Feed-forward width.
    pub ff: usize,
}

impl Default for CharLmDims {
    fn default() -> Self {
        CharLmDims {
            context: 32,
            width: 32,
            heads: 2,
            ff: 64,
        }
    }
}

/// Vocabulary: bytes.
const VOCAB: usize = 256;

/// The model.
pub struct CharLm {
    dims: CharLmDims,
    params: Vec<Var>,
    mask: Tensor,
}

impl CharLm {
    /// A freshly initialised model drawn from `rng`.
    pub fn new(dims: CharLmDims, rng: &mut SplitMix64, dev: &Device) -> Result<CharLm> {
        let CharLmDims {
            context: t,
            width: d,
            heads,
            ff,
        } = dims;
        if heads == 0 || d % heads != 0 {
            return Err(TrainError::Config(format!(
                "width {d} is not a multiple of {heads} heads"
            )));
        }
        let s = 0.02;
        let ones = f64::NAN;
        let proj = (1.0 / d as f64).sqrt();
        let params = vec![
            param(rng, &[VOCAB, d], s, dev)?, // 0 token embedding
            param(rng, &[t, d], s, dev)?,     // 1 position embedding
            param(rng, &[d], ones, dev)?,     // 2 ln1 gain
            param(rng, &[d], 0.0, dev)?,      // 3 ln1 bias
            param(rng, &[d, d], proj, dev)?,  // 4 Wq
            param(rng, &[d, d], proj, dev)?,  // 5 Wk
            param(rng, &[d, d], proj, dev)?,  // 6 Wv
            param(rng, &[d, d], proj, dev)?,  // 7 Wo
            param(rng, &[d], 0.0, dev)?,      // 8 bo
            param(rng, &[d], ones, dev)?,     // 9 ln2 gain
            param(rng, &[d], 0.0, dev)?,      // 10 ln2 bias
            param(rng, &[d, ff], proj, dev)?, // 11 W1
            param(rng, &[ff], 0.0, dev)?,     // 12 b1
            param(rng, &[ff, d], (1.0 / ff as f64).sqrt(), dev)?, // 13 W2
            param(rng, &[d], 0.0, dev)?,      // 14 b2
            param(rng, &[d], ones, dev)?,     // 15 lnf gain
            param(rng, &[d], 0.0, dev)?,      // 16 lnf bias
            param(rng, &[d, VOCAB], proj, dev)?, // 17 head
        ];
        let mask: Vec<f32> = (0..t * t)
            .map(|i| if i % t > i / t { -1e9 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), dev)?;
        Ok(CharLm { dims, params, mask })
    }
}

impl Model for CharLm {
    fn params(&self) -> &[Var] {
        &self.params
    }

    fn loss(&self, batch: &Batch) -> Result<Tensor> {
        let Batch::Tokens { x, y } = batch else {
            return Err(TrainError::Data("the char model trains on text".into()));
        };
        let p = &self.params;
        let (b, t) = x.dims2()?;
        let d = self.dims.width;
        let h = self.dims.heads;
        let hd = d / h;
        let tok = p[0].as_tensor().index_select(&x.flatten_all()?, 0)?; // (B*T, D)
        let pos = p[1].as_tensor().narrow(0, 0, t)?.repeat((b, 1))?;
        let x0 = (tok + pos)?; // (B*T, D)
        // Attention.
        let a = layer_norm(&x0, &p[2], &p[3])?;
        let heads = |w: &Var| -> Result<Tensor> {
            Ok(a.matmul(w.as_tensor())?
                .reshape((b, t, h, hd))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (heads(&p[4])?, heads(&p[5])?, heads(&p[6])?);
        let att = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * (1.0 / (hd as f64).sqrt()))?;
        let att = softmax_last(&att.broadcast_add(&self.mask.narrow(0, 0, t)?.narrow(1, 0, t)?)?)?;
        let o = att
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, d))?;
        let x1 = (x0 + linear(&o, &p[7], &p[8])?)?;
        // Feed-forward.
        let f = layer_norm(&x1, &p[9], &p[10])?;
        let f = linear(&linear(&f, &p[11], &p[12])?.relu()?, &p[13], &p[14])?;
        let x2 = (x1 + f)?;
        let logits = layer_norm(&x2, &p[15], &p[16])?.matmul(p[17].as_tensor())?;
        super::cross_entropy(&logits, &y.flatten_all()?)
    }
}
