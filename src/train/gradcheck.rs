//! Finite-difference checks of every layer's and loss's backward pass, in `f64`.
//!
//! Each check draws random inputs of awkward sizes, takes the scalar `L = Σ y ⊙ R` for a
//! fixed random `R` (so `dL/dy = R`), and compares the analytic gradient of every input
//! and parameter element with the central difference `(L(x+h) − L(x−h)) / 2h`,
//! `h = 1e-5`. In `f64` the truncation error is `O(h²) ≈ 1e-10` and the rounding error
//! `O(ε/h) ≈ 1e-11`, so a tolerance of `1e-6` relative (plus `1e-7` absolute) has ample
//! margin while still catching any wrong term.

use crate::error::Result;
use crate::rng::Rng;
use crate::train::backend::{Activation, Backend, CpuBackend};
use crate::train::layers::*;
use crate::train::loss;
use crate::train::tensor::{Module, Param, Tensor};

const H: f64 = 1e-5;

fn assert_close(what: &str, i: usize, analytic: f64, numeric: f64) {
    let tol = 1e-7 + 1e-6 * analytic.abs().max(numeric.abs());
    assert!(
        (analytic - numeric).abs() <= tol,
        "{what}[{i}]: analytic {analytic:e} vs numeric {numeric:e}"
    );
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.data().iter().zip(b.data()).map(|(x, y)| x * y).sum()
}

/// Random values kept at least 0.05 away from zero (ReLU kink, sign).
fn rand_away(shape: &[usize], rng: &mut Rng) -> Tensor<f64> {
    let mut t = Tensor::<f64>::randn(shape, 1.0, rng);
    for v in t.data_mut() {
        if v.abs() < 0.05 {
            *v += 0.1f64.copysign(*v);
        }
    }
    t
}

fn param_count<M: Module<f64>>(m: &mut M) -> usize {
    let mut n = 0;
    m.visit_params("", &mut |_, _| n += 1);
    n
}

fn param_data<M: Module<f64>>(m: &mut M, idx: usize) -> (String, Vec<f64>, Vec<f64>) {
    let mut out = None;
    let mut i = 0;
    m.visit_params("", &mut |name, p: &mut Param<f64>| {
        if i == idx {
            out = Some((
                name.to_string(),
                p.value.data().to_vec(),
                p.grad.data().to_vec(),
            ));
        }
        i += 1;
    });
    out.expect("parameter index in range")
}

fn perturb<M: Module<f64>>(m: &mut M, idx: usize, e: usize, delta: f64) {
    let mut i = 0;
    m.visit_params("", &mut |_, p: &mut Param<f64>| {
        if i == idx {
            p.value.data_mut()[e] += delta;
        }
        i += 1;
    });
}

type RunFn<'a, M> = dyn Fn(&mut M, &Tensor<f64>, Option<&Tensor<f64>>) -> Result<(Tensor<f64>, Option<Tensor<f64>>)>
    + 'a;

/// Checks dx and every parameter gradient of `run` (forward, and backward when given dy).
fn check_module<M: Module<f64> + Clone>(name: &str, m: &M, x: &Tensor<f64>, run: &RunFn<'_, M>) {
    let mut rng = Rng::new(99);
    let (y, _) = run(&mut m.clone(), x, None).expect("forward");
    let r = Tensor::randn(y.shape(), 1.0, &mut rng);
    let mut analytic = m.clone();
    analytic.zero_grad();
    let (_, dx) = run(&mut analytic, x, Some(&r)).expect("backward");
    let dx = dx.expect("dx");
    let loss = |mm: &M, xx: &Tensor<f64>| {
        let (y, _) = run(&mut mm.clone(), xx, None).expect("forward");
        dot(&y, &r)
    };
    for i in 0..x.numel() {
        let mut xp = x.clone();
        xp.data_mut()[i] += H;
        let mut xm = x.clone();
        xm.data_mut()[i] -= H;
        let num = (loss(m, &xp) - loss(m, &xm)) / (2.0 * H);
        assert_close(&format!("{name} dx"), i, dx.data()[i], num);
    }
    for pi in 0..param_count(&mut m.clone()) {
        let (pname, _values, grad) = param_data(&mut analytic, pi);
        for (e, &g) in grad.iter().enumerate() {
            let mut mp = m.clone();
            perturb(&mut mp, pi, e, H);
            let mut mm = m.clone();
            perturb(&mut mm, pi, e, -H);
            let num = (loss(&mp, x) - loss(&mm, x)) / (2.0 * H);
            assert_close(&format!("{name} {pname}"), e, g, num);
        }
    }
}

