//! Mutation fuzzing that runs on stable Rust, shared by the fuzz targets of every crate (each
//! test includes this file with `#[path]`).
//!
//! A target has a committed seed corpus (`fuzz/corpus/<target>/`, real bodies from the docs and
//! fixtures, plus every past finding). Each run first feeds every seed as it is, then, until its
//! time is up, a seed altered by a list of mutations that proptest draws: bit flips, interesting
//! bytes, numbers replaced by boundary values, insertions, deletions, duplicated or spliced ranges, and tokens that break
//! parsers (quotes, escapes, SQL and JSON metacharacters, huge numbers, long strings). A failing
//! input is shrunk by proptest (fewer, smaller mutations), written to
//! `target/fuzz-findings/<target>-<n>` and printed; once fixed it goes into the corpus.
//!
//! `FUZZ_SECONDS` sets the time of every target (a long run by hand); without it each target
//! runs for the short time its test gives, a quarter of that off x86_64 (under qemu).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Tokens that parsers of text formats trip on.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"%",
    b"%00",
    b"%ff",
    b"%C3%A9",
    b"&",
    b"=",
    b"+",
    b"{",
    b"}",
    b"[",
    b"]",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e309",
    b"-0.0",
    b"18446744073709551616",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"4294967296",
    b"NaN",
    b"' OR '1'='1",
    b"'; DROP TABLE vouchers; --",
    b"\x00",
    b"\xff\xfe",
    b"\xe2\x80\xae",
    b"\xf0\x9f\x98\x80",
    b"\r\n",
    b"\n",
    b" ",
    b"\t",
    b"..",
    b"/",
    b"<script>",
];

/// Numbers that bounds checks and arithmetic trip on, put in place of a number of the input.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "1e308",
    "0.001",
    "-0",
];

/// One change to an input. Positions and lengths are taken modulo the input's length.
#[derive(Debug, Clone)]
pub enum Op {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize, usize),
    Splice(usize, usize, usize, usize),
    Token(usize, usize),
    Repeat(usize, usize, usize),
    Number(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Op::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()]
        )
            .prop_map(|(i, b)| Op::Set(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Op::Insert(i, v)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Op::Delete(i, n)),
        (any::<usize>(), 1usize..64, any::<usize>()).prop_map(|(i, n, at)| Op::Duplicate(i, n, at)),
        (any::<usize>(), any::<usize>(), 1usize..128, any::<usize>())
            .prop_map(|(s, i, n, at)| Op::Splice(s, i, n, at)),
        (any::<usize>(), any::<usize>()).prop_map(|(t, at)| Op::Token(t, at)),
        (any::<usize>(), 1usize..16, 1usize..400).prop_map(|(i, n, k)| Op::Repeat(i, n, k)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, n)| Op::Number(i, n)),
    ]
}

/// `seed` with `ops` applied; `corpus` is what splices take from.
pub fn mutate(seed: &[u8], ops: &[Op], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for op in ops {
        let len = v.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *op {
            Op::Flip(i, b) if len > 0 => v[i % len] ^= 1 << b,
            Op::Set(i, b) if len > 0 => v[i % len] = b,
            Op::Insert(i, ref bytes) => {
                let i = at(i);
                v.splice(i..i, bytes.iter().copied());
            }
            Op::Delete(i, n) if len > 0 => {
                let i = i % len;
                v.drain(i..(i + n).min(len));
            }
            Op::Duplicate(i, n, to) if len > 0 => {
                let i = i % len;
                let part = v[i..(i + n).min(len)].to_vec();
                let to = at(to);
                v.splice(to..to, part);
            }
            Op::Splice(s, i, n, to) => {
                let other = &corpus[s % corpus.len()];
                if !other.is_empty() {
                    let i = i % other.len();
                    let part = &other[i..(i + n).min(other.len())];
                    let to = at(to);
                    v.splice(to..to, part.iter().copied());
                }
            }
            Op::Token(t, to) => {
                let to = at(to);
                v.splice(to..to, TOKENS[t % TOKENS.len()].iter().copied());
            }
            Op::Repeat(i, n, k) if len > 0 => {
                let i = i % len;
                let part = v[i..(i + n).min(len)].to_vec();
                let more: Vec<u8> = part.iter().copied().cycle().take(part.len() * k).collect();
                v.splice(i..i, more);
            }
            Op::Number(i, n) if len > 0 => {
                // The first run of digits (with its sign) at or after `i`, wrapping around.
                let start = (0..len)
                    .map(|k| (i + k) % len)
                    .find(|&k| v[k].is_ascii_digit() && (k == 0 || !v[k - 1].is_ascii_digit()));
                if let Some(mut s) = start {
                    let mut e = s;
                    while e < len && (v[e].is_ascii_digit() || v[e] == b'.') {
                        e += 1;
                    }
                    if s > 0 && v[s - 1] == b'-' {
                        s -= 1;
                    }
                    v.splice(s..e, NUMBERS[n % NUMBERS.len()].bytes());
                }
            }
            _ => {}
        }
    }
    v
}

