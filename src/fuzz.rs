//! Entry points of the session-side fuzz targets in `fuzz/` (each target is one line calling
//! one of these), also replayed over the committed seed corpus by this module's test.
//!
//! Each entry point must never panic on any input. Their `assert!`s are the fuzz oracles: each
//! states an invariant of the library (canonical encodings round-trip, a failed decryption
//! changes nothing, only authentic messages decrypt, ...) and fires only when it is violated.
//!
//! The sessions are built once per process from fixed seeds and a seeded RNG, so every run
//! (and every reproducer) sees the same keys.

mod group;
mod link;

pub use group::fuzz_sender_key;
pub use link::{fuzz_link_companion, fuzz_link_messages, fuzz_link_primary};

use std::convert::Infallible;
use std::sync::OnceLock;

use rand_core::{TryCryptoRng, TryRng};

use crate::Timestamp;
use crate::account::{
    AccountKey, AccountKeyPair, PhoneNumber, PreKeyPolicy, PreKeyState, PreKeyUpkeep, SafetyNumber,
    SignedDeviceList, Verification,
};
use crate::constants::{SAFETY_QR_LEN, SAFETY_QR_VERSION};
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKeyPair, KemPreKey, OneTimePreKey, OneTimePreKeyId, PreKeyBundle, SignedPreKey,
};
use crate::session::{Message, PreKeyIds, Session, SessionRecord};
use crate::store::ops::local_identity;
use crate::store::{Address, MemoryStore, prekeys};

/// Most operations one `two_party` input runs, so that each input stays fast.
const MAX_OPS: usize = 64;

/// A deterministic RNG (SplitMix64) seeded with a constant.
///
/// **For fuzzing and tests only**: its output is predictable, so a key generated with it is
/// no secret. It exists so that fuzz runs and their reproducers are deterministic.
struct FuzzRng(u64);

impl FuzzRng {
    fn new(seed: u64) -> Self {
        FuzzRng(seed)
    }

    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl TryRng for FuzzRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        Ok((self.step() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        Ok(self.step())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            for (d, s) in chunk.iter_mut().zip(self.step().to_le_bytes()) {
                *d = s;
            }
        }
        Ok(())
    }
}

/// Not cryptographically secure: see the type's docs (fuzzing and tests only).
impl TryCryptoRng for FuzzRng {}

fn alice_addr() -> Address {
    Address::new("alice", 1)
}

fn bob_addr() -> Address {
    Address::new("bob", 1)
}

/// The parties every session target starts from, as serialized stores, and the messages that
/// were produced while building them.
struct Fixture {
    /// Bob before any session: signed prekey 1, one-time prekeys 1 and 2, KEM prekeys 1
    /// (one-time) and 1000 (last resort).
    bob_fresh: Vec<u8>,
    /// Alice right after starting a session from Bob's bundle (one-time prekey 1, KEM 1).
    alice_started: Vec<u8>,
    /// Bob with an established session with Alice: he got `a0`, replied, and then got `a3`
    /// only (so `a1`, `a2` are skipped keys).
    bob_established: Vec<u8>,
    /// Alice's messages `a0`..`a4` of the established session (`a0` a PreKey message, `a4`
    /// sent after Bob received `a3`).
    alice_messages: Vec<Vec<u8>>,
    /// PreKey messages of three other sessions Alice started with Bob's fresh bundles: with
    /// one-time prekey 2 and KEM 1000, without one-time prekey and KEM 1000, and with
    /// one-time prekey 1 and KEM 1 (like `a0`, but another session: its own base key).
    prekey_messages: Vec<Vec<u8>>,
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| build_fixture().ok()).as_ref()
}

fn fresh_bob(rng: &mut FuzzRng) -> MemoryStore {
    let identity = IdentityKeyPair::from_seed(&[0xB0; 32]);
    let signed = SignedPreKey::generate(1, &identity, rng);
    let kem = KemPreKey::generate(1, &identity, rng);
    let last_resort = KemPreKey::generate_last_resort(1000, &identity, rng);
    let mut bob = MemoryStore::new(identity);
    bob.add_signed_prekey(signed);
    bob.add_one_time_prekeys(OneTimePreKey::generate_batch(1, 2, rng));
    bob.add_kem_prekeys([kem, last_resort]);
    bob
}

/// Bob's bundle (device 1) of signed prekey 1, one-time prekey `one_time` if given and KEM
/// prekey `kem`.
fn bob_bundle(bob: &MemoryStore, one_time: Option<u32>, kem: u32) -> Result<PreKeyBundle> {
    let ids = PreKeyIds {
        signed: 1.into(),
        one_time: one_time.map(OneTimePreKeyId::new),
        kem: kem.into(),
    };
    prekeys::bundle(bob, &local_identity(bob)?, 1.into(), ids)
}

fn fresh_alice() -> MemoryStore {
    MemoryStore::new(IdentityKeyPair::from_seed(&[0xA1; 32]))
}

/// Alice starts a session with Bob's bundle and sends one message: its bytes.
fn prekey_message(
    bob: &MemoryStore,
    one_time: Option<u32>,
    kem: u32,
    rng: &mut FuzzRng,
) -> Result<Vec<u8>> {
    let mut alice = fresh_alice();
    let bundle = PreKeyBundle::try_from(bob_bundle(bob, one_time, kem)?.to_bytes().as_slice())?;
    crate::start_session(&mut alice, &bob_addr(), &bundle.verify()?, rng)?;
    Ok(crate::encrypt(&mut alice, &bob_addr(), b"another session")?.to_bytes())
}

