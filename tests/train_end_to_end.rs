//! End to end: HuggingHash against sign(CCA) on real data, and the train → encode → eval
//! command line on a small synthetic data set.

use std::path::{Path, PathBuf};
use std::process::Command;

use crosscode::eval::evaluate_labels;
use crosscode::io::npy::write_npy;
use crosscode::train::data::{Modality, PairedDataset, Split, load_labels, shared_data_dir};
use crosscode::train::methods::{CcaHash, HuggingHash, HuggingHashConfig, Side};

#[test]
fn hugginghash_beats_sign_cca_on_mfeat_at_16_bits() {
    let Some(dir) = shared_data_dir() else {
        eprintln!("skipping: ../shared/data not found");
        return;
    };
    let d = dir.join("mfeat");
    let a = Modality::new(
        "pix",
        Some(Modality::load_global(&d.join("pix.npy")).unwrap()),
        None,
    )
    .unwrap();
    let b = Modality::new(
        "fou",
        Some(Modality::load_global(&d.join("fou.npy")).unwrap()),
        None,
    )
    .unwrap();
    let labels = load_labels(&d.join("labels.npy")).unwrap();
    let ds = PairedDataset::new(a, b, Some(labels)).unwrap();
    let split = Split::random(ds.len(), 500, None, 1).unwrap();
    let l = ds.labels.as_ref().unwrap();
    let (ql, dl) = (
        l.select(&split.query).unwrap(),
        l.select(&split.database).unwrap(),
    );
    let cfg = HuggingHashConfig {
        bits: 16,
        epochs: 25,
        batch_size: 128,
        ..Default::default()
    };
    let (hh, log) = HuggingHash::fit(&ds, &split.train, cfg, &mut |_| {}).unwrap();
    assert!(!log.fine_alignment);
    let cca = CcaHash::fit(&ds, &split.train, 16, 1e-3).unwrap();
    let map = |qa: crosscode::BinaryCodes, db: crosscode::BinaryCodes| {
        evaluate_labels(qa.view(), db.view(), &ql, &dl, 100)
            .unwrap()
            .map_all
    };
    for (qs, ds_side) in [(Side::A, Side::B), (Side::B, Side::A)] {
        let h = map(
            hh.encode(&ds, qs, &split.query).unwrap(),
            hh.encode(&ds, ds_side, &split.database).unwrap(),
        );
        let c = map(
            cca.encode(&ds, qs, &split.query).unwrap(),
            cca.encode(&ds, ds_side, &split.database).unwrap(),
        );
        eprintln!("{qs:?}→{ds_side:?}: HuggingHash mAP {h:.4}, sign(CCA) mAP {c:.4}");
        assert!(
            c > 0.25 && c < 0.45,
            "CCA baseline off its known value: {c}"
        );
        assert!(h > c + 0.1, "HuggingHash {h} vs CCA {c}");
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("crosscode-e2e-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_crosscode"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_train_encode_eval() {
    let dir = tmpdir("cli");
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    // Two views of 3 classes, 150 items.
    let mut rng = crosscode::rng::Rng::new(5);
    let n = 150;
    let classes: Vec<usize> = (0..n).map(|i| i % 3).collect();
    for (name, d) in [("a.npy", 9), ("b.npy", 5)] {
        let protos: Vec<f32> = (0..3 * d).map(|_| rng.normal() * 2.0).collect();
        let x: Vec<f32> = (0..n * d)
            .map(|e| protos[classes[e / d] * d + e % d] + rng.normal())
            .collect();
        write_npy::<f32>(Path::new(&p(name)), &[n, d], &x).unwrap();
    }
    let mut lab = vec![0u8; n * 3];
    for (i, &c) in classes.iter().enumerate() {
        lab[i * 3 + c] = 1;
    }
    write_npy::<u8>(Path::new(&p("labels.npy")), &[n, 3], &lab).unwrap();
    let out = run(&[
        "train",
        "--method",
        "hugginghash",
        "--a-global",
        &p("a.npy"),
        "--b-global",
        &p("b.npy"),
        "--labels",
        &p("labels.npy"),
        "--queries",
        "30",
        "--bits",
        "8",
        "--epochs",
        "60",
        "--lr",
        "0.005",
        "--batch-size",
        "32",
        "--hidden",
        "16",
        "--model",
        &p("m.model"),
        "--report",
        &p("r.json"),
        "--svg",
        &p("pr.svg"),
    ]);
    assert!(out.contains("mAP"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("r.json")).unwrap()).unwrap();
    assert!(
        report["a_to_b"]["map_all"].as_f64().unwrap() > 0.6,
        "{report}"
    );
    assert!(
        std::fs::read_to_string(p("pr.svg"))
            .unwrap()
            .contains("<polyline")
    );
    run(&[
        "encode",
        "--model",
        &p("m.model"),
        "--side",
        "a",
        "--global",
        &p("a.npy"),
        "--out",
        &p("ca.npy"),
    ]);
    run(&[
        "encode",
        "--model",
        &p("m.model"),
        "--side",
        "b",
        "--global",
        &p("b.npy"),
        "--out",
        &p("cb.npy"),
    ]);
    let out = run(&[
        "eval",
        "--queries",
        &p("ca.npy"),
        "--database",
        &p("cb.npy"),
        "--query-labels",
        &p("labels.npy"),
        "--database-labels",
        &p("labels.npy"),
        "--paired",
        "--report",
        &p("e.json"),
    ]);
    assert!(out.contains("mAP@all") && out.contains("R@1"), "{out}");
    // A corrupted model is refused with a typed error, not a crash.
    let mut bytes = std::fs::read(p("m.model")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(p("m.model"), bytes).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_crosscode"))
        .args([
            "encode",
            "--model",
            &p("m.model"),
            "--side",
            "a",
            "--global",
            &p("a.npy"),
            "--out",
            &p("x.npy"),
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("checksum"));
    std::fs::remove_dir_all(dir).unwrap();
}
