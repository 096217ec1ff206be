//! Prekey upkeep: a device keeps one-time bundles published, rotates its signed and
//! last-resort KEM prekeys, and deletes replaced keys once no late message can need them.

mod policy;
mod state;
mod upload;

pub use policy::PreKeyPolicy;
pub use state::PreKeyState;
pub use upload::PreKeyUpload;

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::keys::{
    DeviceId, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PreKeyBundle, SignedPreKey, SignedPreKeyId,
};
use crate::store::ops::{Failure, Outcome, local_identity, run};
use crate::store::prekeys::store_err;
use crate::store::{Change, Changes, ProtocolStore};
use crate::time::Timestamp;
use state::{Generation, NextIds, Retired};

/// Owns a device's published prekeys: run it whenever the app is online (at start, on a
/// timer, and when the server says it is running low), with the time and the number of
/// one-time bundles the server still holds, and upload what it returns.
///
/// Each run reads the store's [`PreKeyState`] and, following its [`PreKeyPolicy`]:
/// - deletes the keys of generations replaced more than `keep_old_for` ago;
/// - on the first run, and whenever the signed prekey is `rotate_after` old, makes a new
///   signed prekey, a new last-resort KEM prekey and `one_time_target` one-time bundles, and
///   returns them in an upload that replaces what the server holds; the replaced keys stay until they expire;
/// - else, when the server holds fewer than `refill_below` one-time bundles, makes enough to
///   reach `one_time_target` again and returns them in an upload that adds them.
///
/// Ids are handed out in increasing order and never again, whatever is deleted. Every change
/// of a run is one [`commit`](ProtocolStore::commit): a run that fails (or whose upload is
/// lost) leaves the device able to decrypt every PreKey message sent to what it published
/// before, and the next rotation replaces whatever the server holds.
///
/// ```
/// use keylink::account::{PreKeyUpkeep, PreKeyUpload};
/// use keylink::keys::IdentityKeyPair;
/// use keylink::store::MemoryStore;
/// use keylink::Timestamp;
///
/// # fn main() -> keylink::Result<()> {
/// let mut rng = keylink::os_rng();
/// let mut store = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
/// let upkeep = PreKeyUpkeep::new(1);
/// let now = Timestamp::from(std::time::SystemTime::now());
///
/// // At registration the server holds nothing: everything is published.
/// let upload = upkeep.run(&mut store, now, 0, &mut rng)?.expect("a first upload");
/// assert!(upload.replaces());
/// assert_eq!(upload.one_time().len(), 100);
/// // ... send each bundle's to_bytes() to the server.
///
/// // Later the server reports 20 bundles left: 80 more are made.
/// let upload = upkeep.run(&mut store, now, 20, &mut rng)?.expect("a refill");
/// assert_eq!(upload.one_time().len(), 80);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PreKeyUpkeep {
    device: DeviceId,
    policy: PreKeyPolicy,
}

impl PreKeyUpkeep {
    /// Upkeep for this device (its id goes into every bundle) with the default
    /// [`PreKeyPolicy`].
    pub fn new(device: impl Into<DeviceId>) -> Self {
        PreKeyUpkeep {
            device: device.into(),
            policy: PreKeyPolicy::default(),
        }
    }

    /// Upkeep with `policy`, if its values work together ([`Error::InvalidPreKeyPolicy`]
    /// says which does not).
    pub fn with_policy(device: impl Into<DeviceId>, policy: PreKeyPolicy) -> Result<Self> {
        policy.check()?;
        Ok(PreKeyUpkeep {
            device: device.into(),
            policy,
        })
    }

    /// The policy this upkeep follows.
    pub fn policy(&self) -> &PreKeyPolicy {
        &self.policy
    }

    /// Bring the published prekeys up to the policy at time `now`, given that the server
    /// reports `on_server` one-time bundles left for this device (0 at registration), and
    /// return what to upload, if anything. Everything the run changed is committed before it
    /// returns; on an error nothing has changed.
    pub fn run<S: ProtocolStore, R: CryptoRng + ?Sized>(
        &self,
        store: &mut S,
        now: Timestamp,
        on_server: u32,
        rng: &mut R,
    ) -> Result<Option<PreKeyUpload>> {
        run(store, |store| self.run_once(store, now, on_server, rng))
    }

