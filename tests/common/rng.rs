//! The one deterministic RNG of the test suite and the benches: SHA-256 in counter mode over a
//! seed, or a replay of recorded draws. Not secure: for reproducible runs only.
//!
//! The known-answer vectors record this algorithm (`RNG_ALGORITHM` in `tests/common/kat`), so
//! changing it changes every vector file.

use std::collections::VecDeque;
use std::convert::Infallible;

use sha2::{Digest, Sha256};

enum Source {
    /// SHA-256 in counter mode over a seed label.
    Counter {
        seed: Vec<u8>,
        block: u64,
        buffer: VecDeque<u8>,
    },
    /// The recorded draws, in order; each request must have exactly the recorded length.
    Replay(VecDeque<Vec<u8>>),
}

/// A deterministic RNG. Every request (`fill_bytes`, `next_u32`, `next_u64`) is one draw,
/// logged so that a caller (the KAT generator) can name it.
pub struct TestRng {
    source: Source,
    drawn: Vec<Vec<u8>>,
}

impl TestRng {
    /// The stream for a numeric seed (its eight big-endian bytes as the seed label).
    pub fn new(seed: u64) -> Self {
        Self::from_seed(&seed.to_be_bytes())
    }

    /// The stream for a seed label, as the KAT files record it.
    pub fn counter(seed: &str) -> Self {
        Self::from_seed(seed.as_bytes())
    }

    fn from_seed(seed: &[u8]) -> Self {
        TestRng {
            source: Source::Counter {
                seed: seed.to_vec(),
                block: 0,
                buffer: VecDeque::new(),
            },
            drawn: Vec::new(),
        }
    }

    /// Hands out `draws` in order; a request of another length, or one too many, panics.
    pub fn replay(draws: Vec<Vec<u8>>) -> Self {
        TestRng {
            source: Source::Replay(draws.into()),
            drawn: Vec::new(),
        }
    }

    /// The draws since the last call.
    pub fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.drawn)
    }

    /// Recorded draws not handed out yet (0 in counter mode).
    pub fn remaining(&self) -> usize {
        match &self.source {
            Source::Counter { .. } => 0,
            Source::Replay(draws) => draws.len(),
        }
    }
}

impl rand_core::TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match &mut self.source {
            Source::Counter {
                seed,
                block,
                buffer,
            } => {
                while buffer.len() < dst.len() {
                    let mut hash = Sha256::new();
                    hash.update(&seed[..]);
                    hash.update(block.to_be_bytes());
                    buffer.extend(hash.finalize());
                    *block += 1;
                }
                for d in dst.iter_mut() {
                    *d = buffer.pop_front().unwrap();
                }
            }
            Source::Replay(draws) => {
                let draw = draws.pop_front().expect("keylink drew more than recorded");
                assert_eq!(
                    draw.len(),
                    dst.len(),
                    "keylink asked for {} bytes where {} were recorded",
                    dst.len(),
                    draw.len()
                );
                dst.copy_from_slice(&draw);
            }
        }
        self.drawn.push(dst.to_vec());
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}
