//! Sessions: one Double Ratchet session per setup, and the record that keeps a peer's
//! current and archived sessions.

mod message;
mod record;
mod responder;
mod state;

pub use message::{Message, PreKeyMessage, RatchetMessage};
pub use record::SessionRecord;
pub(crate) use responder::PreKeyIds;
pub use responder::{ConsumedPreKeys, Decrypted, ResponderPreKeys};
pub use state::Session;