fn build_fixture() -> Result<Fixture> {
    let rng = &mut FuzzRng::new(0x6b65_796c_696e_6b00);
    let mut bob = fresh_bob(rng);
    let bob_fresh = bob.to_bytes().to_vec();
    let prekey_messages = vec![
        prekey_message(&bob, Some(2), 1000, rng)?,
        prekey_message(&bob, None, 1000, rng)?,
        prekey_message(&bob, Some(1), 1, rng)?,
    ];
    let mut alice = fresh_alice();
    let bundle = bob_bundle(&bob, Some(1), 1)?.verify()?;
    crate::start_session(&mut alice, &bob_addr(), &bundle, rng)?;
    let alice_started = alice.to_bytes().to_vec();
    let (alice_addr, bob_addr) = (alice_addr(), bob_addr());
    let a0 = crate::encrypt(&mut alice, &bob_addr, b"a0")?.to_bytes();
    crate::decrypt(&mut bob, &alice_addr, &a0, rng)?;
    let b0 = crate::encrypt(&mut bob, &alice_addr, b"b0")?.to_bytes();
    crate::decrypt(&mut alice, &bob_addr, &b0, rng)?;
    let mut alice_messages = vec![a0];
    for text in [b"a1", b"a2", b"a3"] {
        alice_messages.push(crate::encrypt(&mut alice, &bob_addr, text)?.to_bytes());
    }
    if let Some(a3) = alice_messages.last() {
        crate::decrypt(&mut bob, &alice_addr, a3, rng)?;
    }
    alice_messages.push(crate::encrypt(&mut alice, &bob_addr, b"a4")?.to_bytes());
    Ok(Fixture {
        bob_fresh,
        alice_started,
        bob_established: bob.to_bytes().to_vec(),
        alice_messages,
        prekey_messages,
    })
}

/// Parses a message; a parsed message must serialize back to the same bytes (canonical
/// encoding, docs/PROTOCOL.md §3).
#[doc(hidden)]
pub fn fuzz_wire_message(data: &[u8]) {
    if let Ok(message) = Message::try_from(data) {
        assert!(message.to_bytes() == data, "message does not round-trip");
        assert!(message.is_prekey() == (data.first() == Some(&0x12)));
    }
}

/// Parses a prekey bundle and checks its signatures; a parsed bundle must serialize back to
/// the same bytes.
#[doc(hidden)]
pub fn fuzz_wire_bundle(data: &[u8]) {
    if let Ok(bundle) = PreKeyBundle::try_from(data) {
        assert!(bundle.to_bytes() == data, "bundle does not round-trip");
        let _ = bundle.verify();
    }
}

/// Parses the input as every kind of stored record (the leading byte selects at most one);
/// a parsed record must serialize back to the same bytes.
#[doc(hidden)]
pub fn fuzz_records(data: &[u8]) {
    session_codecs_agree(data);
    sealed_value_round_trips(data);
    if let Ok(record) = SessionRecord::from_bytes(data) {
        assert!(
            *record.to_bytes() == data,
            "session record does not round-trip"
        );
    }
    if let Ok(identity) = IdentityKeyPair::from_bytes(data) {
        assert!(*identity.to_bytes() == data, "identity does not round-trip");
    }
    if let Ok(key) = SignedPreKey::from_bytes(data) {
        assert!(*key.to_bytes() == data, "signed prekey does not round-trip");
    }
    if let Ok(key) = OneTimePreKey::from_bytes(data) {
        assert!(
            *key.to_bytes() == data,
            "one-time prekey does not round-trip"
        );
    }
    if let Ok(key) = KemPreKey::from_bytes(data) {
        assert!(*key.to_bytes() == data, "KEM prekey does not round-trip");
    }
    if let Ok(store) = MemoryStore::from_bytes(data) {
        assert!(
            *store.to_bytes() == data,
            "memory store does not round-trip"
        );
    }
}

/// Parses the input as a session row with the hand codec and with prost's strict decoding
/// (differential): both accept exactly the same rows, which round-trip, and reject the rest
/// with the same error.
fn session_codecs_agree(data: &[u8]) {
    let (ours, prost) = (
        Session::from_bytes(data),
        Session::from_bytes_via_prost(data),
    );
    assert!(ours.is_ok() == prost.is_ok(), "the session codecs disagree");
    match (ours, prost) {
        (Ok(ours), Ok(prost)) => {
            assert!(*ours.to_bytes() == data, "session row does not round-trip");
            assert!(
                prost.to_bytes() == ours.to_bytes(),
                "the session codecs differ"
            );
        }
        (Err(ours), Err(prost)) => assert!(
            format!("{ours:?}") == format!("{prost:?}"),
            "the session codecs reject differently"
        ),
        _ => {}
    }
}

/// A sealed value opens only to what sealing it again with its own salt gives back.
fn sealed_value_round_trips(data: &[u8]) {
    use crate::store::at_rest::{Row, SALT_LEN, Sealer, StorageKey};
    let sealer = Sealer::new(&StorageKey::from_bytes([0x5E; 32]));
    let row = Row {
        table: "fuzz",
        row_key: b"row",
        schema_version: 1,
    };
    if let Ok(plaintext) = sealer.open(&row, data) {
        let salt = data
            .get(1..=SALT_LEN)
            .and_then(|s| <[u8; SALT_LEN]>::try_from(s).ok());
        let again = salt.and_then(|salt| sealer.seal_with_salt(&row, &plaintext, &salt).ok());
        assert!(
            again.as_deref() == Some(data),
            "a sealed value does not round-trip"
        );
    }
}

