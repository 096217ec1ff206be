//! The Double Ratchet (DESIGN.md "Double Ratchet").
//!
//! Decryption never mutates state before the message authenticated: [`Ratchet::try_decrypt`]
//! works on `&self` and returns the plaintext together with a [`PendingUpdate`], which
//! [`Ratchet::commit`] applies. A message that fails leaves the ratchet untouched.

mod chain_key;
mod header;
mod message_key;
mod receiving_chain;
mod root_key;
mod skipped_keys;

use rand_core::CryptoRng;

use crate::constants::{MAX_RECEIVING_CHAINS, MAX_SKIP};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};
use crate::wire::{self, proto};

pub(crate) use chain_key::ChainKey;
pub(crate) use header::Header;
pub(crate) use message_key::MessageKey;
use receiving_chain::{PendingSkip, ReceivingChain, advance_to, check_skip, skip_to};
pub(crate) use root_key::RootKey;
use skipped_keys::{SkippedKey, SkippedKeys};

/// The ratchet state of one session.
pub(crate) struct Ratchet {
    keys: Box<Keys>,
    previous_counter: u32,
    /// Oldest first, at most [`MAX_RECEIVING_CHAINS`].
    receiving: Vec<ReceivingChain>,
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
}

/// What a successful decryption changes, computed before anything is changed.
pub(crate) struct PendingUpdate(Update);

enum Update {
    /// A stored skipped key was used: remove it.
    Skipped(usize),
    /// Message on a known receiving chain.
    Chain {
        chain: usize,
        next: ChainKey,
        skipped: PendingSkip,
    },
    /// Message under a new ratchet key of the peer: a DH ratchet step.
    Step {
        root: RootKey,
        previous: Option<(ChainKey, PendingSkip)>,
        receiving: ReceivingChain,
        skipped: PendingSkip,
    },
}

impl Ratchet {
    /// Alice's initial state: `DHs` new, `(RK, CKs) = KDF_RK(SK, X25519(DHs, SPK_B))`.
    pub(crate) fn initiator<R: CryptoRng + ?Sized>(
        sk: &[u8; 32],
        their_signed_prekey: &PublicKey,
        rng: &mut R,
    ) -> Result<Self> {
        let sending_key = KeyPair::generate(rng);
        let dh = sending_key.dh(their_signed_prekey)?;
        let (root, chain) = RootKey::new(sk).step(&dh)?;
        Ok(Ratchet {
            keys: Box::new(Keys {
                root,
                sending_key,
                sending_chain: Some(chain),
            }),
            previous_counter: 0,
            receiving: Vec::with_capacity(MAX_RECEIVING_CHAINS + 1),
            skipped: SkippedKeys::default(),
        })
    }

    /// Bob's initial state: `DHs` = the signed prekey pair, `RK = SK`. It can only decrypt;
    /// its first decryption performs the DH ratchet step that creates a sending chain.
    pub(crate) fn responder(sk: &[u8; 32], signed_prekey: KeyPair) -> Self {
        Ratchet {
            keys: Box::new(Keys {
                root: RootKey::new(sk),
                sending_key: signed_prekey,
                sending_chain: None,
            }),
            previous_counter: 0,
            receiving: Vec::with_capacity(MAX_RECEIVING_CHAINS + 1),
            skipped: SkippedKeys::default(),
        }
    }

    /// Encrypt `plaintext`; returns the header it was sealed under and `ciphertext || tag`.
    pub(crate) fn encrypt(&mut self, ad: &[u8; 64], plaintext: &[u8]) -> Result<(Header, Vec<u8>)> {
        let chain = self.keys.sending_chain.as_ref().ok_or(Error::NoSession)?;
        let (message_key, next) = chain.step();
        let next = next.ok_or(Error::ChainExhausted)?;
        let header = Header {
            ratchet_key: *self.keys.sending_key.public(),
            previous_counter: self.previous_counter,
            counter: chain.index(),
        };
        let sealed = message_key.seal(ad, &header.to_bytes(), plaintext)?;
        self.keys.sending_chain = Some(next);
        Ok((header, sealed))
    }

