//! SRCH tests: every closed-form step against a brute-force or independent solution,
//! monotone descent of the whole objective, recovery of a planted two-view structure,
//! persistence and input errors.

use super::*;

/// Two views of a clustered latent: `c` clusters, latent dimension `m`, views of widths
/// `da`, `db` through random linear maps, with noise.
fn planted(
    n: usize,
    c: usize,
    m: usize,
    da: usize,
    db: usize,
    seed: u64,
) -> (Tensor<f32>, Tensor<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let centers: Vec<f32> = (0..c * m).map(|_| 2.0 * rng.normal()).collect();
    let label: Vec<usize> = (0..n).map(|i| i % c).collect();
    let latent: Vec<f32> = (0..n * m)
        .map(|e| centers[label[e / m] * m + e % m] + 0.4 * rng.normal())
        .collect();
    let mut view = |d: usize| {
        let a: Vec<f32> = (0..m * d).map(|_| rng.normal()).collect();
        let x: Vec<f32> = (0..n * d)
            .map(|e| {
                let (i, j) = (e / d, e % d);
                (0..m)
                    .map(|t| latent[i * m + t] * a[t * d + j])
                    .sum::<f32>()
                    + 0.2 * rng.normal()
            })
            .collect();
        Tensor::from_vec(&[n, d], x).unwrap()
    };
    let (xa, xb) = (view(da), view(db));
    (xa, xb, label)
}

/// A training state on random data with the graph set, `B` random and `Z = B`.
fn tiny_state(cfg: &SrchConfig, n: usize, dims: [usize; 2], seed: u64) -> State<'_> {
    let (xa, xb, _) = planted(n, 3, 4, dims[0], dims[1], seed);
    let l = cfg.bits;
    let k = cfg.k.min(n - 1);
    let ga = mutual_knn_graph(&knn(xa.data(), n, dims[0], k), n, k);
    let gb = mutual_knn_graph(&knn(xb.data(), n, dims[1], k), n, k);
    let graph = UnionGraph::new(&[(&ga, ga.weights()), (&gb, gb.weights())]);
    let cap = if cfg.whiten { None } else { Some(l) };
    let xs = [
        whiten(&xa, cap, cfg.whiten).unwrap().1,
        whiten(&xb, cap, cfg.whiten).unwrap().1,
    ];
    let mut rng = Rng::new(seed + 1);
    let b: Vec<f64> = (0..n * l)
        .map(|_| if rng.uniform() < 0.5 { 1.0 } else { -1.0 })
        .collect();
    State {
        cfg,
        wt: [Mat::zeros(xs[0].ncols(), l), Mat::zeros(xs[1].ncols(), l)],
        proj: [Mat::zeros(n, l), Mat::zeros(n, l)],
        x: xs,
        z: b.clone(),
        b,
        graph,
    }
}

fn tiny_cfg(bits: usize, whiten: bool) -> SrchConfig {
    SrchConfig {
        bits,
        whiten,
        k: 3,
        alpha: 0.05,
        beta: 0.7,
        lambda: 1.5,
        ..SrchConfig::default()
    }
}

/// `‖XWᵀ − B‖² + ‖X − BW‖²` for a given `Wᵀ`.
fn autoencoder_loss(x: &Mat<f64>, b: MatRef<'_, f64>, wt: &Mat<f64>) -> f64 {
    (x * wt - b).squared_norm_l2() + (x - b * wt.transpose()).squared_norm_l2()
}

fn random_orthonormal(rows: usize, cols: usize, rng: &mut Rng) -> Mat<f64> {
    let g = Mat::from_fn(rows, cols, |_, _| rng.normal() as f64);
    let svd = g.thin_svd().unwrap();
    svd.U() * svd.V().transpose()
}

#[test]
fn w_step_is_the_best_orthonormal_projection() {
    for whitened in [true, false] {
        w_step_case(whitened);
    }
}