/// Delivers `data` to a copy of `receiver` (from Alice) and checks the oracles of
/// [`fuzz_decrypt`]: a failure changes nothing; only an `authentic` message decrypts, and
/// then only once.
fn deliver_once(f: &Fixture, receiver: &[u8], data: &[u8]) {
    let Ok(mut store) = MemoryStore::from_bytes(receiver) else {
        return;
    };
    let rng = &mut FuzzRng::new(1);
    let result = crate::decrypt(&mut store, &alice_addr(), data, rng);
    same_in_place(receiver, data, &result, &store);
    match result {
        Err(_) => assert!(*store.to_bytes() == receiver, "a failure changed the store"),
        Ok(_) => {
            let mut authentic = f.alice_messages.iter().chain(&f.prekey_messages);
            let known = authentic.any(|m| m.as_slice() == data);
            assert!(known, "bytes Alice never sent decrypted");
            let before = store.to_bytes();
            let again = crate::decrypt(&mut store, &alice_addr(), data, rng);
            assert!(again.is_err(), "a message decrypted twice");
            assert!(store.to_bytes() == before, "a failure changed the store");
        }
    }
}

/// `decrypt_in_place` of `data` on another copy of `receiver` does what `decrypt` did: the
/// same plaintext and the same store afterwards, or a failure with the buffer and the store
/// unchanged.
fn same_in_place(receiver: &[u8], data: &[u8], copying: &Result<Vec<u8>>, after: &MemoryStore) {
    let Ok(mut store) = MemoryStore::from_bytes(receiver) else {
        return;
    };
    let mut buffer = data.to_vec();
    let rng = &mut FuzzRng::new(1);
    let in_place = crate::decrypt_in_place(&mut store, &alice_addr(), &mut buffer, rng);
    let agree = in_place.is_ok() == copying.is_ok();
    assert!(agree, "decrypt and decrypt_in_place disagree");
    match (in_place, copying) {
        (Ok(plaintext), Ok(expected)) => {
            assert!(
                plaintext == expected.as_slice(),
                "in place, another plaintext"
            );
            assert!(
                store.to_bytes() == after.to_bytes(),
                "in place, another store"
            );
        }
        _ => {
            assert!(buffer == data, "a failure in place changed the buffer");
            assert!(
                *store.to_bytes() == receiver,
                "a failure in place changed the store"
            );
        }
    }
}

/// Delivers the input as a message from Alice to Bob, who has an established session with
/// her (and still has prekeys for new ones). If decryption fails, Bob's store is unchanged;
/// if it succeeds, the input is one of the messages Alice sent, and it does not decrypt again.
#[doc(hidden)]
pub fn fuzz_decrypt(data: &[u8]) {
    if let Some(f) = fixture() {
        deliver_once(f, &f.bob_established, data);
    }
}

/// Delivers the input as a PreKey message from Alice to Bob, who has no session yet but
/// signed, one-time and KEM prekeys. Same oracles as [`fuzz_decrypt`].
#[doc(hidden)]
pub fn fuzz_responder(data: &[u8]) {
    if let Some(f) = fixture() {
        deliver_once(f, &f.bob_fresh, data);
    }
}

/// The bytes of a `two_party` input, read one at a time (zeros past the end).
struct Ops<'a>(core::slice::Iter<'a, u8>);

impl Ops<'_> {
    fn byte(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    fn index(&mut self, len: usize) -> Option<usize> {
        let i = usize::from(self.byte());
        (len > 0).then(|| i % len)
    }
}

/// A message on its way: to whom, what it says, its bytes, whether it was delivered.
struct InFlight {
    to: usize,
    plaintext: Vec<u8>,
    bytes: Vec<u8>,
    delivered: bool,
}

/// One party: its store and the address of its peer.
struct Party {
    store: MemoryStore,
    peer: Address,
}

/// Alice (0) and Bob (1), the messages between them, and the RNG of their decryptions.
struct World {
    parties: [Party; 2],
    flight: Vec<InFlight>,
    rng: FuzzRng,
}

impl World {
    fn new(f: &Fixture) -> Option<Self> {
        let alice = MemoryStore::from_bytes(&f.alice_started).ok()?;
        let bob = MemoryStore::from_bytes(&f.bob_fresh).ok()?;
        Some(World {
            parties: [
                Party {
                    store: alice,
                    peer: bob_addr(),
                },
                Party {
                    store: bob,
                    peer: alice_addr(),
                },
            ],
            flight: Vec::new(),
            rng: FuzzRng::new(2),
        })
    }

    /// Party `from` encrypts a new, distinct plaintext (Bob cannot before he has a session).
    fn send(&mut self, from: usize, len: u8) {
        let Some(party) = self.parties.get_mut(from) else {
            return;
        };
        let mut plaintext = (self.flight.len() as u32).to_be_bytes().to_vec();
        plaintext.resize(4 + usize::from(len % 64), b'a' + from as u8);
        if let Ok(message) = crate::encrypt(&mut party.store, &party.peer, &plaintext) {
            self.flight.push(InFlight {
                to: 1 - from,
                plaintext,
                bytes: message.to_bytes(),
                delivered: false,
            });
        }
    }

    /// Delivers message `i`, or a copy of it with byte `tamper.0` xored with `tamper.1`. The
    /// first untampered delivery decrypts to the plaintext; any other fails and changes
    /// nothing.
    fn deliver(&mut self, i: usize, tamper: Option<(usize, u8)>) {
        let Some(msg) = self.flight.get_mut(i) else {
            return;
        };
        let Some(party) = self.parties.get_mut(msg.to) else {
            return;
        };
        let mut bytes = msg.bytes.clone();
        if let Some((j, mask)) = tamper
            && let Some(b) = bytes.get_mut(j % msg.bytes.len().max(1))
        {
            *b ^= mask.max(1);
        }
        let tampered = bytes != msg.bytes;
        let before = party.store.to_bytes();
        let result = crate::decrypt(&mut party.store, &party.peer, &bytes, &mut self.rng);
        if !tampered && !msg.delivered {
            let ok = result.as_ref().is_ok_and(|p| *p == msg.plaintext);
            assert!(ok, "a first delivery did not decrypt to its plaintext");
            msg.delivered = true;
        } else {
            assert!(result.is_err(), "a duplicate or tampered message decrypted");
            assert!(
                party.store.to_bytes() == before,
                "a failure changed the store"
            );
        }
    }

