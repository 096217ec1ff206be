//! Message keys and the AEAD that uses them:
//! `key (32) || nonce (12) = HKDF(0^32, mk, "keylink v1 message", 44)`, then AES-256-GCM with
//! `aad = AD || header`.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::constants::{ENC_HEADER_LEN, MESSAGE_INFO};
use crate::error::{Error, Result};
use crate::primitives::{self, Gcm, TAG_LEN};

/// One message key. Sending consumes it; a stored (skipped) key is only read until the
/// message it belongs to authenticated, then dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey {
    key: [u8; 32],
    index: u32,
}

impl MessageKey {
    pub(crate) fn new(key: &[u8; 32], index: u32) -> Self {
        MessageKey { key: *key, index }
    }

    /// The same key built straight on the heap, for keys that are stored: moving the box
    /// moves a pointer, and dropping it zeroizes the key where it lives.
    pub(crate) fn boxed(key: &[u8; 32], index: u32) -> Box<Self> {
        let mut boxed = Box::new(MessageKey {
            key: [0; 32],
            index,
        });
        boxed.key.copy_from_slice(key);
        boxed
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Run `f` on the AES-256-GCM key and nonce of this message key. They are borrowed from
    /// one zeroizing buffer, so no copy of them outlives the call.
    pub(crate) fn with_expanded<T>(
        &self,
        f: impl FnOnce(&[u8; 32], &[u8; 12]) -> Result<T>,
    ) -> Result<T> {
        let okm = primitives::hkdf_zero_salt::<44>(&self.key, &[MESSAGE_INFO])?;
        let key = okm.first_chunk::<32>();
        let nonce = okm.last_chunk::<12>();
        match (key, nonce) {
            (Some(key), Some(nonce)) => f(key, nonce),
            _ => Err(Error::Internal("message key expansion length")),
        }
    }

    /// Encrypt one message in place; the key is consumed so it can never seal a second one.
    /// Returns the tag, and the [`Reseal`] that can turn the ciphertext back into the
    /// plaintext if the message must not be sent after all.
    pub(crate) fn seal_in_place(
        self,
        ad: &[u8; 64],
        enc_header: &[u8; ENC_HEADER_LEN],
        buf: &mut [u8],
    ) -> Result<([u8; TAG_LEN], Reseal)> {
        let aad = aad(ad, enc_header);
        self.with_expanded(|key, nonce| {
            let tag = Gcm::new(key).seal_in_place(nonce, &aad, buf)?;
            let reseal = Reseal {
                key: Zeroizing::new(*key),
                nonce: *nonce,
                aad,
            };
            Ok((tag, reseal))
        })
    }

    /// Decrypt and authenticate one message body, `ciphertext || tag`, into `body`'s
    /// plaintext. Nothing is written unless the tag verified.
    pub(crate) fn open(
        &self,
        ad: &[u8; 64],
        enc_header: &[u8; ENC_HEADER_LEN],
        body: &mut Body<'_>,
    ) -> Result<Opened> {
        let aad = aad(ad, enc_header);
        self.with_expanded(|key, nonce| {
            let cipher = Gcm::new(key);
            match body {
                Body::Borrowed(sealed) => {
                    let (ciphertext, tag) = split_tag(sealed)?;
                    let mut out = Zeroizing::new(vec![0u8; ciphertext.len()]);
                    cipher.open_into(nonce, &aad, ciphertext, &mut out, tag)?;
                    Ok(Opened::Owned(out))
                }
                Body::InPlace(sealed) => {
                    let (ciphertext, tag) = split_tag_mut(sealed)?;
                    cipher.open_in_place(nonce, &aad, ciphertext, &tag)?;
                    let reseal = Reseal {
                        key: Zeroizing::new(*key),
                        nonce: *nonce,
                        aad,
                    };
                    Ok(Opened::InPlace(ciphertext.len(), reseal))
                }
            }
        })
    }
}

/// `AD || enc_header`, the AAD of a message body, on the stack.
fn aad(ad: &[u8; 64], enc_header: &[u8; ENC_HEADER_LEN]) -> [u8; 64 + ENC_HEADER_LEN] {
    let mut aad = [0u8; 64 + ENC_HEADER_LEN];
    let (a, h) = aad.split_at_mut(64);
    a.copy_from_slice(ad);
    h.copy_from_slice(enc_header);
    aad
}

fn split_tag(sealed: &[u8]) -> Result<(&[u8], &[u8; TAG_LEN])> {
    let split = sealed.len().checked_sub(TAG_LEN);
    let (ciphertext, tag) = sealed.split_at(split.ok_or(Error::DecryptionFailed)?);
    Ok((
        ciphertext,
        tag.try_into().map_err(|_| Error::DecryptionFailed)?,
    ))
}

fn split_tag_mut(sealed: &mut [u8]) -> Result<(&mut [u8], [u8; TAG_LEN])> {
    let split = sealed.len().checked_sub(TAG_LEN);
    let (ciphertext, tag) = sealed.split_at_mut(split.ok_or(Error::DecryptionFailed)?);
    Ok((
        ciphertext,
        (&*tag).try_into().map_err(|_| Error::DecryptionFailed)?,
    ))
}

/// The body of a message to decrypt, `ciphertext || tag`, and where its plaintext goes.
pub(crate) enum Body<'a> {
    /// Into a new buffer; the message's bytes are only read.
    Borrowed(&'a [u8]),
    /// Over the ciphertext, in the caller's buffer.
    InPlace(&'a mut [u8]),
}

/// Where a decrypted body's plaintext is.
pub(crate) enum Opened {
    /// In a new buffer (wiped when dropped).
    Owned(Zeroizing<Vec<u8>>),
    /// In the first `usize` bytes of the in-place body; [`Reseal`] restores the ciphertext.
    InPlace(usize, Reseal),
}

impl Opened {
    /// Undo an in-place decryption of `body` (its state was not committed after all).
    pub(crate) fn undo(self, body: &mut Body<'_>) -> Result<()> {
        match (self, body) {
            (Opened::InPlace(len, reseal), Body::InPlace(sealed)) => {
                let plaintext = sealed
                    .get_mut(..len)
                    .ok_or(Error::Internal("in-place body"))?;
                reseal.restore(plaintext)
            }
            _ => Ok(()),
        }
    }
}

/// The AES-256-GCM key, nonce and AAD of one message body, kept to undo an in-place operation
/// whose state could not be committed. Sealing a decrypted body again under them gives back
/// exactly the bytes that were there (AES-GCM's keystream is a function of key and nonce), so
/// a failed decryption leaves the caller's buffer as it found it; opening an encrypted body
/// gives the caller its plaintext back.
pub(crate) struct Reseal {
    key: Zeroizing<[u8; 32]>,
    nonce: [u8; 12],
    aad: [u8; 64 + ENC_HEADER_LEN],
}

impl Reseal {
    /// Turn the plaintext in `buf` back into the ciphertext it was decrypted from.
    pub(crate) fn restore(&self, buf: &mut [u8]) -> Result<()> {
        let cipher = Gcm::new(&self.key);
        cipher.seal_in_place(&self.nonce, &self.aad, buf).map(drop)
    }

    /// Turn the ciphertext in `buf` (without its `tag`) back into the plaintext it was
    /// encrypted from.
    pub(crate) fn unseal(&self, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<()> {
        let cipher = Gcm::new(&self.key);
        cipher.open_in_place(&self.nonce, &self.aad, buf, tag)
    }
}