    fn run_once<S: ProtocolStore, R: CryptoRng + ?Sized>(
        &self,
        store: &mut S,
        now: Timestamp,
        on_server: u32,
        rng: &mut R,
    ) -> Outcome<Option<PreKeyUpload>, S::Error> {
        let stored = store.prekey_state().map_err(store_err)?;
        let plan = Plan::new(&self.policy, stored.as_ref(), now, on_server);
        if plan.is_empty() {
            return Ok(None);
        }
        let mut changes = Changes::new();
        let mut state = stored.unwrap_or_else(PreKeyState::initial);
        expire(&mut state, plan.expired, &mut changes);
        let upload = match plan.rotate || plan.fresh > 0 {
            true => Some(self.publish(store, &mut state, plan, now, rng, &mut changes)?),
            false => None,
        };
        changes.push(Change::PreKeyState(state));
        store.commit(changes).map_err(Failure::Commit)?;
        Ok(upload)
    }

    /// Make what `plan` says to publish: a new generation if it rotates, and its one-time
    /// bundles.
    fn publish<S: ProtocolStore, R: CryptoRng + ?Sized>(
        &self,
        store: &S,
        state: &mut PreKeyState,
        plan: Plan,
        now: Timestamp,
        rng: &mut R,
        changes: &mut Changes,
    ) -> Result<PreKeyUpload> {
        let identity = local_identity(store)?;
        let published = match plan.rotate {
            true => None,
            false => published_signed_prekey(store, state)?,
        };
        let (signed, last_resort, fresh) = match published {
            Some(signed) => (signed, None, plan.fresh),
            // A rotation, or a refill whose signed prekey the store lost: rotate, so that
            // every bundle the server holds is replaced by ones with keys the store holds.
            None => {
                let (signed, last_resort) = rotate(state, &identity, now, rng)?;
                (signed, Some(last_resort), self.policy.one_time_target)
            }
        };
        let keys = Keys {
            identity: &identity,
            signed: &signed,
        };
        let one_time = self.one_time(&mut state.next, fresh, keys, rng, changes)?;
        let Some(last_resort) = last_resort else {
            return Ok(PreKeyUpload {
                last_resort: None,
                one_time,
            });
        };
        let upload = PreKeyUpload {
            last_resort: Some(self.bundle(keys, None, &last_resort)),
            one_time,
        };
        changes.push(Change::SignedPreKey(Box::new(signed)));
        changes.push(Change::KemPreKeys(vec![last_resort]));
        Ok(upload)
    }

    /// Make `count` one-time bundles: a one-time prekey and a one-time KEM prekey each.
    fn one_time<R: CryptoRng + ?Sized>(
        &self,
        next: &mut NextIds,
        count: u32,
        keys: Keys<'_>,
        rng: &mut R,
        changes: &mut Changes,
    ) -> Result<Vec<PreKeyBundle>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let first = take(&mut next.one_time, count)?;
        let first_kem = take(&mut next.kem, count)?;
        let one_time = OneTimePreKey::generate_batch(first, count, rng);
        let kem = KemPreKey::generate_batch(first_kem, count, keys.identity, rng);
        let bundles = one_time.iter().zip(&kem);
        let bundles = bundles.map(|(otp, kem)| self.bundle(keys, Some(otp), kem));
        let bundles = bundles.collect();
        changes.push(Change::OneTimePreKeys(one_time));
        changes.push(Change::KemPreKeys(kem));
        Ok(bundles)
    }

    fn bundle(&self, keys: Keys<'_>, otp: Option<&OneTimePreKey>, kem: &KemPreKey) -> PreKeyBundle {
        PreKeyBundle::new(self.device, keys.identity, keys.signed, otp, kem)
    }
}

/// What one run does, decided from the state, the policy and the inputs alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    /// How many of the oldest retired generations to delete.
    expired: usize,
    /// Whether to publish a new generation (always on the first run).
    rotate: bool,
    /// How many one-time bundles to make.
    fresh: u32,
}