    /// Restarts `party` from its serialized store, which must serialize the same again.
    fn restart(&mut self, party: usize) {
        let Some(party) = self.parties.get_mut(party) else {
            return;
        };
        let bytes = party.store.to_bytes();
        let restored = MemoryStore::from_bytes(&bytes);
        assert!(
            restored.as_ref().is_ok_and(|s| s.to_bytes() == bytes),
            "a store did not survive a restart"
        );
        if let Ok(store) = restored {
            party.store = store;
        }
    }

    fn run(&mut self, op: u8, ops: &mut Ops<'_>) {
        let len = self.flight.len();
        match op % 7 {
            0 | 1 => self.send(usize::from(op % 7), ops.byte()),
            2 => {
                if let Some(i) = ops.index(len) {
                    self.deliver(i, None);
                }
            }
            3 => {
                let i = ops.index(len);
                let j = usize::from(u16::from_le_bytes([ops.byte(), ops.byte()]));
                let mask = ops.byte();
                if let Some(i) = i {
                    self.deliver(i, Some((j, mask)));
                }
            }
            4 => {
                if let Some(i) = ops.index(len) {
                    self.flight.remove(i);
                }
            }
            5 => {
                if let Some(i) = ops.index(len) {
                    self.deliver(i, None);
                    self.deliver(i, None);
                }
            }
            _ => self.restart(usize::from(ops.byte() & 1)),
        }
    }
}

/// Alice (who has just started a session from Bob's bundle) and Bob exchange messages under
/// a schedule the input decodes to: at most [`MAX_OPS`] operations, each one byte (mod 7)
/// followed by its arguments: 0 Alice sends, 1 Bob sends (length byte); 2 deliver message `i`;
/// 3 deliver a copy of `i` with byte `j` (u16 LE) xored with a mask; 4 drop `i`; 5 deliver `i`
/// twice; 6 restart a party (low bit) from its serialized store.
///
/// Oracles: every untampered first delivery decrypts to its plaintext; duplicates and
/// tampered copies fail; failures leave the store bytes unchanged.
#[doc(hidden)]
pub fn fuzz_two_party(data: &[u8]) {
    let Some(mut world) = fixture().and_then(World::new) else {
        return;
    };
    let mut ops = Ops(data.iter());
    for _ in 0..MAX_OPS {
        let Some(&op) = ops.0.next() else {
            return;
        };
        world.run(op, &mut ops);
    }
}

/// Parse arbitrary text as a phone number: never a panic; what parses is E.164 (`+`, 7 to 15
/// ASCII digits, the first not `0`) and parses again to itself.
pub fn fuzz_phone_number(data: &[u8]) {
    use crate::account::PhoneNumber;

    let typed = String::from_utf8_lossy(data);
    if let Ok(number) = PhoneNumber::parse(&typed) {
        let e164 = number.as_str();
        let digits = e164.strip_prefix('+').unwrap_or_default();
        assert!((7..=15).contains(&digits.len()), "{e164}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{e164}");
        assert!(!digits.starts_with('0'), "{e164}");
        assert!(PhoneNumber::parse(e164).as_ref() == Ok(&number), "{e164}");
    }
}

/// Parse arbitrary text as a typed linking code: never a panic; what parses shows as
/// `XXXX-XXXX` in the alphabet, parses again to itself, and has the check symbol of
/// PROTOCOL.md §12.1.
pub fn fuzz_linking_code(data: &[u8]) {
    use crate::constants::{CODE_ALPHABET, LINK_CODE_DATA};
    use crate::link::LinkingCode;

    let typed = String::from_utf8_lossy(data);
    let Ok(code) = LinkingCode::parse(&typed) else {
        return;
    };
    let shown = code.to_string();
    let symbols: Vec<u8> = shown.bytes().filter(|&b| b != b'-').collect();
    assert!(
        shown.len() == 9 && shown.as_bytes().get(4) == Some(&b'-'),
        "{shown}"
    );
    let values: Vec<u32> = symbols
        .iter()
        .filter_map(|s| CODE_ALPHABET.iter().position(|a| a == s))
        .filter_map(|v| u32::try_from(v).ok())
        .collect();
    assert!(values.len() == 8, "{shown}");
    let check = (1u32..)
        .step_by(2)
        .zip(&values)
        .take(LINK_CODE_DATA)
        .map(|(w, v)| w * v)
        .sum::<u32>()
        % 32;
    assert!(values.last() == Some(&check), "{shown}");
    assert!(code.prs().as_slice() == symbols.get(..LINK_CODE_DATA).unwrap_or_default());
    assert!(LinkingCode::parse(&shown).as_ref() == Ok(&code), "{shown}");
}

/// Read arbitrary bytes as a linking QR payload: never a panic; the outcome is the one
/// PROTOCOL.md §12.1 gives (unknown version for a first byte other than `0x01`, whatever the
/// length; malformed for empty input or a length other than 65; else accepted exactly when
/// the key is canonical, on curve25519 and not of small order), and what is accepted
/// serializes back to the input.
pub fn fuzz_linking_qr(data: &[u8]) {
    use crate::constants::{LINK_QR_LEN, LINK_QR_VERSION};
    use crate::link::LinkingQr;

    let parsed = LinkingQr::parse(data);
    let outcome = match &parsed {
        Ok(_) => "ok",
        Err(Error::Malformed(_)) => "malformed",
        Err(Error::UnknownVersion { found, .. }) if data.first() == Some(found) => {
            "unknown version"
        }
        Err(Error::InvalidKey(_)) => "invalid key",
        Err(_) => "another error",
    };
    let expected = match data.first() {
        None => "malformed",
        Some(&version) if version != LINK_QR_VERSION => "unknown version",
        Some(_) if data.len() != LINK_QR_LEN => "malformed",
        Some(_) if outcome == "invalid key" => "invalid key",
        Some(_) => "ok",
    };
    assert!(outcome == expected, "{outcome}, expected {expected}");
    if let Ok(qr) = parsed {
        assert!(
            qr.to_bytes().as_slice() == data,
            "the payload does not round-trip"
        );
    }
}

