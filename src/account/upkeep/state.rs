//! The one row that prekey upkeep keeps: which generation of prekeys is published, which
//! replaced ones are still kept, and the next free ids.

use crate::error::{Error, Result};
use crate::keys::{KemPreKeyId, OneTimePreKeyId, SignedPreKeyId};
use crate::time::Timestamp;
use crate::wire::{self, Kind, proto};

const WHAT: &str = "prekey upkeep state";

/// The most replaced generations a state may hold: a valid policy keeps at most 366 (one
/// rotation a day, kept 365 days).
const MAX_RETIRED: usize = 400;

/// A device's prekey upkeep state: the row [`PreKeyUpkeep`](super::PreKeyUpkeep) reads through
/// [`ProtocolStore::prekey_state`](crate::store::ProtocolStore::prekey_state) and writes with
/// [`Change::PreKeyState`](crate::store::Change::PreKeyState), and nothing else writes. It
/// holds no secret: ids and times only. Stores keep it as the bytes of
/// [`to_bytes`](Self::to_bytes) (`0x15 || PreKeyState`, PROTOCOL.md §11.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyState {
    pub(super) current: Generation,
    pub(super) retired: Vec<Retired>,
    pub(super) next: NextIds,
}

/// A signed prekey and the last-resort KEM prekey published with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Generation {
    pub(super) signed: SignedPreKeyId,
    pub(super) last_resort: KemPreKeyId,
    pub(super) created_at: Timestamp,
}

/// A replaced generation. It goes, with every one-time prekey below the two bounds (those
/// published before it was replaced), once `retired_at` is the grace period ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Retired {
    pub(super) generation: Generation,
    pub(super) retired_at: Timestamp,
    pub(super) one_time_below: OneTimePreKeyId,
    pub(super) kem_below: KemPreKeyId,
}

/// The next id of each kind: every id below it was handed out once, none is handed out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NextIds {
    pub(super) signed: u32,
    pub(super) one_time: u32,
    pub(super) kem: u32,
}

impl PreKeyState {
    /// The signed prekey now published.
    pub fn signed_prekey(&self) -> SignedPreKeyId {
        self.current.signed
    }

    /// The last-resort KEM prekey now published.
    pub fn last_resort_kem_prekey(&self) -> KemPreKeyId {
        self.current.last_resort
    }

    /// When the signed prekey now published was made.
    pub fn published_at(&self) -> Timestamp {
        self.current.created_at
    }

    /// The signed prekeys replaced but still kept for late PreKey messages, oldest first,
    /// each with when it was replaced.
    pub fn kept_signed_prekeys(&self) -> impl Iterator<Item = (SignedPreKeyId, Timestamp)> + '_ {
        self.retired
            .iter()
            .map(|r| (r.generation.signed, r.retired_at))
    }

    /// Serialize for the store (no secret in it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let retired = self.retired.iter().map(|r| proto::RetiredGeneration {
            generation: Some(r.generation.to_proto()),
            retired_at: r.retired_at.as_unix_millis(),
            one_time_prekeys_below: r.one_time_below.get(),
            kem_prekeys_below: r.kem_below.get(),
        });
        let state = proto::PreKeyState {
            current: Some(self.current.to_proto()),
            retired: retired.collect(),
            next_signed_prekey_id: self.next.signed,
            next_one_time_prekey_id: self.next.one_time,
            next_kem_prekey_id: self.next.kem,
        };
        wire::encode(Kind::PreKeyState, &state)
    }

    /// Parse what [`to_bytes`](Self::to_bytes) produced: another version is
    /// [`Error::UnknownVersion`], and anything else that is not a canonical, consistent state
    /// (ids out of order, an id at or above the next free one) is [`Error::Malformed`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let state: proto::PreKeyState = wire::decode(Kind::PreKeyState, bytes)?;
        let current = Generation::from_proto(state.current.as_ref())?;
        if state.retired.len() > MAX_RETIRED {
            return Err(Error::Malformed(WHAT));
        }
        let retired = state.retired.iter().map(Retired::from_proto);
        let parsed = PreKeyState {
            current,
            retired: retired.collect::<Result<_>>()?,
            next: NextIds {
                signed: state.next_signed_prekey_id,
                one_time: state.next_one_time_prekey_id,
                kem: state.next_kem_prekey_id,
            },
        };
        match parsed.is_consistent() {
            true => Ok(parsed),
            false => Err(Error::Malformed(WHAT)),
        }
    }

    /// Whether the ids and times are in the order upkeep hands them out: each retired
    /// generation older than the next one and than the current one, every bound within the
    /// ids handed out.
    fn is_consistent(&self) -> bool {
        let mut prev: Option<&Retired> = None;
        for r in &self.retired {
            let ordered = match prev {
                None => true,
                Some(p) => r.follows(p),
            };
            let below_current = r.generation.signed < self.current.signed
                && r.kem_below.get() <= self.current.last_resort.get()
                && r.retired_at <= self.current.created_at;
            if !ordered || !below_current || !r.is_consistent() {
                return false;
            }
            prev = Some(r);
        }
        let bounds = prev.is_none_or(|r| {
            r.one_time_below.get() <= self.next.one_time && r.kem_below.get() <= self.next.kem
        });
        bounds
            && self.current.signed.get() < self.next.signed
            && self.current.last_resort.get() < self.next.kem
    }
}

