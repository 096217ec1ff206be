//! The Double Ratchet with header encryption (the specification's section 4).
//!
//! Decryption never mutates state before the message authenticated: [`Ratchet::try_decrypt`]
//! works on `&self` and returns the plaintext together with a [`PendingUpdate`], which
//! [`Ratchet::commit`] applies. A message that fails leaves the ratchet untouched.
//!
//! Headers are sealed under header keys, so a receiver first finds the key that opens a
//! header: the header keys of stored skipped keys (oldest chain first), `HKr`, then `NHKr`,
//! each tried once. A forged message costs at most
//! [`MAX_SKIPPED_HEADER_KEYS`](crate::constants::MAX_SKIPPED_HEADER_KEYS) + 2 AES-GCM opens of
//! 41 bytes, and no chain key and no DH.

mod chain_key;
mod header;
mod header_key;
mod message_key;
mod receiving_chain;
mod root_key;
mod skipped_keys;

use rand_core::CryptoRng;

use crate::constants::{
    ENC_HEADER_LEN, HEADER_KEY_A_INFO, HEADER_KEY_B_INFO, MAX_SKIP, MAX_SKIPPED_HEADER_KEYS,
    MAX_STORED_SKIPPED_KEYS,
};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};
use crate::primitives;
use crate::wire;

pub(crate) use chain_key::{ChainKey, derivations};
pub(crate) use header::Header;
pub(crate) use header_key::HeaderKey;
pub(crate) use message_key::{Body, MessageKey, Opened, Reseal};
use receiving_chain::{PendingSkip, ReceivingChain, advance_to, check_skip, skip_to};
pub(crate) use root_key::RootKey;
pub(crate) use skipped_keys::{NoSkippedKeys, SkippedDelta, SkippedKeySource};
use skipped_keys::{SkippedChain, SkippedKeys};

/// The ratchet state of one session.
pub(crate) struct Ratchet {
    keys: Box<Keys>,
    previous_counter: u32,
    /// `None` until the first message from the peer arrived.
    receiving: Option<ReceivingChain>,
    skipped: SkippedKeys,
}

/// The ratchet's own secrets. They live on the heap so that moving a [`Ratchet`] (a session
/// archived, promoted or shifted in its record's deque, which also reallocates) moves a
/// pointer and never leaves a copy of a key in a freed or stale slot. Encryption updates
/// them in place.
struct Keys {
    root: RootKey,
    /// Our current ratchet key pair `DHs`; its public half was computed once, at the step
    /// that created it.
    sending_key: KeyPair,
    /// `None` only in the responder's state before its first message arrived.
    sending_chain: Option<ChainKey>,
    /// `HKs`: `None` with the sending chain. Header keys are boxed too, so that handing one
    /// on (`NHKs` becomes `HKs`) moves a pointer and leaves no copy in freed memory.
    send_header: Option<Box<HeaderKey>>,
    /// `NHKs`.
    next_send_header: Box<HeaderKey>,
    /// `NHKr`: a header that opens under it starts a DH ratchet step.
    next_receive_header: Box<HeaderKey>,
}

/// What a successful decryption changes, computed before anything is changed.
pub(crate) struct PendingUpdate(Update);

enum Update {
    /// A stored skipped key was used: remove it.
    Skipped { chain: usize, counter: u32 },
    /// Message on the current receiving chain.
    Chain {
        next: ChainKey,
        skipped: PendingSkip,
    },
    /// Message under a new ratchet key of the peer: a DH ratchet step.
    Step(Step),
}

/// What a DH ratchet step on receiving sets, before our new sending chain.
struct Step {
    root: RootKey,
    previous: Option<PendingSkip>,
    receiving: ReceivingChain,
    skipped: PendingSkip,
    next_receive_header: Box<HeaderKey>,
}

/// A message body with what its AEAD covers: `AD || enc_header` as AAD, and
/// `ciphertext || tag`.
struct Sealed<'m, 'b> {
    ad: &'m [u8; 64],
    enc_header: &'m [u8; ENC_HEADER_LEN],
    body: &'m mut Body<'b>,
}

impl Sealed<'_, '_> {
    fn open(&mut self, key: &MessageKey) -> Result<Opened> {
        key.open(self.ad, self.enc_header, self.body)
    }
}

/// Which state a header key that opened a header belongs to.
#[derive(Clone, Copy)]
enum Role {
    /// The header key of stored skipped keys of chain `usize`.
    Skipped(usize),
    /// `HKr`.
    Current,
    /// `NHKr`.
    Next,
}

/// `HKA` and `NHKB`, the first header keys, from `SK`.
fn initial_header_keys(sk: &[u8; 32]) -> Result<(Box<HeaderKey>, Box<HeaderKey>)> {
    let hka = primitives::hkdf_zero_salt::<32>(sk, &[HEADER_KEY_A_INFO])?;
    let nhkb = primitives::hkdf_zero_salt::<32>(sk, &[HEADER_KEY_B_INFO])?;
    Ok((HeaderKey::boxed(&hka)?, HeaderKey::boxed(&nhkb)?))
}