/// One conversation for `safety_qr`, computed once: Alice's safety number and the QR payload
/// Bob's screen shows for it.
struct SafetyFixture {
    alice: SafetyNumber,
    bob_payload: [u8; SAFETY_QR_LEN],
    bob_phone: PhoneNumber,
    bob_key: AccountKey,
}

fn safety_fixture() -> Option<&'static SafetyFixture> {
    static FIXTURE: OnceLock<Option<SafetyFixture>> = OnceLock::new();
    FIXTURE.get_or_init(build_safety_fixture).as_ref()
}

fn build_safety_fixture() -> Option<SafetyFixture> {
    let rng = &mut FuzzRng::new(0xACC0);
    let (alice, bob) = (AccountKeyPair::generate(rng), AccountKeyPair::generate(rng));
    let alice_phone = PhoneNumber::parse("+14155550100").ok()?;
    let bob_phone = PhoneNumber::parse("+447700900123").ok()?;
    let at_bob = SafetyNumber::new(&bob_phone, bob.public(), &alice_phone, alice.public());
    Some(SafetyFixture {
        alice: SafetyNumber::new(&alice_phone, alice.public(), &bob_phone, bob.public()),
        bob_payload: at_bob.qr_payload(),
        bob_phone,
        bob_key: *bob.public(),
    })
}

/// Alice scans arbitrary bytes as Bob's QR code: never a panic; the outcome is exactly the one
/// docs/PROTOCOL.md §11.3 gives (unknown version for a first byte other than `0x01`, whatever
/// the length; malformed for empty input or a length other than 65; a match for Bob's payload
/// and for nothing else).
pub fn fuzz_safety_qr(data: &[u8]) {
    let Some(f) = safety_fixture() else {
        return;
    };
    let expected = match data.first() {
        None => "malformed",
        Some(&version) if version != SAFETY_QR_VERSION => "unknown version",
        Some(_) if data.len() != SAFETY_QR_LEN => "malformed",
        Some(_) if data == f.bob_payload => "match",
        Some(_) => "mismatch",
    };
    let outcome = match f.alice.verify_scanned(data) {
        Ok(Verification::Match) => "match",
        Ok(Verification::Mismatch) => "mismatch",
        Err(Error::Malformed(_)) => "malformed",
        Err(Error::UnknownVersion { found, .. }) if data.first() == Some(&found) => {
            "unknown version"
        }
        Err(_) => "another error",
    };
    assert!(outcome == expected, "{outcome}, expected {expected}");
    assert!(
        f.alice.verify_scanned(&f.bob_payload).ok() == Some(Verification::Match),
        "the peer's own payload does not match"
    );
}

/// Parses an account key record: never a panic; only `Malformed` or `UnknownVersion` (for a
/// leading byte of another version) is refused, and what parses serializes to the same bytes.
pub fn fuzz_account_record(data: &[u8]) {
    match AccountKeyPair::from_bytes(data) {
        Ok(account) => assert!(
            *account.to_bytes() == data,
            "account key record does not round-trip"
        ),
        Err(Error::UnknownVersion { found, .. }) => assert!(
            data.first().map(|b| b >> 4) == Some(found) && found != 1,
            "unknown version {found}"
        ),
        Err(e) => assert!(
            matches!(e, Error::Malformed(_)),
            "account key record: {e:?}"
        ),
    }
}

/// Parses a device list and verifies it for a fixed number: never a panic; what parses
/// serializes to the same bytes; only the errors a bad list can give.
pub fn fuzz_device_list(data: &[u8]) {
    let Ok(list) = SignedDeviceList::try_from(data) else {
        return;
    };
    assert!(list.to_bytes() == data, "device list does not round-trip");
    let Ok(phone) = PhoneNumber::parse("+447700900123") else {
        return;
    };
    match list.verify(&phone) {
        Ok(verified) => {
            let changes = verified.changes_since(Some(&verified));
            assert!(
                changes.is_ok_and(|c| c.is_same_list() && c.added.is_empty()),
                "a list is not its own successor"
            );
        }
        Err(e) => assert!(
            matches!(
                e,
                Error::InvalidSignature(_) | Error::DeviceListForAnotherNumber
            ),
            "device list: {e:?}"
        ),
    }
}

/// Parses a prekey upkeep state record: never a panic; only `Malformed` or `UnknownVersion`
/// is refused, and what parses serializes to the same bytes.
pub fn fuzz_prekey_state(data: &[u8]) {
    match PreKeyState::from_bytes(data) {
        Ok(state) => assert!(state.to_bytes() == data, "prekey state does not round-trip"),
        Err(Error::UnknownVersion { found, .. }) => assert!(
            data.first().map(|b| b >> 4) == Some(found) && found != 1,
            "unknown version {found}"
        ),
        Err(e) => assert!(matches!(e, Error::Malformed(_)), "prekey state: {e:?}"),
    }
}

