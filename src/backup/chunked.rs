//! C2SP chunked encryption v1 (c2sp.org/chunked-encryption) instantiated as Cobblestone-256:
//! HKDF-Expand with SHA-512, AES-256-GCM, 16 KiB chunks.
//!
//! ```text
//! key (32) || base nonce (12) || commitment (32)
//!     = HKDF-Expand-SHA512(prk = input key,
//!           info = "c2sp.org/chunked-encryption@v1+" || "AEAD_AES_256_GCM" || 0x00 || salt || context)
//! message = salt (24) || commitment (32) || chunk 0 || chunk 1 || ... || final chunk
//! chunk i = AES-256-GCM(key, base nonce XOR u96be(i), plaintext i, aad = empty)
//! ```
//!
//! Every chunk holds 16 KiB of plaintext except the final one, which is shorter (possibly
//! empty): a short chunk is the end, and a message that ends after a full chunk is truncated.
//!
//! The writer buffers one chunk; the reader holds one chunk and releases its plaintext only
//! after its tag verified. A reader that failed keeps returning the same error.

use std::io::{self, Read, Write};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::diagnose::diagnose;
use super::error::BackupError;
use super::message_keys::MessageKeys;
use super::rng::random;
use crate::constants::{
    CHUNK_SIZE, CHUNKED_AEAD_NAME, CHUNKED_COMMITMENT_LEN, CHUNKED_INFO_PREFIX, CHUNKED_SALT_LEN,
    MAX_CHUNKS,
};
use crate::primitives::{TAG_LEN, hkdf_expand_sha512};

/// Bytes of an encrypted full chunk.
const SEALED_CHUNK: usize = CHUNK_SIZE + TAG_LEN;
/// Bytes of salt and commitment before the first chunk.
pub(crate) const PRELUDE_LEN: usize = CHUNKED_SALT_LEN + CHUNKED_COMMITMENT_LEN;

/// The input key of a chunked-encryption message: 32 uniformly random bytes.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct InputKey([u8; 32]);

impl From<[u8; 32]> for InputKey {
    fn from(bytes: [u8; 32]) -> Self {
        InputKey(bytes)
    }
}

impl InputKey {
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl TryFrom<&[u8]> for InputKey {
    type Error = BackupError;

    fn try_from(bytes: &[u8]) -> Result<Self, BackupError> {
        let key = <[u8; 32]>::try_from(bytes)
            .map_err(|_| BackupError::InvalidKeyLength { found: bytes.len() })?;
        Ok(InputKey(key))
    }
}

impl core::fmt::Debug for InputKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InputKey(<redacted>)")
    }
}

/// The salt and commitment that open a message.
pub(crate) struct Prelude {
    salt: [u8; CHUNKED_SALT_LEN],
    commitment: [u8; CHUNKED_COMMITMENT_LEN],
}

impl Prelude {
    /// A prelude with a fresh random salt for `key` and `context`, and its message keys.
    fn generate(key: &InputKey, context: &[u8]) -> Result<(Self, MessageKeys), BackupError> {
        Self::with_salt(key, context, random()?)
    }

    pub(super) fn with_salt(
        key: &InputKey,
        context: &[u8],
        salt: [u8; CHUNKED_SALT_LEN],
    ) -> Result<(Self, MessageKeys), BackupError> {
        let (keys, commitment) = derive(key, &salt, context)?;
        Ok((Prelude { salt, commitment }, keys))
    }

    /// Reads the 56 prelude bytes; a shorter input is [`BackupError::Truncated`].
    pub(crate) fn read_from(r: &mut impl Read) -> Result<Self, BackupError> {
        let mut bytes = [0u8; PRELUDE_LEN];
        if read_full(r, &mut bytes)? < PRELUDE_LEN {
            return Err(BackupError::Truncated);
        }
        let (salt, commitment) = bytes.split_at(CHUNKED_SALT_LEN);
        Ok(Prelude {
            salt: salt.try_into().map_err(|_| BackupError::Truncated)?,
            commitment: commitment.try_into().map_err(|_| BackupError::Truncated)?,
        })
    }

    fn to_bytes(&self) -> [u8; PRELUDE_LEN] {
        let mut out = [0u8; PRELUDE_LEN];
        let (salt, commitment) = out.split_at_mut(CHUNKED_SALT_LEN);
        salt.copy_from_slice(&self.salt);
        commitment.copy_from_slice(&self.commitment);
        out
    }