fn w_step_case(whitened: bool) {
    let cfg = tiny_cfg(3, whitened);
    let st = tiny_state(&cfg, 40, [7, 5], 1);
    let mut rng = Rng::new(9);
    for g in 0..2 {
        let x = &st.x[g];
        // Whitened: XᵀX = n I; otherwise 3 principal directions of mean variance 1.
        let gram = x.transpose() * x;
        assert_eq!(gram.nrows(), if whitened { [7, 5][g] } else { 3 });
        for i in 0..gram.nrows() {
            for j in 0..gram.ncols() {
                if whitened || i != j {
                    let want = if i == j { 40.0 } else { 0.0 };
                    assert!((gram[(i, j)] - want).abs() < 1e-8);
                }
            }
        }
        let trace: f64 = (0..gram.nrows()).map(|i| gram[(i, i)]).sum();
        assert!((trace - 40.0 * gram.nrows() as f64).abs() < 1e-8);
        let wt = w_step(x.as_ref(), st.b_mat()).unwrap();
        let wtw = wt.transpose() * &wt;
        for i in 0..3 {
            for j in 0..3 {
                assert!((wtw[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
        // The polar factor M (MᵀM)^{-1/2} of M = XᵀB, computed another way.
        let m = x.transpose() * st.b_mat();
        let e = (m.transpose() * &m)
            .self_adjoint_eigen(faer::Side::Lower)
            .unwrap();
        let (u, s) = (e.U(), e.S().column_vector());
        let inv_sqrt = Mat::from_fn(3, 3, |i, j| {
            (0..3)
                .map(|t| u[(i, t)] * u[(j, t)] / s[t].sqrt())
                .sum::<f64>()
        });
        let polar = &m * inv_sqrt;
        assert!((&polar - &wt).norm_max() < 1e-8);
        let best = autoencoder_loss(x, st.b_mat(), &wt);
        for _ in 0..500 {
            let r = random_orthonormal(x.ncols(), 3, &mut rng);
            assert!(autoencoder_loss(x, st.b_mat(), &r) >= best - 1e-9);
        }
        // Small perturbations stay on the manifold via their polar factor.
        for _ in 0..200 {
            let p = Mat::from_fn(x.ncols(), 3, |i, j| wt[(i, j)] + 1e-3 * rng.normal() as f64);
            let svd = p.thin_svd().unwrap();
            let r = svd.U() * svd.V().transpose();
            assert!(autoencoder_loss(x, st.b_mat(), &r) >= best - 1e-9);
        }
    }
}

/// Dense Gaussian elimination with partial pivoting, for checking the sparse solver.
fn dense_solve(mut a: Vec<f64>, mut rhs: Vec<f64>, n: usize, l: usize) -> Vec<f64> {
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap();
        for t in 0..n {
            a.swap(col * n + t, piv * n + t);
        }
        for t in 0..l {
            rhs.swap(col * l + t, piv * l + t);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            for t in col..n {
                a[r * n + t] -= f * a[col * n + t];
            }
            for t in 0..l {
                rhs[r * l + t] -= f * rhs[col * l + t];
            }
        }
    }
    let mut x = vec![0.0; n * l];
    for r in (0..n).rev() {
        for t in 0..l {
            let s: f64 = (r + 1..n).map(|c| a[r * n + c] * x[c * l + t]).sum();
            x[r * l + t] = (rhs[r * l + t] - s) / a[r * n + r];
        }
    }
    x
}

#[test]
fn z_step_matches_a_dense_solve_and_never_raises_its_objective() {
    for (beta, lambda) in [(0.7, 1.5), (1e-3, 10.0)] {
        let cfg = SrchConfig {
            beta,
            lambda,
            ..tiny_cfg(8, true)
        };
        let mut st = tiny_state(&cfg, 23, [6, 4], 2);
        let mut rng = Rng::new(3);
        for s in st.graph.s.iter_mut() {
            *s = 0.2 + 0.8 * rng.uniform() as f64;
        }
        let (n, l) = (23, 8);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n + i] = beta;
        }
        for ((&(i, j), c), s) in st.graph.edges.iter().zip(&st.graph.c).zip(&st.graph.s) {
            let (i, j, w) = (i as usize, j as usize, lambda * c * s * s);
            a[i * n + i] += w;
            a[j * n + j] += w;
            a[i * n + j] -= w;
            a[j * n + i] -= w;
        }
        let want = dense_solve(a, st.b.iter().map(|b| beta * b).collect(), n, l);
        // Capped CG from Z = B lowers the Z-subproblem objective at every iteration.
        let mut last = f64::INFINITY;
        for cap in 0..6 {
            let mut z = st.b.clone();
            z_step(&st.graph, beta, lambda, &st.b, &mut z, l, cap, 0.0);
            st.z = z;
            let o = st.objective();
            let f = o.semantic + o.code;
            assert!(f <= last * (1.0 + 1e-12), "cap {cap}: {f} > {last}");
            last = f;
        }
        let mut z = st.b.clone();
        z_step(&st.graph, beta, lambda, &st.b, &mut z, l, 1000, 1e-13);
        let err = z
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-9, "β {beta}: max error {err}");
    }
}

#[test]
fn s_step_minimises_every_edge() {
    let cfg = tiny_cfg(8, true);
    let mut st = tiny_state(&cfg, 30, [6, 5], 4);
    let mut rng = Rng::new(8);
    st.z = (0..30 * 8).map(|_| 0.3 * rng.normal() as f64).collect();
    s_step(&mut st.graph, &st.z, 8, cfg.alpha, cfg.lambda);
    let graph_part = |st: &State<'_>| {
        let o = st.objective();
        o.semantic + o.sparsity
    };
    let best = graph_part(&st);
    assert!(st.graph.s.iter().all(|&s| s > 0.0 && s <= 1.0));
    for e in 0..st.graph.s.len() {
        let s0 = st.graph.s[e];
        for t in 0..=40 {
            st.graph.s[e] = -0.5 + t as f64 * 0.05;
            assert!(
                graph_part(&st) >= best - 1e-12,
                "edge {e} at {}",
                st.graph.s[e]
            );
        }
        for d in [-1e-4, 1e-4] {
            st.graph.s[e] = s0 + d;
            assert!(graph_part(&st) >= best - 1e-12);
        }
        st.graph.s[e] = s0;
    }
}

