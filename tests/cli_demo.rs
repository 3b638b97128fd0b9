//! The `crosscode demo` command end to end: it finds every planted neighbour, agrees with
//! brute force, and rejects bad arguments with a message.

use std::process::Command;

fn crosscode(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crosscode"))
        .args(args)
        .output()
        .expect("run crosscode")
}

#[test]
fn demo_finds_planted_neighbours_with_every_kernel() {
    for kernel in crosscode::HammingKernel::available() {
        for bits in ["64", "200", "256"] {
            let out = crosscode(&[
                "demo",
                "--bits",
                bits,
                "--n",
                "20000",
                "--queries",
                "40",
                "--kernel",
                kernel.name(),
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{kernel:?} {bits}: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains("planted neighbours in the top 10: 200 of 200"),
                "{text}"
            );
            assert!(
                text.contains("brute-force check: 5 queries identical"),
                "{text}"
            );
            assert!(text.contains("range search (radius 3): 200 hits"), "{text}");
        }
    }
}

#[test]
fn demo_rejects_bad_arguments() {
    let out = crosscode(&["demo", "--bits", "12"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid code length: 12 bits"));
    let out = crosscode(&["demo", "--kernel", "sse9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown kernel name"));
}