    /// The message keys, if the commitment matches `key` and `context` (checked in constant
    /// time); `None` means a wrong key, a wrong context or a damaged salt or commitment.
    pub(crate) fn open(&self, key: &InputKey, context: &[u8]) -> Option<MessageKeys> {
        let (keys, commitment) = derive(key, &self.salt, context).ok()?;
        bool::from(commitment.ct_eq(&self.commitment)).then_some(keys)
    }
}

/// Derives the message keys and the commitment (HKDF-Expand with SHA-512, 76 bytes).
fn derive(
    key: &InputKey,
    salt: &[u8; CHUNKED_SALT_LEN],
    context: &[u8],
) -> Result<(MessageKeys, [u8; CHUNKED_COMMITMENT_LEN]), BackupError> {
    let info: [&[u8]; 5] = [CHUNKED_INFO_PREFIX, CHUNKED_AEAD_NAME, &[0], salt, context];
    let okm = hkdf_expand_sha512::<{ 32 + 12 + CHUNKED_COMMITMENT_LEN }>(&key.0, &info)
        .map_err(|_| BackupError::InvalidParameter("chunked-encryption key schedule"))?;
    let mut aead_key = Zeroizing::new([0u8; 32]);
    let mut base_nonce = Zeroizing::new([0u8; 12]);
    let mut commitment = [0u8; CHUNKED_COMMITMENT_LEN];
    let outputs = aead_key.iter_mut().chain(base_nonce.iter_mut());
    for (dst, src) in outputs.chain(commitment.iter_mut()).zip(okm.iter()) {
        *dst = *src;
    }
    Ok((MessageKeys::new(&aead_key, base_nonce), commitment))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, BackupError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BackupError::from(e)),
        }
    }
    Ok(filled)
}

/// Streaming encryption: [`Write`] the plaintext, then [`ChunkedWriter::finish`].
///
/// Dropping the writer without `finish` leaves a truncated message that every reader rejects.
pub struct ChunkedWriter<W: Write> {
    inner: W,
    keys: MessageKeys,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    failed: bool,
}

impl<W: Write> ChunkedWriter<W> {
    /// Starts a message under `key` bound to `context`, with a fresh random salt; writes the
    /// salt and commitment to `inner`.
    pub fn new(inner: W, key: &InputKey, context: &[u8]) -> Result<Self, BackupError> {
        let (prelude, keys) = Prelude::generate(key, context)?;
        Self::start(inner, prelude, keys)
    }

    /// Like [`ChunkedWriter::new`] with a given salt: deterministic, for test vectors only
    /// (reachable from outside only as `keylink::hazmat::chunked_writer_with_salt`). A salt
    /// must never repeat under one key.
    #[cfg(any(test, feature = "hazmat", feature = "fuzzing"))]
    pub(crate) fn with_salt(
        inner: W,
        key: &InputKey,
        context: &[u8],
        salt: [u8; CHUNKED_SALT_LEN],
    ) -> Result<Self, BackupError> {
        let (prelude, keys) = Prelude::with_salt(key, context, salt)?;
        Self::start(inner, prelude, keys)
    }

    fn start(mut inner: W, prelude: Prelude, keys: MessageKeys) -> Result<Self, BackupError> {
        inner.write_all(&prelude.to_bytes())?;
        Ok(ChunkedWriter {
            inner,
            keys,
            buf: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK)),
            index: 0,
            failed: false,
        })
    }

    /// Encrypts and writes the final (short, possibly empty) chunk and flushes; returns the
    /// inner writer.
    pub fn finish(mut self) -> Result<W, BackupError> {
        self.check_not_failed()?;
        self.seal_buffer()?;
        self.inner.flush()?;
        let ChunkedWriter { inner, .. } = self;
        Ok(inner)
    }

    fn check_not_failed(&self) -> Result<(), BackupError> {
        match self.failed {
            true => Err(BackupError::Io(io::Error::other(
                "an earlier write to this backup failed",
            ))),
            false => Ok(()),
        }
    }

    /// Seals the buffered plaintext as the next chunk and writes it out.
    fn seal_buffer(&mut self) -> Result<(), BackupError> {
        self.failed = true;
        if self.index >= MAX_CHUNKS {
            return Err(BackupError::TooLarge);
        }
        let tag = self.keys.seal(self.index, &mut self.buf)?;
        self.buf.extend_from_slice(&tag);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.index += 1;
        self.failed = false;
        Ok(())
    }
}

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_not_failed()?;
        let take = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        if self.buf.len() == CHUNK_SIZE {
            self.seal_buffer()?;
        }
        Ok(take)
    }

    /// Flushes the inner writer. Buffered plaintext stays buffered: only a full chunk can be
    /// written before the end.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where a reader stands.