impl Ratchet {
    /// Alice's initial state: `DHs` new, `HKs = HKA`, `NHKr = NHKB`,
    /// `(RK, CKs, NHKs) = KDF_RK(SK, X25519(DHs, SPK_B))`.
    pub(crate) fn initiator<R: CryptoRng + ?Sized>(
        sk: &[u8; 32],
        their_signed_prekey: &PublicKey,
        rng: &mut R,
    ) -> Result<Self> {
        let (hka, nhkb) = initial_header_keys(sk)?;
        let sending_key = KeyPair::generate(rng);
        let dh = sending_key.dh(their_signed_prekey)?;
        let (root, chain, nhks) = RootKey::new(sk).step(&dh)?;
        Ok(Ratchet {
            keys: Box::new(Keys {
                root,
                sending_key,
                sending_chain: Some(chain),
                send_header: Some(hka),
                next_send_header: Box::new(nhks),
                next_receive_header: nhkb,
            }),
            previous_counter: 0,
            receiving: None,
            skipped: SkippedKeys::default(),
        })
    }

    /// Bob's initial state: `DHs` = the signed prekey pair, `RK = SK`, `NHKs = NHKB`,
    /// `NHKr = HKA`. It can only decrypt; its first decryption performs the DH ratchet step
    /// that creates a sending chain.
    pub(crate) fn responder(sk: &[u8; 32], signed_prekey: KeyPair) -> Result<Self> {
        let (hka, nhkb) = initial_header_keys(sk)?;
        Ok(Ratchet {
            keys: Box::new(Keys {
                root: RootKey::new(sk),
                sending_key: signed_prekey,
                sending_chain: None,
                send_header: None,
                next_send_header: nhkb,
                next_receive_header: hka,
            }),
            previous_counter: 0,
            receiving: None,
            skipped: SkippedKeys::default(),
        })
    }

    /// Encrypt `plaintext`: the encrypted header and `ciphertext || tag`, whose AAD is
    /// `AD || enc_header`.
    #[cfg(test)]
    pub(crate) fn encrypt(
        &mut self,
        ad: &[u8; 64],
        plaintext: &[u8],
    ) -> Result<([u8; ENC_HEADER_LEN], Vec<u8>)> {
        let mut sealed = Vec::with_capacity(plaintext.len() + crate::primitives::TAG_LEN);
        sealed.extend_from_slice(plaintext);
        let (enc_header, tag, _) = self.encrypt_in_place(ad, &mut sealed)?;
        sealed.extend_from_slice(&tag);
        Ok((enc_header, sealed))
    }

    /// Encrypt `buf` in place: the encrypted header and the tag of the body, whose AAD is
    /// `AD || enc_header`, and what turns the body back into the plaintext. The sending chain
    /// has advanced when this returns.
    pub(crate) fn encrypt_in_place(
        &mut self,
        ad: &[u8; 64],
        buf: &mut [u8],
    ) -> Result<(
        [u8; ENC_HEADER_LEN],
        [u8; crate::primitives::TAG_LEN],
        Reseal,
    )> {
        let keys = &mut *self.keys;
        let chain = keys.sending_chain.as_ref().ok_or(Error::NoSession)?;
        let header_key = keys.send_header.as_ref().ok_or(Error::NoSession)?;
        let (message_key, next) = chain.step();
        let next = next.ok_or(Error::ChainExhausted)?;
        let header = Header {
            ratchet_key: *keys.sending_key.public(),
            previous_counter: self.previous_counter,
            counter: chain.index(),
        };
        let enc_header = header_key.seal(ad, &header.to_bytes())?;
        let (tag, reseal) = message_key.seal_in_place(ad, &enc_header, buf)?;
        keys.sending_chain = Some(next);
        Ok((enc_header, tag, reseal))
    }

    /// Decrypt without changing anything.
    ///
    /// `Ok(None)`: no header key of this session opened the header (try another session).
    /// `Err`: a header key opened it and the message is rejected, final for this message:
    /// [`Error::DuplicateMessage`] or [`Error::DecryptionFailed`].
    /// A stored skipped key is read from `stored` only when a header opens under its chain's
    /// header key; a store failure there is returned as it is.
    pub(crate) fn try_decrypt(
        &self,
        ad: &[u8; 64],
        enc_header: &[u8; ENC_HEADER_LEN],
        body: &mut Body<'_>,
        stored: &dyn SkippedKeySource,
    ) -> Result<Option<(Opened, PendingUpdate)>> {
        let Some((role, header)) = self.open_header(ad, enc_header)? else {
            return Ok(None);
        };
        let mut body = Sealed {
            ad,
            enc_header,
            body,
        };
        let opened = self.open_body(role, &header, &mut body, stored);
        match opened {
            Ok((plaintext, update)) => Ok(Some((plaintext, PendingUpdate(update)))),
            Err(e @ (Error::DuplicateMessage | Error::Store(_))) => Err(e),
            Err(_) => Err(Error::DecryptionFailed),
        }
    }

    /// The header keys to try, in order, each distinct key once.
    fn header_keys(&self) -> impl Iterator<Item = (&HeaderKey, Role)> {
        let skipped = self.skipped.chains().enumerate();
        let skipped = skipped.map(|(i, c)| (&*c.header_key, Role::Skipped(i)));
        let current = self
            .receiving
            .as_ref()
            .map(|r| (&*r.header_key, Role::Current));
        let next = Some((&*self.keys.next_receive_header, Role::Next));
        let mut seen: [Option<&HeaderKey>; MAX_SKIPPED_HEADER_KEYS + 2] = Default::default();
        let mut count = 0;
        skipped.chain(current).chain(next).filter(move |(key, _)| {
            let new = !seen.iter().flatten().any(|k| k.same_as(key));
            if new && let Some(slot) = seen.get_mut(count) {
                *slot = Some(key);
                count += 1;
            }
            new
        })
    }