fn be() -> CpuBackend {
    CpuBackend::new(1)
}

#[test]
fn linear_gradients() {
    let mut rng = Rng::new(1);
    let layer = Linear::<f64>::new(5, 3, true, &mut rng);
    let x = Tensor::randn(&[2, 3, 5], 1.0, &mut rng);
    check_module("linear", &layer, &x, &|m: &mut Linear<f64>, x, dy| {
        let (y, c) = m.forward(&be(), x)?;
        let dx = dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?;
        Ok((y, dx))
    });
}

#[test]
fn activation_gradients() {
    let mut rng = Rng::new(2);
    let x = rand_away(&[3, 7], &mut rng);
    for (act, scale) in [
        (Activation::Tanh, 0.5),
        (Activation::Relu, 1.0),
        (Activation::Gelu, 1.3),
    ] {
        let layer = Linear::<f64>::new(7, 7, false, &mut rng);
        // A linear layer in front gives the check a parameter to differentiate too.
        check_module(
            &format!("{act:?}"),
            &layer,
            &x,
            &|m: &mut Linear<f64>, x, dy| {
                let (h, lc) = m.forward(&be(), x)?;
                let (y, ac) = activation_forward(&be(), act, scale, &h);
                let dx = match dy {
                    Some(dy) => {
                        let dh = activation_backward(&be(), &ac, dy)?;
                        Some(m.backward(&be(), &lc, &dh)?)
                    }
                    None => None,
                };
                Ok((y, dx))
            },
        );
    }
}

#[test]
fn layer_norm_gradients() {
    let mut rng = Rng::new(3);
    let mut ln = LayerNorm::<f64>::new(6);
    ln.gamma.value = Tensor::randn(&[6], 1.0, &mut rng);
    ln.beta.value = Tensor::randn(&[6], 1.0, &mut rng);
    let x = Tensor::randn(&[5, 6], 2.0, &mut rng);
    check_module("layernorm", &ln, &x, &|m: &mut LayerNorm<f64>, x, dy| {
        let (y, c) = m.forward(&be(), x)?;
        Ok((y, dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?))
    });
}

#[test]
fn batch_norm_gradients_train_and_eval() {
    let mut rng = Rng::new(4);
    for train in [true, false] {
        let mut bn = BatchNorm::<f64>::new(4);
        bn.gamma.value = Tensor::randn(&[4], 1.0, &mut rng);
        bn.beta.value = Tensor::randn(&[4], 1.0, &mut rng);
        bn.running_mean = vec![0.3, -0.2, 0.1, 0.5];
        bn.running_var = vec![1.5, 0.7, 2.0, 0.9];
        let x = Tensor::randn(&[7, 4], 1.5, &mut rng);
        check_module(
            &format!("batchnorm train={train}"),
            &bn,
            &x,
            &|m: &mut BatchNorm<f64>, x, dy| {
                let (y, c) = m.forward(&be(), x, train)?;
                Ok((y, dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?))
            },
        );
    }
}

