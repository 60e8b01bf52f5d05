//! Unit tests over a real store: determinism, resume, verify and bisect.

use std::collections::BTreeMap;

use colony_store::{InitOptions, Repo};

use crate::data::DataSpec;
use crate::model::ModelKind;
use crate::record::{read_run, write_record};
use crate::verify::Steps;
use crate::{TrainOptions, bisect_runs, train, verify_run};

/// A dataset with a table (`data/points.csv`: x, y, z, label) and a text file.
pub(crate) fn dataset() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    let mut csv = String::from("x,y,z,label\n");
    let mut g = crate::rng::SplitMix64::new(9, 0);
    for _ in 0..300 {
        let (x, y, z) = (g.normal(), g.normal(), g.normal());
        let label = if x + 0.5 * y > 0.0 { "pos" } else { "neg" };
        csv.push_str(&format!("{x:.5},{y:.5},{z:.5},{label}\n"));
    }
    std::fs::write(root.join("data/points.csv"), csv).unwrap();
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(200);
    std::fs::write(root.join("data/story.txt"), text).unwrap();
    let repo = Repo::init(root, &InitOptions::default()).unwrap();
    repo.add(&["".into()]).unwrap();
    repo.commit("data", false).unwrap();
    (dir, repo)
}

pub(crate) fn opts(model: ModelKind, steps: u64) -> TrainOptions {
    TrainOptions {
        rev: "main".into(),
        model,
        steps,
        batch: 16,
        lr: 0.01,
        seed: 5,
        checkpoint_every: 5,
        device: "cpu".into(),
        data: DataSpec {
            path: None,
            label: (model == ModelKind::Mlp).then(|| "label".into()),
            features: vec![],
            max_bytes: 1 << 20,
        },
        record: true,
    }
}

#[test]
fn two_runs_give_identical_records_and_learn() {
    let (_d, repo) = dataset();
    for model in [ModelKind::Mlp, ModelKind::CharLm] {
        let a = train(&repo, &opts(model, 30)).unwrap();
        let b = train(&repo, &opts(model, 30)).unwrap();
        assert_eq!(a.record_hash, b.record_hash, "{model:?}");
        assert_eq!(a.run, b.run);
        let rec = read_run(&repo, &a.run).unwrap().record;
        assert_eq!(rec.chain.len(), 31);
        assert_eq!(rec.checkpoints.len(), 6);
        assert!(
            rec.losses[29] < rec.losses[0],
            "{model:?} did not learn: {:?}",
            rec.losses
        );
        let mut other = opts(model, 30);
        other.seed = 6;
        assert_ne!(train(&repo, &other).unwrap().record_hash, a.record_hash);
    }
}

#[test]
fn resume_from_a_checkpoint_gives_the_same_chain() {
    let (_d, repo) = dataset();
    for model in [ModelKind::Mlp, ModelKind::CharLm] {
        let a = train(&repo, &opts(model, 20)).unwrap();
        let r = crate::train::resume(&repo, &a.run, Some(10), None).unwrap();
        assert_eq!(r.steps, 10);
        assert_eq!(r.record_hash, a.record_hash, "{model:?}");
        // Longer: resuming from the end continues the same chain.
        let long = train(&repo, &opts(model, 25)).unwrap();
        let r = crate::train::resume(&repo, &a.run, None, Some(25)).unwrap();
        assert_eq!(r.chain_root, long.chain_root);
    }
}