enum ReadState {
    /// More chunks follow.
    Reading,
    /// The final chunk was authenticated and followed by the end of the input.
    Done,
    /// An error happened; it is returned again on every read.
    Failed(BackupError),
}

/// Streaming decryption: a [`Read`] of the plaintext that releases each chunk only after it
/// authenticated, accepts a short chunk as final only when the input ends right after it, and
/// keeps failing after its first error.
///
/// Errors are `io::Error`s carrying a [`BackupError`] (`BackupError::from(io_error)` gets it
/// back).
pub struct ChunkedReader<R: Read> {
    inner: R,
    keys: MessageKeys,
    block: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
    index: u64,
    state: ReadState,
}

impl<R: Read> ChunkedReader<R> {
    /// Reads the salt and commitment from `inner` and checks the commitment against `key` and
    /// `context` before any chunk is read. A mismatch is [`BackupError::WrongKey`].
    pub fn new(mut inner: R, key: &InputKey, context: &[u8]) -> Result<Self, BackupError> {
        let prelude = Prelude::read_from(&mut inner)?;
        let keys = prelude.open(key, context).ok_or(BackupError::WrongKey)?;
        Ok(Self::from_keys(inner, keys))
    }

    /// A reader over the chunks that follow a prelude already checked.
    pub(crate) fn from_keys(inner: R, keys: MessageKeys) -> Self {
        ChunkedReader {
            inner,
            keys,
            block: Zeroizing::new(vec![0u8; SEALED_CHUNK]),
            start: 0,
            end: 0,
            index: 0,
            state: ReadState::Reading,
        }
    }

    /// Reads, authenticates and decrypts the next chunk into `block[..end]`.
    fn next_chunk(&mut self) -> Result<(), BackupError> {
        if self.index >= MAX_CHUNKS {
            return Err(BackupError::TooLarge);
        }
        let n = read_full(&mut self.inner, &mut self.block)?;
        if n < TAG_LEN {
            return Err(BackupError::Truncated);
        }
        let sealed = self.block.get_mut(..n).unwrap_or_default();
        let Some(len) = self.keys.open(self.index, sealed) else {
            return Err(diagnose(&self.keys, self.index, sealed));
        };
        (self.start, self.end) = (0, len);
        self.index += 1;
        if n < SEALED_CHUNK {
            self.state = ReadState::Done;
        }
        Ok(())
    }
}

