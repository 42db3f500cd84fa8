//! Mutations: what turns a valid input into a hostile one. Byte-level changes (flips, deletions,
//! duplications, splices with another corpus entry) and insertions from a dictionary of the
//! values that broke parsers before: huge and tiny numbers, numbers without units, units without
//! numbers, quotes and brackets that do not close, control characters, long names.

use rand::seq::IndexedRandom;
use rand::Rng;

/// Tokens worth inserting into any text input.
pub const TOKENS: &[&str] = &[
    "0", "-1", "1", "1.0", "1e9", "1e400", "-1e400", "nan", "inf", "-inf", "18446744073710", "18446744073709551615", "9223372036854775807", "4294967296", "0.0000001",
    "\"1m\"", "\"0s\"", "\"1000w\"", "\"1e400d\"", "\"36526d\"", "\"7d\"", "\"-3s\"", "\"90min\"", "\"20s\"", "\"\"", "\"", "'", "\"\"\"", "[", "]", "{", "}", "[[", "]]", "=", ",", ".",
    "\n", "\r\n", "\t", "\0", "#", "\u{feff}", "é", "\u{202e}", "../", "/", "\\", "true", "false", "[]", "{}",
];

/// Values worth giving a `--set KEY=`.
pub const VALUES: &[&str] = &[
    "0", "-1", "1", "2", "100", "1e9", "1e300", "1e400", "nan", "inf", "-inf", "0.5", "1.0", "100000000", "1000000000", "18446744073710", "4294967296", "65536",
    "1m", "0s", "1us", "1000w", "1e400d", "3d", "7d", "36h", "90min", "20s", "\"\"", "{}", "[]", "[1,2]", "{ poisson = { per_hour = 1e9 } }", "{ batch = { size = 1000000000, every = \"1s\" } }",
    "\"../../escaped\"", "\"/tmp/x\"", "fifo", "batch-lp", "label-studio", "nosuch", "true", "{ probability = 1.0, timeout = \"1min\" }", "{ median = \"1us\", sigma = 50 }",
];

/// Applies 1 to 8 random mutations to `data`; `other` is another corpus entry to splice from.
pub fn mutate(rng: &mut impl Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    for _ in 0..rng.random_range(1..=8) {
        let len = data.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = rng.random();
            }
            2 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=16.min(len - a))).min(len);
                data.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=64.min(len - a))).min(len);
                let piece = data[a..b].to_vec();
                let at = rng.random_range(0..=data.len());
                data.splice(at..at, piece);
            }
            4 if !other.is_empty() => {
                let a = rng.random_range(0..other.len());
                let b = (a + rng.random_range(1..=256.min(other.len() - a))).min(other.len());
                let at = rng.random_range(0..=data.len());
                data.splice(at..at, other[a..b].iter().copied());
            }
            5 => {
                // Replace a number in the text with an extreme one.
                let digits: Vec<usize> = data.iter().enumerate().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
                if let Some(&i) = digits.choose(rng) {
                    let mut j = i;
                    while j < data.len() && (data[j].is_ascii_digit() || data[j] == b'.') {
                        j += 1;
                    }
                    let v = VALUES.choose(rng).unwrap_or(&"0");
                    data.splice(i..j, v.bytes());
                }
            }
            6 => {
                // A long run of one character: names and fields far past any sane length.
                let at = rng.random_range(0..=data.len());
                let n = rng.random_range(1..=4096);
                let c = *b"x\"[ .=\n".choose(rng).unwrap_or(&b'x');
                data.splice(at..at, std::iter::repeat_n(c, n));
            }
            _ => {
                let t = TOKENS.choose(rng).unwrap_or(&"0");
                let at = rng.random_range(0..=data.len());
                data.splice(at..at, t.bytes());
            }
        }
    }
    data.truncate(max_len);
}
