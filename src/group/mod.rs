//! Groups with sender keys (PROTOCOL.md §13): each member device encrypts a group message once
//! under its own sending chain, and every other member decrypts it with the distribution it
//! received over a pairwise session.
//!
//! This is the sans-IO core: the sender's [`SenderKey`], the [`SenderKeyDistribution`] it
//! hands out, and a receiver's [`InboundGroupSession`]. Storing them, and sending the
//! distributions over pairwise sessions, is the caller's job.
//!
//! ```
//! use keylink::group::{GroupId, InboundGroupSession, SenderKey, SenderKeyDistribution};
//! use keylink::keys::IdentityKeyPair;
//!
//! let mut rng = keylink::os_rng();
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let group = GroupId::new(b"book club".to_vec())?;
//! let mut sending = SenderKey::new(group, 7, &mut rng);
//!
//! // The distribution travels to Bob over his pairwise session with Alice's device; Bob
//! // binds it to the identity key of that session.
//! let bytes = sending.distribution().to_bytes();
//! let distribution = SenderKeyDistribution::from_bytes(&bytes)?;
//! let mut receiving = InboundGroupSession::new(distribution, *alice.public());
//!
//! let message = sending.encrypt(alice.public(), b"hello, group")?;
//! assert_eq!(&receiving.decrypt(&message)?[..], b"hello, group");
//! # Ok::<(), keylink::Error>(())
//! ```

mod chain;
mod distribution;
mod inbound;
mod message;
mod outbound;

pub use distribution::{DistributionId, GroupId, SenderKeyDistribution};
pub use inbound::InboundGroupSession;
pub use outbound::SenderKey;

#[cfg(test)]
mod tests;
