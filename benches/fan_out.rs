//! Fan-out (issue 13): one 100 B message to 5 devices through the in-memory store
//! (`keylink::encrypt_for_accounts`: Bob's 3 devices and Alice's own 2 other devices, two
//! accepted lists read, 5 sessions advanced, one commit), beside the same 5 messages as 5
//! separate `keylink::encrypt` calls (5 commits, and each reads its account's list), the
//! same 5 calls to addresses outside accounts (no list read: what the list checks cost),
//! 5 sans-IO `SessionRecord::encrypt` calls (no store), and the primitives of 5 messages.
//!
//! One message = 2 HMAC (message key, next chain key) + HKDF (key and nonce) + AES-256-GCM
//! seal of 100 B, plus the header: HMAC over 41 B (`h_nonce`) + AES-256-GCM seal of 41 B.
//!
//! Run with `cargo bench --bench fan_out`.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::Mac;
use keylink::Timestamp;
use keylink::account::{AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
use keylink::keys::{IdentityKeyPair, KemPreKey, PreKeyBundle, SignedPreKey};
use keylink::session::{Message, SessionRecord};
use keylink::store::{Address, MemoryStore, ProtocolStore};
use std::hint::black_box;

const SIZE: usize = 100;
const T: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

/// An account with `n` devices; device 1's identity is `primary`.
fn account(
    phone: &str,
    primary: &IdentityKeyPair,
    others: &[&IdentityKeyPair],
) -> SignedDeviceList {
    let mut rng = keylink::os_rng();
    let key = AccountKeyPair::generate(&mut rng);
    let phone = PhoneNumber::parse(phone).unwrap();
    let mut devices = vec![DeviceEntry::primary(&key, primary, T)];
    for (i, identity) in others.iter().enumerate() {
        let id = u32::try_from(i).unwrap() + 2;
        let authorization = key.authorize_device(id, identity.public(), T);
        let device_sig = authorization.countersign(identity).unwrap();
        devices.push(authorization.complete(device_sig).unwrap());
    }
    SignedDeviceList::issue(&key, &phone, 1, T, devices).unwrap()
}

/// A peer device: its store, holding a signed prekey and a KEM prekey, and its bundle.
struct Peer {
    address: Address,
    store: MemoryStore,
    identity: IdentityKeyPair,
}

impl Peer {
    fn new(address: Address) -> Self {
        let identity = IdentityKeyPair::generate(&mut keylink::os_rng());
        Peer {
            address,
            store: MemoryStore::new(identity.clone()),
            identity,
        }
    }

    fn bundle(&mut self) -> keylink::keys::VerifiedBundle {
        let mut rng = keylink::os_rng();
        let spk = SignedPreKey::generate(1, &self.identity, &mut rng);
        let kem = KemPreKey::generate(1, &self.identity, &mut rng);
        let bundle = PreKeyBundle::new(self.address.device(), &self.identity, &spk, None, &kem);
        self.store.add_signed_prekey(spk);
        self.store.add_kem_prekeys([kem]);
        bundle.verify().unwrap()
    }
}

/// Alice's phone with a confirmed session to each of `peers` (each has replied once).
fn connect(
    alice: &mut MemoryStore,
    from: &Address,
    peers: &mut [Peer],
    lists: &[SignedDeviceList],
) {
    let mut rng = keylink::os_rng();
    for peer in peers {
        for list in lists {
            keylink::accept_device_list(&mut peer.store, list.phone(), list.clone()).unwrap();
        }
        let bundle = peer.bundle();
        keylink::start_session(alice, &peer.address, &bundle, &mut rng).unwrap();
        let first = keylink::encrypt(alice, &peer.address, b"hi")
            .unwrap()
            .to_bytes();
        keylink::decrypt(&mut peer.store, from, &first, &mut rng).unwrap();
        let reply = keylink::encrypt(&mut peer.store, from, b"ok")
            .unwrap()
            .to_bytes();
        keylink::decrypt(alice, &peer.address, &reply, &mut rng).unwrap();
    }
}

/// Alice's phone and 5 peers at `alice_user` / `bob_user`; lists only for E.164 users.
fn world(alice_user: &str, bob_user: &str) -> (MemoryStore, Vec<Address>, Vec<PhoneNumber>) {
    let alice_identity = IdentityKeyPair::generate(&mut keylink::os_rng());
    let mut alice = MemoryStore::new(alice_identity.clone());
    let me = Address::new(alice_user, 1);
    let mut peers: Vec<Peer> = (1..=3)
        .map(|id| Peer::new(Address::new(bob_user, id)))
        .chain((2..=3).map(|id| Peer::new(Address::new(alice_user, id))))
        .collect();
    let mut lists = Vec::new();
    if PhoneNumber::parse(alice_user).is_ok() {
        let bob = [&peers[1].identity, &peers[2].identity];
        lists.push(account(bob_user, &peers[0].identity, &bob));
        let own = [&peers[3].identity, &peers[4].identity];
        lists.push(account(alice_user, &alice_identity, &own));
    }
    for list in &lists {
        keylink::accept_device_list(&mut alice, list.phone(), list.clone()).unwrap();
    }
    connect(&mut alice, &me, &mut peers, &lists);
    let addresses = peers.into_iter().map(|p| p.address).collect();
    let phones = lists.iter().map(|l| l.phone().clone()).collect();
    (alice, addresses, phones)
}

fn fan_out(c: &mut Criterion) {
    let plaintext = [7u8; SIZE];
    let mut group = c.benchmark_group("fan-out 100 B to 5 devices");
    let (mut store, addresses, phones) = world("+14155550100", "+447700900123");
    let check = keylink::encrypt_for_accounts(&mut store, &phones, &plaintext).unwrap();
    assert_eq!(check.len(), 5);
    assert!(check.iter().all(|(_, m)| !m.is_prekey()));
    group.bench_function("encrypt_for_accounts (in-memory store, one commit)", |b| {
        b.iter(|| {
            black_box(keylink::encrypt_for_accounts(&mut store, &phones, &plaintext).unwrap())
        })
    });
    group.bench_function(
        "5 x keylink::encrypt (in-memory store, account devices)",
        |b| {
            b.iter(|| {
                for address in &addresses {
                    black_box(keylink::encrypt(&mut store, address, &plaintext).unwrap());
                }
            })
        },
    );
    let (mut outside, outside_addresses, _) = world("alice", "bob");
    group.bench_function("5 x keylink::encrypt (in-memory store, no accounts)", |b| {
        b.iter(|| {
            for address in &outside_addresses {
                black_box(keylink::encrypt(&mut outside, address, &plaintext).unwrap());
            }
        })
    });
    let mut records: Vec<SessionRecord> = addresses
        .iter()
        .map(|a| store.session_record(a).unwrap())
        .collect();
    group.bench_function("5 x SessionRecord::encrypt (sans-IO)", |b| {
        b.iter(|| {
            for record in &mut records {
                let Ok(Message::Ratchet(m)) = record.encrypt(0, &plaintext) else {
                    panic!("not a ratchet message")
                };
                black_box(m);
            }
        })
    });
    group.bench_function(
        "5 x (2 HMAC + HKDF + seal 100 B + HMAC 41 B + seal 41 B) (primitives)",
        |b| {
            b.iter(|| {
                for _ in 0..5 {
                    black_box(one_message_primitives(&plaintext));
                }
            })
        },
    );
    // The list reads alone: what a fan-out reads besides the sessions.
    let lists: Vec<PhoneNumber> = phones.clone();
    group.bench_function("2 x ProtocolStore::device_list (in-memory store)", |b| {
        b.iter(|| {
            for phone in &lists {
                black_box(store.device_list(phone).unwrap());
            }
        })
    });
    group.finish();
}

/// The primitives of one 100 B ratchet message, keys set up inside as keylink does.
fn one_message_primitives(plaintext: &[u8; SIZE]) -> [u8; 16] {
    let chain_key = [1u8; 32];
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let message_key = hmac(&chain_key, &[1]);
    black_box(hmac(&chain_key, &[2]));
    let mut okm = [0u8; 44];
    let kdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), &message_key);
    kdf.expand(b"keylink v1 message", &mut okm).unwrap();
    let cipher = aes_gcm::Aes256Gcm::new(&okm[..32].try_into().unwrap());
    let aad = [0u8; 64 + 69];
    let mut body = *plaintext;
    let tag = cipher
        .encrypt_inout_detached(&[0u8; 12].into(), &aad, body.as_mut_slice().into())
        .unwrap();
    black_box(body);
    let header_key = [3u8; 32];
    black_box(hmac(&header_key, &[5u8; 41]));
    let header_cipher = aes_gcm::Aes256Gcm::new(&header_key.into());
    let mut header = [0u8; 41];
    let header_tag = header_cipher
        .encrypt_inout_detached(&[0u8; 12].into(), &[0u8; 64], header.as_mut_slice().into())
        .unwrap();
    black_box(header_tag);
    tag.into()
}

