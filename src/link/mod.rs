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
//! ```
//! use keylink::link::{LinkingCode, LinkingCodeError};
//!
//! let shown = LinkingCode::generate(&mut keylink::os_rng()).to_string();
//! let typed = shown.to_lowercase().replace('-', " ");
//! assert_eq!(LinkingCode::parse(&typed)?.to_string(), shown);
//! # Ok::<(), LinkingCodeError>(())
//! ```

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
pub use primary::{LinkGrant, LinkedDevice, Primary, PrimaryStep};
pub use qr::LinkingQr;
pub use secret::LinkSecret;

/// The message parsers, for the fuzz targets' round-trip oracles (`keylink::fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) use messages::{AccountPayload, Hello, Reply};