impl Plan {
    fn new(
        policy: &PreKeyPolicy,
        state: Option<&PreKeyState>,
        now: Timestamp,
        on_server: u32,
    ) -> Self {
        let Some(state) = state else {
            return Plan {
                expired: 0,
                rotate: true,
                fresh: policy.one_time_target,
            };
        };
        let expired = state.retired.iter();
        let expired =
            expired.take_while(|r| now.saturating_since(r.retired_at) >= policy.keep_old_for);
        let rotate = now.saturating_since(state.current.created_at) >= policy.rotate_after;
        let fresh = match (rotate, on_server < policy.refill_below) {
            (true, _) => policy.one_time_target,
            (false, true) => policy.one_time_target.saturating_sub(on_server),
            (false, false) => 0,
        };
        Plan {
            expired: expired.count(),
            rotate,
            fresh,
        }
    }

    fn is_empty(&self) -> bool {
        self.expired == 0 && !self.rotate && self.fresh == 0
    }
}

/// The identity and signed prekey every bundle of a run carries.
#[derive(Clone, Copy)]
struct Keys<'a> {
    identity: &'a IdentityKeyPair,
    signed: &'a SignedPreKey,
}

impl PreKeyState {
    /// The state before the first run: no generation yet, every id free from 1.
    fn initial() -> Self {
        PreKeyState {
            current: Generation {
                signed: SignedPreKeyId::new(0),
                last_resort: KemPreKeyId::new(0),
                created_at: Timestamp::EPOCH,
            },
            retired: Vec::new(),
            next: NextIds {
                signed: 1,
                one_time: 1,
                kem: 1,
            },
        }
    }
}

/// Delete the `count` oldest retired generations and the one-time prekeys published before
/// the last of them was replaced.
fn expire(state: &mut PreKeyState, count: usize, changes: &mut Changes) {
    let mut bounds = None;
    for r in state.retired.drain(..count.min(state.retired.len())) {
        changes.push(Change::RemoveSignedPreKey(r.generation.signed));
        changes.push(Change::RemoveLastResortKemPreKey(r.generation.last_resort));
        bounds = Some((r.one_time_below, r.kem_below));
    }
    if let Some((one_time, kem)) = bounds {
        changes.push(Change::RemoveOneTimePreKeysBelow { one_time, kem });
    }
}

/// Retire the current generation (unless this is the first run) and make a new one: its
/// signed prekey and last-resort KEM prekey.
fn rotate<R: CryptoRng + ?Sized>(
    state: &mut PreKeyState,
    identity: &IdentityKeyPair,
    now: Timestamp,
    rng: &mut R,
) -> Result<(SignedPreKey, KemPreKey)> {
    if state.next.signed > 1 {
        state.retired.push(Retired {
            generation: state.current,
            retired_at: now,
            one_time_below: OneTimePreKeyId::new(state.next.one_time),
            kem_below: KemPreKeyId::new(state.next.kem),
        });
    }
    let signed_id = take(&mut state.next.signed, 1)?;
    let last_resort_id = take(&mut state.next.kem, 1)?;
    let signed = SignedPreKey::generate(signed_id, identity, rng);
    let last_resort = KemPreKey::generate_last_resort(last_resort_id, identity, rng);
    state.current = Generation {
        signed: signed.id(),
        last_resort: last_resort.id(),
        created_at: now,
    };
    Ok((signed, last_resort))
}

/// The signed prekey now published, read from the store; `None` if the store lost it.
fn published_signed_prekey<S: ProtocolStore>(
    store: &S,
    state: &PreKeyState,
) -> Result<Option<SignedPreKey>> {
    let id = state.current.signed;
    let key = store.signed_prekey(id).map_err(store_err)?;
    Ok(key.filter(|key| key.id() == id))
}

/// Hand out `count` ids from `next` on: the first of them.
fn take(next: &mut u32, count: u32) -> Result<u32> {
    let first = *next;
    *next = first.checked_add(count).ok_or(Error::PreKeyIdsExhausted)?;
    Ok(first)
}
