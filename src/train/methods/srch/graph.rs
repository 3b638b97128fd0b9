//! SRCH's geometric graphs: exact k-nearest neighbours by blocked GEMM, the mutual-kNN
//! graph with the edge weights of Eq. 6, and the CSR weighted Laplacian used by the Z-step.
//!
//! Neighbours are found with squared Euclidean distance `‖x_i‖² + ‖x_j‖² − 2·x_i·x_j`: a
//! block of rows is multiplied by all rows with faer's f32 GEMM (one block per rayon task,
//! each GEMM single-threaded) and only the `k` best of each row are kept, so memory is
//! `O(n·k + block·n)`, never `O(n²)`. Candidates are ordered by `(distance, index)`, so
//! ties go to the smaller index and results are deterministic.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Rows per GEMM block of the neighbour search.
const BLOCK: usize = 128;

/// The `k` nearest neighbours (self excluded) of every row of the row-major `(n, d)` matrix
/// `x`, as an `(n, k)` row-major array of indices sorted nearest first; `k` must be below `n`.
pub fn knn(x: &[f32], n: usize, d: usize, k: usize) -> Vec<u32> {
    debug_assert!(k < n.max(1) && x.len() == n * d);
    let mut out = vec![0u32; n * k];
    if k == 0 || n == 0 {
        return out;
    }
    let norms: Vec<f32> = x
        .chunks_exact(d.max(1))
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let all = MatRef::from_row_major_slice(x, n, d);
    out.par_chunks_mut(BLOCK * k).enumerate().for_each_init(
        Vec::new,
        |prod: &mut Vec<f32>, (b, dst)| {
            let start = b * BLOCK;
            let rows = dst.len() / k;
            prod.resize(rows * n, 0.0);
            matmul(
                MatMut::from_row_major_slice_mut(&mut prod[..rows * n], rows, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&x[start * d..(start + rows) * d], rows, d),
                all.transpose(),
                1.0f32,
                Par::Seq,
            );
            let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
            for (r, dots) in prod[..rows * n].chunks_exact(n).enumerate() {
                let i = start + r;
                best.clear();
                for (j, dot) in dots.iter().enumerate() {
                    if j == i {
                        continue;
                    }
                    let dist = (norms[i] + norms[j] - 2.0 * dot).max(0.0);
                    let cand = (dist, j as u32);
                    if best.len() == k {
                        let worst = best[k - 1];
                        if (cand.0, cand.1) >= (worst.0, worst.1) {
                            continue;
                        }
                        best.pop();
                    }
                    let pos = best.partition_point(|&(bd, bj)| (bd, bj) < (cand.0, cand.1));
                    best.insert(pos, cand);
                }
                for (o, &(_, j)) in dst[r * k..(r + 1) * k].iter_mut().zip(&best) {
                    *o = j;
                }
            }
        },
    );
    out
}

/// An undirected graph on `n` nodes, each edge `(i, j)` with `i < j` stored once.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeList {
    /// Number of nodes.
    pub n: usize,
    /// Edges, `i < j`, sorted.
    pub edges: Vec<(u32, u32)>,
}

impl EdgeList {
    /// Degrees `a_m` of Eq. 6.
    pub fn degrees(&self) -> Vec<usize> {
        let mut a = vec![0usize; self.n];
        for &(i, j) in &self.edges {
            a[i as usize] += 1;
            a[j as usize] += 1;
        }
        a
    }

    /// Eq. 6: `C(i,j) = mean_m(a_m) / sqrt(a_i a_j)`, one weight per edge.
    pub fn weights(&self) -> Vec<f64> {
        let a = self.degrees();
        let mean = a.iter().sum::<usize>() as f64 / self.n.max(1) as f64;
        self.edges
            .iter()
            .map(|&(i, j)| mean / ((a[i as usize] * a[j as usize]) as f64).sqrt())
            .collect()
    }
}