    /// Decrypt without changing anything. Every failure is [`Error::DecryptionFailed`].
    pub(crate) fn try_decrypt(
        &self,
        ad: &[u8; 64],
        header: &Header,
        sealed: &[u8],
    ) -> Result<(Vec<u8>, PendingUpdate)> {
        self.find_and_open(ad, header, sealed)
            .map(|(plaintext, update)| (plaintext, PendingUpdate(update)))
            .map_err(|_| Error::DecryptionFailed)
    }

    fn find_and_open(
        &self,
        ad: &[u8; 64],
        header: &Header,
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Update)> {
        let header_bytes = header.to_bytes();
        if let Some(position) = self.skipped.find(&header.ratchet_key, header.counter) {
            let key = &self
                .skipped
                .get(position)
                .ok_or(Error::DecryptionFailed)?
                .key;
            let plaintext = key.open(ad, &header_bytes, sealed)?;
            return Ok((plaintext, Update::Skipped(position)));
        }
        let known = self
            .receiving
            .iter()
            .position(|c| c.ratchet_key == header.ratchet_key);
        match known {
            Some(chain) => self.open_on_chain(chain, ad, header, &header_bytes, sealed),
            None => self.open_after_step(ad, header, &header_bytes, sealed),
        }
    }

    fn open_on_chain(
        &self,
        chain: usize,
        ad: &[u8; 64],
        header: &Header,
        header_bytes: &[u8],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Update)> {
        let current = &self
            .receiving
            .get(chain)
            .ok_or(Error::DecryptionFailed)?
            .chain;
        check_skip(current, header.counter)?;
        let advance = advance_to(&header.ratchet_key, current, header.counter)?;
        let plaintext = advance.message_key.open(ad, header_bytes, sealed)?;
        let update = Update::Chain {
            chain,
            next: advance.next,
            skipped: advance.skipped,
        };
        Ok((plaintext, update))
    }

    fn open_after_step(
        &self,
        ad: &[u8; 64],
        header: &Header,
        header_bytes: &[u8],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Update)> {
        let last = self.receiving.last();
        // Both skips are bounded before any key is derived.
        if let Some(last) = last.filter(|c| header.previous_counter > c.chain.index()) {
            check_skip(&last.chain, header.previous_counter)?;
        }
        if header.counter > MAX_SKIP {
            return Err(Error::DecryptionFailed);
        }
        let previous = match last {
            Some(c) if header.previous_counter > c.chain.index() => {
                let (keys, at) = skip_to(&c.ratchet_key, &c.chain, header.previous_counter)?;
                Some((at, keys))
            }
            _ => None,
        };
        let dh = self.keys.sending_key.dh(&header.ratchet_key)?;
        let (root, chain) = self.keys.root.step(&dh)?;
        let advance = advance_to(&header.ratchet_key, &chain, header.counter)?;
        let plaintext = advance.message_key.open(ad, header_bytes, sealed)?;
        let receiving = ReceivingChain {
            ratchet_key: header.ratchet_key,
            chain: ChainKey::boxed(advance.next.as_bytes(), advance.next.index()),
        };
        let update = Update::Step {
            root,
            previous,
            receiving,
            skipped: advance.skipped,
        };
        Ok((plaintext, update))
    }

