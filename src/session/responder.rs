//! What the responder side of a PreKey message takes and gives back, for apps that do their
//! own I/O: the prekeys it looked up, and what the message used up.

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId, PreKeyKind, PublicKey,
    SignedPreKey, SignedPreKeyId,
};
use crate::session::PreKeyMessage;

/// The prekeys a PreKey message names, as the app looked them up, and its replay check.
///
/// Look them up by [`PreKeyMessage::signed_prekey_id`](crate::session::PreKeyMessage::signed_prekey_id),
/// [`one_time_prekey_id`](crate::session::PreKeyMessage::one_time_prekey_id) and
/// [`kem_prekey_id`](crate::session::PreKeyMessage::kem_prekey_id); a key the app does not
/// have (any more) is `None`. They are only needed when
/// [`SessionRecord::needs_prekeys`](crate::session::SessionRecord::needs_prekeys) says so
/// (a repeated PreKey message decrypts in the session it already set up). The keys are
/// consumed by the call that uses them.
#[derive(Debug, Default)]
pub struct ResponderPreKeys {
    /// The signed prekey the message names.
    pub signed_prekey: Option<SignedPreKey>,
    /// The one-time prekey the message names, if it names one.
    pub one_time_prekey: Option<OneTimePreKey>,
    /// The KEM prekey the message names (one-time or last-resort).
    pub kem_prekey: Option<KemPreKey>,
    /// Whether the message's base key was already accepted with its signed prekey (the app
    /// keeps these pairs: [`ConsumedPreKeys::used_base_key`]).
    pub base_key_used: bool,
}

/// The prekey state a PreKey message used up. Write it in the same transaction as the
/// session record, or a replay of the message could set up a second session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the used prekeys must be deleted, and the base key remembered, with the record"]
pub struct ConsumedPreKeys {
    /// Delete this one-time prekey.
    pub one_time_prekey: Option<OneTimePreKeyId>,
    /// Delete this one-time KEM prekey. Never the last-resort one, which stays.
    pub kem_prekey: Option<KemPreKeyId>,
    /// Remember that this base key was used with this signed prekey (forget the pairs of a
    /// signed prekey when deleting it).
    pub used_base_key: Option<(SignedPreKeyId, PublicKey)>,
}

impl ConsumedPreKeys {
    /// Whether nothing was used up (a repeated PreKey message, or a ratchet message).
    pub fn is_empty(&self) -> bool {
        *self == ConsumedPreKeys::default()
    }
}

/// A decrypted message and what must be persisted with the record that decrypted it. Its
/// `Debug` shows the plaintext's length, never its bytes.
#[must_use = "the record and the consumed prekeys must be persisted before the plaintext is used"]
pub struct Decrypted {
    /// The plaintext (wiped when dropped).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The identity of the session that decrypted it: remember it for the sender's address if
    /// none is remembered yet.
    pub sender: IdentityKey,
    /// The version of the sender's own account device list that the message carried (0 for a
    /// sender outside accounts). The session keeps the highest one
    /// ([`Session::peer_list_version`](crate::session::Session::peer_list_version)); a
    /// version above the list accepted for the sender's account means that list is stale
    /// (PROTOCOL.md §11.6).
    pub sender_list_version: u64,
    /// The prekey state a PreKey message used up; empty otherwise.
    pub consumed: ConsumedPreKeys,
}

impl core::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext_len", &self.plaintext.len())
            .field("sender", &self.sender)
            .field("sender_list_version", &self.sender_list_version)
            .field("consumed", &self.consumed)
            .finish()
    }
}

/// The ids of the prekeys one bundle or PreKey message names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreKeyIds {
    pub(crate) signed: SignedPreKeyId,
    pub(crate) one_time: Option<OneTimePreKeyId>,
    pub(crate) kem: KemPreKeyId,
}

impl From<&PreKeyMessage> for PreKeyIds {
    fn from(message: &PreKeyMessage) -> Self {
        PreKeyIds {
            signed: message.signed_prekey_id(),
            one_time: message.one_time_prekey_id(),
            kem: message.kem_prekey_id(),
        }
    }
}

/// The prekeys `ids` names, each present.
pub(crate) struct PreKeys {
    pub(crate) signed: SignedPreKey,
    pub(crate) one_time: Option<OneTimePreKey>,
    pub(crate) kem: KemPreKey,
}

impl ResponderPreKeys {
    /// Each key `ids` names, or [`Error::UnknownPreKey`] for the first one missing (signed,
    /// then one-time, then KEM).
    pub(crate) fn require(self, ids: PreKeyIds) -> Result<PreKeys> {
        let unknown = |kind, id: u32| Error::UnknownPreKey { kind, id };
        let signed = self
            .signed_prekey
            .ok_or(unknown(PreKeyKind::Signed, ids.signed.get()))?;
        let one_time = match (ids.one_time, self.one_time_prekey) {
            (Some(id), None) => return Err(unknown(PreKeyKind::OneTime, id.get())),
            (_, one_time) => one_time,
        };
        let kem = self
            .kem_prekey
            .ok_or(unknown(PreKeyKind::Kem, ids.kem.get()))?;
        Ok(PreKeys {
            signed,
            one_time,
            kem,
        })
    }
}
