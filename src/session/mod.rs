//! Sessions: one Double Ratchet session per setup, and the record that keeps a peer's
//! current and archived sessions with their skipped message keys, whole
//! ([`SessionRecord`]) or as the rows a store keeps ([`SessionIndex`], [`Session`],
//! [`SkippedMessageKey`]).

mod message;
mod record;
mod responder;
mod rows;
mod state;
mod view;

pub use message::{Message, PreKeyMessage, RatchetMessage};
pub(crate) use message::{is_prekey_message, ratchet_parts, ratchet_parts_mut};
pub use record::SessionRecord;
pub(crate) use responder::PreKeyIds;
pub use responder::{ConsumedPreKeys, Decrypted, ResponderPreKeys};
pub use rows::{SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
pub use state::Session;
pub(crate) use state::in_place_plaintext;
pub(crate) use view::{RecordSource, RecordView, Writes, owned};