impl<R: Read> Read for ChunkedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.start == self.end && !out.is_empty() {
            match &self.state {
                ReadState::Done => return Ok(0),
                ReadState::Failed(e) => return Err(e.duplicate().into()),
                ReadState::Reading => {
                    if let Err(e) = self.next_chunk() {
                        self.state = ReadState::Failed(e.duplicate());
                        return Err(e.into());
                    }
                }
            }
        }
        let available = self.block.get(self.start..self.end).unwrap_or_default();
        let n = available.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(available.get(..n).unwrap_or_default());
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> InputKey {
        InputKey::from([42u8; 32])
    }

    fn encrypt(plain: &[u8], ctx: &[u8]) -> Vec<u8> {
        let mut w = ChunkedWriter::new(Vec::new(), &key(), ctx).unwrap();
        w.write_all(plain).unwrap();
        w.finish().unwrap()
    }

    fn decrypt(ct: &[u8], ctx: &[u8]) -> Result<Vec<u8>, BackupError> {
        let mut r = ChunkedReader::new(ct, &key(), ctx)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "InputKey(<redacted>)");
    }

    #[test]
    fn lengths_follow_the_spec() {
        for (len, sealed) in [(0, 56 + 16), (1, 56 + 17), (16384, 56 + 16400 + 16)] {
            assert_eq!(encrypt(&vec![1; len], b"").len(), sealed, "length {len}");
        }
    }

    #[test]
    fn round_trip_at_chunk_edges() {
        for len in [0, 1, 16383, 16384, 16385, 32768, 40000] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert_eq!(decrypt(&encrypt(&plain, b"c"), b"c").unwrap(), plain);
        }
    }

    #[test]
    fn wrong_context_fails_the_commitment() {
        let ct = encrypt(b"hello", b"a");
        assert!(matches!(decrypt(&ct, b"b"), Err(BackupError::WrongKey)));
    }

    #[test]
    fn swapped_chunks_are_reported_out_of_order() {
        let mut ct = encrypt(&vec![5; 3 * CHUNK_SIZE + 1], b"");
        let (a, b) = (PRELUDE_LEN, PRELUDE_LEN + SEALED_CHUNK);
        let first: Vec<u8> = ct[a..b].to_vec();
        ct.copy_within(b..b + SEALED_CHUNK, a);
        ct[b..b + SEALED_CHUNK].copy_from_slice(&first);
        let err = decrypt(&ct, b"").unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::ChunkOutOfOrder {
                    index: 0,
                    belongs_at: 1
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn appended_bytes_are_data_after_end() {
        for extra in [1usize, 15, 16, 100, 20_000] {
            let mut ct = encrypt(&vec![5; CHUNK_SIZE + 10], b"");
            ct.extend(std::iter::repeat_n(0xAA, extra));
            let err = decrypt(&ct, b"").unwrap_err();
            assert!(matches!(err, BackupError::DataAfterEnd), "{extra}: {err:?}");
        }
    }

    #[test]
    fn errors_are_sticky_and_nothing_unauthenticated_is_released() {
        let mut ct = encrypt(&vec![5; 2 * CHUNK_SIZE + 10], b"");
        let flip = PRELUDE_LEN + SEALED_CHUNK + 3;
        ct[flip] ^= 1;
        let mut r = ChunkedReader::new(&ct[..], &key(), b"").unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(out.len(), CHUNK_SIZE);
        assert!(matches!(
            BackupError::from(err),
            BackupError::CorruptedChunk {
                index: 1,
                last: false
            }
        ));
        for _ in 0..3 {
            let again = r.read(&mut [0u8; 10]).unwrap_err();
            assert!(matches!(
                BackupError::from(again),
                BackupError::CorruptedChunk { index: 1, .. }
            ));
        }
    }

    #[test]
    fn plaintext_buffers_are_never_reallocated() {
        // A reallocation would free the old buffer, plaintext and all, without zeroizing it:
        // the writer's buffer must hold a full sealed chunk from the start, and keep it.
        let mut w = ChunkedWriter::new(Vec::new(), &key(), b"").unwrap();
        let (ptr, capacity) = (w.buf.as_ptr(), w.buf.capacity());
        assert!(capacity >= SEALED_CHUNK);
        for piece in [1, CHUNK_SIZE - 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 7] {
            w.write_all(&vec![9; piece]).unwrap();
            assert_eq!((w.buf.as_ptr(), w.buf.capacity()), (ptr, capacity));
        }
        let ct = w.finish().unwrap();
        let mut r = ChunkedReader::new(&ct[..], &key(), b"").unwrap();
        let (ptr, len) = (r.block.as_ptr(), r.block.len());
        let mut out = [0u8; 1000];
        while r.read(&mut out).unwrap() > 0 {
            assert_eq!((r.block.as_ptr(), r.block.len()), (ptr, len));
        }
    }

    #[test]
    fn input_key_must_have_32_bytes() {
        assert!(matches!(
            InputKey::try_from(&[0u8; 31][..]),
            Err(BackupError::InvalidKeyLength { found: 31 })
        ));
        let key = InputKey::try_from(&[1u8; 32][..]).unwrap();
        assert_eq!(key.as_bytes(), &[1u8; 32]);
    }

    #[test]
    fn nonce_xors_the_counter_into_the_last_bytes() {
        let (_, keys) = Prelude::with_salt(&key(), b"", [0; 24]).unwrap();
        let base = keys.base_nonce();
        let n = keys.nonce(0x01_0203_0405);
        assert_eq!(&n[..7], &base[..7]);
        assert_eq!(n[7] ^ base[7], 0x01);
        assert_eq!(n[11] ^ base[11], 0x05);
    }
}