    /// Find the header key that opens `enc_header` and read the header.
    fn open_header(
        &self,
        ad: &[u8; 64],
        enc_header: &[u8; ENC_HEADER_LEN],
    ) -> Result<Option<(Role, Header)>> {
        for (key, role) in self.header_keys() {
            if let Some(opened) = key.open(ad, enc_header) {
                let header = Header::parse(&opened?)?;
                return Ok(Some((role, header)));
            }
        }
        Ok(None)
    }

    fn open_body(
        &self,
        role: Role,
        header: &Header,
        body: &mut Sealed<'_, '_>,
        stored: &dyn SkippedKeySource,
    ) -> Result<(Opened, Update)> {
        match role {
            Role::Skipped(chain) => self.open_skipped(chain, header, body, stored),
            Role::Current => self.open_current(header, body),
            Role::Next => self.open_after_step(header, body),
        }
    }

    /// Under the header key of stored skipped keys: a stored key, or (if that is also the
    /// current chain's header key) a later message of the current chain; else a duplicate.
    fn open_skipped(
        &self,
        index: usize,
        header: &Header,
        body: &mut Sealed<'_, '_>,
        stored: &dyn SkippedKeySource,
    ) -> Result<(Opened, Update)> {
        let chain = self.skipped.chain(index).ok_or(Error::DecryptionFailed)?;
        if header.ratchet_key != chain.ratchet_key {
            return Err(Error::DecryptionFailed);
        }
        let current = self
            .receiving
            .as_ref()
            .filter(|r| r.header_key.same_as(&chain.header_key));
        if current.is_some_and(|r| header.counter >= r.chain.index()) {
            // The current chain's stored keys are all below its next index: no lookup.
            return self.open_current(header, body);
        }
        if let Some(message_key) = stored.skipped_key(chain.number, header.counter)? {
            if message_key.index() != header.counter {
                return Err(Error::Internal(
                    "a stored skipped key under another counter",
                ));
            }
            let plaintext = body.open(&message_key)?;
            let update = Update::Skipped {
                chain: index,
                counter: header.counter,
            };
            return Ok((plaintext, update));
        }
        // Below the chain's next index and not stored: used already, or evicted.
        Err(Error::DuplicateMessage)
    }

    /// Under `HKr`: the next messages of the current receiving chain.
    fn open_current(&self, header: &Header, body: &mut Sealed<'_, '_>) -> Result<(Opened, Update)> {
        let receiving = self.receiving.as_ref().ok_or(Error::DecryptionFailed)?;
        if header.ratchet_key != receiving.ratchet_key {
            return Err(Error::DecryptionFailed);
        }
        if header.counter < receiving.chain.index() {
            // Not among the stored skipped keys: used already, or evicted.
            return Err(Error::DuplicateMessage);
        }
        check_skip(&receiving.chain, header.counter)?;
        let advance = advance_to(&receiving.chain, header.counter)?;
        let plaintext = body.open(&advance.message_key)?;
        let update = Update::Chain {
            next: advance.next,
            skipped: advance.skipped,
        };
        Ok((plaintext, update))
    }

    /// Under `NHKr`: a DH ratchet step. Both skips are bounded before any DH or chain key.
    fn open_after_step(
        &self,
        header: &Header,
        body: &mut Sealed<'_, '_>,
    ) -> Result<(Opened, Update)> {
        let previous_chain = self
            .receiving
            .as_ref()
            .filter(|r| header.previous_counter > r.chain.index());
        if let Some(r) = previous_chain {
            check_skip(&r.chain, header.previous_counter)?;
        }
        if header.counter > MAX_SKIP {
            return Err(Error::DecryptionFailed);
        }
        let previous = match previous_chain {
            Some(r) => Some(skip_to(&r.chain, header.previous_counter)?.0),
            None => None,
        };
        let dh = self.keys.sending_key.dh(&header.ratchet_key)?;
        let (root, chain, next_receive_header) = self.keys.root.step(&dh)?;
        let advance = advance_to(&chain, header.counter)?;
        let plaintext = body.open(&advance.message_key)?;
        let receiving = ReceivingChain {
            ratchet_key: header.ratchet_key,
            chain: ChainKey::boxed(advance.next.as_bytes(), advance.next.index()),
            header_key: self.keys.next_receive_header.clone(),
        };
        let update = Update::Step(Step {
            root,
            previous,
            receiving,
            skipped: advance.skipped,
            next_receive_header: Box::new(next_receive_header),
        });
        Ok((plaintext, update))
    }