/// The mutual-kNN graph (after RCC, which SRCH's `m-kNN` cites): `i — j` when each is
/// among the other's `k` nearest neighbours. A node left with no mutual neighbour is joined
/// to its nearest neighbour, as the paper wants no isolated points (RCC adds a spanning
/// tree for the same reason; one edge per isolated node is the cheap part of that).
pub fn mutual_knn_graph(nn: &[u32], n: usize, k: usize) -> EdgeList {
    let mut edges = Vec::new();
    let mut has = vec![false; n];
    for i in 0..n {
        for &j in &nn[i * k..(i + 1) * k] {
            let j = j as usize;
            if nn[j * k..(j + 1) * k].contains(&(i as u32)) {
                has[i] = true;
                if i < j {
                    edges.push((i as u32, j as u32));
                }
            }
        }
    }
    if k > 0 {
        for i in 0..n {
            if !has[i] {
                let j = nn[i * k] as usize;
                edges.push((i.min(j) as u32, i.max(j) as u32));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    EdgeList { n, edges }
}

/// The union of the two modalities' graphs, as CSR (both directions stored) with, per
/// undirected edge, `c = C_V + C_T` (a graph not holding the edge adds 0) and the semantic
/// graph value `S`.
#[derive(Clone, Debug)]
pub struct UnionGraph {
    /// Number of nodes.
    pub n: usize,
    /// Undirected edges `i < j`.
    pub edges: Vec<(u32, u32)>,
    /// `Σ_g C_g(i,j)` per edge.
    pub c: Vec<f64>,
    /// `S(i,j)` per edge.
    pub s: Vec<f64>,
    /// CSR row pointers, `n + 1`.
    pub indptr: Vec<usize>,
    /// CSR column of each stored entry.
    pub indices: Vec<u32>,
    /// Edge number of each stored entry.
    pub edge_of: Vec<u32>,
}

impl UnionGraph {
    /// Merges the per-modality graphs; `S` starts at 1 on every edge (the graph *Set*).
    pub fn new(graphs: &[(&EdgeList, Vec<f64>)]) -> Self {
        let n = graphs.first().map_or(0, |g| g.0.n);
        let mut all: Vec<((u32, u32), f64)> = graphs
            .iter()
            .flat_map(|(g, w)| g.edges.iter().copied().zip(w.iter().copied()))
            .collect();
        all.sort_unstable_by_key(|&(e, _)| e);
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(all.len());
        let mut c: Vec<f64> = Vec::with_capacity(all.len());
        for (e, w) in all {
            match edges.last() {
                Some(&last) if last == e => {
                    if let Some(cl) = c.last_mut() {
                        *cl += w;
                    }
                }
                _ => {
                    edges.push(e);
                    c.push(w);
                }
            }
        }
        let mut count = vec![0usize; n + 1];
        for &(i, j) in &edges {
            count[i as usize + 1] += 1;
            count[j as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let indptr = count.clone();
        let mut next = count;
        let mut indices = vec![0u32; 2 * edges.len()];
        let mut edge_of = vec![0u32; 2 * edges.len()];
        for (e, &(i, j)) in edges.iter().enumerate() {
            for (a, b) in [(i, j), (j, i)] {
                let p = next[a as usize];
                indices[p] = b;
                edge_of[p] = e as u32;
                next[a as usize] += 1;
            }
        }
        let s = vec![1.0; edges.len()];
        UnionGraph {
            n,
            edges,
            c,
            s,
            indptr,
            indices,
            edge_of,
        }
    }

    /// Laplacian edge weights `c·S²` of Eq. 13 (`H = Σ_e w_e (e_i − e_j)(e_i − e_j)ᵀ`).
    pub fn laplacian_weights(&self) -> Vec<f64> {
        self.c.iter().zip(&self.s).map(|(c, s)| c * s * s).collect()
    }

    /// `out = shift·z + scale·H z` for row-major `(n, l)` `z`, with `H` the Laplacian
    /// of the edge weights `w`; rows in parallel.
    pub fn apply(&self, w: &[f64], shift: f64, scale: f64, z: &[f64], l: usize, out: &mut [f64]) {
        out.par_chunks_mut(l).enumerate().for_each(|(i, o)| {
            let zi = &z[i * l..(i + 1) * l];
            for (ov, zv) in o.iter_mut().zip(zi) {
                *ov = shift * zv;
            }
            for p in self.indptr[i]..self.indptr[i + 1] {
                let j = self.indices[p] as usize;
                let we = scale * w[self.edge_of[p] as usize];
                let zj = &z[j * l..(j + 1) * l];
                for ((ov, a), b) in o.iter_mut().zip(zi).zip(zj) {
                    *ov += we * (a - b);
                }
            }
        });
    }

    /// Weighted degrees `Σ_j w_ij` (the diagonal of `H`).
    pub fn weighted_degrees(&self, w: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|i| {
                (self.indptr[i]..self.indptr[i + 1])
                    .map(|p| w[self.edge_of[p] as usize])
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Brute-force kNN with exact integer distances, ordered by (distance, index).
    fn brute(x: &[i32], n: usize, d: usize, k: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut c: Vec<(i64, u32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let dist = (0..d)
                        .map(|t| ((x[i * d + t] - x[j * d + t]) as i64).pow(2))
                        .sum();
                    (dist, j as u32)
                })
                .collect();
            c.sort_unstable();
            out.extend(c[..k].iter().map(|p| p.1));
        }
        out
    }

    #[test]
    fn knn_matches_brute_force_with_ties_and_awkward_sizes() {
        let mut rng = Rng::new(11);
        // Small integer coordinates: many exact ties, and f32 GEMM is exact on them.
        for &(n, d, k, range) in &[
            (1usize, 3usize, 0usize, 3usize),
            (2, 1, 1, 2),
            (37, 3, 5, 3),
            (129, 2, 10, 4),
            (300, 7, 13, 5),
            (257, 1, 9, 2),
        ] {
            let xi: Vec<i32> = (0..n * d).map(|_| rng.below(range) as i32 - 1).collect();
            let xf: Vec<f32> = xi.iter().map(|&v| v as f32).collect();
            assert_eq!(knn(&xf, n, d, k), brute(&xi, n, d, k), "n {n} d {d} k {k}");
        }
    }

    #[test]
    fn mutual_graph_weights_and_laplacian_match_definitions() {
        let mut rng = Rng::new(5);
        let (n, d, k) = (60, 4, 4);
        let xi: Vec<i32> = (0..n * d).map(|_| rng.below(50) as i32).collect();
        let xf: Vec<f32> = xi.iter().map(|&v| v as f32).collect();
        let nn = knn(&xf, n, d, k);
        let g = mutual_knn_graph(&nn, n, k);
        let is_nn = |i: usize, j: usize| nn[i * k..(i + 1) * k].contains(&(j as u32));
        for i in 0..n {
            for j in i + 1..n {
                let mutual = is_nn(i, j) && is_nn(j, i);
                let has = g.edges.contains(&(i as u32, j as u32));
                if mutual {
                    assert!(has, "mutual pair {i} {j} missing");
                } else if has {
                    // Only the nearest-neighbour edge of an otherwise isolated node.
                    let iso = |a: usize| (0..n).all(|b| !(is_nn(a, b) && is_nn(b, a)));
                    assert!(
                        (iso(i) && nn[i * k] as usize == j) || (iso(j) && nn[j * k] as usize == i)
                    );
                }
            }
        }
        assert!(g.degrees().iter().all(|&a| a > 0), "no isolated nodes");
        // Eq. 6 by hand for the first edge.
        let a = g.degrees();
        let mean = a.iter().sum::<usize>() as f64 / n as f64;
        let (i, j) = g.edges[0];
        let w = g.weights();
        assert!((w[0] - mean / ((a[i as usize] * a[j as usize]) as f64).sqrt()).abs() < 1e-12);
        // Union graph Laplacian against a dense one built from the definition.
        let g2 = EdgeList {
            n,
            edges: vec![(0, 1), (2, 9), g.edges[0]],
        };
        let w2 = vec![0.5, 2.0, 3.0];
        let mut u = UnionGraph::new(&[(&g, w.clone()), (&g2, w2.clone())]);
        for (e, s) in u.s.iter_mut().enumerate() {
            *s = 0.1 + (e % 7) as f64 * 0.1;
        }
        let lw = u.laplacian_weights();
        let mut dense = vec![0.0; n * n];
        let mut add = |i: usize, j: usize, c: f64| {
            let e = u
                .edges
                .iter()
                .position(|&p| p == (i as u32, j as u32))
                .unwrap();
            let v = c * u.s[e] * u.s[e];
            dense[i * n + i] += v;
            dense[j * n + j] += v;
            dense[i * n + j] -= v;
            dense[j * n + i] -= v;
        };
        for (&(i, j), &c) in g.edges.iter().zip(&w).chain(g2.edges.iter().zip(&w2)) {
            add(i as usize, j as usize, c);
        }
        let l = 3;
        let z: Vec<f64> = (0..n * l).map(|_| rng.normal() as f64).collect();
        let mut out = vec![0.0; n * l];
        u.apply(&lw, 0.3, 2.0, &z, l, &mut out);
        for i in 0..n {
            for c in 0..l {
                let want = 0.3 * z[i * l + c]
                    + 2.0 * (0..n).map(|j| dense[i * n + j] * z[j * l + c]).sum::<f64>();
                assert!((out[i * l + c] - want).abs() < 1e-9);
            }
        }
        let deg = u.weighted_degrees(&lw);
        for i in 0..n {
            assert!((deg[i] - dense[i * n + i]).abs() < 1e-12);
        }
    }
}