#[test]
fn batch_norm_modes_differ_and_running_stats_move() {
    let mut rng = Rng::new(5);
    let mut bn = BatchNorm::<f64>::new(3);
    let x = Tensor::<f64>::randn(&[50, 3], 2.0, &mut rng);
    let shifted = Tensor::from_vec(&[50, 3], x.data().iter().map(|v| v + 4.0).collect()).unwrap();
    let (y, _) = bn.forward(&be(), &shifted, true).unwrap();
    // Train mode: every column has zero mean and unit (biased) variance.
    let (mean, var) = Backend::<f64>::col_moments(&be(), &y);
    assert!(mean.iter().all(|m| m.abs() < 1e-9) && var.iter().all(|v| (v - 1.0).abs() < 1e-3));
    assert!(
        bn.running_mean.iter().all(|m| (m - 0.4).abs() < 0.15),
        "{:?}",
        bn.running_mean
    );
    // Eval mode uses running statistics, so the output is not standardised.
    let (ye, _) = bn.forward(&be(), &shifted, false).unwrap();
    let (me, _) = Backend::<f64>::col_moments(&be(), &ye);
    assert!(me.iter().all(|m| *m > 2.0), "{me:?}");
    // Training mode on a single row is rejected instead of dividing by zero.
    assert!(bn.forward(&be(), &Tensor::zeros(&[1, 3]), true).is_err());
}

#[test]
fn l2_normalisation_gradients() {
    let mut rng = Rng::new(6);
    let layer = Linear::<f64>::new(5, 4, true, &mut rng);
    let x = Tensor::randn(&[3, 5], 1.0, &mut rng);
    check_module("l2", &layer, &x, &|m: &mut Linear<f64>, x, dy| {
        let (h, lc) = m.forward(&be(), x)?;
        let (y, c) = l2_forward(&be(), &h);
        let dx = match dy {
            Some(dy) => Some(m.backward(&be(), &lc, &l2_backward(&be(), &c, dy)?)?),
            None => None,
        };
        Ok((y, dx))
    });
}

#[test]
fn attention_gradients_with_padding() {
    let mut rng = Rng::new(7);
    let attn = MultiHeadAttention::<f64>::new(6, 2, &mut rng).unwrap();
    let x = Tensor::randn(&[3, 5, 6], 1.0, &mut rng);
    let lengths = vec![5, 2, 0];
    check_module(
        "attention",
        &attn,
        &x,
        &|m: &mut MultiHeadAttention<f64>, x, dy| {
            let seq = SequenceBatch::new(x.clone(), lengths.clone())?;
            let (y, c) = m.forward(&be(), &seq)?;
            Ok((y, dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?))
        },
    );
}

#[test]
fn attention_ignores_padded_keys() {
    let mut rng = Rng::new(8);
    let attn = MultiHeadAttention::<f64>::new(4, 2, &mut rng).unwrap();
    let x = Tensor::randn(&[1, 4, 4], 1.0, &mut rng);
    let mut x2 = x.clone();
    for v in &mut x2.data_mut()[8..] {
        *v += 3.0; // change tokens 2 and 3, which are padding
    }
    let (y1, _) = attn
        .forward(&be(), &SequenceBatch::new(x, vec![2]).unwrap())
        .unwrap();
    let (y2, _) = attn
        .forward(&be(), &SequenceBatch::new(x2, vec![2]).unwrap())
        .unwrap();
    for i in 0..8 {
        assert!((y1.data()[i] - y2.data()[i]).abs() < 1e-12);
    }
    assert!(SequenceBatch::new(Tensor::<f64>::zeros(&[1, 4, 4]), vec![5]).is_err());
}

#[test]
fn transformer_block_gradients() {
    let mut rng = Rng::new(9);
    let block = TransformerBlock::<f64>::new(4, 2, 6, &mut rng).unwrap();
    let x = Tensor::randn(&[2, 3, 4], 1.0, &mut rng);
    let lengths = vec![3, 2];
    check_module(
        "transformer",
        &block,
        &x,
        &|m: &mut TransformerBlock<f64>, x, dy| {
            let seq = SequenceBatch::new(x.clone(), lengths.clone())?;
            let (y, c) = m.forward(&be(), &seq)?;
            Ok((y, dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?))
        },
    );
}

