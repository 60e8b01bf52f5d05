//! AdamW, ours so that its state (the moments `m`, `v` and the step count) can be hashed
//! and checkpointed; the arithmetic follows candle-nn's `AdamW::step` operation for
//! operation, so results match it bit for bit.

use candle_core::{Tensor, Var, backprop::GradStore};

use crate::error::Result;

/// Hyper-parameters (recorded in the run config).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWParams {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamWParams {
    /// candle-nn's defaults with the given learning rate.
    pub fn with_lr(lr: f64) -> AdamWParams {
        AdamWParams {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// The optimiser and its state.
pub struct AdamW {
    /// Hyper-parameters.
    pub params: AdamWParams,
    /// Steps taken.
    pub t: u64,
    /// First moments, one per parameter.
    pub m: Vec<Tensor>,
    /// Second moments, one per parameter.
    pub v: Vec<Tensor>,
}

impl AdamW {
    /// Zero state for `vars`.
    pub fn new(vars: &[Var], params: AdamWParams) -> Result<AdamW> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(AdamW {
            params,
            t: 0,
            m: vars.iter().map(zeros).collect::<Result<_, _>>()?,
            v: vars.iter().map(zeros).collect::<Result<_, _>>()?,
        })
    }

    /// One update of `vars` from `grads`.
    pub fn step(&mut self, vars: &[Var], grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdamWParams {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.params;
        let lr_lambda = lr * weight_decay;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.t as i32));
        for (i, theta) in vars.iter().enumerate() {
            let Some(g) = grads.get(theta.as_tensor()) else {
                continue;
            };
            let next_m = ((&self.m[i] * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
            let adjusted_grad = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let next_theta = (next_theta - (adjusted_grad * lr)?)?;
            self.m[i] = next_m;
            self.v[i] = next_v;
            theta.set(&next_theta)?;
        }
        Ok(())
    }
}