    /// Apply what [`Ratchet::try_decrypt`] computed, returning the writes to the skipped-key
    /// rows. For a DH ratchet step this generates our next ratchet key pair; everything
    /// fallible happens before the state changes.
    pub(crate) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        update: PendingUpdate,
        rng: &mut R,
    ) -> Result<SkippedDelta> {
        let mut delta = SkippedDelta::default();
        match update.0 {
            Update::Skipped { chain, counter } => self.skipped.remove(chain, counter, &mut delta),
            Update::Chain { next, skipped } => {
                if let Some(r) = self.receiving.as_mut() {
                    let keys = skipped.keys();
                    self.skipped
                        .extend(&r.header_key, &r.ratchet_key, keys, &mut delta);
                    *r.chain = next;
                }
            }
            Update::Step(step) => self.step(step, &mut delta, rng)?,
        }
        Ok(delta)
    }

    fn step<R: CryptoRng + ?Sized>(
        &mut self,
        step: Step,
        delta: &mut SkippedDelta,
        rng: &mut R,
    ) -> Result<()> {
        let Step {
            root,
            previous,
            receiving,
            skipped,
            next_receive_header,
        } = step;
        let sending_key = KeyPair::generate(rng);
        let dh = sending_key.dh(&receiving.ratchet_key)?;
        let (root, sending_chain, next_send_header) = root.step(&dh)?;
        // The previous chain's keys up to `PN` are stored under its header key, the new
        // chain's under the new `HKr`.
        if let (Some(keys), Some(old)) = (previous, self.receiving.as_ref()) {
            self.skipped
                .extend(&old.header_key, &old.ratchet_key, keys.keys(), delta);
        }
        self.skipped.extend(
            &receiving.header_key,
            &receiving.ratchet_key,
            skipped.keys(),
            delta,
        );
        self.receiving = Some(receiving);
        let keys = &mut *self.keys;
        self.previous_counter = keys.sending_chain.as_ref().map_or(0, ChainKey::index);
        keys.root = root;
        keys.sending_key = sending_key;
        keys.sending_chain = Some(sending_chain);
        keys.send_header = Some(core::mem::replace(
            &mut keys.next_send_header,
            Box::new(next_send_header),
        ));
        keys.next_receive_header = next_receive_header;
        Ok(())
    }

    /// Number of skipped message keys currently stored.
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    /// The chains with stored skipped keys: `(number, how many keys)`.
    pub(crate) fn skipped_chains(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.skipped.chains().map(|c| (c.number, c.count))
    }
}

// ---- Serialization ------------------------------------------------------------------------

#[cfg(test)]
use crate::wire::proto;
use crate::wire::session_row::{ChainFields, RatchetState, SkippedChainFields};

const WHAT: &str = "session record";