#[test]
fn b_step_is_the_exact_minimiser_on_an_enumerated_problem() {
    for whitened in [true, false] {
        b_step_case(whitened);
    }
}

fn b_step_case(whitened: bool) {
    let cfg = tiny_cfg(2, whitened);
    let n = 5;
    let mut st = tiny_state(&cfg, n, [3, 4], 6);
    st.w_step().unwrap();
    let mut rng = Rng::new(2);
    st.z = (0..n * 2).map(|_| 3.0 * rng.normal() as f64).collect();
    st.b = b_step(cfg.beta, &st.z, &st.proj);
    let best = st.objective().total();
    let mut brute = f64::INFINITY;
    for mask in 0u32..1 << (n * 2) {
        st.b = (0..n * 2)
            .map(|e| if mask >> e & 1 == 1 { 1.0 } else { -1.0 })
            .collect();
        brute = brute.min(st.objective().total());
    }
    assert!(
        (best - brute).abs() < 1e-9 * brute.abs(),
        "{best} vs {brute}"
    );
    // Larger problem: no single bit flip lowers the objective.
    let cfg = tiny_cfg(8, whitened);
    let mut st = tiny_state(&cfg, 25, [9, 10], 7);
    st.w_step().unwrap();
    st.z = (0..25 * 8).map(|_| rng.normal() as f64).collect();
    st.b = b_step(cfg.beta, &st.z, &st.proj);
    let best = st.objective().total();
    for e in 0..st.b.len() {
        st.b[e] = -st.b[e];
        assert!(st.objective().total() >= best - 1e-9);
        st.b[e] = -st.b[e];
    }
}

fn dataset(xa: Tensor<f32>, xb: Tensor<f32>) -> PairedDataset {
    let a = Modality::new("a", Some(xa), None).unwrap();
    let b = Modality::new("b", Some(xb), None).unwrap();
    PairedDataset::new(a, b, None).unwrap()
}

