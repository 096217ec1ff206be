//! keylink: the cryptography of an end-to-end encrypted messenger.
//!
//! A device generates an [`IdentityKeyPair`](keys::IdentityKeyPair), publishes a
//! [`PreKeyBundle`](keys::PreKeyBundle); a contact verifies that bundle, starts a session with
//! PQXDH (X3DH plus ML-KEM-1024, mandatory) and from then on every message is sealed by the
//! Double Ratchet with header encryption and AES-256-GCM.
//! keylink does no networking and has no storage engine: the app plugs its storage in behind
//! [`ProtocolStore`](store::ProtocolStore) and carries keylink's bytes over its own transport.
//!
//! # Example
//!
//! ```
//! use keylink::account::PreKeyUpkeep;
//! use keylink::keys::{IdentityKeyPair, PreKeyBundle};
//! use keylink::store::{Address, MemoryStore};
//! use keylink::Timestamp;
//!
//! # fn main() -> keylink::Result<()> {
//! let mut rng = keylink::os_rng();
//!
//! // Bob's device: an identity key, and prekeys kept up by PreKeyUpkeep (a signed prekey,
//! // one-time X25519 and ML-KEM-1024 prekeys, a last-resort ML-KEM-1024 prekey), which it
//! // publishes as bundles through the app's server.
//! let mut bob = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
//! let now = Timestamp::from(std::time::SystemTime::now());
//! let upload = PreKeyUpkeep::new(1).run(&mut bob, now, 0, &mut rng)?;
//! let published: Vec<u8> = upload.expect("a first publication").one_time()[0].to_bytes();
//!
//! // Alice fetches the bundle, checks its signatures and starts a session.
//! let mut alice = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
//! let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
//! let bundle = PreKeyBundle::try_from(published.as_slice())?.verify()?;
//! keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng)?;
//!
//! // Every message is bytes for the app's transport.
//! let hello = keylink::encrypt(&mut alice, &bob_addr, b"Hi Bob!")?.to_bytes();
//! let plaintext = keylink::decrypt(&mut bob, &alice_addr, &hello, &mut rng)?;
//! assert_eq!(plaintext, b"Hi Bob!");
//!
//! let reply = keylink::encrypt(&mut bob, &alice_addr, b"Hi Alice!")?.to_bytes();
//! let plaintext = keylink::decrypt(&mut alice, &bob_addr, &reply, &mut rng)?;
//! assert_eq!(plaintext, b"Hi Alice!");
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! - [`keys`]: identity keys, signed, one-time and ML-KEM-1024 prekeys, bundles (parsed vs
//!   verified).
//! - [`session`]: the sans-IO core — [`Session`](session::Session) (PQXDH setup, Double Ratchet
//!   encrypt/decrypt) and [`SessionRecord`](session::SessionRecord) (a peer's current and
//!   archived sessions). Use these directly if your app does its own I/O (e.g. async storage).
//! - [`store`]: the [`ProtocolStore`](store::ProtocolStore) trait, with one atomic
//!   [`commit`](store::ProtocolStore::commit), [`MemoryStore`](store::MemoryStore),
//!   `SqliteStore` (feature `sqlite`: one SQLite file, sealed at rest under the app's
//!   storage key, safe for several processes at once; its docs show how to open one) and
//!   [`AsyncStore`](store::AsyncStore), the operations as `Send` futures for async apps.
//! - [`start_session`], [`encrypt`], [`decrypt`], [`accept_identity`]: the operations over a
//!   store. Each commits all its changes in one call, and only then returns.
//!   [`encrypt_in_place`] and [`decrypt_in_place`] do the same for large messages without
//!   copying them. A peer's sessions are kept as small rows (an index, one row per session,
//!   one per skipped message key), so a message costs the same however long the history.
#![cfg_attr(
    feature = "backup",
    doc = " - [`backup`] (feature `backup`, on by default): encrypted backups under a recovery code or\n   a password. Nothing outside it depends on it."
)]
//! - [`account`]: the phone number an account is known by
//!   ([`PhoneNumber`](account::PhoneNumber), parsed from typed input into E.164), the account
//!   key [`AccountKeyPair`](account::AccountKeyPair) (`AIK`, a distinct type from the identity
//!   key), [`SafetyNumber`](account::SafetyNumber)s, shown as 60 digits or compared by
//!   scanning a QR code, and [`PreKeyUpkeep`](account::PreKeyUpkeep), which keeps a device's
//!   published prekeys topped up and rotated and returns the bundles to upload. Times are
//!   [`Timestamp`]s the app passes in: keylink reads no clock. [`check_account`] remembers a
//!   peer's account key per phone number on first use and refuses a changed one until
//!   [`accept_account`].
//! - [`link`]: linking a new companion device: the typed [`LinkingCode`](link::LinkingCode)
//!   and the [`LinkingQr`](link::LinkingQr) payload, each ending in a shared
//!   [`LinkSecret`](link::LinkSecret).
//!   Device lists ([`SignedDeviceList`](account::SignedDeviceList)) say which device keys
//!   belong to an account; [`accept_device_list`] accepts one only forward. An address whose
//!   user part is a phone number in E.164 form (`"+447700900123"`) is a device of that
//!   account: sessions and messages with it are refused unless the accepted list names that
//!   device with that identity key (no ghost devices), and [`encrypt_for_accounts`] sends one
//!   message to every listed device of some accounts in one commit. Other user parts
//!   (`"bob"`) are outside accounts. [`accept_own_device_list`] accepts this device's own
//!   account list, whose version every message carries: [`encrypt`] refuses to send to an
//!   account whose devices sent a newer version than the list accepted for it, and
//!   [`device_list_needed`] says which to fetch.
//! - [`link`]: linking a new device to an account: the typed
//!   [`LinkingCode`](link::LinkingCode) and the [`LinkingQr`](link::LinkingQr) payload (the
//!   handshake is not there yet).
//! - [`constants`]: every protocol label and limit.
//!
//! The wire format and every encoding choice are specified in `docs/PROTOCOL.md`.

pub mod account;
#[cfg(feature = "backup")]
pub mod backup;
pub mod constants;
pub mod error;
/// Entry points of the fuzz targets in `fuzz/`. Test machinery: only the `fuzzing` feature,
/// which only the fuzz crate enables, builds it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod group;
#[cfg(feature = "hazmat")]
pub mod hazmat;
mod hex;
pub mod keys;
pub mod link;
pub(crate) mod pqxdh;
pub(crate) mod primitives;
pub(crate) mod ratchet;
pub mod session;
pub mod store;
mod time;
pub(crate) mod wire;

pub use error::{Error, Result};
pub use store::{
    AccountTrust, FanOut, accept_account, accept_device_list, accept_identity,
    accept_own_device_list, check_account, decrypt, decrypt_in_place, device_list_needed,
    devices_without_session, encrypt, encrypt_for_accounts, encrypt_in_place, start_session,
};
pub use time::Timestamp;

/// The operating system's RNG, as the [`rand_core::CryptoRng`] keylink's functions take.
///
/// It panics only if the operating system cannot provide randomness at all, in which case no
/// key can be generated safely anyway.
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The operating system's RNG (see [`OsRng`]).
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

pub use rand_core;

/// The README's code, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