impl Ratchet {
    /// Hand `f` the ratchet fields of a stored session, borrowed from this ratchet. Header
    /// keys are copied into their stored form here, and zeroized when `f` returns.
    pub(crate) fn with_fields<T>(&self, f: impl FnOnce(RatchetState<'_>) -> T) -> T {
        let keys = &*self.keys;
        let send_header = keys.send_header.as_ref().map(|k| k.to_stored());
        let next_send_header = keys.next_send_header.to_stored();
        let next_receive_header = keys.next_receive_header.to_stored();
        let receiving_header = self.receiving.as_ref().map(|c| c.header_key.to_stored());
        let skipped_headers: Vec<_> = self
            .skipped
            .chains()
            .map(|c| c.header_key.to_stored())
            .collect();
        let sending_chain = keys.sending_chain.as_ref();
        f(RatchetState {
            root_key: keys.root.as_bytes(),
            sending_chain: Some(ChainFields {
                ratchet_key: keys.sending_key.public().as_bytes(),
                chain_key: sending_chain.map_or(&[], |c| c.as_bytes()),
                index: sending_chain.map_or(0, ChainKey::index),
                ratchet_private: keys.sending_key.secret_bytes(),
                header_key: &[],
            }),
            previous_counter: self.previous_counter,
            receiving_chain: self.receiving.as_ref().map(|chain| ChainFields {
                ratchet_key: chain.ratchet_key.as_bytes(),
                chain_key: chain.chain.as_bytes(),
                index: chain.chain.index(),
                ratchet_private: &[],
                header_key: receiving_header.as_deref().map_or(&[], |k| k.as_slice()),
            }),
            skipped_chains: (self.skipped.chains().zip(&skipped_headers))
                .map(|(chain, header_key)| SkippedChainFields {
                    header_key: header_key.as_slice(),
                    ratchet_key: chain.ratchet_key.as_bytes(),
                    number: chain.number,
                    count: chain.count,
                })
                .collect(),
            send_header_key: send_header.as_deref().map_or(&[], |k| k.as_slice()),
            next_send_header_key: next_send_header.as_slice(),
            next_receive_header_key: next_receive_header.as_slice(),
            next_skipped_chain: self.skipped.next_number(),
        })
    }

    /// Write the ratchet fields of a stored session (the unit tests' shortcut).
    #[cfg(test)]
    pub(crate) fn write(&self, out: &mut proto::Session) {
        self.with_fields(|fields| fields.write_proto(out));
    }

    /// Read the ratchet fields of a session decoded by prost (the unit tests' shortcut).
    #[cfg(test)]
    pub(crate) fn read(session: &proto::Session) -> Result<Self> {
        Self::from_fields(&RatchetState::from_proto(session))
    }

    /// Read the ratchet fields of a stored session, whichever codec read them. Keys are
    /// borrowed from the stored bytes and copied once, to where they stay.
    pub(crate) fn from_fields(session: &RatchetState<'_>) -> Result<Self> {
        let sending = session
            .sending_chain
            .as_ref()
            .ok_or(Error::Malformed(WHAT))?;
        if !sending.header_key.is_empty() {
            return Err(Error::Malformed(WHAT));
        }
        let sending_key = KeyPair::from_stored(
            key(sending.ratchet_private)?,
            PublicKey::from_canonical(wire::array(sending.ratchet_key, WHAT)?)?,
        );
        let sending_chain = match sending.chain_key.is_empty() {
            true => None,
            false => Some(ChainKey::new(key(sending.chain_key)?, sending.index)),
        };
        let send_header = match session.send_header_key.is_empty() {
            true => None,
            false => Some(Box::new(header_key(session.send_header_key)?)),
        };
        if send_header.is_some() != sending_chain.is_some() {
            return Err(Error::Malformed(WHAT));
        }
        let receiving = session
            .receiving_chain
            .as_ref()
            .map(read_receiving)
            .transpose()?;
        Ok(Ratchet {
            keys: Box::new(Keys {
                root: RootKey::new(key(session.root_key)?),
                sending_key,
                sending_chain,
                send_header,
                next_send_header: Box::new(header_key(session.next_send_header_key)?),
                next_receive_header: Box::new(header_key(session.next_receive_header_key)?),
            }),
            previous_counter: session.previous_counter,
            receiving,
            skipped: read_skipped(&session.skipped_chains, session.next_skipped_chain)?,
        })
    }
}

/// A 32-byte key field of a stored session, borrowed rather than copied out.
fn key(field: &[u8]) -> Result<&[u8; 32]> {
    field.try_into().map_err(|_| Error::Malformed(WHAT))
}

/// A stored header key, `hk_enc || hk_nonce`.
fn header_key(field: &[u8]) -> Result<HeaderKey> {
    HeaderKey::from_stored(field.try_into().map_err(|_| Error::Malformed(WHAT))?)
}

fn read_receiving(chain: &ChainFields<'_>) -> Result<ReceivingChain> {
    if !chain.ratchet_private.is_empty() {
        return Err(Error::Malformed(WHAT));
    }
    Ok(ReceivingChain {
        ratchet_key: PublicKey::from_canonical(wire::array(chain.ratchet_key, WHAT)?)?,
        chain: ChainKey::boxed(key(chain.chain_key)?, chain.index),
        header_key: Box::new(header_key(chain.header_key)?),
    })
}

/// A stored ledger: within the limits, each chain holding at least one key under a number
/// below `next_number`, no number twice, and no two chains under the same header key and
/// ratchet key.
fn read_skipped(chains: &[SkippedChainFields<'_>], next_number: u64) -> Result<SkippedKeys> {
    let total: u64 = chains.iter().map(|c| u64::from(c.count)).sum();
    if chains.len() > MAX_SKIPPED_HEADER_KEYS || total > MAX_STORED_SKIPPED_KEYS as u64 {
        return Err(Error::Malformed(WHAT));
    }
    let mut read: std::collections::VecDeque<SkippedChain> = Default::default();
    for stored in chains {
        let chain = SkippedChain {
            number: stored.number,
            header_key: Box::new(header_key(stored.header_key)?),
            ratchet_key: PublicKey::from_canonical(wire::array(stored.ratchet_key, WHAT)?)?,
            count: stored.count,
        };
        let clash = read.iter().any(|c| {
            c.number == chain.number
                || (c.header_key.same_as(&chain.header_key) && c.ratchet_key == chain.ratchet_key)
        });
        if chain.count == 0 || chain.number >= next_number || clash {
            return Err(Error::Malformed(WHAT));
        }
        read.push_back(chain);
    }
    Ok(SkippedKeys::from_stored(read, next_number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::MAX_STORED_SKIPPED_KEYS;
    use chain_key::derivations;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    const AD: [u8; 64] = [3u8; 64];

    type Sent = ([u8; ENC_HEADER_LEN], Vec<u8>);

    fn pair() -> (Ratchet, Ratchet) {
        let mut rng = crate::os_rng();
        let spk = KeyPair::generate(&mut rng);
        let sk = [9u8; 32];
        let alice = Ratchet::initiator(&sk, spk.public(), &mut rng).unwrap();
        (alice, Ratchet::responder(&sk, spk).unwrap())
    }

    type Rows = BTreeMap<(usize, u64, u32), Box<MessageKey>>;

    thread_local! {
        /// The skipped-key rows of every ratchet of the running test, keyed by the address
        /// of its boxed keys (stable when the ratchet moves).
        static STORED: RefCell<Rows> = RefCell::default();
    }

    /// The rows of one ratchet.
    struct Stored(usize);

    impl SkippedKeySource for Stored {
        fn skipped_key(&self, chain: u64, counter: u32) -> Result<Option<Box<MessageKey>>> {
            let key = |rows: &Rows| {
                let key = rows.get(&(self.0, chain, counter));
                key.map(|k| MessageKey::boxed(k.as_bytes(), k.index()))
            };
            Ok(STORED.with(|rows| key(&rows.borrow())))
        }
    }

    fn owner(r: &Ratchet) -> usize {
        std::ptr::from_ref::<Keys>(&r.keys) as usize
    }

    /// Apply a delta to the rows, as a store would.
    fn apply(owner: usize, delta: SkippedDelta) {
        STORED.with(|rows| {
            let mut rows = rows.borrow_mut();
            for (chain, count) in delta.evicted {
                let oldest: Vec<_> = rows
                    .range((owner, chain, 0)..=(owner, chain, u32::MAX))
                    .take(count as usize)
                    .map(|(id, _)| *id)
                    .collect();
                oldest.iter().for_each(|id| drop(rows.remove(id)));
            }
            if let Some((chain, counter)) = delta.removed {
                assert!(rows.remove(&(owner, chain, counter)).is_some());
            }
            for (chain, keys) in delta.inserted {
                for key in keys {
                    let id = (owner, chain, key.index());
                    assert!(rows.insert(id, key).is_none(), "no row is written twice");
                }
            }
        });
    }

    fn stored_rows(r: &Ratchet) -> usize {
        let owner = owner(r);
        STORED.with(|rows| rows.borrow().keys().filter(|k| k.0 == owner).count())
    }

    /// `try_decrypt` of `enc_header || ct` into a new buffer.
    fn try_dec(
        r: &Ratchet,
        enc_header: &[u8; ENC_HEADER_LEN],
        ct: &[u8],
        stored: &dyn SkippedKeySource,
    ) -> Result<Option<(Vec<u8>, PendingUpdate)>> {
        let opened = r.try_decrypt(&AD, enc_header, &mut Body::Borrowed(ct), stored)?;
        Ok(opened.map(|(opened, update)| match opened {
            Opened::Owned(plaintext) => (plaintext.to_vec(), update),
            Opened::InPlace(..) => panic!("a borrowed body decrypts into a new buffer"),
        }))
    }

    fn decrypt(r: &mut Ratchet, (enc_header, ct): &Sent) -> Result<Vec<u8>> {
        let stored = Stored(owner(r));
        let (plaintext, update) =
            try_dec(r, enc_header, ct, &stored)?.ok_or(Error::DecryptionFailed)?;
        let delta = r.commit(update, &mut crate::os_rng())?;
        apply(owner(r), delta);
        assert_eq!(stored_rows(r), r.skipped_len(), "rows match the ledger");
        Ok(plaintext)
    }

    fn snapshot(r: &Ratchet) -> Vec<u8> {
        let mut out = proto::Session::default();
        r.write(&mut out);
        prost::Message::encode_to_vec(&out)
    }

    /// `enc_header` for `header` under the key that seals `r`'s next message.
    fn sealed_header(r: &Ratchet, header: &Header) -> [u8; ENC_HEADER_LEN] {
        let key = r.keys.send_header.as_ref().unwrap();
        key.seal(&AD, &header.to_bytes()).unwrap()
    }

    fn header_of(r: &Ratchet) -> Header {
        Header {
            ratchet_key: *r.keys.sending_key.public(),
            previous_counter: r.previous_counter,
            counter: r.keys.sending_chain.as_ref().unwrap().index(),
        }
    }

    #[test]
    fn messages_in_and_out_of_order_and_across_steps() {
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..5u8)
            .map(|i| alice.encrypt(&AD, &[i]).unwrap())
            .collect();
        for i in [3usize, 0, 4, 1, 2] {
            assert_eq!(decrypt(&mut bob, &sent[i]).unwrap(), [i as u8]);
        }
        for round in 0..6u8 {
            let r = bob.encrypt(&AD, &[round]).unwrap();
            let late = bob.encrypt(&AD, &[round, 1]).unwrap();
            assert_eq!(decrypt(&mut alice, &r).unwrap(), [round]);
            let m = alice.encrypt(&AD, &[round]).unwrap();
            assert_eq!(decrypt(&mut bob, &m).unwrap(), [round]);
            // A late message of Bob's previous chain, after Alice stepped on: a skipped key.
            let after = alice.encrypt(&AD, &[9]).unwrap();
            decrypt(&mut bob, &after).unwrap();
            assert_eq!(decrypt(&mut alice, &late).unwrap(), [round, 1]);
        }
    }

    #[test]
    fn a_message_twice_is_a_duplicate_not_a_failure() {
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..3u8)
            .map(|i| alice.encrypt(&AD, &[i]).unwrap())
            .collect();
        decrypt(&mut bob, &sent[2]).unwrap();
        decrypt(&mut bob, &sent[0]).unwrap();
        let before = snapshot(&bob);
        for m in [&sent[0], &sent[2]] {
            assert!(matches!(decrypt(&mut bob, m), Err(Error::DuplicateMessage)));
        }
        assert_eq!(snapshot(&bob), before);
        assert_eq!(decrypt(&mut bob, &sent[1]).unwrap(), [1]);
    }

    #[test]
    fn oldest_skipped_keys_are_evicted() {
        let (mut alice, mut bob) = pair();
        let n = MAX_STORED_SKIPPED_KEYS + 100;
        let sent: Vec<_> = (0..n)
            .map(|i| alice.encrypt(&AD, &i.to_be_bytes()).unwrap())
            .collect();
        decrypt(&mut bob, &sent[n - 1]).unwrap();
        assert_eq!(bob.skipped_len(), MAX_STORED_SKIPPED_KEYS);
        // Keys 0..=98 were evicted (a duplicate then); 99 is the oldest kept.
        assert!(matches!(
            decrypt(&mut bob, &sent[98]),
            Err(Error::DuplicateMessage)
        ));
        assert_eq!(decrypt(&mut bob, &sent[99]).unwrap(), 99usize.to_be_bytes());
        assert_eq!(bob.skipped_len(), MAX_STORED_SKIPPED_KEYS - 1);
    }

    #[test]
    fn at_most_five_header_keys_hold_skipped_keys() {
        let (mut alice, mut bob) = pair();
        let mut late = Vec::new();
        for round in 0..8u8 {
            // Alice skips one message on each of her chains.
            late.push(alice.encrypt(&AD, &[round, 0]).unwrap());
            let m = alice.encrypt(&AD, &[round, 1]).unwrap();
            assert_eq!(decrypt(&mut bob, &m).unwrap(), [round, 1]);
            let r = bob.encrypt(&AD, &[round]).unwrap();
            decrypt(&mut alice, &r).unwrap();
        }
        assert_eq!(bob.skipped.chains().count(), MAX_SKIPPED_HEADER_KEYS);
        // The oldest three chains' keys were evicted with their header keys: their late
        // messages no longer open any header (a forged message to Bob, as it were).
        for old in &late[..3] {
            assert!(
                try_dec(&bob, &old.0, &old.1, &Stored(owner(&bob)))
                    .unwrap()
                    .is_none()
            );
        }
        for (round, kept) in late.iter().enumerate().skip(3) {
            assert_eq!(decrypt(&mut bob, kept).unwrap(), [round as u8, 0]);
        }
    }

    #[test]
    fn forged_headers_derive_no_chain_key_and_change_nothing() {
        let (mut alice, mut bob) = pair();
        let first = alice.encrypt(&AD, b"0").unwrap();
        decrypt(&mut bob, &first).unwrap();
        alice.encrypt(&AD, b"skipped").unwrap();
        decrypt(&mut bob, &alice.encrypt(&AD, b"2").unwrap()).unwrap();
        let mut forged = first.0;
        forged[20] ^= 1;
        let mut truncated = first.1.clone();
        truncated.truncate(3);
        let other = pair().0.encrypt(&AD, b"x").unwrap();
        let before = snapshot(&bob);
        let derived = derivations::so_far();
        for (enc_header, ct) in [
            ([0x5A; ENC_HEADER_LEN], first.1.clone()),
            (forged, first.1.clone()),
            (other.0, other.1.clone()),
            (first.0, truncated),
        ] {
            let result = try_dec(&bob, &enc_header, &ct, &Stored(owner(&bob)));
            assert!(!matches!(result, Ok(Some(_))));
        }
        assert_eq!(derivations::so_far(), derived, "no chain key was derived");
        assert_eq!(snapshot(&bob), before);
    }

    #[test]
    fn a_header_whose_nonce_is_not_its_own_is_rejected_after_opening() {
        let (mut alice, mut bob) = pair();
        decrypt(&mut bob, &alice.encrypt(&AD, b"0").unwrap()).unwrap();
        let header = header_of(&alice);
        let key = alice.keys.send_header.as_ref().unwrap();
        let mut wrong_nonce = [7u8; 12];
        wrong_nonce[0] ^= 0x80;
        let sealed = crate::primitives::aead_seal(
            &key.to_stored()[..32].try_into().unwrap(),
            &wrong_nonce,
            &[&AD],
            &header.to_bytes(),
        )
        .unwrap();
        let mut enc_header = [0u8; ENC_HEADER_LEN];
        enc_header[..12].copy_from_slice(&wrong_nonce);
        enc_header[12..].copy_from_slice(&sealed);
        let (_, ct) = alice.encrypt(&AD, b"1").unwrap();
        assert!(matches!(
            try_dec(&bob, &enc_header, &ct, &Stored(owner(&bob))),
            Err(Error::DecryptionFailed)
        ));
    }

    #[test]
    fn small_order_and_non_canonical_ratchet_keys_are_rejected_after_opening() {
        let (mut alice, mut bob) = pair();
        decrypt(&mut bob, &alice.encrypt(&AD, b"0").unwrap()).unwrap();
        decrypt(&mut alice, &bob.encrypt(&AD, b"r").unwrap()).unwrap();
        let (_, ct) = alice.encrypt(&AD, b"1").unwrap();
        let before = snapshot(&bob);
        // Alice stepped on receiving Bob's reply: her sending header key is Bob's NHKr, and a
        // header under it makes Bob step with the ratchet key it carries.
        let next = alice.keys.send_header.as_ref().unwrap();
        let small_order = [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }];
        let mut non_canonical = [0xFFu8; 32];
        non_canonical[31] = 0x7F;
        for key in small_order.into_iter().chain([non_canonical, [0xFF; 32]]) {
            let mut header = header_of(&alice).to_bytes();
            header[1..33].copy_from_slice(&key);
            let enc = next.seal(&AD, &header).unwrap();
            let derived = derivations::so_far();
            assert!(matches!(
                try_dec(&bob, &enc, &ct, &Stored(owner(&bob))),
                Err(Error::DecryptionFailed)
            ));
            assert_eq!(
                derivations::so_far(),
                derived,
                "rejected before any chain key"
            );
        }
        assert_eq!(snapshot(&bob), before);
    }

    #[test]
    fn a_genuine_header_with_a_fresh_body_is_rejected_after_opening() {
        let (mut alice, mut bob) = pair();
        let first = alice.encrypt(&AD, b"0").unwrap();
        let (_, other_body) = alice.encrypt(&AD, b"1").unwrap();
        let before = snapshot(&bob);
        // The header opens (a DH step for Bob); the body under it does not authenticate.
        let swapped = try_dec(&bob, &first.0, &other_body, &Stored(owner(&bob)));
        assert!(matches!(swapped, Err(Error::DecryptionFailed)));
        assert_eq!(snapshot(&bob), before);
        decrypt(&mut bob, &first).unwrap();
        // Once its key was used, the header with any body is a duplicate.
        let replayed = try_dec(&bob, &first.0, &other_body, &Stored(owner(&bob)));
        assert!(matches!(replayed, Err(Error::DuplicateMessage)));
    }

    #[test]
    fn skip_limit_is_exact_and_checked_before_deriving() {
        let (mut alice, mut bob) = pair();
        let first = alice.encrypt(&AD, b"0").unwrap();
        decrypt(&mut bob, &first).unwrap();
        let (_, ct) = alice.encrypt(&AD, b"1").unwrap();
        // Genuine header keys, headers claiming too much, on the known chain.
        let mut far = header_of(&alice);
        far.counter = 1 + MAX_SKIP + 1;
        let far = sealed_header(&alice, &far);
        let before = snapshot(&bob);
        let derived = derivations::so_far();
        assert!(try_dec(&bob, &far, &ct, &Stored(owner(&bob))).is_err());
        assert_eq!(derivations::so_far(), derived);
        assert_eq!(snapshot(&bob), before);
        // After a step: N on the new chain, or PN on the chain before it.
        let reply = bob.encrypt(&AD, b"r").unwrap();
        decrypt(&mut alice, &reply).unwrap();
        let before = snapshot(&bob);
        for (pn, n) in [(2, MAX_SKIP + 1), (2 + MAX_SKIP + 1, 0)] {
            let mut header = header_of(&alice);
            (header.previous_counter, header.counter) = (pn, n);
            let enc = sealed_header(&alice, &header);
            let derived = derivations::so_far();
            assert!(try_dec(&bob, &enc, &ct, &Stored(owner(&bob))).is_err());
            assert_eq!(derivations::so_far(), derived);
        }
        assert_eq!(snapshot(&bob), before);
        // Exactly MAX_SKIP keys skipped is accepted.
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..=MAX_SKIP)
            .map(|_| alice.encrypt(&AD, b"x").unwrap())
            .collect();
        assert_eq!(decrypt(&mut bob, sent.last().unwrap()).unwrap(), b"x");
    }

