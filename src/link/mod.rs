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
//! Once linked, the primary sends its contacts and message history as one file in the backup
//! file format, under the link's [`HistoryKey`]: [`HistoryKey::writer`] on the primary,
//! [`HistoryKey::reader`] on the companion (§12.4). The file's key comes from a random history
//! key sent in the link payload and its header's id from the link's transcript hash, so it
//! opens for this link and no other.
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
#[cfg(any(test, feature = "hazmat"))]
pub(crate) mod cpace;
mod history;
mod qr;
mod secret;

pub use code::{LinkingCode, LinkingCodeError};
pub use history::HistoryKey;
#[cfg(feature = "backup")]
pub use history::{HistoryReader, HistoryWriter};
pub use qr::LinkingQr;
pub use secret::LinkSecret;
