//! Shared pieces of the property tests (`mod proptests` next to the code
//! they exercise; see docs/fuzzing.md).

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The runner settings for one property: `cases` cases unless the
/// `PROPTEST_CASES` environment variable asks for another number (big
/// runs: `PROPTEST_CASES=100000 cargo test --release --lib proptests`).
pub fn config(cases: u32) -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c
}

/// Strings made of `pieces` (0 to `max` of them, repeats allowed): inputs
/// close to valid ones, which random text rarely is.
pub fn made_of(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(pieces), 0..=max)
        .prop_map(|v| v.concat())
        .boxed()
}

/// Any string, or one made of `pieces`: arbitrary input and near misses.
pub fn text_or(pieces: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    prop_oneof![any::<String>(), made_of(pieces, max)].boxed()
}

/// Characters that tend to break parsers and escaping.
pub const NASTY: &[&str] = &[
    "", " ", "\t", "\n", "\r", "\0", "\u{7f}", "\u{85}", "\u{a0}", "\u{2028}", "\u{feff}",
    "\u{fffd}", "é", "😀", "\\", "\"", "'", "%", "%%", "{", "}", "[", "]", ":", ",", "!", "/", "-",
    "_", "+", "0", "1", "9", "a", "Z",
];