/// Runs prekey upkeep through a schedule read from `data`, two bytes a run: the hours that
/// pass (the top bit set: the clock goes back instead) and the one-time bundles the server
/// reports. Every run succeeds; ids only grow and none is handed out twice; what the store
/// keeps stays within the policy's bounds; the state record round-trips.
pub fn fuzz_prekey_upkeep(data: &[u8]) {
    const HOUR: u64 = 3_600_000;
    let policy = PreKeyPolicy::default()
        .one_time_target(2)
        .refill_below(1)
        .rotate_after(core::time::Duration::from_secs(86_400))
        .keep_old_for(core::time::Duration::from_secs(2 * 86_400));
    let Ok(upkeep) = PreKeyUpkeep::with_policy(1, policy) else {
        return;
    };
    let rng = &mut FuzzRng::new(5);
    let mut store = MemoryStore::new(IdentityKeyPair::generate(rng));
    let mut now = 1_000_000 * HOUR;
    let mut seen = UpkeepIds::default();
    for step in data.chunks_exact(2).take(MAX_OPS) {
        let (Some(&time), Some(&count)) = (step.first(), step.get(1)) else {
            return;
        };
        let (hours, on_server) = (u64::from(time & 0x7F), u32::from(count % 4));
        now = match time & 0x80 {
            0 => now + hours * HOUR,
            _ => now.saturating_sub(hours * HOUR),
        };
        let time = Timestamp::from_unix_millis(now);
        let upload = upkeep.run(&mut store, time, on_server, rng);
        assert!(upload.is_ok(), "upkeep failed: {upload:?}");
        if let Ok(Some(upload)) = &upload {
            seen.check(upload);
        }
        let state = crate::store::ProtocolStore::prekey_state(&store);
        let Ok(Some(state)) = state else {
            unreachable!("no state after a run: {state:?}");
        };
        assert!(PreKeyState::from_bytes(&state.to_bytes()).ok() == Some(state.clone()));
        // keep / rotate + 2 generations at most, one last-resort KEM prekey each.
        assert!(
            store.signed_prekey_ids().len() <= 4,
            "too many signed prekeys kept"
        );
        assert!(store.last_resort_kem_prekey_ids().len() == store.signed_prekey_ids().len());
    }
}

/// The largest id of each kind that upkeep uploaded so far.
#[derive(Default)]
struct UpkeepIds {
    signed: u32,
    one_time: u32,
    kem: u32,
}

impl UpkeepIds {
    fn check(&mut self, upload: &crate::account::PreKeyUpload) {
        if let Some(last_resort) = upload.last_resort() {
            let signed = last_resort.signed_prekey_id().get();
            assert!(signed > self.signed, "signed prekey id reused");
            self.signed = signed;
            self.kem(last_resort.kem_prekey_id().get());
        }
        for bundle in upload.one_time() {
            assert!(
                bundle.signed_prekey_id().get() == self.signed,
                "a stale signed prekey"
            );
            let one_time = bundle.one_time_prekey_id().map_or(0, |id| id.get());
            assert!(one_time > self.one_time, "one-time prekey id reused");
            self.one_time = one_time;
            self.kem(bundle.kem_prekey_id().get());
        }
    }

    fn kem(&mut self, id: u32) {
        assert!(id > self.kem, "KEM prekey id reused");
        self.kem = id;
    }
}

/// The storage key of the `sqlite_file` target's seed (the schema-1 database under
/// `tests/sqlite/`).
#[cfg(feature = "sqlite")]
const SQLITE_SEED_KEY: [u8; 32] = [0x42; 32];