    /// Apply what [`Ratchet::try_decrypt`] computed. For a DH ratchet step this generates our
    /// next ratchet key pair; everything fallible happens before the state changes.
    pub(crate) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        update: PendingUpdate,
        rng: &mut R,
    ) -> Result<()> {
        match update.0 {
            Update::Skipped(position) => self.skipped.remove(position),
            Update::Chain {
                chain,
                next,
                skipped,
            } => {
                if let Some(c) = self.receiving.get_mut(chain) {
                    *c.chain = next;
                }
                self.skipped.extend(skipped.keys());
            }
            Update::Step {
                root,
                previous,
                receiving,
                skipped,
            } => self.step(root, previous, receiving, skipped, rng)?,
        }
        Ok(())
    }

    fn step<R: CryptoRng + ?Sized>(
        &mut self,
        root: RootKey,
        previous: Option<(ChainKey, PendingSkip)>,
        receiving: ReceivingChain,
        skipped: PendingSkip,
        rng: &mut R,
    ) -> Result<()> {
        let sending_key = KeyPair::generate(rng);
        let (root, sending_chain) = root.step(&*sending_key.dh(&receiving.ratchet_key)?)?;
        // Nothing below can fail.
        if let (Some((chain, keys)), Some(last)) = (previous, self.receiving.last_mut()) {
            *last.chain = chain;
            self.skipped.extend(keys.keys());
        }
        self.receiving.push(receiving);
        let excess = self.receiving.len().saturating_sub(MAX_RECEIVING_CHAINS);
        self.receiving.drain(..excess);
        self.skipped.extend(skipped.keys());
        let keys = &mut *self.keys;
        self.previous_counter = keys.sending_chain.as_ref().map_or(0, ChainKey::index);
        keys.root = root;
        keys.sending_key = sending_key;
        keys.sending_chain = Some(sending_chain);
        Ok(())
    }

    /// Number of skipped message keys currently stored.
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }
}

// ---- Serialization ------------------------------------------------------------------------

const WHAT: &str = "session record";

impl Ratchet {
    /// Write the ratchet fields of a stored session.
    pub(crate) fn write(&self, out: &mut proto::Session) {
        let keys = &*self.keys;
        out.root_key = keys.root.as_bytes().to_vec();
        out.sending_chain = Some(proto::Chain {
            ratchet_key: keys.sending_key.public().to_bytes().to_vec(),
            chain_key: keys
                .sending_chain
                .as_ref()
                .map_or_else(Vec::new, |c| c.as_bytes().to_vec()),
            index: keys.sending_chain.as_ref().map_or(0, ChainKey::index),
            ratchet_private: keys.sending_key.secret_bytes().to_vec(),
        });
        out.previous_counter = self.previous_counter;
        out.receiving_chains = self.receiving.iter().map(write_receiving).collect();
        out.skipped_keys = self.skipped.iter().map(write_skipped).collect();
    }

    /// Read the ratchet fields of a stored session. Keys are borrowed from the decoded
    /// message (which zeroizes its fields on drop) and copied once, to where they stay.
    pub(crate) fn read(session: &proto::Session) -> Result<Self> {
        let sending = session
            .sending_chain
            .as_ref()
            .ok_or(Error::Malformed(WHAT))?;
        let sending_key = KeyPair::from_stored(
            key(&sending.ratchet_private)?,
            PublicKey::from_canonical(wire::array(&sending.ratchet_key, WHAT)?)?,
        );
        let sending_chain = match sending.chain_key.is_empty() {
            true => None,
            false => Some(ChainKey::new(key(&sending.chain_key)?, sending.index)),
        };
        if session.receiving_chains.len() > MAX_RECEIVING_CHAINS
            || session.skipped_keys.len() > crate::constants::MAX_STORED_SKIPPED_KEYS
        {
            return Err(Error::Malformed(WHAT));
        }
        let mut receiving = Vec::with_capacity(MAX_RECEIVING_CHAINS + 1);
        for chain in &session.receiving_chains {
            receiving.push(read_receiving(chain)?);
        }
        let mut skipped = SkippedKeys::default();
        skipped.extend(
            session
                .skipped_keys
                .iter()
                .map(read_skipped)
                .collect::<Result<Vec<_>>>()?,
        );
        Ok(Ratchet {
            keys: Box::new(Keys {
                root: RootKey::new(key(&session.root_key)?),
                sending_key,
                sending_chain,
            }),
            previous_counter: session.previous_counter,
            receiving,
            skipped,
        })
    }
}

/// A 32-byte key field of a stored session, borrowed rather than copied out.
fn key(field: &[u8]) -> Result<&[u8; 32]> {
    field.try_into().map_err(|_| Error::Malformed(WHAT))
}

