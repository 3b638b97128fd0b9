//! PQ end to end through the `crosscode` binary: train codebooks (`crate::train::pq`),
//! write codebooks and codes as `.npy`, `build --pq`, `search` with float queries, and
//! compare with brute force over the decoded vectors; then delete, compact, info and
//! verify on the PQ index, and bad inputs (wrong dtype, wrong M, NaN, wrong query kind).

use std::path::Path;
use std::process::{Command, Output};

use crosscode::io::npy::{read_npy, write_npy};
use crosscode::rng::Rng;
use crosscode::train::pq::{PqTrainConfig, train_pq};
use crosscode::{PqCodebooks, PqCodes, PqMetric};

fn crosscode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crosscode"))
        .args(args)
        .output()
        .expect("run crosscode")
}

fn ok(args: &[&str]) -> String {
    let out = crosscode(args);
    assert!(
        out.status.success(),
        "crosscode {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], needle: &str) {
    let out = crosscode(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "crosscode {args:?} succeeded");
    assert!(
        err.contains(needle),
        "crosscode {args:?}: {err:?} lacks {needle:?}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Brute-force top-k `(id, score)` over decoded vectors of the live ids.
fn brute(
    decoded: &[f32],
    dim: usize,
    ids: &[u64],
    live: impl Fn(u64) -> bool,
    q: &[f32],
    metric: PqMetric,
    k: usize,
) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = decoded
        .chunks_exact(dim)
        .zip(ids)
        .filter(|(_, id)| live(**id))
        .map(|(v, &id)| {
            let sc: f32 = match metric {
                PqMetric::InnerProduct => v.iter().zip(q).map(|(a, b)| a * b).sum(),
                PqMetric::SquaredL2 => v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(),
            };
            (id, sc)
        })
        .collect();
    all.sort_by(|a, b| {
        let o = match metric {
            PqMetric::SquaredL2 => a.1.total_cmp(&b.1),
            PqMetric::InnerProduct => b.1.total_cmp(&a.1),
        };
        o.then(a.0.cmp(&b.0))
    });
    all.truncate(k);
    all
}

/// The index's answer agrees with brute force: the same scores position by position
/// (up to float summation order), and each returned id scores what it claims.
fn assert_agrees(got: &[(u64, f32)], want: &[(u64, f32)], all: &[(u64, f32)]) {
    assert_eq!(got.len(), want.len());
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!(close(g.1, w.1), "score {} vs brute force {}", g.1, w.1);
        let own = all
            .iter()
            .find(|x| x.0 == g.0)
            .expect("returned id is live");
        assert!(close(own.1, g.1), "id {} scores {} not {}", g.0, own.1, g.1);
    }
    let exact_ids = got.iter().zip(want).filter(|(g, w)| g.0 == w.0).count();
    assert!(
        exact_ids * 10 >= got.len() * 9,
        "ids differ beyond near-ties"
    );
}

fn read_hits(prefix: &Path, nq: usize, k: usize) -> Vec<Vec<(u64, f32)>> {
    let ids = read_npy::<u64>(&prefix.with_extension("ids.npy")).unwrap();
    let scores = read_npy::<f32>(&prefix.with_extension("scores.npy")).unwrap();
    assert_eq!(ids.shape, [nq, k]);
    (0..nq)
        .map(|q| {
            (0..k)
                .filter(|&j| ids.data[q * k + j] != u64::MAX)
                .map(|j| (ids.data[q * k + j], scores.data[q * k + j]))
                .collect()
        })
        .collect()
}

fn write_books(path: &Path, books: &PqCodebooks) {
    write_npy(
        path,
        &[books.m(), books.k(), books.dsub()],
        books.as_slice(),
    )
    .unwrap();
}

fn write_codes(path: &Path, codes: &PqCodes) {
    let row = codes.view().row_bytes();
    write_npy(path, &[codes.len(), row], codes.as_bytes()).unwrap();
}

fn end_to_end(nbits: u8, metric: PqMetric, m: usize) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (n, dim, nq, k) = (3000usize, 32usize, 20usize, 10usize);
    let mut rng = Rng::new(u64::from(nbits) * 7 + m as u64);
    let vectors: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
    let queries: Vec<f32> = (0..nq * dim).map(|_| rng.normal()).collect();
    let config = PqTrainConfig {
        metric,
        iterations: 8,
        ..PqTrainConfig::new(m, nbits)
    };
    let books = train_pq(&vectors, dim, &config).unwrap();
    let codes = books.encode(&vectors, metric).unwrap();
    let decoded = books.decode(codes.view()).unwrap();
    write_books(&p("books.npy"), &books);
    write_codes(&p("codes.npy"), &codes);
    write_npy(&p("q.npy"), &[nq, dim], &queries).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
    write_npy(&p("ids.npy"), &[n], &ids).unwrap();
    let idx = p("idx");
    let metric_name = metric.name();
    let nbits_arg = nbits.to_string();
    let out = ok(&[
        "build",
        s(&idx),
        "--pq",
        s(&p("books.npy")),
        "--codes",
        s(&p("codes.npy")),
        "--ids",
        s(&p("ids.npy")),
        "--metric",
        metric_name,
        "--nbits",
        &nbits_arg,
        "--chunk-rows",
        "1000",
        "-q",
    ]);
    assert!(out.contains("built 3000 PQ codes"), "{out}");
    let info = ok(&["info", s(&idx)]);
    assert!(
        info.contains(&format!("pq M={m} nbits={nbits} metric={metric_name}")),
        "{info}"
    );
    assert!(info.contains("segments:   3"), "{info}");

    let qpath = p("q.npy");
    let search = |extra: &[&str], prefix: &str| {
        let mut args = vec![
            "search",
            s(&idx),
            "--queries",
            s(&qpath),
            "-k",
            "10",
            "--rerank-factor",
            "1000",
            "--out-npy",
        ];
        let pre = p(prefix);
        args.push(s(&pre));
        args.extend_from_slice(extra);
        ok(&args);
        read_hits(&pre, nq, k)
    };
    let check = |got: &[Vec<(u64, f32)>], live: &dyn Fn(u64) -> bool| {
        for (qi, q) in queries.chunks_exact(dim).enumerate() {
            let all = brute(&decoded, dim, &ids, live, q, metric, n);
            let want = brute(&decoded, dim, &ids, live, q, metric, k);
            assert_agrees(&got[qi], &want, &all);
        }
    };
    check(&search(&[], "r1"), &|_| true);

    // Delete a tenth of the rows, search again, then compact and verify.
    let gone: Vec<u64> = ids.iter().copied().filter(|id| id % 10 == 1).collect();
    write_npy(&p("gone.npy"), &[gone.len()], &gone).unwrap();
    ok(&["delete", s(&idx), "--ids-file", s(&p("gone.npy"))]);
    let live = |id: u64| id % 10 != 1;
    check(&search(&[], "r2"), &live);
    ok(&["compact", s(&idx)]);
    assert!(ok(&["verify", s(&idx)]).starts_with("ok: 1 segments"));
    check(&search(&[], "r3"), &live);

    // JSON lines carry scores.
    let text = ok(&["search", s(&idx), "--queries", s(&p("q.npy")), "-k", "3"]);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["scores"].as_array().unwrap().len(), 3);
}