#[test]
fn verify_passes_honest_and_names_the_tampered_step() {
    let (_d, repo) = dataset();
    let a = train(&repo, &opts(ModelKind::Mlp, 20)).unwrap();
    let v = verify_run(&repo, &a.run, &Steps::All).unwrap();
    assert!(v.first_bad.is_none(), "{v:?}");
    assert_eq!(v.reexecuted, 20);
    let v = verify_run(&repo, &a.run, &Steps::Range(12, 14)).unwrap();
    assert!(v.first_bad.is_none());
    assert_eq!(v.reexecuted, 4, "from checkpoint 10: steps 11..14");
    assert!(
        verify_run(&repo, &a.run, &Steps::Sample(3))
            .unwrap()
            .first_bad
            .is_none()
    );
    // Tamper: a different hash at step 13.
    let stored = read_run(&repo, &a.run).unwrap();
    let mut rec = stored.record.clone();
    rec.chain[13] = hex::encode([7u8; 32]);
    let files: BTreeMap<_, _> = stored
        .files
        .iter()
        .filter(|(p, _)| *p != "record.json")
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    let (bad, _) = write_record(&repo, &rec, &files, None).unwrap();
    let v = verify_run(&repo, &bad, &Steps::All).unwrap();
    assert_eq!(v.first_bad.as_ref().map(|b| b.step), Some(13), "{v:?}");
    let v = verify_run(&repo, &bad, &Steps::Range(11, 15)).unwrap();
    assert_eq!(v.first_bad.map(|b| b.step), Some(13));
    // A tampered loss is named too.
    let mut rec = stored.record.clone();
    rec.losses[3] += 1.0;
    let (bad, _) = write_record(&repo, &rec, &files, None).unwrap();
    let v = verify_run(&repo, &bad, &Steps::All).unwrap();
    let b = v.first_bad.unwrap();
    assert_eq!((b.step, b.what.as_str()), (4, "loss"));
}

#[test]
fn bisect_finds_a_planted_divergence() {
    let (_d, repo) = dataset();
    let a = train(&repo, &opts(ModelKind::Mlp, 40)).unwrap();
    let stored = read_run(&repo, &a.run).unwrap();
    // Plant: from step 23 on, the chain follows some other state.
    let mut rec = stored.record.clone();
    let mut prev = crate::record::parse_hex32(&rec.chain[22]).unwrap();
    for i in 23..rec.chain.len() {
        prev = crate::state::chain(&prev, &[i as u8; 32]);
        rec.chain[i] = hex::encode(prev);
    }
    let files: BTreeMap<_, _> = stored
        .files
        .iter()
        .filter(|(p, _)| {
            p.starts_with("checkpoints/step-0000000")
                || p.starts_with("checkpoints/step-0000001")
                || p.starts_with("checkpoints/step-0000002")
        })
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    let (b, _) = write_record(&repo, &rec, &files, None).unwrap();
    let r = bisect_runs(&repo, &a.run, &b, true).unwrap();
    assert_eq!(r.first_divergent_step, Some(23));
    assert!(r.comparisons <= 8, "{r:?}");
    assert_eq!(r.a_reproduces, Some(true));
    assert_eq!(r.b_reproduces, Some(false));
    assert!(r.reexecuted <= 6, "from checkpoint 20: {r:?}");
    let same = bisect_runs(&repo, &a.run, &a.run, false).unwrap();
    assert_eq!(same.first_divergent_step, None);
}

#[test]
fn recording_is_cheap_and_runs_are_live_for_gc() {
    let (_d, repo) = dataset();
    let a = train(&repo, &opts(ModelKind::CharLm, 10)).unwrap();
    repo.gc().unwrap();
    assert!(repo.fsck().unwrap().errors.is_empty());
    // Checkpoints survive gc: verify re-reads them.
    let v = verify_run(&repo, &a.run, &Steps::Range(7, 8)).unwrap();
    assert!(v.first_bad.is_none());
    let c = read_run(&repo, &a.run)
        .unwrap()
        .record
        .claim_values()
        .unwrap();
    assert_eq!(hex::encode(c.record_hash), a.record_hash);
    assert_eq!(hex::encode(c.chain_root), a.chain_root);
    assert_eq!(hex::encode(c.final_weights), a.final_weights);
}