fn write_receiving(chain: &ReceivingChain) -> proto::Chain {
    proto::Chain {
        ratchet_key: chain.ratchet_key.to_bytes().to_vec(),
        chain_key: chain.chain.as_bytes().to_vec(),
        index: chain.chain.index(),
        ratchet_private: Vec::new(),
    }
}

fn read_receiving(chain: &proto::Chain) -> Result<ReceivingChain> {
    if !chain.ratchet_private.is_empty() {
        return Err(Error::Malformed(WHAT));
    }
    Ok(ReceivingChain {
        ratchet_key: PublicKey::from_canonical(wire::array(&chain.ratchet_key, WHAT)?)?,
        chain: ChainKey::boxed(key(&chain.chain_key)?, chain.index),
    })
}

fn write_skipped(skipped: &SkippedKey) -> proto::SkippedKey {
    proto::SkippedKey {
        ratchet_key: skipped.ratchet_key.to_bytes().to_vec(),
        counter: skipped.key.index(),
        message_key: skipped.key.as_bytes().to_vec(),
    }
}

fn read_skipped(skipped: &proto::SkippedKey) -> Result<SkippedKey> {
    Ok(SkippedKey {
        ratchet_key: PublicKey::from_canonical(wire::array(&skipped.ratchet_key, WHAT)?)?,
        key: MessageKey::boxed(key(&skipped.message_key)?, skipped.counter),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::MAX_STORED_SKIPPED_KEYS;

    const AD: [u8; 64] = [3u8; 64];

    fn pair() -> (Ratchet, Ratchet) {
        let mut rng = crate::os_rng();
        let spk = KeyPair::generate(&mut rng);
        let sk = [9u8; 32];
        let alice = Ratchet::initiator(&sk, spk.public(), &mut rng).unwrap();
        (alice, Ratchet::responder(&sk, spk))
    }

    fn decrypt(r: &mut Ratchet, (header, ct): &(Header, Vec<u8>)) -> Result<Vec<u8>> {
        let (plaintext, update) = r.try_decrypt(&AD, header, ct)?;
        r.commit(update, &mut crate::os_rng())?;
        Ok(plaintext)
    }

    fn snapshot(r: &Ratchet) -> Vec<u8> {
        let mut out = proto::Session::default();
        r.write(&mut out);
        prost::Message::encode_to_vec(&out)
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
        // Keys 0..=98 were evicted; 99 is the oldest kept.
        assert!(decrypt(&mut bob, &sent[98]).is_err());
        assert_eq!(decrypt(&mut bob, &sent[99]).unwrap(), 99usize.to_be_bytes());
        assert_eq!(bob.skipped_len(), MAX_STORED_SKIPPED_KEYS - 1);
    }

    #[test]
    fn at_most_five_receiving_chains_are_kept() {
        let (mut alice, mut bob) = pair();
        for round in 0..8u8 {
            let m = alice.encrypt(&AD, &[round]).unwrap();
            assert_eq!(decrypt(&mut bob, &m).unwrap(), [round]);
            let r = bob.encrypt(&AD, &[round]).unwrap();
            assert_eq!(decrypt(&mut alice, &r).unwrap(), [round]);
        }
        assert_eq!(bob.receiving.len(), MAX_RECEIVING_CHAINS);
        assert_eq!(alice.receiving.len(), MAX_RECEIVING_CHAINS);
    }

    #[test]
    fn skip_limit_is_exact_and_checked_before_deriving() {
        let (mut alice, mut bob) = pair();
        let first = alice.encrypt(&AD, b"0").unwrap();
        decrypt(&mut bob, &first).unwrap();
        let before = snapshot(&bob);
        // A forged header far ahead on the known chain: rejected without touching state.
        let forged = Header {
            counter: 1 + MAX_SKIP + 1,
            ..first.0
        };
        let started = std::time::Instant::now();
        assert!(bob.try_decrypt(&AD, &forged, &first.1).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(5));
        // A new ratchet key with N or PN beyond the limit: rejected too.
        let new_key = PublicKey::from([5u8; 32]);
        for (pn, n) in [(0, MAX_SKIP + 1), (1 + MAX_SKIP + 1, 0)] {
            let forged = Header {
                ratchet_key: new_key,
                previous_counter: pn,
                counter: n,
            };
            assert!(bob.try_decrypt(&AD, &forged, &first.1).is_err());
        }
        assert_eq!(snapshot(&bob), before);
        // Exactly MAX_SKIP keys skipped is accepted.
        let sent: Vec<_> = (0..=MAX_SKIP)
            .map(|_| alice.encrypt(&AD, b"x").unwrap())
            .collect();
        let last = sent.last().unwrap();
        assert_eq!(last.0.counter - 1, MAX_SKIP);
        assert_eq!(decrypt(&mut bob, last).unwrap(), b"x");
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
        let chain = address(bob.receiving[0].chain.as_bytes());
        let moved = vec![bob];
        assert_eq!(address(moved[0].keys.root.as_bytes()), root);
        assert_eq!(address(moved[0].receiving[0].chain.as_bytes()), chain);
        // Encrypting updates the sending chain in place.
        let mut bob = moved.into_iter().next().unwrap();
        let sending = address(bob.keys.sending_chain.as_ref().unwrap().as_bytes());
        bob.encrypt(&AD, b"b").unwrap();
        let after = address(bob.keys.sending_chain.as_ref().unwrap().as_bytes());
        assert_eq!(after, sending);
    }

    #[test]
    fn receiving_chains_never_reallocate_and_keys_stay_put() {
        let (mut alice, mut bob) = pair();
        let buffer = bob.receiving.as_ptr();
        let mut addresses = Vec::new();
        for round in 0..8u8 {
            decrypt(&mut bob, &alice.encrypt(&AD, &[round]).unwrap()).unwrap();
            decrypt(&mut alice, &bob.encrypt(&AD, &[round]).unwrap()).unwrap();
            addresses.push(address(bob.receiving.last().unwrap().chain.as_bytes()));
        }
        assert_eq!(bob.receiving.as_ptr(), buffer);
        // The oldest chains were evicted and the rest shifted; the keys did not move.
        let kept: Vec<_> = bob
            .receiving
            .iter()
            .map(|c| address(c.chain.as_bytes()))
            .collect();
        assert_eq!(kept, addresses[8 - MAX_RECEIVING_CHAINS..]);
        let read = Ratchet::read(&{
            let mut out = proto::Session::default();
            bob.write(&mut out);
            out
        })
        .unwrap();
        assert!(read.receiving.capacity() > MAX_RECEIVING_CHAINS);
    }

    #[test]
    fn skipped_keys_stay_put_when_others_are_removed() {
        let (mut alice, mut bob) = pair();
        let sent: Vec<_> = (0..4u8)
            .map(|i| alice.encrypt(&AD, &[i]).unwrap())
            .collect();
        decrypt(&mut bob, &sent[3]).unwrap();
        let last = address(bob.skipped.get(2).unwrap().key.as_bytes());
        decrypt(&mut bob, &sent[0]).unwrap();
        assert_eq!(address(bob.skipped.get(1).unwrap().key.as_bytes()), last);
        assert_eq!(bob.skipped.get(1).unwrap().key.index(), 2);
    }

    #[test]
    fn failed_decryption_changes_nothing() {
        let (mut alice, mut bob) = pair();
        decrypt(&mut bob, &alice.encrypt(&AD, b"a").unwrap()).unwrap();
        let _skipped = alice.encrypt(&AD, b"b").unwrap();
        let (header, mut ct) = alice.encrypt(&AD, b"c").unwrap();
        let before = snapshot(&bob);
        ct[0] ^= 1;
        assert!(matches!(
            bob.try_decrypt(&AD, &header, &ct),
            Err(Error::DecryptionFailed)
        ));
        assert_eq!(snapshot(&bob), before);
    }
}
