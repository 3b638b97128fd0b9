//! Crash safety: `crosscode` children run append / delete / compact on one index and are
//! killed with SIGKILL at random moments. After every kill the index must open, pass
//! `verify()`, and hold exactly a state some prefix of the commits produced: the state
//! before the operation, after it, or (for a multi-chunk append) after whole chunks.
//! Never a partial chunk, a half-applied delete, or a lost committed row.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crosscode::rng::Rng;
use crosscode::{BinaryCodes, Index, Schema};

type State = BTreeMap<u64, Vec<u64>>;

const BITS: usize = 64;
const CHUNK: usize = 150;
const CHUNKS: usize = 3;
const TRIALS: usize = 200;

fn snapshot(dir: &Path) -> State {
    let index = Index::open(dir).expect("index opens after a kill");
    index.verify().expect("verify passes after a kill");
    index
        .live_ids()
        .into_iter()
        .map(|id| (id, index.get(id).unwrap().to_vec()))
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_partial_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let exe = env!("CARGO_BIN_EXE_crosscode");
    drop(Index::create(&dir, Schema::binary(BITS).unwrap()).unwrap());
    let mut rng = Rng::new(0xC0FFEE);
    let mut model: State = State::new();
    let mut next_id = 0u64;
    let (mut killed, mut finished, mut intermediate) = (0, 0, 0);
    let started = Instant::now();
    for trial in 0..TRIALS {
        let op = if model.len() < 200 { 0 } else { rng.below(3) };
        // Candidate states this operation may leave, in commit order.
        let mut allowed: Vec<State> = vec![model.clone()];
        let mut args: Vec<String> = Vec::new();
        match op {
            0 => {
                let codes = BinaryCodes::random(BITS, CHUNK * CHUNKS, trial as u64).unwrap();
                let file = tmp.path().join(format!("add-{trial}.bin"));
                std::fs::write(&file, codes.to_packed()).unwrap();
                let mut state = model.clone();
                for c in 0..CHUNKS {
                    for r in c * CHUNK..(c + 1) * CHUNK {
                        state.insert(next_id + r as u64, codes.row(r).unwrap().to_vec());
                    }
                    allowed.push(state.clone());
                }
                args.extend(
                    [
                        "build",
                        dir.to_str().unwrap(),
                        "--append",
                        "--quiet",
                        "--bits",
                        "64",
                        "--codes",
                        file.to_str().unwrap(),
                        "--chunk-rows",
                        &CHUNK.to_string(),
                        "--first-id",
                        &next_id.to_string(),
                    ]
                    .map(String::from),
                );
                next_id += (CHUNK * CHUNKS) as u64;
            }
            1 => {
                let live: Vec<u64> = model.keys().copied().collect();
                let mut state = model.clone();
                args.extend(["delete".to_string(), dir.to_str().unwrap().to_string()]);
                for _ in 0..40 {
                    let id = live[rng.below(live.len())];
                    state.remove(&id);
                    args.extend(["--id".to_string(), id.to_string()]);
                }
                allowed.push(state);
            }
            _ => args.extend(["compact".to_string(), dir.to_str().unwrap().to_string()]),
        }
        let mut child = Command::new(exe)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(20_000) as u64));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "trial {trial}: {args:?} failed");
                finished += 1;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
        let now = snapshot(&dir);
        let Some(which) = allowed.iter().position(|s| *s == now) else {
            panic!(
                "trial {trial} ({args:?}): {} live rows match none of the allowed states {:?}",
                now.len(),
                allowed.iter().map(|s| s.len()).collect::<Vec<_>>()
            );
        };
        if which != 0 && which != allowed.len() - 1 {
            intermediate += 1;
        }
        model = now;
        // The next writer must get the lock (the killed one's lock died with it).
        if trial % 50 == 49 {
            drop(Index::open_writer(&dir).expect("lock released after SIGKILL"));
        }
    }
    eprintln!(
        "{TRIALS} trials in {:.1} s: {killed} killed, {finished} finished, {intermediate} left between chunks",
        started.elapsed().as_secs_f64()
    );
    assert!(
        killed > 0 && finished > 0,
        "kill times never hit or never missed an operation"
    );
    // A writer's garbage collection leaves only the files the manifest names.
    let writer = Index::open_writer(&dir).unwrap();
    let mut expected: Vec<String> = writer.manifest().files().map(String::from).collect();
    expected.extend(["LOCK".to_string(), "manifest.json".to_string()]);
    expected.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    assert_eq!(present, expected);
}