#[test]
fn build_and_search_8bit_l2() {
    end_to_end(8, PqMetric::SquaredL2, 4);
}

#[test]
fn build_and_search_4bit_ip() {
    end_to_end(4, PqMetric::InnerProduct, 8);
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let mut rng = Rng::new(5);
    let (m, dsub) = (4usize, 2usize);
    let data: Vec<f32> = (0..m * 16 * dsub).map(|_| rng.normal()).collect();
    let books = PqCodebooks::new(m, 4, dsub, data.clone()).unwrap();
    write_books(&p("books.npy"), &books);
    let codes = PqCodes::new(m, 4, (0..40).map(|i| i as u8).collect()).unwrap();
    write_codes(&p("codes.npy"), &codes);
    let idx = p("idx");
    let books_path = p("books.npy");
    let base = ["build", s(&idx), "--pq", s(&books_path), "-q"];
    // Codes as float32: wrong dtype.
    write_npy(&p("fcodes.npy"), &[20, 2], &[0f32; 40]).unwrap();
    fails(
        &[&base[..], &["--codes", s(&p("fcodes.npy"))]].concat(),
        "uint8",
    );
    // Codes with 4 bytes a row: M = 8 at 4 bits, not the codebooks' 4.
    write_npy(&p("wide.npy"), &[10, 4], &[0u8; 40]).unwrap();
    fails(
        &[&base[..], &["--codes", s(&p("wide.npy"))]].concat(),
        "8 sub-quantizers",
    );
    // --nbits 8 against K = 16.
    fails(
        &[&base[..], &["--codes", s(&p("codes.npy")), "--nbits", "8"]].concat(),
        "K = 16",
    );
    // NaN in the codebooks.
    let mut nan = data.clone();
    nan[7] = f32::NAN;
    write_npy(&p("nan.npy"), &[m, 16, dsub], &nan).unwrap();
    fails(
        &[
            "build",
            s(&idx),
            "--pq",
            s(&p("nan.npy")),
            "--codes",
            s(&p("codes.npy")),
        ],
        "NaN at index [0, 3, 1]",
    );
    // K = 32 is neither 4- nor 8-bit.
    write_npy(&p("k32.npy"), &[2, 32, dsub], &data).unwrap();
    fails(
        &[
            "build",
            s(&idx),
            "--pq",
            s(&p("k32.npy")),
            "--codes",
            s(&p("codes.npy")),
        ],
        "K = 32",
    );
    assert!(!idx.exists(), "a failed build left an index behind");
    ok(&[&base[..], &["--codes", s(&p("codes.npy"))]].concat());
    // Queries: wrong dimension, NaN, binary codes, radius.
    write_npy(&p("q7.npy"), &[2, 7], &[0f32; 14]).unwrap();
    fails(
        &["search", s(&idx), "--queries", s(&p("q7.npy")), "-k", "3"],
        "dimension 7",
    );
    let mut q = [0f32; 16];
    q[9] = f32::NAN;
    write_npy(&p("qnan.npy"), &[2, 8], &q).unwrap();
    fails(
        &["search", s(&idx), "--queries", s(&p("qnan.npy")), "-k", "3"],
        "NaN at index [1, 1]",
    );
    write_npy(&p("qb.npy"), &[2, 8], &[0u8; 16]).unwrap();
    fails(
        &["search", s(&idx), "--queries", s(&p("qb.npy")), "-k", "3"],
        "float32 queries",
    );
    write_npy(&p("q8.npy"), &[2, 8], &[0f32; 16]).unwrap();
    fails(
        &[
            "search",
            s(&idx),
            "--queries",
            s(&p("q8.npy")),
            "--radius",
            "3",
        ],
        "--radius",
    );
    // Appending with other codebooks or another metric is refused.
    let other = PqCodebooks::new(m, 4, dsub, data.iter().map(|v| v + 1.0).collect()).unwrap();
    write_books(&p("other.npy"), &other);
    fails(
        &[
            "build",
            s(&idx),
            "--append",
            "--pq",
            s(&p("other.npy")),
            "--codes",
            s(&p("codes.npy")),
        ],
        "codebooks",
    );
    fails(
        &[
            "build",
            s(&idx),
            "--append",
            "--metric",
            "ip",
            "--codes",
            s(&p("codes.npy")),
        ],
        "--metric",
    );
    // A plain append takes the index's codebooks; ids continue after the largest.
    let out = ok(&[
        "build",
        s(&idx),
        "--append",
        "--codes",
        s(&p("codes.npy")),
        "-q",
    ]);
    assert!(out.contains("40 live rows in 2 segments"), "{out}");
}