/// Measures steps/s with and without recording, and the hand-off time on the dataset in
/// `$COLONY_HANDOFF_DIR` (if set). Run with `--ignored --nocapture`; bench/train-bench.sh
/// is the command-line equivalent.
#[test]
#[ignore]
fn measure_training() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    let mut g = crate::rng::SplitMix64::new(1, 0);
    let mut csv = (0..8).map(|i| format!("f{i},")).collect::<String>() + "label\n";
    for _ in 0..5000 {
        let x: Vec<f64> = (0..8).map(|_| g.normal()).collect();
        let label = ["a", "b", "c"][(x[0] + x[1] > 0.0) as usize + (x[2] > 1.0) as usize];
        for v in &x {
            csv.push_str(&format!("{v:.5},"));
        }
        csv.push_str(label);
        csv.push('\n');
    }
    std::fs::write(root.join("data/train.csv"), csv).unwrap();
    let words = [
        "data", "colony", "train", "model", "record", "step", "hash", "chain",
    ];
    let mut text = String::new();
    while text.len() < 1 << 20 {
        text.push_str(words[g.below(8) as usize]);
        text.push(' ');
    }
    std::fs::write(root.join("data/corpus.txt"), text).unwrap();
    let repo = Repo::init(root, &InitOptions::default()).unwrap();
    repo.add(&["".into()]).unwrap();
    repo.commit("data", false).unwrap();
    let steps: u64 = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for model in [ModelKind::Mlp, ModelKind::CharLm] {
        for record in [true, false] {
            let mut sps = Vec::new();
            let mut ovh = Vec::new();
            for _ in 0..3 {
                let mut o = opts(model, steps);
                o.batch = 32;
                o.checkpoint_every = 50;
                o.record = record;
                let r = train(&repo, &o).unwrap();
                sps.push(r.steps_per_s);
                ovh.push(r.record_overhead);
            }
            let med = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[1]
            };
            println!(
                "{:<7} record={record:<5} steps/s median {:8.1} (runs {:?}) hashing+checkpoint share {:.2}%",
                model.name(),
                med(&mut sps.clone()),
                sps.iter()
                    .map(|s| (s * 10.0).round() / 10.0)
                    .collect::<Vec<_>>(),
                med(&mut ovh) * 100.0
            );
        }
    }
    if let Ok(big) = std::env::var("COLONY_HANDOFF_DIR") {
        let big = std::path::Path::new(&big);
        let repo = match Repo::open(big, colony_store::Access::Write, &|_| {}) {
            Ok(r) => r,
            Err(_) => {
                let r = Repo::init(big, &InitOptions::default()).unwrap();
                r.add(&["".into()]).unwrap();
                r.commit("files", false).unwrap();
                r
            }
        };
        let mut t = Vec::new();
        for _ in 0..3 {
            let mut o = opts(ModelKind::CharLm, 1);
            o.data.path = Some("*/rows-00001.csv".into());
            t.push(train(&repo, &o).unwrap().first_step_s);
        }
        println!("hand-off: train -> end of first step {t:?} s");
    }
}

/// Prints the record hashes of a fixed MLP and char-model run, to compare across
/// `RAYON_NUM_THREADS` settings in separate processes (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn print_record_hashes() {
    let (_d, repo) = dataset();
    for model in [ModelKind::Mlp, ModelKind::CharLm] {
        let r = train(&repo, &opts(model, 30)).unwrap();
        println!(
            "chain {} {} weights {}",
            model.name(),
            r.chain_root,
            r.final_weights
        );
    }
}

/// Times the pieces of a recorded MLP step in one process: the step itself, the state
/// hash, and a checkpoint encode (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn time_recording_pieces() {
    let (_d, repo) = dataset();
    let commit = repo.resolve("main").unwrap();
    let snapshot = repo.snapshot_of(commit).unwrap();
    let mut o = opts(ModelKind::Mlp, 1);
    o.batch = 32;
    let cfg = crate::record::TrainConfig {
        model: o.model,
        steps: 1,
        batch: o.batch,
        adamw: crate::optim::AdamWParams::with_lr(o.lr),
        seed: 0,
        checkpoint_every: 0,
        device: "cpu".into(),
        data: o.data.clone(),
        mlp: None,
        charlm: None,
    };
    let mut s = crate::session::Session::new(&repo, &snapshot, &cfg).unwrap();
    let n = 3000u64;
    let t = std::time::Instant::now();
    for step in 1..=n {
        s.step(step).unwrap();
    }
    let step_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(s.state_hash().unwrap());
    }
    let hash_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(s.checkpoint(1).unwrap());
    }
    let ckpt_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // As in the training loop: a hash right after each step.
    let (mut stepping, mut hashing) = (0f64, 0f64);
    for step in n + 1..=2 * n {
        let t = std::time::Instant::now();
        s.step(step).unwrap();
        let t2 = std::time::Instant::now();
        std::hint::black_box(s.state_hash().unwrap());
        hashing += t2.elapsed().as_secs_f64();
        stepping += (t2 - t).as_secs_f64();
    }
    println!(
        "mlp step {step_us:.1} us, state hash {hash_us:.2} us ({:.2} %), checkpoint encode \
         {ckpt_us:.2} us; interleaved: step {:.1} us, hash {:.2} us ({:.2} %)",
        hash_us / step_us * 100.0,
        stepping * 1e6 / n as f64,
        hashing * 1e6 / n as f64,
        hashing / stepping * 100.0
    );
}