#[test]
fn ghostvlad_gradients() {
    let mut rng = Rng::new(10);
    let gv = GhostVlad::<f64>::new(5, 3, 2, &mut rng).unwrap();
    let x = Tensor::randn(&[9, 5], 1.0, &mut rng);
    let offsets = vec![0, 4, 4, 5, 9]; // items with 4, 0, 1 and 4 tokens
    check_module("ghostvlad", &gv, &x, &|m: &mut GhostVlad<f64>, x, dy| {
        let (y, c) = m.forward(&be(), x, &offsets, true)?;
        Ok((y, dy.map(|dy| m.backward(&be(), &c, dy)).transpose()?))
    });
    assert!(gv.clone().forward(&be(), &x, &[0, 4, 8], true).is_err());
}

#[test]
fn ghostvlad_output_is_normalised_and_ghosts_dropped() {
    let mut rng = Rng::new(11);
    let mut gv = GhostVlad::<f64>::new(4, 3, 1, &mut rng).unwrap();
    let x = Tensor::randn(&[10, 4], 1.0, &mut rng);
    let (y, _) = gv.forward(&be(), &x, &[0, 6, 10], true).unwrap();
    assert_eq!(y.shape(), &[2, 3, 4]);
    for item in y.data().chunks(12) {
        let n: f64 = item.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-9);
        for cl in item.chunks(4) {
            let c: f64 = cl.iter().map(|v| v * v).sum();
            assert!(
                (c - 1.0 / 3.0).abs() < 1e-9,
                "intra-normalised clusters have equal norm"
            );
        }
    }
}

type PairFn<'a> = dyn Fn(&Tensor<f64>, &Tensor<f64>) -> loss::PairLoss<f64> + 'a;

/// Checks a two-input scalar loss against central differences.
fn check_pair_loss(name: &str, u: &Tensor<f64>, v: &Tensor<f64>, f: &PairFn<'_>) {
    let g = f(u, v);
    for (which, x, grad) in [("du", u, &g.du), ("dv", v, &g.dv)] {
        for i in 0..x.numel() {
            let mut xp = x.clone();
            xp.data_mut()[i] += H;
            let mut xm = x.clone();
            xm.data_mut()[i] -= H;
            let (lp, lm) = if which == "du" {
                (f(&xp, v).loss, f(&xm, v).loss)
            } else {
                (f(u, &xp).loss, f(u, &xm).loss)
            };
            assert_close(
                &format!("{name} {which}"),
                i,
                grad.data()[i],
                (lp - lm) / (2.0 * H),
            );
        }
    }
}

#[test]
fn info_nce_gradients_and_value() {
    let mut rng = Rng::new(12);
    let u = Tensor::randn(&[5, 3], 1.0, &mut rng);
    let v = Tensor::randn(&[5, 3], 1.0, &mut rng);
    check_pair_loss("infonce", &u, &v, &|u, v| {
        loss::info_nce(&be(), u, v, 0.2).unwrap()
    });
    // Hand value: two orthogonal perfectly matched pairs, τ = 1:
    // each row softmax gives e/(e+1), so L = −ln(e/(e+1)).
    let u = Tensor::from_vec(&[2, 2], vec![1.0, 0.0, 0.0, 2.0]).unwrap();
    let l = loss::info_nce(&be(), &u, &u, 1.0).unwrap().loss;
    let e = std::f64::consts::E;
    assert!((l + (e / (e + 1.0)).ln()).abs() < 1e-12);
    assert!(loss::info_nce(&be(), &u, &u, 0.0).is_err());
}

