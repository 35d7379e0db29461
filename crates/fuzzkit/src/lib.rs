//! Fuzzing with proptest, shared by the tests of the churn crates.
//!
//! [`mutations`] turns a valid input into a stream of broken ones (bytes inserted, deleted,
//! replaced or repeated, biased towards bytes that mean something to a parser), and [`fuzz`] runs a
//! check on them: as a normal proptest (a fixed number of cases, with shrinking) in `cargo test`,
//! or for `CHURN_FUZZ_SECONDS` seconds on fresh random inputs, printing how many it ran.
//!
//! Why proptest and not `cargo fuzz`: libFuzzer needs a nightly compiler and an instrumented build
//! of every dependency, DataFusion included (half an hour on a 2-core machine); proptest runs on the
//! stable toolchain and the build the tests already have. It is not coverage-guided, so the
//! mutations start from valid inputs to get past headers and into the values.
//!
//! ```
//! use churn_fuzzkit::{fuzz, mutations};
//! use proptest::prelude::*;
//!
//! fuzz("utf-8 check", 64, mutations(b"a,b\n1,2\n", b",\n\""), |bytes| {
//!     let _ = std::str::from_utf8(bytes);
//!     prop_assert!(bytes.len() < 10_000);
//!     Ok(())
//! });
//! ```

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};

/// One edit of a byte string. Positions are taken modulo the length at the time of the edit.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize, usize),
    Replace(usize, u8),
    Repeat(usize, usize),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        let at = |i: usize| i % (len + 1);
        match *edit {
            Edit::Insert(i, b) => bytes.insert(at(i), b),
            Edit::Delete(i, n) => {
                let start = at(i);
                bytes.drain(start..(start + n).min(len));
            }
            Edit::Replace(i, b) if len > 0 => bytes[i % len] = b,
            Edit::Replace(..) => {}
            Edit::Repeat(i, n) => {
                let start = at(i);
                let span: Vec<u8> = bytes[start..(start + n).min(len)].to_vec();
                bytes.splice(start..start, span);
            }
        }
    }
    bytes
}

/// Byte strings made from `seed` by 1 to 12 edits, inserting mostly bytes from `special` (the
/// delimiters, quotes and digits of the format) and sometimes any byte; one input in five is
/// arbitrary bytes instead.
pub fn mutations(seed: &[u8], special: &[u8]) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![prop::sample::select(special.to_vec()), any::<u8>()];
    let edit = prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ];
    let seed = seed.to_vec();
    prop_oneof![
        4 => prop::collection::vec(edit, 1..12).prop_map(move |edits| apply(seed.clone(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Runs `check` on values of `strategy`: `cases` proptest cases with shrinking, or, with the
/// environment variable `CHURN_FUZZ_SECONDS` set, fresh random inputs until that many seconds have
/// passed, printing the number of executions. A failure or a panic names the input.
pub fn fuzz<S>(name: &str, cases: u32, strategy: S, check: impl Fn(&S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let seconds = std::env::var("CHURN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let Some(seconds) = seconds else {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        if let Err(e) = TestRunner::new(config).run(&strategy, |v| check(&v)) {
            panic!("{name}: {e}");
        }
        return;
    };
    let mut runner = TestRunner::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut executions = 0u64;
    while Instant::now() < deadline {
        let value = match strategy.new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(e) => panic!("{name}: cannot generate an input: {e}"),
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| check(&value))) {
            Ok(Ok(())) => executions += 1,
            Ok(Err(e)) => panic!("{name}: failed after {executions} executions on {value:?}: {e}"),
            Err(_) => panic!("{name}: panicked after {executions} executions on {value:?}"),
        }
    }
    eprintln!("{name}: {executions} executions in {seconds} s, no failure");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_bounds_on_empty_and_short_inputs() {
        let edits = [
            Edit::Delete(7, 5),
            Edit::Replace(3, b'x'),
            Edit::Repeat(9, 30),
            Edit::Insert(100, b'a'),
            Edit::Repeat(0, 30),
            Edit::Delete(1, 1),
        ];
        assert_eq!(apply(Vec::new(), &edits), b"a");
        assert_eq!(apply(b"ab".to_vec(), &[Edit::Repeat(1, 5)]), b"abb");
        assert_eq!(apply(b"abc".to_vec(), &[Edit::Delete(1, 1)]), b"ac");
    }
}