/// The committed seeds of `target`, in name order.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "corpus {} is empty", dir.display());
    seeds
}

/// How long a target runs: `FUZZ_SECONDS`, else `default_secs` (a quarter off x86_64).
pub fn budget(default_secs: f64) -> Duration {
    let secs = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(if cfg!(target_arch = "x86_64") {
            default_secs
        } else {
            default_secs / 4.0
        });
    Duration::from_secs_f64(secs)
}

fn strategy(n: usize) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (0..n, prop::collection::vec(op(), 1..8))
}

fn report(target: &str, execs: u64, started: Instant, seeds: usize) {
    eprintln!(
        "fuzz {target}: {execs} executions in {:.1} s ({seeds} seeds)",
        started.elapsed().as_secs_f64()
    );
}

fn save_finding(target: &str, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    let path = (0..)
        .map(|n| dir.join(format!("{target}-{n}")))
        .find(|p| !p.exists())
        .unwrap();
    let _ = std::fs::write(&path, input);
    path
}

/// Runs `check` on every seed of `target` and then on mutated seeds for `budget(default_secs)`;
/// panics with the shrunk input when `check` fails or panics. Returns the executions.
pub fn run(
    target: &str,
    default_secs: f64,
    check: impl Fn(&[u8]) -> Result<(), TestCaseError>,
) -> u64 {
    let seeds = corpus(target);
    let started = Instant::now();
    for (i, s) in seeds.iter().enumerate() {
        if let Err(e) = check(s) {
            panic!("fuzz {target}: seed {i} fails: {e}");
        }
    }
    let mut execs = seeds.len() as u64;
    let budget = budget(default_secs);
    while started.elapsed() < budget {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&strategy(seeds.len()), |(i, ops)| {
            check(&mutate(&seeds[i], &ops, &seeds))
        });
        execs += 256;
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, (i, ops))) => {
                let input = mutate(&seeds[i], &ops, &seeds);
                let path = save_finding(target, &input);
                report(target, execs, started, seeds.len());
                panic!(
                    "fuzz {target}: {why}\ninput ({} bytes, saved to {}): {:?}",
                    input.len(),
                    path.display(),
                    String::from_utf8_lossy(&input)
                );
            }
            Err(e) => panic!("fuzz {target}: {e}"),
        }
    }
    report(target, execs, started, seeds.len());
    execs
}

/// The inputs of a target whose check is asynchronous: every seed, then mutated seeds, for as
/// long as the caller keeps asking (see [`budget`]). No shrinking: the caller prints the input.
pub struct Inputs {
    pub seeds: Vec<Vec<u8>>,
    runner: TestRunner,
    next_seed: usize,
}

impl Inputs {
    pub fn new(target: &str) -> Self {
        Self {
            seeds: corpus(target),
            runner: TestRunner::new(Config::default()),
            next_seed: 0,
        }
    }
}

impl Iterator for Inputs {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.next_seed < self.seeds.len() {
            self.next_seed += 1;
            return Some(self.seeds[self.next_seed - 1].clone());
        }
        let (i, ops) = strategy(self.seeds.len())
            .new_tree(&mut self.runner)
            .ok()?
            .current();
        Some(mutate(&self.seeds[i], &ops, &self.seeds))
    }
}

/// Saves a failing input of an asynchronous target and describes it.
pub fn finding(target: &str, input: &[u8]) -> String {
    let path = save_finding(target, input);
    format!(
        "input ({} bytes, saved to {}): {:?}",
        input.len(),
        path.display(),
        String::from_utf8_lossy(input)
    )
}
