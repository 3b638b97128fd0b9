//! End to end through the `crosscode` binary: build from .npy, search (JSON lines and
//! .npy), range, filter, delete, compact, info, verify, the writer lock, and corruption.

use std::path::Path;
use std::process::{Command, Output};

use crosscode::io::npy::write_npy;
use crosscode::scan::hamming::reference_distance;
use crosscode::{BinaryCodes, Index};

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

/// Brute-force (id, distance) of the k nearest live rows, ties by smaller id.
fn brute(
    ids: &[u64],
    codes: &BinaryCodes,
    live: impl Fn(u64) -> bool,
    q: &[u64],
    k: usize,
) -> Vec<(u64, u32)> {
    let mut all: Vec<(u64, u32)> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| live(**id))
        .map(|(i, &id)| (id, reference_distance(q, codes.row(i).unwrap())))
        .collect();
    all.sort_by_key(|&(id, d)| (d, id));
    all.truncate(k);
    all
}

fn parse_jsonl(text: &str) -> Vec<Vec<(u64, u32)>> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["query"].as_u64(), Some(i as u64));
            let ids = v["ids"].as_array().unwrap();
            let ds = v["distances"].as_array().unwrap();
            ids.iter()
                .zip(ds)
                .map(|(a, b)| (a.as_u64().unwrap(), b.as_u64().unwrap() as u32))
                .collect()
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn build_search_delete_compact_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (n, bits) = (3000usize, 64usize);
    let codes = BinaryCodes::random(bits, n, 11).unwrap();
    // Ids out of order and sparse: id = (i * 7919) mod 100_003.
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 7919 % 100_003).collect();
    write_npy(&d.join("codes.npy"), &[n, bits / 8], &codes.to_packed()).unwrap();
    write_npy(&d.join("ids.npy"), &[n], &ids).unwrap();
    let queries = BinaryCodes::random(bits, 5, 12).unwrap();
    write_npy(&d.join("q.npy"), &[5, bits], &queries.to_signs()).unwrap();
    let idx = d.join("idx");

    let built = ok(&[
        "build",
        s(&idx),
        "--codes",
        s(&d.join("codes.npy")),
        "--ids",
        s(&d.join("ids.npy")),
        "--chunk-rows",
        "1000",
        "--quiet",
    ]);
    assert!(built.contains("built 3000 codes of 64 bits"), "{built}");
    let info = ok(&["info", s(&idx)]);
    assert!(
        info.contains("live rows:  3000") && info.contains("segments:   3"),
        "{info}"
    );

    let k = 10;
    let found = parse_jsonl(&ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "-k",
        "10",
    ]));
    assert_eq!(found.len(), 5);
    for (qi, q) in queries.as_words().chunks(1).enumerate() {
        assert_eq!(found[qi], brute(&ids, &codes, |_| true, q, k), "query {qi}");
    }

    // .npy output, read back with npyz.
    let prefix = d.join("res");
    ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "-k",
        "10",
        "--out-npy",
        s(&prefix),
    ]);
    let got_ids: Vec<u64> = npyz::NpyFile::new(&std::fs::read(d.join("res.ids.npy")).unwrap()[..])
        .unwrap()
        .into_vec()
        .unwrap();
    let got_d: Vec<u32> =
        npyz::NpyFile::new(&std::fs::read(d.join("res.distances.npy")).unwrap()[..])
            .unwrap()
            .into_vec()
            .unwrap();
    let flat: Vec<(u64, u32)> = got_ids.into_iter().zip(got_d).collect();
    assert_eq!(flat, found.concat());

    // Column weights are for PQ indexes: refused, naming the index's schema.
    let out = crosscode(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "-k",
        "3",
        "--weights",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--weights") && err.contains("binary"),
        "{err}"
    );

    // Range search with a filter of allowed ids (even ids only).
    let allowed: Vec<u64> = ids.iter().copied().filter(|id| id % 2 == 0).collect();
    write_npy(&d.join("allow.npy"), &[allowed.len()], &allowed).unwrap();
    let ranged = parse_jsonl(&ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "--radius",
        "22",
        "--allow-ids",
        s(&d.join("allow.npy")),
    ]));
    for (qi, q) in queries.as_words().chunks(1).enumerate() {
        let want: Vec<(u64, u32)> = brute(&ids, &codes, |id| id % 2 == 0, q, n)
            .into_iter()
            .filter(|&(_, dist)| dist <= 22)
            .collect();
        assert_eq!(ranged[qi], want);
    }

    // Delete the first neighbours of every query, then compact; results follow.
    let gone: Vec<u64> = found.iter().map(|r| r[0].0).collect();
    let args: Vec<String> = gone
        .iter()
        .flat_map(|id| ["--id".to_string(), id.to_string()])
        .collect();
    let mut del = vec!["delete", s(&idx)];
    del.extend(args.iter().map(|a| a.as_str()));
    let out = ok(&del);
    assert!(
        out.contains(&format!("deleted {} rows", {
            let mut g = gone.clone();
            g.sort();
            g.dedup();
            g.len()
        })),
        "{out}"
    );
    let live = |id: u64| !gone.contains(&id);
    let after = parse_jsonl(&ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "-k",
        "10",
    ]));
    for (qi, q) in queries.as_words().chunks(1).enumerate() {
        assert_eq!(after[qi], brute(&ids, &codes, live, q, k));
    }
    // Deleting an id that is not live fails and changes nothing.
    let bad = crosscode(&["delete", s(&idx), "--id", &gone[0].to_string()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown id"));
    assert!(ok(&["compact", s(&idx)]).contains("into 1"));
    let compacted = parse_jsonl(&ok(&[
        "search",
        s(&idx),
        "--queries",
        s(&d.join("q.npy")),
        "-k",
        "10",
    ]));
    assert_eq!(compacted, after);
    assert!(ok(&["verify", s(&idx)]).starts_with("ok: 1 segments"));

    // A second writer is refused while one holds the lock.
    let writer = Index::open_writer(&idx).unwrap();
    let locked = crosscode(&["compact", s(&idx)]);
    assert!(!locked.status.success());
    assert!(String::from_utf8_lossy(&locked.stderr).contains("locked by another writer"));
    drop(writer);

    // Appending the same ids again is refused (they are live).
    let dup = crosscode(&[
        "build",
        s(&idx),
        "--append",
        "--codes",
        s(&d.join("codes.npy")),
        "--ids",
        s(&d.join("ids.npy")),
        "--quiet",
    ]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("duplicate id"));

    // One flipped byte in the codes block: verify names the checksum.
    let seg = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ccs"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let broken = crosscode(&["verify", s(&idx)]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("checksum mismatch"));
}

#[test]
fn help_has_examples_for_every_command() {
    for cmd in ["build", "search", "info", "verify", "delete", "compact"] {
        let help = ok(&[cmd, "--help"]);
        assert!(
            help.contains("Examples:") && help.contains(&format!("crosscode {cmd}")),
            "{cmd}"
        );
    }
}