#[test]
fn similarity_mse_gradients() {
    let mut rng = Rng::new(13);
    let u = Tensor::randn(&[4, 3], 1.0, &mut rng);
    let v = Tensor::randn(&[5, 3], 1.0, &mut rng);
    let s = Tensor::randn(&[4, 5], 1.0, &mut rng);
    check_pair_loss("simmse", &u, &v, &|u, v| {
        loss::similarity_mse(&be(), u, v, &s, 0.7).unwrap()
    });
}

#[test]
fn quantization_loss_and_straight_through_sign() {
    let mut rng = Rng::new(14);
    let h = rand_away(&[4, 6], &mut rng);
    let (_, dh) = loss::quantization_loss(&h).unwrap();
    for i in 0..h.numel() {
        let mut hp = h.clone();
        hp.data_mut()[i] += H;
        let mut hm = h.clone();
        hm.data_mut()[i] -= H;
        let num = (loss::quantization_loss(&hp).unwrap().0
            - loss::quantization_loss(&hm).unwrap().0)
            / (2.0 * H);
        assert_close("quant dh", i, dh.data()[i], num);
    }
    let h = Tensor::<f64>::from_vec(&[1, 4], vec![0.3, -0.5, 0.0, 2.0]).unwrap();
    assert_eq!(loss::sign_ste(&h).data(), &[1.0, -1.0, -1.0, 1.0]);
    assert!(
        (loss::quantization_loss(&h).unwrap().0 - (0.49 + 0.25 + 1.0 + 1.0) / 4.0).abs() < 1e-12
    );
    let db = Tensor::from_vec(&[1, 4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(loss::sign_ste_backward(&db), db);
}

#[test]
fn softmax_backward_matches_finite_differences_with_mask() {
    let mut rng = Rng::new(15);
    let x = Tensor::randn(&[3, 4], 1.0, &mut rng);
    let r = Tensor::randn(&[3, 4], 1.0, &mut rng);
    let mask: Vec<bool> = (0..12).map(|i| i % 4 != 2).collect();
    let b = be();
    let f = |x: &Tensor<f64>| {
        dot(
            &Backend::<f64>::softmax_rows(&b, x, Some(&mask)).unwrap(),
            &r,
        )
    };
    let p = Backend::<f64>::softmax_rows(&b, &x, Some(&mask)).unwrap();
    let dx = b.softmax_rows_backward(&p, &r).unwrap();
    for i in 0..12 {
        let mut xp = x.clone();
        xp.data_mut()[i] += H;
        let mut xm = x.clone();
        xm.data_mut()[i] -= H;
        assert_close("softmax", i, dx.data()[i], (f(&xp) - f(&xm)) / (2.0 * H));
    }
}

#[test]
fn f32_and_f64_backends_agree() {
    let mut rng = Rng::new(16);
    let a = Tensor::<f64>::randn(&[37, 19], 1.0, &mut rng);
    let b = Tensor::<f64>::randn(&[23, 19], 1.0, &mut rng);
    let c64 = Backend::<f64>::matmul(&CpuBackend::new(2), &a, false, &b, true).unwrap();
    let c32 = Backend::<f32>::matmul(
        &CpuBackend::new(2),
        &a.cast::<f32>(),
        false,
        &b.cast::<f32>(),
        true,
    )
    .unwrap();
    for (x, y) in c64.data().iter().zip(c32.data()) {
        assert!((x - *y as f64).abs() < 1e-4);
    }
    // A hand product: [[1,2],[3,4]] · [[5],[6]] = [[17],[39]], and Aᵀ·B with A stored transposed.
    let a = Tensor::from_vec(&[2, 2], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    let v = Tensor::from_vec(&[2, 1], vec![5.0f64, 6.0]).unwrap();
    assert_eq!(
        be().matmul(&a, false, &v, false).unwrap().data(),
        &[17.0, 39.0]
    );
    assert_eq!(
        be().matmul(&a, true, &v, false).unwrap().data(),
        &[23.0, 34.0]
    );
    assert!(
        be().matmul(&a, false, &Tensor::<f64>::zeros(&[3, 1]), false)
            .is_err()
    );
}