    /// Where a key's bytes live; a move of the thing holding it must not change this.
    fn address(key: &[u8; 32]) -> *const [u8; 32] {
        std::ptr::from_ref(key)
    }

    #[test]
    fn moving_a_ratchet_moves_no_key_bytes() {
        let (mut alice, mut bob) = pair();
        decrypt(&mut bob, &alice.encrypt(&AD, b"a").unwrap()).unwrap();
        let root = address(bob.keys.root.as_bytes());
        let chain = address(bob.receiving.as_ref().unwrap().chain.as_bytes());
        let moved = vec![bob];
        assert_eq!(address(moved[0].keys.root.as_bytes()), root);
        let receiving = moved[0].receiving.as_ref().unwrap();
        assert_eq!(address(receiving.chain.as_bytes()), chain);
        // Encrypting updates the sending chain in place.
        let mut bob = moved.into_iter().next().unwrap();
        let sending = address(bob.keys.sending_chain.as_ref().unwrap().as_bytes());
        bob.encrypt(&AD, b"b").unwrap();
        let after = address(bob.keys.sending_chain.as_ref().unwrap().as_bytes());
        assert_eq!(after, sending);
    }

    #[test]
    fn using_a_skipped_key_removes_exactly_its_row() {
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..4u8)
            .map(|i| alice.encrypt(&AD, &[i]).unwrap())
            .collect();
        decrypt(&mut bob, &sent[3]).unwrap();
        assert_eq!(stored_rows(&bob), 3);
        let number = bob.skipped.chain(0).unwrap().number;
        let stored = Stored(owner(&bob));
        let (_, update) = try_dec(&bob, &sent[1].0, &sent[1].1, &stored)
            .unwrap()
            .unwrap();
        let delta = bob.commit(update, &mut crate::os_rng()).unwrap();
        assert_eq!(delta.removed, Some((number, 1)));
        assert!(delta.inserted.is_empty() && delta.evicted.is_empty());
        assert_eq!(bob.skipped_len(), 2);
    }

    #[test]
    fn failed_decryption_changes_nothing() {
        let (mut alice, mut bob) = pair();
        decrypt(&mut bob, &alice.encrypt(&AD, b"a").unwrap()).unwrap();
        let _skipped = alice.encrypt(&AD, b"b").unwrap();
        let (enc_header, mut ct) = alice.encrypt(&AD, b"c").unwrap();
        let before = snapshot(&bob);
        ct[0] ^= 1;
        assert!(matches!(
            try_dec(&bob, &enc_header, &ct, &Stored(owner(&bob))),
            Err(Error::DecryptionFailed)
        ));
        assert_eq!(snapshot(&bob), before);
    }

    #[test]
    fn a_record_round_trips_with_its_header_keys() {
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..3u8)
            .map(|i| alice.encrypt(&AD, &[i]).unwrap())
            .collect();
        decrypt(&mut bob, &sent[2]).unwrap();
        let mut out = proto::Session::default();
        bob.write(&mut out);
        let mut read = Ratchet::read(&out).unwrap();
        assert_eq!(snapshot(&read), snapshot(&bob));
        // The keys are rows of their own: the read ratchet finds bob's.
        let (from, to) = (owner(&bob), owner(&read));
        STORED.with(|rows| {
            let mut rows = rows.borrow_mut();
            let copies: Vec<_> = rows
                .iter()
                .filter(|(id, _)| id.0 == from)
                .map(|(id, k)| ((to, id.1, id.2), MessageKey::boxed(k.as_bytes(), k.index())))
                .collect();
            rows.extend(copies);
        });
        assert_eq!(decrypt(&mut read, &sent[0]).unwrap(), [0]);
    }
}