#[test]
fn descends_monotonically_and_recovers_planted_pairs() {
    let n = 240;
    let (xa, xb, label) = planted(n, 6, 8, 24, 18, 10);
    let ds = dataset(xa, xb);
    let train: Vec<usize> = (0..200).collect();
    let test: Vec<usize> = (200..n).collect();
    for cfg in [
        SrchConfig {
            bits: 16,
            max_iter: 15,
            tol: 0.0,
            ..SrchConfig::default()
        },
        SrchConfig {
            bits: 16,
            max_iter: 15,
            tol: 0.0,
            beta: 1.0,
            lambda: 1.0,
            alpha: 0.1,
            cg_max_iter: 5,
            ..SrchConfig::default()
        },
        SrchConfig {
            bits: 16,
            max_iter: 15,
            tol: 0.0,
            whiten: true,
            ..SrchConfig::default()
        },
    ] {
        let mut seen = 0;
        let (m, log) = Srch::fit(&ds, &train, cfg.clone(), &mut |_| seen += 1).unwrap();
        assert_eq!(seen, log.iters.len());
        let mut last = f64::INFINITY;
        for it in &log.iters {
            for v in it.after_step {
                assert!(v <= last + 1e-9 * last.abs().min(1e300), "{:?}", log.iters);
                last = v;
            }
        }
        if cfg.whiten {
            // Monotone descent only: whitening weights the 16 + 10 pure-noise directions
            // like the 8 shared ones, and codes do not separate (see the module doc).
            continue;
        }
        // Held-out pairs: codes of the two views of an item are much closer than those of
        // unrelated items, and items of one cluster closer than of different clusters.
        let ca = m.encode_modality(&ds.a, Side::A, &test).unwrap();
        let cb = m.encode_modality(&ds.b, Side::B, &test).unwrap();
        let ham = |i: usize, j: usize| {
            ca.row(i)
                .unwrap()
                .iter()
                .zip(cb.row(j).unwrap())
                .map(|(a, b)| (a ^ b).count_ones())
                .sum::<u32>() as f64
        };
        let t = test.len();
        let paired = (0..t).map(|i| ham(i, i)).sum::<f64>() / t as f64;
        let (mut same, mut ns, mut diff, mut nd) = (0.0, 0, 0.0, 0);
        for i in 0..t {
            for j in 0..t {
                if i == j {
                    continue;
                }
                if label[test[i]] == label[test[j]] {
                    same += ham(i, j);
                    ns += 1;
                } else {
                    diff += ham(i, j);
                    nd += 1;
                }
            }
        }
        let (same, diff) = (same / ns as f64, diff / nd as f64);
        assert!(
            paired < 0.4 * diff,
            "paired {paired} vs unrelated {diff} ({cfg:?})"
        );
        assert!(
            same < 0.6 * diff,
            "same cluster {same} vs other {diff} ({cfg:?})"
        );
    }
}

#[test]
fn save_load_round_trip_and_typed_errors() {
    let (xa, xb, _) = planted(120, 4, 6, 12, 9, 20);
    let ds = dataset(xa.clone(), xb.clone());
    let all: Vec<usize> = (0..120).collect();
    let cfg = SrchConfig {
        bits: 8,
        max_iter: 5,
        ..SrchConfig::default()
    };
    let (m, _) = Srch::fit(&ds, &all, cfg.clone(), &mut |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("srch.model");
    m.save(&p).unwrap();
    let back = crate::train::methods::load_any(&p).unwrap();
    assert_eq!(back.method(), "srch");
    assert_eq!(back.bits(), 8);
    for side in [Side::A, Side::B] {
        let m_ = if side == Side::A { &ds.a } else { &ds.b };
        assert_eq!(
            back.encode_modality(m_, side, &all).unwrap().as_words(),
            m.encode_modality(m_, side, &all).unwrap().as_words()
        );
    }
    // Same seed, same model.
    let (m2, _) = Srch::fit(&ds, &all, cfg.clone(), &mut |_| {}).unwrap();
    assert_eq!(m2.projections, m.projections);
    // Input errors.
    let mut bad = xa.clone();
    bad.data_mut()[17] = f32::NAN;
    let e = Srch::fit_features(&bad, &xb, cfg.clone(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, Error::NonFinite { row: 1, col: 5, .. }), "{e}");
    let e = Srch::fit(&ds, &[], cfg.clone(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { name: "train", .. }),
        "{e}"
    );
    for bits in [0, 12] {
        let c = SrchConfig {
            bits,
            ..cfg.clone()
        };
        let e = Srch::fit(&ds, &all, c, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::InvalidBits { .. }), "{e}");
    }
    let c = SrchConfig {
        bits: 16,
        ..cfg.clone()
    };
    let e = Srch::fit(&ds, &all, c, &mut |_| {}).unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { name: "bits", .. }),
        "{e}"
    );
    let c = SrchConfig { beta: -1.0, ..cfg };
    assert!(Srch::fit(&ds, &all, c, &mut |_| {}).is_err());
    let e = m
        .encode_modality(&Modality::new("x", Some(xb), None).unwrap(), Side::A, &all)
        .unwrap_err();
    assert!(matches!(e, Error::DimensionMismatch { .. }), "{e}");
}