/// What each operation on an account device reads besides its sessions: the accepted list.
/// `MemoryStore` hands out a clone; `SqliteStore` opens the sealed row and parses the list,
/// which decodes and checks every key on it (six point decompressions for five devices).
#[cfg(feature = "sqlite")]
fn list_reads(c: &mut Criterion) {
    use keylink::store::SqliteStore;
    use keylink::store::at_rest::StorageKey;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(
        dir.path().join("lists.db"),
        &StorageKey::from_bytes([3; 32]),
    )
    .unwrap();
    let mut rng = keylink::os_rng();
    store
        .set_local_identity(&IdentityKeyPair::generate(&mut rng))
        .unwrap();
    let others: Vec<IdentityKeyPair> = (0..4)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let others: Vec<&IdentityKeyPair> = others.iter().collect();
    let list = account(
        "+447700900123",
        &IdentityKeyPair::generate(&mut rng),
        &others,
    );
    let phone = list.phone().clone();
    let bytes = list.to_bytes();
    keylink::accept_device_list(&mut store, &phone, list).unwrap();
    let mut group = c.benchmark_group("accepted list read, 5 devices");
    group.bench_function("SqliteStore::device_list", |b| {
        b.iter(|| black_box(store.device_list(&phone).unwrap()))
    });
    group.bench_function("SignedDeviceList::try_from (parse alone)", |b| {
        b.iter(|| black_box(SignedDeviceList::try_from(bytes.as_slice()).unwrap()))
    });
    group.finish();
}

#[cfg(not(feature = "sqlite"))]
fn list_reads(_: &mut Criterion) {}

criterion_group!(benches, fan_out, list_reads);
criterion_main!(benches);