impl Generation {
    fn to_proto(self) -> proto::PreKeyGeneration {
        proto::PreKeyGeneration {
            signed_prekey_id: self.signed.get(),
            last_resort_kem_prekey_id: self.last_resort.get(),
            created_at: self.created_at.as_unix_millis(),
        }
    }

    fn from_proto(generation: Option<&proto::PreKeyGeneration>) -> Result<Self> {
        let g = generation.ok_or(Error::Malformed(WHAT))?;
        Ok(Generation {
            signed: SignedPreKeyId::new(g.signed_prekey_id),
            last_resort: KemPreKeyId::new(g.last_resort_kem_prekey_id),
            created_at: Timestamp::from_unix_millis(g.created_at),
        })
    }
}

impl Retired {
    fn from_proto(r: &proto::RetiredGeneration) -> Result<Self> {
        Ok(Retired {
            generation: Generation::from_proto(r.generation.as_ref())?,
            retired_at: Timestamp::from_unix_millis(r.retired_at),
            one_time_below: OneTimePreKeyId::new(r.one_time_prekeys_below),
            kem_below: KemPreKeyId::new(r.kem_prekeys_below),
        })
    }

    /// Its last-resort KEM prekey was handed out before it was replaced, and it was made
    /// before it was replaced.
    fn is_consistent(&self) -> bool {
        self.generation.last_resort < self.kem_below
            && self.generation.created_at <= self.retired_at
    }

    /// Whether `self` was retired after `earlier`, as upkeep retires generations.
    fn follows(&self, earlier: &Retired) -> bool {
        self.generation.signed > earlier.generation.signed
            && self.generation.last_resort.get() >= earlier.kem_below.get()
            && self.one_time_below >= earlier.one_time_below
            && self.kem_below > earlier.kem_below
            && self.retired_at >= earlier.retired_at
            && self.generation.created_at >= earlier.retired_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(signed: u32, last_resort: u32, at: u64) -> Generation {
        Generation {
            signed: SignedPreKeyId::new(signed),
            last_resort: KemPreKeyId::new(last_resort),
            created_at: Timestamp::from_unix_millis(at),
        }
    }

    fn state() -> PreKeyState {
        PreKeyState {
            current: generation(3, 250, 2000),
            retired: vec![
                Retired {
                    generation: generation(1, 100, 0),
                    retired_at: Timestamp::from_unix_millis(1000),
                    one_time_below: OneTimePreKeyId::new(101),
                    kem_below: KemPreKeyId::new(102),
                },
                Retired {
                    generation: generation(2, 102, 1000),
                    retired_at: Timestamp::from_unix_millis(2000),
                    one_time_below: OneTimePreKeyId::new(200),
                    kem_below: KemPreKeyId::new(250),
                },
            ],
            next: NextIds {
                signed: 4,
                one_time: 300,
                kem: 400,
            },
        }
    }

    #[test]
    fn a_state_round_trips() {
        let s = state();
        let bytes = s.to_bytes();
        assert_eq!(bytes.first(), Some(&0x15));
        assert_eq!(PreKeyState::from_bytes(&bytes).unwrap(), s);
    }

    #[test]
    fn inconsistent_states_are_malformed() {
        let mut cases: Vec<PreKeyState> = Vec::new();
        let mut s = state();
        s.next.signed = 3;
        cases.push(s);
        let mut s = state();
        s.next.kem = 250;
        cases.push(s);
        let mut s = state();
        s.retired.swap(0, 1);
        cases.push(s);
        let mut s = state();
        s.retired[1].one_time_below = OneTimePreKeyId::new(301);
        cases.push(s);
        let mut s = state();
        s.retired[0].generation.created_at = Timestamp::from_unix_millis(1001);
        cases.push(s);
        let mut s = state();
        s.current.signed = SignedPreKeyId::new(2);
        cases.push(s);
        for s in cases {
            let err = PreKeyState::from_bytes(&s.to_bytes()).unwrap_err();
            assert!(matches!(err, Error::Malformed(WHAT)), "{s:?}: {err}");
        }
    }

    #[test]
    fn a_state_without_a_current_generation_is_malformed() {
        let bytes = wire::encode(Kind::PreKeyState, &proto::PreKeyState::default());
        assert!(matches!(
            PreKeyState::from_bytes(&bytes),
            Err(Error::Malformed(WHAT))
        ));
        let mut newer = state().to_bytes();
        newer[0] = 0x25;
        let err = PreKeyState::from_bytes(&newer).unwrap_err();
        assert!(
            matches!(err, Error::UnknownVersion { found: 2, .. }),
            "{err}"
        );
    }
}
