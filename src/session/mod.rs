//! Sessions: one Double Ratchet session per setup, and the record that keeps a peer's
//! current and archived sessions.

mod message;
mod record;
mod state;

pub use message::{Message, PreKeyMessage, RatchetMessage};
pub use record::SessionRecord;
pub use state::Session;