/// Open `data` as a `SqliteStore` file and use it: never a panic, whatever the file. A file
/// refused at open is left byte for byte as it was.
#[cfg(feature = "sqlite")]
pub fn fuzz_sqlite_file(data: &[u8]) {
    use crate::store::at_rest::StorageKey;
    use crate::store::{ProtocolStore, SqliteStore};

    let path = std::env::temp_dir().join(format!("keylink-fuzz-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let key = StorageKey::from_bytes(SQLITE_SEED_KEY);
    match SqliteStore::open(&path, &key) {
        Err(_) => {
            let after = std::fs::read(&path).unwrap_or_default();
            assert!(after == data, "a refused file was changed");
        }
        Ok(mut store) => {
            let alice = Address::new("alice", 1);
            let _ = store.local_identity();
            let _ = store.local_account();
            for id in 0..4u32 {
                let _ = store.signed_prekey(id.into());
                let _ = store.one_time_prekey(id.into());
                let _ = store.kem_prekey(id.into());
            }
            let _ = store.peer_identity(&alice);
            let _ = store.prekey_state();
            // Reads a remembered account key, and remembers one (sealed, committed).
            if let Some(f) = safety_fixture() {
                let _ = crate::check_account(&mut store, &f.bob_phone, &f.bob_key);
            }
            // Reads the index and the current session, seals and commits.
            let _ = crate::encrypt(&mut store, &alice, b"fuzz");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    type EntryPoint = fn(&[u8]);

    const TARGETS: [(&str, EntryPoint); 14] = [
        ("phone_number", fuzz_phone_number),
        ("device_list", fuzz_device_list),
        ("linking_code", fuzz_linking_code),
        ("linking_qr", fuzz_linking_qr),
        ("prekey_state", fuzz_prekey_state),
        ("prekey_upkeep", fuzz_prekey_upkeep),
        ("safety_qr", fuzz_safety_qr),
        ("account_record", fuzz_account_record),
        ("wire_message", fuzz_wire_message),
        ("wire_bundle", fuzz_wire_bundle),
        ("records", fuzz_records),
        ("decrypt", fuzz_decrypt),
        ("responder", fuzz_responder),
        ("two_party", fuzz_two_party),
    ];

    fn corpus(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target)
    }

    #[test]
    fn seed_corpus_replays() {
        assert!(fixture().is_some(), "the fixture could not be built");
        for (target, entry) in TARGETS {
            let mut count = 0;
            for file in std::fs::read_dir(corpus(target)).unwrap() {
                entry(&std::fs::read(file.unwrap().path()).unwrap());
                count += 1;
            }
            assert!(count > 0, "no seeds for {target}");
        }
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_seed_corpus_replays() {
        use crate::store::ProtocolStore;

        let mut count = 0;
        for file in std::fs::read_dir(corpus("sqlite_file")).unwrap() {
            let seed = std::fs::read(file.unwrap().path()).unwrap();
            fuzz_sqlite_file(&seed);
            count += 1;
        }
        assert!(count >= 3, "seeds for sqlite_file");
        // The schema-1 seed (migrated), the schema-2 and schema-3 seeds open, under the seed
        // key; the later two remember the fixture's account key.
        let key = crate::store::at_rest::StorageKey::from_bytes(SQLITE_SEED_KEY);
        let f = safety_fixture().unwrap();
        let seeds = [
            ("schema-1.db", None),
            ("schema-2.db", Some(f.bob_key)),
            ("schema-3.db", Some(f.bob_key)),
        ];
        for (name, account) in seeds {
            let seed = std::fs::read(corpus("sqlite_file").join(name)).unwrap();
            let path =
                std::env::temp_dir().join(format!("keylink-seed-{}-{name}", std::process::id()));
            std::fs::write(&path, seed).unwrap();
            let store = crate::store::SqliteStore::open(&path, &key).unwrap();
            let remembered = ProtocolStore::peer_account(&store, &f.bob_phone).unwrap();
            assert!(remembered == account, "{name}");
            drop(store);
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    /// Writes the `sqlite_file` seed of schema 2, with a remembered account key and a prekey
    /// upkeep state: the schema-1 seed migrated. `cargo test --all-features --lib write_sqlite_schema_2_seed --
    /// --ignored`.
    #[cfg(feature = "sqlite")]
    #[test]
    #[ignore]
    fn write_sqlite_schema_2_seed() {
        use crate::store::SqliteStore;
        use crate::store::at_rest::StorageKey;

        let dir = std::env::temp_dir().join(format!("keylink-seed-2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.db");
        std::fs::copy(corpus("sqlite_file").join("schema-1.db"), &path).unwrap();
        let key = StorageKey::from_bytes(SQLITE_SEED_KEY);
        let mut store = SqliteStore::open(&path, &key).unwrap();
        let f = safety_fixture().unwrap();
        crate::check_account(&mut store, &f.bob_phone, &f.bob_key).unwrap();
        let policy = PreKeyPolicy::default().one_time_target(2).refill_below(1);
        let upkeep = PreKeyUpkeep::with_policy(1, policy).unwrap();
        let now = Timestamp::from_unix_secs(1_800_000_000);
        upkeep
            .run(&mut store, now, 0, &mut FuzzRng::new(3))
            .unwrap();
        drop(store);
        let out = corpus("sqlite_file").join("schema-2.db");
        let _ = std::fs::remove_file(&out);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("VACUUM INTO ?1", [out.to_str().unwrap()])
            .unwrap();
        drop(conn);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes the `sqlite_file` seed of schema 3 (also `tests/sqlite/schema-3.db`): the
    /// schema-2 seed migrated, with a device list accepted for Bob's number (signed by the
    /// fixture's account key). Only a keylink writing schema 3 (commit f283331) can run it:
    /// `cargo test --all-features --lib write_sqlite_schema_3_seed -- --ignored`.
    #[cfg(feature = "sqlite")]
    #[test]
    #[ignore]
    fn write_sqlite_schema_3_seed() {
        use crate::account::{DeviceEntry, SignedDeviceList};
        use crate::store::SqliteStore;
        use crate::store::at_rest::StorageKey;

        let dir = std::env::temp_dir().join(format!("keylink-seed-3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.db");
        std::fs::copy(corpus("sqlite_file").join("schema-2.db"), &path).unwrap();
        let key = StorageKey::from_bytes(SQLITE_SEED_KEY);
        let mut store = SqliteStore::open(&path, &key).unwrap();
        assert_eq!(crate::store::SCHEMA_VERSION, 3, "run at schema 3 only");
        let rng = &mut FuzzRng::new(0xACC0);
        let (_alice, bob) = (AccountKeyPair::generate(rng), AccountKeyPair::generate(rng));
        let f = safety_fixture().unwrap();
        assert_eq!(*bob.public(), f.bob_key);
        let device = crate::keys::IdentityKeyPair::from_seed(&[0x5B; 32]);
        let t = Timestamp::from_unix_secs(1_800_000_000);
        let primary = DeviceEntry::primary(&bob, &device, t);
        let list = SignedDeviceList::issue(&bob, &f.bob_phone, 1, t, vec![primary]).unwrap();
        crate::accept_device_list(&mut store, &f.bob_phone, list).unwrap();
        drop(store);
        for out in [
            corpus("sqlite_file").join("schema-3.db"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite/schema-3.db"),
        ] {
            let _ = std::fs::remove_file(&out);
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute("VACUUM INTO ?1", [out.to_str().unwrap()])
                .unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_accounts_seed_reaches_the_snapshot_field() {
        let seed = std::fs::read(corpus("records").join("store-accounts")).unwrap();
        let store = MemoryStore::from_bytes(&seed).unwrap();
        let phone = PhoneNumber::parse("+447700900123").unwrap();
        assert!(store.known_account(&phone).is_some());
    }

    #[test]
    fn fixture_messages_decrypt() {
        let f = fixture().unwrap();
        let mut bob = MemoryStore::from_bytes(&f.bob_established).unwrap();
        let rng = &mut FuzzRng::new(9);
        for (i, text) in [(1, b"a1"), (2, b"a2"), (4, b"a4")] {
            let m = &f.alice_messages[i];
            assert_eq!(
                crate::decrypt(&mut bob, &alice_addr(), m, rng).unwrap(),
                text
            );
        }
        for m in &f.prekey_messages {
            let mut bob = MemoryStore::from_bytes(&f.bob_fresh).unwrap();
            let plain = crate::decrypt(&mut bob, &alice_addr(), m, rng).unwrap();
            assert_eq!(plain, b"another session");
        }
    }

    #[test]
    fn fixture_is_deterministic() {
        let (a, b) = (build_fixture().unwrap(), fixture().unwrap());
        assert_eq!(a.bob_established, b.bob_established);
        assert_eq!(a.prekey_messages, b.prekey_messages);
    }

    /// A `two_party` schedule: Alice sends three, Bob gets the second, a tampered first, the
    /// first twice, replies; Alice restarts, gets the reply, sends again, Bob gets it.
    fn schedule() -> Vec<u8> {
        vec![
            0, 5, 0, 9, 0, 0, // Alice sends m0, m1, m2
            2, 1, // deliver m1
            3, 0, 40, 0, 0x80, // m0 with byte 40 flipped
            5, 0, // m0 twice
            1, 3, // Bob sends m3
            6, 0, // restart Alice
            2, 3, // deliver m3
            0, 1, // Alice sends m4
            4, 2, // drop m2
            6, 1, // restart Bob
            2, 3, // deliver m4 (now index 3)
        ]
    }

    /// Writes the seed corpora of `safety_qr` and `account_record`, and the `records` seed of
    /// a snapshot with remembered account keys:
    /// `cargo test --features fuzzing --lib write_account_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_account_fuzz_seeds() {
        let f = safety_fixture().unwrap();
        let own = f.alice.qr_payload().to_vec();
        let mut v2 = f.bob_payload.to_vec();
        v2[0] = 0x02;
        let account = AccountKeyPair::generate(&mut FuzzRng::new(0xACC1));
        let mut newer = account.to_bytes().to_vec();
        newer[0] = 0x24;
        // A snapshot with two remembered account keys (PROTOCOL.md §7.4, field 8).
        let mut with_accounts = MemoryStore::new(IdentityKeyPair::from_seed(&[0xB0; 32]));
        for phone in ["+14155550100", "+447700900123"] {
            let phone = PhoneNumber::parse(phone).unwrap();
            crate::check_account(&mut with_accounts, &phone, account.public()).unwrap();
        }
        let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
            ("safety_qr", "peer-payload", f.bob_payload.to_vec()),
            ("safety_qr", "own-payload", own),
            ("safety_qr", "version-2", v2),
            ("safety_qr", "short", f.bob_payload[..64].to_vec()),
            ("safety_qr", "empty", Vec::new()),
            ("account_record", "record", account.to_bytes().to_vec()),
            ("account_record", "newer-version", newer),
            ("account_record", "identity-record", {
                IdentityKeyPair::from_seed(&[0xB0; 32]).to_bytes().to_vec()
            }),
            (
                "records",
                "store-accounts",
                with_accounts.to_bytes().to_vec(),
            ),
        ];
        for (target, name, bytes) in seeds {
            std::fs::create_dir_all(corpus(target)).unwrap();
            std::fs::write(corpus(target).join(name), bytes).unwrap();
        }
    }

    /// Writes the seed corpus: `cargo test --lib write_session_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_session_fuzz_seeds() {
        let f = fixture().unwrap();
        let bob = MemoryStore::from_bytes(&f.bob_established).unwrap();
        let rng = &mut FuzzRng::new(7);
        let fresh = MemoryStore::from_bytes(&f.bob_fresh).unwrap();
        let bundle = bob_bundle(&fresh, Some(2), 1000).unwrap().to_bytes();
        let bundle_no_otp = bob_bundle(&fresh, None, 1).unwrap().to_bytes();
        let identity = IdentityKeyPair::from_seed(&[0xB0; 32]);
        let records: Vec<(&str, Vec<u8>)> = vec![
            ("identity", identity.to_bytes().to_vec()),
            (
                "signed-prekey",
                SignedPreKey::generate(7, &identity, rng)
                    .to_bytes()
                    .to_vec(),
            ),
            (
                "one-time-prekey",
                OneTimePreKey::generate(8, rng).to_bytes().to_vec(),
            ),
            (
                "kem-prekey",
                KemPreKey::generate(9, &identity, rng).to_bytes().to_vec(),
            ),
            (
                "session-record",
                bob.session_record(&alice_addr())
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            ),
            (
                "session-row",
                (bob.session_record(&alice_addr()).unwrap().current())
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            ),
            ("store-fresh", f.bob_fresh.clone()),
            ("store-established", f.bob_established.clone()),
            ("sealed-value", {
                use crate::store::at_rest::{Row, Sealer, StorageKey};
                let sealer = Sealer::new(&StorageKey::from_bytes([0x5E; 32]));
                let row = Row {
                    table: "fuzz",
                    row_key: b"row",
                    schema_version: 1,
                };
                sealer.seal_with_salt(&row, b"value", &[7; 32]).unwrap()
            }),
        ];
        let m = &f.alice_messages;
        let p = &f.prekey_messages;
        let mut seeds: Vec<(&str, &str, Vec<u8>)> = vec![
            ("wire_message", "ratchet", m[1].clone()),
            ("wire_message", "prekey", m[0].clone()),
            ("wire_message", "prekey-no-otp", p[1].clone()),
            ("wire_bundle", "with-otp", bundle),
            ("wire_bundle", "without-otp", bundle_no_otp),
            ("decrypt", "skipped", m[1].clone()),
            ("decrypt", "duplicate", m[3].clone()),
            ("decrypt", "next", m[4].clone()),
            ("decrypt", "repeated-prekey", m[0].clone()),
            ("decrypt", "new-session", p[0].clone()),
            ("responder", "otp-kem", m[0].clone()),
            ("responder", "otp-last-resort", p[0].clone()),
            ("responder", "no-otp", p[1].clone()),
            ("two_party", "schedule", schedule()),
            (
                "two_party",
                "ping-pong",
                vec![0, 0, 2, 0, 1, 0, 2, 1, 0, 0, 2, 2],
            ),
        ];
        for (name, bytes) in records {
            seeds.push(("records", name, bytes));
        }
        for (target, name, bytes) in seeds {
            std::fs::create_dir_all(corpus(target)).unwrap();
            std::fs::write(corpus(target).join(name), bytes).unwrap();
        }
    }
}
