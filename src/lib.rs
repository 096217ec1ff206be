#![doc = "keylink"]

pub mod backup;
pub mod constants;
pub mod error;
mod hex;
pub mod keys;
pub(crate) mod primitives;
pub(crate) mod wire;

pub use error::{Error, Result};
mod protocol;
pub(crate) mod ratchet;
pub mod session;
pub mod store;
pub(crate) mod x3dh;

pub use protocol::{accept_identity, decrypt, encrypt, start_session};