#[test]
fn info_and_search_of_a_multi_column_index() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("hcq");
    let mut rng = Rng::new(21);
    let mut books = |m: usize, nbits: u8, dsub: usize| {
        let len = m * (1 << nbits) * dsub;
        PqCodebooks::new(m, nbits, dsub, (0..len).map(|_| rng.normal()).collect()).unwrap()
    };
    let all = vec![books(2, 8, 4), books(4, 4, 2), books(8, 8, 1)];
    let schema = crosscode::Schema::pq_columns(
        &[("coarse", 2, 8), ("fine1", 4, 4), ("fine2", 8, 8)],
        PqMetric::InnerProduct,
    )
    .unwrap();
    let mut index = crosscode::Index::create_pq_columns(&idx, schema, all).unwrap();
    let vectors: Vec<f32> = (0..50 * 8).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    index
        .append_vectors(&(0..50).collect::<Vec<_>>(), &vectors)
        .unwrap();
    let text = ok(&["info", s(&idx)]);
    for line in [
        "codebooks:  pqbooks-0.ccb  column coarse  M 2  K 256  dsub 4  dim 8",
        "codebooks:  pqbooks-1.ccb  column fine1  M 4  K 16  dsub 2  dim 8",
        "codebooks:  pqbooks-2.ccb  column fine2  M 8  K 256  dsub 1  dim 8",
        "weights:    1 0.5 0.5 (default)",
    ] {
        assert!(text.contains(line), "{text:?} lacks {line:?}");
    }
    ok(&["verify", s(&idx)]);
    // `search` scores with the default weights, as the library does.
    let q: Vec<f32> = (0..16).map(|i| (i % 5) as f32 - 2.0).collect();
    let qpath = dir.path().join("q.npy");
    write_npy(&qpath, &[2, 8], &q).unwrap();
    let text = ok(&["search", s(&idx), "--queries", s(&qpath), "-k", "4"]);
    let want = index.search_pq_columns_batch(&q, 4, None, None).unwrap();
    for (line, hits) in text.lines().zip(&want) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(v["ids"], serde_json::json!(ids));
    }
    assert_eq!(text.lines().count(), 2);
    // Explicit weights (a negative one too), as the library scores them.
    let text = ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&qpath),
        "-k",
        "4",
        "--weights",
        "2,-1,0.25",
    ]);
    let want = index
        .search_pq_columns_batch(&q, 4, Some(&[2.0, -1.0, 0.25]), None)
        .unwrap();
    let default = index.search_pq_columns_batch(&q, 4, None, None).unwrap();
    assert_ne!(want, default, "the weights change the ranking on this data");
    for (line, hits) in text.lines().zip(&want) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(v["ids"], serde_json::json!(ids));
        let scores: Vec<f64> = hits.iter().map(|h| h.score as f64).collect();
        assert_eq!(v["scores"], serde_json::json!(scores));
    }
    fails(
        &[
            "search",
            s(&idx),
            "--queries",
            s(&qpath),
            "-k",
            "4",
            "--weights",
            "1,2",
        ],
        "column weights",
    );
    fails(
        &[
            "search",
            s(&idx),
            "--queries",
            s(&qpath),
            "-k",
            "4",
            "--weights",
            "1,nan,1",
        ],
        "weights",
    );
}
