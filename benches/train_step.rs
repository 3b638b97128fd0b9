//! Criterion bench of one HuggingHash training step (forward, backward, Adam update) on
//! synthetic data shaped like `../shared/data/bible`: 128-d global vectors and token
//! sequences of about 20 tokens, batch 256, 64 bits, encoder width 256.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crosscode::rng::Rng;
use crosscode::train::backend::CpuBackend;
use crosscode::train::data::{Modality, PairedDataset, Sequences};
use crosscode::train::methods::{HuggingHash, HuggingHashConfig};
use crosscode::train::optim::Adam;
use crosscode::train::tensor::Tensor;

fn dataset(n: usize, t: usize, d: usize, seq: bool) -> PairedDataset {
    let mut rng = Rng::new(1);
    let side = |rng: &mut Rng| {
        let g = Tensor::<f32>::randn(&[n, d], 1.0, rng);
        let s = seq.then(|| {
            let lengths: Vec<usize> = (0..n).map(|_| 10 + rng.below(t - 10)).collect();
            Sequences::dense(Tensor::randn(&[n, t, d], 1.0, rng), lengths).unwrap()
        });
        Modality::new("m", Some(g), s).unwrap()
    };
    let a = side(&mut rng);
    let b = side(&mut rng);
    PairedDataset::new(a, b, None).unwrap()
}

fn bench(c: &mut Criterion) {
    let be = CpuBackend::default();
    let mut group = c.benchmark_group("hugginghash_step");
    group.sample_size(10);
    for (name, lambda) in [("with_fine_alignment", 0.2f32), ("global_only", 0.0)] {
        let ds = dataset(512, 30, 128, lambda > 0.0);
        let idx: Vec<usize> = (0..256).collect();
        let cfg = HuggingHashConfig {
            bits: 64,
            hidden: 256,
            epochs: 1,
            batch_size: 256,
            lambda,
            ..Default::default()
        };
        let (mut model, _) = HuggingHash::fit(&ds, &idx, cfg, &mut |_| {}).unwrap();
        let mut adam = Adam::new(1e-4);
        group.throughput(Throughput::Elements(idx.len() as u64));
        group.bench_function(name, |bch| {
            bch.iter(|| {
                let l = model.train_step(&be, &ds, black_box(&idx)).unwrap();
                adam.step(&mut model, 1e-3);
                l
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