/// Bytes of every sealed shard of `repo`.
fn shard_bytes(repo: &Repo) -> u64 {
    fn walk(dir: &std::path::Path) -> u64 {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return 0;
        };
        rd.flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n == "tmp") {
                        0
                    } else {
                        walk(&p)
                    }
                } else {
                    e.metadata().map_or(0, |m| m.len())
                }
            })
            .sum()
    }
    walk(&repo.colony_dir().join("shards"))
}

/// Checkpoints are stored through the store's content-defined chunking, so the parts of
/// the state that did not change between two checkpoints (here a frozen 3 MiB embedding:
/// no gradient, so AdamW leaves its weights and moments alone) are stored once.
#[test]
fn consecutive_checkpoints_share_their_unchanged_parts() {
    use candle_core::{Device, Tensor, Var};

    use crate::optim::{AdamW, AdamWParams};
    use crate::record::store_bytes;
    use crate::state::encode_checkpoint;

    let (_d, repo) = dataset();
    let dev = Device::Cpu;
    let mut g = crate::rng::SplitMix64::new(3, 0);
    let frozen: Vec<f32> = (0..256 * 1024).map(|_| g.normal() as f32).collect();
    let vars = vec![
        Var::from_tensor(&Tensor::from_vec(frozen, (1024, 256), &dev).unwrap()).unwrap(),
        Var::from_tensor(&Tensor::zeros((16, 4), candle_core::DType::F32, &dev).unwrap()).unwrap(),
    ];
    let mut opt = AdamW::new(&vars, AdamWParams::with_lr(0.01)).unwrap();
    let x = Tensor::ones((8, 16), candle_core::DType::F32, &dev).unwrap();
    let step = |opt: &mut AdamW| {
        // The loss reaches only the small head: the big tensor gets no gradient.
        let loss = x
            .matmul(vars[1].as_tensor())
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all();
        let loss = (loss.unwrap() + 1.0).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&vars, &grads).unwrap();
    };
    // Perturb the head so it has gradients to follow.
    vars[1]
        .set(&Tensor::full(0.5f32, (16, 4), &dev).unwrap())
        .unwrap();
    step(&mut opt);
    let (first, _) = encode_checkpoint(1, &vars, &opt).unwrap();
    let before = shard_bytes(&repo);
    store_bytes(&repo, &first).unwrap();
    let one = shard_bytes(&repo) - before;
    step(&mut opt);
    let (second, _) = encode_checkpoint(2, &vars, &opt).unwrap();
    assert_ne!(first, second);
    let before = shard_bytes(&repo);
    store_bytes(&repo, &second).unwrap();
    let added = shard_bytes(&repo) - before;
    println!(
        "checkpoint {} bytes: first stored {one} bytes, the next added {added} bytes",
        first.len()
    );
    // The frozen moments are zeros and compress away; its 1 MiB of weights do not.
    assert!(
        one > 512 << 10,
        "the first checkpoint is stored ({one} bytes)"
    );
    assert!(
        added * 5 < one,
        "the second checkpoint should share its frozen 3 MiB: it added {added} of {one} bytes"
    );
}
