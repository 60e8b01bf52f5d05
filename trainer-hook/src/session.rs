//! A training session: model, optimiser and data for one configuration, stepping
//! deterministically. Shared by `train`, resume and `verify`.

use candle_core::Device;
use colony_store::{Repo, Snapshot};

use crate::data::{Data, DataInfo};
use crate::error::{Result, TrainError};
use crate::model::{CharLm, CharLmDims, Mlp, MlpDims, Model, ModelKind};
use crate::optim::AdamW;
use crate::record::TrainConfig;
use crate::rng::{SplitMix64, stream};
use crate::state;

/// The device named `cpu` or `cuda`.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| {
            TrainError::Config(format!(
                "cannot use CUDA: {e} (colony must be built with `--features cuda` and a GPU present)"
            ))
        }),
        other => Err(TrainError::Config(format!(
            "unknown device `{other}` (cpu or cuda)"
        ))),
    }
}

/// Model, optimiser and data.
pub struct Session {
    /// The model.
    pub model: Box<dyn Model>,
    /// The optimiser.
    pub opt: AdamW,
    /// The data.
    pub data: Data,
    /// The configuration (model sizes filled in).
    pub cfg: TrainConfig,
    /// What was read.
    pub info: DataInfo,
    dev: Device,
}

impl Session {
    /// Loads the data and initialises the model from the seed. `cfg.mlp` is filled in from
    /// the data when absent, and must match it when present.
    pub fn new(repo: &Repo, snapshot: &Snapshot, cfg: &TrainConfig) -> Result<Session> {
        let dev = device(&cfg.device)?;
        let mut cfg = cfg.clone();
        if cfg.batch == 0 {
            return Err(TrainError::Config("--batch must be at least 1".into()));
        }
        let (data, info) = Data::load(repo, snapshot, cfg.model, &cfg.data)?;
        let (model, opt) = build(&mut cfg, &info, &dev)?;
        Ok(Session {
            model,
            opt,
            data,
            cfg,
            info,
            dev,
        })
    }

    /// Back to the initial state drawn from the seed (the data stays loaded).
    pub fn reset(&mut self) -> Result<()> {
        let (model, opt) = build(&mut self.cfg, &self.info, &self.dev)?;
        self.model = model;
        self.opt = opt;
        Ok(())
    }
}

/// The model and optimiser initialised from `cfg.seed`; fills in `cfg.mlp` from the data
/// (or checks it against the data).
fn build(cfg: &mut TrainConfig, info: &DataInfo, dev: &Device) -> Result<(Box<dyn Model>, AdamW)> {
    let mut rng = SplitMix64::new(cfg.seed, stream::INIT);
    let model: Box<dyn Model> = match cfg.model {
        ModelKind::Mlp => {
            let dims = MlpDims {
                inputs: info.features.len(),
                hidden: cfg.mlp.map_or(32, |d| d.hidden),
                classes: info.classes.len().max(2),
            };
            if cfg.mlp.is_some_and(|d| d != dims) {
                return Err(TrainError::Data(format!(
                    "the data gives MLP sizes {dims:?}, the record says {:?}",
                    cfg.mlp
                )));
            }
            cfg.mlp = Some(dims);
            Box::new(Mlp::new(dims, &mut rng, dev)?)
        }
        ModelKind::CharLm => {
            let dims = *cfg.charlm.get_or_insert_with(CharLmDims::default);
            Box::new(CharLm::new(dims, &mut rng, dev)?)
        }
    };
    let opt = AdamW::new(model.params(), cfg.adamw)?;
    Ok((model, opt))
}

impl Session {
    /// Takes step `step` (1-based; the state must be the one after `step - 1`); returns
    /// the loss.
    pub fn step(&mut self, step: u64) -> Result<f32> {
        let context = self.cfg.charlm.map_or(0, |d| d.context);
        let batch = self
            .data
            .batch(step, self.cfg.batch, context, self.cfg.seed, &self.dev)?;
        let loss = self.model.loss(&batch)?;
        let grads = loss.backward()?;
        self.opt.step(self.model.params(), &grads)?;
        Ok(loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?)
    }

    /// BLAKE3 of the current state bytes.
    pub fn state_hash(&self) -> Result<[u8; 32]> {
        state::state_hash(self.model.params(), &self.opt)
    }

    /// A checkpoint of the current state (after `step`) and its state hash.
    pub fn checkpoint(&self, step: u64) -> Result<(Vec<u8>, [u8; 32])> {
        state::encode_checkpoint(step, self.model.params(), &self.opt)
    }

    /// Loads a checkpoint; returns its step and state hash.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(u64, [u8; 32])> {
        state::load_checkpoint(bytes, self.model.params(), &mut self.opt, &self.dev)
    }

    /// BLAKE3 of the parameters.
    pub fn weights_hash(&self) -> Result<[u8; 32]> {
        state::weights_hash(self.model.params())
    }
}
