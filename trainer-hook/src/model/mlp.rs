//! A classifier over a table's numeric feature columns: `F → H (ReLU) → C`.

use candle_core::{Device, Var};

use super::{Batch, Model, linear, param};
use crate::error::{Result, TrainError};
use crate::rng::SplitMix64;

/// The MLP's sizes (recorded in the run config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MlpDims {
    /// Feature columns.
    pub inputs: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Classes.
    pub classes: usize,
}

/// The model.
pub struct Mlp {
    params: Vec<Var>,
}

impl Mlp {
    /// A freshly initialised model (He-normal weights, zero biases) drawn from `rng`.
    pub fn new(dims: MlpDims, rng: &mut SplitMix64, dev: &Device) -> Result<Mlp> {
        let MlpDims {
            inputs,
            hidden,
            classes,
        } = dims;
        let params = vec![
            param(rng, &[inputs, hidden], (2.0 / inputs as f64).sqrt(), dev)?,
            param(rng, &[hidden], 0.0, dev)?,
            param(rng, &[hidden, classes], (1.0 / hidden as f64).sqrt(), dev)?,
            param(rng, &[classes], 0.0, dev)?,
        ];
        Ok(Mlp { params })
    }
}

impl Model for Mlp {
    fn params(&self) -> &[Var] {
        &self.params
    }

    fn loss(&self, batch: &Batch) -> Result<crate::model::Tensor> {
        let Batch::Rows { x, y } = batch else {
            return Err(TrainError::Data("the MLP trains on table rows".into()));
        };
        let p = &self.params;
        let h = linear(x, &p[0], &p[1])?.relu()?;
        let logits = linear(&h, &p[2], &p[3])?;
        super::cross_entropy(&logits, y)
    }
}
