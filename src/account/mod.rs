//! Accounts: the phone number a person is known by, the account key `AIK` and safety
//! numbers.
//!
//! A user is a phone number, not a key (PROTOCOL.md §11): [`PhoneNumber`] parses what a user
//! types into E.164 form, with an error that says what is wrong. An account is that number
//! plus an account key ([`AccountKeyPair`], Ed25519), generated on the primary device at
//! registration and used only to sign; every device has its own identity key besides
//! ([`IdentityKeyPair`](crate::keys::IdentityKeyPair)), and the two are distinct types.
//! Two users check each other's account key for each other's number with a
//! [`SafetyNumber`]: 60 digits read aloud, or a QR code one scans from the other's screen.
//! A peer's account key is remembered per phone number on first use
//! ([`check_account`](crate::check_account)); a different key for a known number is
//! [`Error::UntrustedAccount`](crate::Error::UntrustedAccount) until the user accepts the new
//! safety number ([`accept_account`](crate::accept_account)).
//! Each device keeps its published prekeys up with a [`PreKeyUpkeep`] (PROTOCOL.md §11.5).
//!
//! ```
//! use keylink::account::{AccountKeyPair, PhoneNumber, SafetyNumber, Verification};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = keylink::os_rng();
//! let (alice, bob) = (AccountKeyPair::generate(&mut rng), AccountKeyPair::generate(&mut rng));
//! let alice_phone = PhoneNumber::parse("+1 415 555 0100")?;
//! let bob_phone = PhoneNumber::parse("+44 7700 900123")?;
//!
//! let at_alice = SafetyNumber::new(&alice_phone, alice.public(), &bob_phone, bob.public());
//! let at_bob = SafetyNumber::new(&bob_phone, bob.public(), &alice_phone, alice.public());
//! assert_eq!(at_alice.displayed(), at_bob.displayed());
//! assert_eq!(at_alice.displayed().len(), 71); // 12 groups of 5 digits
//!
//! // Alice scans Bob's screen.
//! let scanned = at_bob.qr_payload();
//! assert_eq!(at_alice.verify_scanned(&scanned)?, Verification::Match);
//! # Ok(())
//! # }
//! ```

mod devices;
mod key;
mod phone;
mod safety;
mod upkeep;

pub use devices::{
    DeviceAuthorization, DeviceEntry, DeviceListChanges, SignedDeviceList, VerifiedDeviceList,
};
pub use key::{AccountKey, AccountKeyPair};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use safety::{SafetyNumber, Verification};
pub use upkeep::{PreKeyPolicy, PreKeyState, PreKeyUpkeep, PreKeyUpload};
