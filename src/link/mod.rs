//! Linking a new companion device to an account (PROTOCOL.md §12).
//!
//! Both ways of linking end with a 32-byte [`LinkSecret`] `LS` that the primary P and the new
//! companion C share:
//!
//! - **QR code:** C shows a [`LinkingQr`], `0x01 || LS || E_C.public`; P scans it.
//! - **Typed code:** C shows a [`LinkingCode`] of 8 symbols, `ABCD-EFGH`; the user types it on
//!   P, which reads it with [`LinkingCode::parse`] (a mistyped symbol is caught there, before
//!   any protocol run). The two devices then run CPace (draft-irtf-cfrg-cpace, ristretto255
//!   with SHA-512) with the code's 7 data symbols as the password, and derive `LS` from its
//!   key.
//!
//! Then the same handshake (ML-KEM-1024 + X25519, keyed by `LS`, with key confirmation)
//! gives C the account's key, number, its device id and a [`HistoryKey`], and gives P the new
//! device's signed entry and the account's next device list. [`Companion`] and [`Primary`]
//! are its two sides, as sans-IO state machines: the app carries the bytes.
//!
//! Once linked, the primary sends its contacts and message history as one file in the backup
//! file format, under the link's [`HistoryKey`]: `HistoryKey::writer` on the primary,
//! `HistoryKey::reader` on the companion (§12.4, feature `backup`). The file's key comes from
//! the random history key sent in the link payload and its header's id from the link's
//! transcript hash, so it opens for this link and no other.
//!
//! ```
//! use keylink::Timestamp;
//! use keylink::account::{AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
//! use keylink::keys::IdentityKeyPair;
//! use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingCode, Primary, PrimaryStep};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = keylink::os_rng();
//! let now = Timestamp::from_unix_secs(1_800_000_000);
//!
//! // Bob's phone, the primary of his account, with its current device list.
//! let phone = PhoneNumber::parse("+44 7700 900123")?;
//! let account = AccountKeyPair::generate(&mut rng);
//! let primary_identity = IdentityKeyPair::generate(&mut rng);
//! let entry = DeviceEntry::primary(&account, &primary_identity, now);
//! let list = SignedDeviceList::issue(&account, &phone, 1, now, vec![entry])?.verify(&phone)?;
//!
//! // The laptop shows a code; Bob types it on the phone.
//! let mut laptop = Companion::with_code(IdentityKeyPair::generate(&mut rng), &mut rng);
//! let typed = LinkingCode::parse(&laptop.code().unwrap().to_string())?;
//! let mut phone_side = Primary::typed(&typed, LinkGrant::new(account, list, now)?);
//!
//! // Five messages, carried by the app.
//! let hello = laptop.start(&mut rng)?;
//! let PrimaryStep::Send(reply) = phone_side.receive(&hello, &mut rng)? else { unreachable!() };
//! let CompanionStep::Send(confirmation) = laptop.receive(&reply)? else { unreachable!() };
//! let PrimaryStep::Send(payload) = phone_side.receive(&confirmation, &mut rng)? else {
//!     unreachable!()
//! };
//! let CompanionStep::Linked { reply, account } = laptop.receive(&payload)? else {
//!     unreachable!()
//! };
//! let PrimaryStep::Linked(linked) = phone_side.receive(&reply, &mut rng)? else {
//!     unreachable!()
//! };
//!
//! // The laptop is device 2 on version 2 of Bob's list, which the phone now publishes.
//! assert_eq!(u32::from(account.device_id()), 2);
//! assert_eq!(linked.list().version(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! A wrong code typed on the phone makes the laptop's [`Companion::receive`] return
//! [`Error::InvalidLinkingCode`](crate::Error::InvalidLinkingCode) with the attempts left; after
//! 3 the code is dead ([`Error::LinkingCodeExpired`](crate::Error::LinkingCodeExpired)) and the
//! laptop shows a new one.

mod code;
mod companion;
pub(crate) mod cpace;
pub(crate) mod handshake;
mod history;
mod messages;
mod primary;
mod qr;
mod secret;

pub use code::{LinkingCode, LinkingCodeError};
pub use companion::{Companion, CompanionStep, LinkedAccount};
pub use history::HistoryKey;
#[cfg(feature = "backup")]
pub use history::{HistoryReader, HistoryWriter};
pub use primary::{LinkGrant, LinkedDevice, Primary, PrimaryStep};
pub use qr::LinkingQr;
pub use secret::LinkSecret;

/// The message parsers, for the fuzz targets' round-trip oracles (`keylink::fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) use messages::{AccountPayload, Hello, Reply};
