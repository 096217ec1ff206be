#![cfg(test)]
//! Prekey upkeep (PROTOCOL.md §11.5): what each run publishes, keeps and deletes, that late
//! PreKey messages still decrypt within the grace period, that ids are never reused, and
//! that a failed run changes nothing.

mod common;

use core::time::Duration;
use std::collections::BTreeSet;

use common::server::BundleServer;
use common::{FailingStore, rng};
use keylink::account::{PreKeyPolicy, PreKeyUpkeep, PreKeyUpload};
use keylink::keys::{IdentityKeyPair, PreKeyBundle, PreKeyKind};
use keylink::store::{Address, MemoryStore};
use keylink::{Error, Timestamp};

const DAY: Duration = Duration::from_secs(86_400);
const T0: Timestamp = Timestamp::from_unix_secs(1_800_000_000);

fn at(days: u64) -> Timestamp {
    T0.saturating_add(DAY * u32::try_from(days).unwrap())
}

fn bob() -> MemoryStore {
    MemoryStore::new(IdentityKeyPair::generate(&mut rng()))
}

fn upload(
    upkeep: &PreKeyUpkeep,
    store: &mut MemoryStore,
    now: Timestamp,
    held: u32,
) -> PreKeyUpload {
    let upload = upkeep.run(store, now, held, &mut rng()).unwrap();
    upload.expect("an upload")
}

/// A new contact's PreKey message to the device behind `bundle`.
fn prekey_message(bundle: &[u8], n: usize) -> (Address, Vec<u8>) {
    let mut rng = rng();
    let mut alice = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
    let bundle = PreKeyBundle::try_from(bundle).unwrap().verify().unwrap();
    let bob = Address::new("bob", 1);
    keylink::start_session(&mut alice, &bob, &bundle, &mut rng).unwrap();
    let message = keylink::encrypt(&mut alice, &bob, format!("hello {n}").as_bytes()).unwrap();
    (Address::new(format!("alice{n}"), 1), message.to_bytes())
}

#[test]
fn the_first_run_publishes_everything_the_default_policy_says() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(7);
    let first = upload(&upkeep, &mut store, T0, 0);
    assert!(first.replaces());
    let (last_resort, one_time) = (first.last_resort().unwrap(), first.one_time());
    assert_eq!(one_time.len(), 100);
    assert_eq!(last_resort.one_time_prekey_id(), None);
    for bundle in one_time.iter().chain([last_resort]) {
        assert_eq!(bundle.device_id().get(), 7);
        assert_eq!(bundle.identity_key(), store.identity().unwrap().public());
        assert_eq!(bundle.signed_prekey_id(), last_resort.signed_prekey_id());
        assert!(bundle.clone().verify().is_ok());
    }
    let one_time_ids: BTreeSet<_> = one_time.iter().map(|b| b.one_time_prekey_id()).collect();
    let kem_ids: BTreeSet<_> = first.one_time().iter().map(|b| b.kem_prekey_id()).collect();
    assert_eq!((one_time_ids.len(), kem_ids.len()), (100, 100));
    assert!(!kem_ids.contains(&last_resort.kem_prekey_id()));
    assert_eq!(store.one_time_prekey_ids().len(), 100);
    assert_eq!(store.one_time_kem_prekey_ids().len(), 100);
    assert_eq!(store.signed_prekey_ids().len(), 1);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 1);
    let state = keylink::store::ProtocolStore::prekey_state(&store)
        .unwrap()
        .unwrap();
    assert_eq!(state.published_at(), T0);
    assert_eq!(state.signed_prekey(), last_resort.signed_prekey_id());
}

#[test]
fn nothing_to_do_writes_nothing() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    upload(&upkeep, &mut store, T0, 0);
    let before = store.to_bytes();
    for (days, held) in [(0, 100), (3, 25), (6, 80)] {
        assert_eq!(
            upkeep.run(&mut store, at(days), held, &mut rng()).unwrap(),
            None
        );
    }
    assert_eq!(store.to_bytes(), before);
}

#[test]
fn a_refill_tops_up_to_the_target_with_new_ids() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let first = upload(&upkeep, &mut store, T0, 0);
    let refill = upload(&upkeep, &mut store, at(1), 24);
    assert!(!refill.replaces() && refill.last_resort().is_none());
    let one_time = refill.one_time();
    assert_eq!(one_time.len(), 76);
    let signed = first.last_resort().unwrap().signed_prekey_id();
    assert!(one_time.iter().all(|b| b.signed_prekey_id() == signed));
    let first_ids: BTreeSet<_> = first.one_time().iter().map(|b| b.kem_prekey_id()).collect();
    assert!(
        one_time
            .iter()
            .all(|b| !first_ids.contains(&b.kem_prekey_id()))
    );
    assert_eq!(store.one_time_prekey_ids().len(), 176);
}

#[test]
fn rotation_replaces_and_keeps_the_old_generation_for_the_grace_period() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let first = upload(&upkeep, &mut store, T0, 0);
    let old_signed = first.last_resort().unwrap().signed_prekey_id();
    let rotated = upload(&upkeep, &mut store, at(7), 90);
    assert!(rotated.replaces());
    assert_eq!(rotated.one_time().len(), 100);
    assert!(rotated.last_resort().unwrap().signed_prekey_id() > old_signed);
    // Both generations are kept: 200 one-time prekeys, 2 signed, 2 last-resort.
    assert_eq!(store.signed_prekey_ids().len(), 2);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 2);
    assert_eq!(store.one_time_prekey_ids().len(), 200);
    // 30 days after the rotation (not before) the old generation goes.
    assert_eq!(
        upkeep
            .run(&mut store, at(36), 100, &mut rng())
            .unwrap()
            .map(|u| u.replaces()),
        Some(true)
    );
    // Day 36 is 29 days after the first rotation and the second generation is due: three
    // generations are kept.
    assert_eq!(store.signed_prekey_ids().len(), 3);
    assert_eq!(store.one_time_prekey_ids().len(), 300);
    upkeep.run(&mut store, at(37), 100, &mut rng()).unwrap();
    assert!(!store.signed_prekey_ids().contains(&old_signed));
    assert_eq!(store.signed_prekey_ids().len(), 2);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 2);
    assert_eq!(store.one_time_prekey_ids().len(), 200);
}

#[test]
fn a_late_prekey_message_decrypts_until_the_grace_period_ends() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let mut server = BundleServer::default();
    server.upload(&upload(&upkeep, &mut store, T0, 0));
    let (early, late) = (
        prekey_message(&server.fetch().unwrap(), 1),
        prekey_message(&server.fetch().unwrap(), 2),
    );
    // Rotated on day 7; the messages sent on day 0 arrive on day 36 and day 38.
    server.upload(&upload(&upkeep, &mut store, at(7), server.held()));
    upkeep
        .run(&mut store, at(36), server.held(), &mut rng())
        .unwrap();
    let plaintext = keylink::decrypt(&mut store, &early.0, &early.1, &mut rng()).unwrap();
    assert_eq!(plaintext, b"hello 1");
    upkeep
        .run(&mut store, at(37), server.held(), &mut rng())
        .unwrap();
    refused_as_expired(&mut store, &late);
}

/// `message` no longer decrypts: the signed prekey it was sent to is deleted.
fn refused_as_expired<S: keylink::store::ProtocolStore>(
    store: &mut S,
    message: &(Address, Vec<u8>),
) {
    let err = keylink::decrypt(store, &message.0, &message.1, &mut rng()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPreKey {
                kind: PreKeyKind::Signed,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_empty_server_hands_out_the_last_resort_bundle_which_still_works() {
    let mut store = bob();
    let policy = PreKeyPolicy::default().one_time_target(2).refill_below(1);
    let upkeep = PreKeyUpkeep::with_policy(1, policy).unwrap();
    let mut server = BundleServer::default();
    server.upload(&upload(&upkeep, &mut store, T0, 0));
    let messages: Vec<_> = (0..4)
        .map(|n| prekey_message(&server.fetch().unwrap(), n))
        .collect();
    for (n, (from, bytes)) in messages.iter().enumerate() {
        let plaintext = keylink::decrypt(&mut store, from, bytes, &mut rng()).unwrap();
        assert_eq!(plaintext, format!("hello {n}").as_bytes());
    }
    assert_eq!(store.one_time_prekey_ids().len(), 0);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 1);
    assert_eq!(
        upload(&upkeep, &mut store, at(1), server.held())
            .one_time()
            .len(),
        2
    );
}

#[test]
fn a_failed_commit_changes_nothing_and_the_next_run_publishes() {
    let mut store = FailingStore {
        inner: bob(),
        fail_next: true,
    };
    let upkeep = PreKeyUpkeep::new(1);
    let before = store.inner.to_bytes();
    let err = upkeep.run(&mut store, T0, 0, &mut rng()).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert_eq!(store.inner.to_bytes(), before);
    let first = upkeep.run(&mut store, T0, 0, &mut rng()).unwrap().unwrap();
    assert!(first.replaces());
    assert_eq!(first.last_resort().unwrap().signed_prekey_id().get(), 1);
}

#[test]
fn a_device_without_identity_is_told_to_make_one() {
    let mut store = MemoryStore::default();
    let err = PreKeyUpkeep::new(1)
        .run(&mut store, T0, 0, &mut rng())
        .unwrap_err();
    assert!(matches!(err, Error::NoLocalIdentity), "{err}");
}

#[test]
fn a_bad_policy_is_refused_with_its_reason() {
    let policy = PreKeyPolicy::default().refill_below(200);
    let err = PreKeyUpkeep::with_policy(1, policy).unwrap_err();
    assert!(matches!(err, Error::InvalidPreKeyPolicy(_)), "{err}");
    assert!(err.to_string().contains("refill_below"), "{err}");
}

#[test]
fn the_state_survives_a_snapshot() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    upload(&upkeep, &mut store, T0, 0);
    upload(&upkeep, &mut store, at(8), 0);
    let mut restored = MemoryStore::from_bytes(&store.to_bytes()).unwrap();
    let next = upload(&upkeep, &mut restored, at(9), 0);
    let again = upload(&upkeep, &mut store, at(9), 0);
    // Same ids from both copies: the counters came back with the snapshot.
    let ids = |u: &PreKeyUpload| {
        u.one_time()
            .iter()
            .map(|b| b.kem_prekey_id())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&next), ids(&again));
}

mod schedule {
    //! Random schedules of "time passes / bundles fetched / PreKey messages arrive late /
    //! upkeep runs (its upload delivered or lost)".

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use keylink::keys::SignedPreKeyId;

    const TARGET: u32 = 3;
    const REFILL_BELOW: u32 = 2;
    const ROTATE: Duration = Duration::from_secs(7 * 86_400);
    const KEEP: Duration = Duration::from_secs(30 * 86_400);

    #[derive(Clone, Debug)]
    enum Op {
        /// Time passes, in hours.
        Advance(u32),
        /// A new contact fetches a bundle and sends a PreKey message, delivered later.
        Fetch,
        /// One of the messages not delivered yet arrives.
        Deliver(usize),
        /// Upkeep runs; its upload reaches the server unless `lost`.
        Upkeep { lost: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..=240).prop_map(Op::Advance),
            3 => Just(Op::Fetch),
            2 => any::<usize>().prop_map(Op::Deliver),
            4 => Just(Op::Upkeep { lost: false }),
            1 => Just(Op::Upkeep { lost: true }),
        ]
    }

    struct Pending {
        from: Address,
        bytes: Vec<u8>,
        fetched_at: Timestamp,
        signed: SignedPreKeyId,
        n: usize,
    }

    struct World {
        now: Timestamp,
        store: MemoryStore,
        server: BundleServer,
        upkeep: PreKeyUpkeep,
        pending: Vec<Pending>,
        sent: usize,
        /// The signed prekey of each generation, and when a rotation replaced it.
        retired: BTreeMap<SignedPreKeyId, Timestamp>,
        current: Option<SignedPreKeyId>,
        /// Every id ever published, and the generation of each one-time prekey.
        one_time: BTreeMap<u32, SignedPreKeyId>,
        kem: BTreeSet<u32>,
        lost_any: bool,
    }

    impl World {
        fn new() -> Self {
            let policy = PreKeyPolicy::default()
                .one_time_target(TARGET)
                .refill_below(REFILL_BELOW)
                .rotate_after(ROTATE)
                .keep_old_for(KEEP);
            World {
                now: T0,
                store: bob(),
                server: BundleServer::default(),
                upkeep: PreKeyUpkeep::with_policy(1, policy).unwrap(),
                pending: Vec::new(),
                sent: 0,
                retired: BTreeMap::new(),
                current: None,
                one_time: BTreeMap::new(),
                kem: BTreeSet::new(),
                lost_any: false,
            }
        }

        /// Whether a key of the generation of `signed` must still be kept now.
        fn kept(&self, signed: SignedPreKeyId) -> bool {
            self.retired
                .get(&signed)
                .is_none_or(|r| self.now.saturating_since(*r) < KEEP)
        }

        fn apply(&mut self, op: &Op) {
            match op {
                Op::Advance(hours) => {
                    self.now = self.now.saturating_add(Duration::from_secs(3600) * *hours)
                }
                Op::Fetch => self.fetch(),
                Op::Deliver(i) if !self.pending.is_empty() => {
                    let pending = self.pending.remove(i % self.pending.len());
                    self.deliver(pending);
                }
                Op::Deliver(_) => {}
                Op::Upkeep { lost } => self.run_upkeep(*lost),
            }
            assert!(self.server.held() <= TARGET);
        }

        fn fetch(&mut self) {
            let Some(bytes) = self.server.fetch() else {
                return;
            };
            let bundle = PreKeyBundle::try_from(bytes.as_slice()).unwrap();
            self.sent += 1;
            let (from, message) = prekey_message(&bytes, self.sent);
            self.pending.push(Pending {
                from,
                bytes: message,
                fetched_at: self.now,
                signed: bundle.signed_prekey_id(),
                n: self.sent,
            });
        }

        fn deliver(&mut self, p: Pending) {
            let result = keylink::decrypt(&mut self.store, &p.from, &p.bytes, &mut rng());
            if let (false, Some(r)) = (self.lost_any, self.retired.get(&p.signed)) {
                // With every upload delivered, a bundle's generation is replaced only after
                // the bundle was fetched: a message arriving within the grace period of its
                // fetch is within the grace period of the replacement.
                assert!(
                    *r >= p.fetched_at,
                    "served a bundle of a replaced generation"
                );
            }
            if self.kept(p.signed) {
                let plaintext = result.unwrap_or_else(|e| {
                    panic!(
                        "message {} (fetched {:?}, now {:?}): {e}",
                        p.n, p.fetched_at, self.now
                    )
                });
                assert_eq!(plaintext, format!("hello {}", p.n).as_bytes());
            }
        }

        fn run_upkeep(&mut self, lost: bool) {
            let held = self.server.held();
            let upload = self
                .upkeep
                .run(&mut self.store, self.now, held, &mut rng())
                .unwrap();
            if let Some(upload) = &upload {
                self.record(upload);
                match lost {
                    true => self.lost_any = true,
                    false => {
                        self.server.upload(upload);
                        assert_eq!(self.server.held(), TARGET, "not topped up to the target");
                    }
                }
            }
            if !lost {
                assert!(self.server.held() >= REFILL_BELOW, "not topped up");
            }
            self.check_kept();
        }

        /// Every id in `upload` is new; remember the generations.
        fn record(&mut self, upload: &PreKeyUpload) {
            if let Some(last_resort) = upload.last_resort() {
                let signed = last_resort.signed_prekey_id();
                assert!(
                    self.current.is_none_or(|c| c < signed),
                    "signed prekey id reused"
                );
                if let Some(previous) = self.current.replace(signed) {
                    self.retired.insert(previous, self.now);
                }
                assert!(
                    self.kem.insert(last_resort.kem_prekey_id().get()),
                    "KEM id reused"
                );
                assert_eq!(upload.one_time().len(), TARGET as usize);
            }
            for bundle in upload.one_time() {
                assert_eq!(Some(bundle.signed_prekey_id()), self.current);
                let id = bundle.one_time_prekey_id().unwrap().get();
                let fresh = self.one_time.insert(id, bundle.signed_prekey_id());
                assert!(fresh.is_none(), "one-time prekey id {id} reused");
                assert!(
                    self.kem.insert(bundle.kem_prekey_id().get()),
                    "KEM id reused"
                );
                assert!(bundle.clone().verify().is_ok());
            }
        }

        /// What the store keeps right after upkeep: the current generation and those
        /// replaced less than the grace period ago, nothing older.
        fn check_kept(&self) {
            let signed = self.store.signed_prekey_ids();
            for id in &signed {
                assert!(self.kept(*id), "signed prekey {id} kept too long");
            }
            let bound = (KEEP.as_secs() / ROTATE.as_secs() + 2) as usize;
            assert!(
                signed.len() <= bound,
                "{} signed prekeys kept",
                signed.len()
            );
            assert_eq!(self.store.last_resort_kem_prekey_ids().len(), signed.len());
            for id in self.store.one_time_prekey_ids() {
                let generation = self.one_time[&id.get()];
                assert!(self.kept(generation), "one-time prekey {id} kept too long");
            }
            let kem = self.store.one_time_kem_prekey_ids().len();
            assert_eq!(kem, self.store.one_time_prekey_ids().len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn late_messages_within_the_grace_period_decrypt(ops in prop::collection::vec(op(), 1..60)) {
            let mut world = World::new();
            world.apply(&Op::Upkeep { lost: false });
            for op in &ops {
                world.apply(op);
            }
            while let Some(p) = world.pending.pop() {
                world.deliver(p);
            }
        }
    }
}

mod vectors {
    //! `test-vectors/keylink/prekey_schedule.json`: a scripted run of upkeep, with what each
    //! step uploads, what the store keeps afterwards and the state record it wrote. Nothing
    //! in it depends on the random keys, so a second implementation can replay it.

    use super::*;
    use keylink::store::ProtocolStore;
    use serde_json::{Value, json};

    const VECTORS: &str = "test-vectors/keylink/prekey_schedule.json";

    /// (day, hour, bundles the server reports): a first run, refills, rotations, expiries,
    /// a clock that went back, and a long absence.
    const STEPS: [(u64, u64, u32); 16] = [
        (0, 0, 0),
        (1, 0, 4),
        (2, 0, 1),
        (3, 0, 2),
        (6, 23, 0),
        (7, 0, 3),
        (8, 0, 0),
        (14, 0, 4),
        (21, 0, 4),
        (36, 23, 4),
        (37, 0, 4),
        (44, 0, 1),
        (43, 0, 0),
        (45, 0, 4),
        (120, 0, 4),
        (151, 0, 4),
    ];

    fn policy() -> PreKeyPolicy {
        PreKeyPolicy::default().one_time_target(4).refill_below(2)
    }

    pub(super) fn ids<T: Into<u32> + Copy>(ids: &[T]) -> Vec<u32> {
        ids.iter().map(|id| (*id).into()).collect()
    }

    fn upload_json(upload: Option<&PreKeyUpload>) -> Value {
        let Some(upload) = upload else {
            return Value::Null;
        };
        let one_time: Vec<Value> = upload
            .one_time()
            .iter()
            .map(|b| {
                json!([
                    b.one_time_prekey_id().map(u32::from),
                    u32::from(b.kem_prekey_id())
                ])
            })
            .collect();
        let signed = upload.one_time().first().or(upload.last_resort());
        json!({
            "kind": if upload.replaces() { "replace" } else { "add" },
            "signed_prekey": signed.map(|b| u32::from(b.signed_prekey_id())),
            "last_resort_kem_prekey": upload.last_resort().map(|b| u32::from(b.kem_prekey_id())),
            "one_time": one_time,
        })
    }

    /// The ids a store keeps: signed, last-resort KEM, one-time, one-time KEM.
    pub(super) type Kept = [Vec<u32>; 4];

    /// The steps run through `store`, as the file records them.
    pub(super) fn steps<S: ProtocolStore>(mut store: S, kept: impl Fn(&S) -> Kept) -> Vec<Value> {
        let upkeep = PreKeyUpkeep::with_policy(1, policy()).unwrap();
        let mut steps = Vec::new();
        for (day, hour, on_server) in STEPS {
            let now = at(day).saturating_add(Duration::from_secs(3600 * hour));
            let upload = upkeep.run(&mut store, now, on_server, &mut rng()).unwrap();
            let state = store.prekey_state().unwrap().unwrap();
            let [signed, last_resort, one_time, kem] = kept(&store);
            steps.push(json!({
                "now_ms": now.as_unix_millis(),
                "on_server": on_server,
                "upload": upload_json(upload.as_ref()),
                "kept": {
                    "signed_prekeys": signed,
                    "last_resort_kem_prekeys": last_resort,
                    "one_time_prekeys": one_time,
                    "one_time_kem_prekeys": kem,
                },
                "state": common::hex(&state.to_bytes()),
            }));
        }
        steps
    }

    fn memory_kept(store: &MemoryStore) -> Kept {
        [
            ids(&store.signed_prekey_ids()),
            ids(&store.last_resort_kem_prekey_ids()),
            ids(&store.one_time_prekey_ids()),
            ids(&store.one_time_kem_prekey_ids()),
        ]
    }

    fn computed() -> Value {
        let steps = steps(bob(), memory_kept);
        json!({
            "description": "keylink prekey upkeep (PROTOCOL.md 11.5): one device run through a scripted schedule from an empty store; for each step the time and the one-time bundles the server reports, what the run uploads (kind, signed prekey id, last-resort KEM prekey id, [one-time prekey id, one-time KEM prekey id] per bundle), the prekey ids the store keeps afterwards and the prekey upkeep state record it holds (0x15 || PreKeyState). No value depends on the random keys.",
            "source": "generated by keylink: cargo test --release --test prekey_upkeep generate_vectors -- --ignored; checked by tests/prekey_upkeep.rs",
            "format": "test-vectors/README.md",
            "policy": {
                "one_time_target": 4,
                "refill_below": 2,
                "rotate_after_ms": 7 * 86_400_000u64,
                "keep_old_for_ms": 30 * 86_400_000u64,
            },
            "steps": steps,
        })
    }

    pub(super) fn path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
    }

    #[test]
    fn the_schedule_is_the_vector_files() {
        let text = std::fs::read_to_string(path()).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(file, computed());
    }

    #[test]
    fn every_state_record_in_the_file_parses_and_re_encodes() {
        let text = std::fs::read_to_string(path()).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        for step in file["steps"].as_array().unwrap() {
            let hex = step["state"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let state = keylink::account::PreKeyState::from_bytes(&bytes).unwrap();
            assert_eq!(state.to_bytes(), bytes);
        }
    }

    #[test]
    #[ignore = "writes test-vectors/keylink/prekey_schedule.json"]
    fn generate_vectors() {
        let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    //! The same upkeep through `SqliteStore`: the same schedule gives the same uploads, ids and
    //! state as the vector file, and a late PreKey message decrypts after a reopen.

    use super::*;
    use common::sqlite::TempDb;
    use keylink::store::SqliteStore;
    use keylink::store::at_rest::StorageKey;

    fn kept(store: &SqliteStore) -> vectors::Kept {
        [
            vectors::ids(&store.signed_prekey_ids().unwrap()),
            vectors::ids(&store.last_resort_kem_prekey_ids().unwrap()),
            vectors::ids(&store.one_time_prekey_ids().unwrap()),
            vectors::ids(&store.one_time_kem_prekey_ids().unwrap()),
        ]
    }

    fn open(db: &TempDb, key: &StorageKey) -> SqliteStore {
        SqliteStore::open(&db.0, key).unwrap()
    }

    fn device(db: &TempDb, key: &StorageKey) -> SqliteStore {
        let mut store = open(db, key);
        store
            .set_local_identity(&IdentityKeyPair::generate(&mut rng()))
            .unwrap();
        store
    }

    #[test]
    fn the_schedule_through_sqlite_is_the_vector_files() {
        let db = TempDb::new("upkeep-vectors");
        let key = StorageKey::from_bytes([3; 32]);
        let steps = vectors::steps(device(&db, &key), kept);
        let text = std::fs::read_to_string(vectors::path()).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::Value::Array(steps), file["steps"]);
    }

    #[test]
    fn a_late_message_decrypts_after_a_reopen_until_the_grace_period_ends() {
        let db = TempDb::new("upkeep-late");
        let key = StorageKey::from_bytes([4; 32]);
        let upkeep = PreKeyUpkeep::new(1);
        let mut server = BundleServer::default();
        let mut store = device(&db, &key);
        server.upload(&upkeep.run(&mut store, T0, 0, &mut rng()).unwrap().unwrap());
        let early = prekey_message(&server.fetch().unwrap(), 1);
        let late = prekey_message(&server.fetch().unwrap(), 2);
        let rotated = upkeep
            .run(&mut store, at(7), server.held(), &mut rng())
            .unwrap();
        server.upload(&rotated.unwrap());
        drop(store);
        let mut store = open(&db, &key);
        assert_eq!(store.signed_prekey_ids().unwrap().len(), 2);
        assert_eq!(store.last_resort_kem_prekey_ids().unwrap().len(), 2);
        upkeep
            .run(&mut store, at(36), server.held(), &mut rng())
            .unwrap();
        let text = keylink::decrypt(&mut store, &early.0, &early.1, &mut rng()).unwrap();
        assert_eq!(text, b"hello 1");
        // Day 36 rotated again (the second generation was due on day 14); day 37 deletes the
        // first generation, its signed and last-resort prekeys and its 98 unused bundles.
        upkeep
            .run(&mut store, at(37), server.held(), &mut rng())
            .unwrap();
        assert_eq!(store.signed_prekey_ids().unwrap().len(), 2);
        assert_eq!(store.last_resort_kem_prekey_ids().unwrap().len(), 2);
        assert_eq!(store.one_time_prekey_ids().unwrap().len(), 200);
        assert_eq!(store.one_time_kem_prekey_ids().unwrap().len(), 200);
        refused_as_expired(&mut store, &late);
    }
}

#[test]
fn a_lost_signed_prekey_is_replaced_at_the_next_refill() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let first = upload(&upkeep, &mut store, T0, 0);
    let lost = first.last_resort().unwrap().signed_prekey_id();
    store.remove_signed_prekey(lost);
    // Not due for rotation, but the refill cannot be made with a key the store lost: every
    // bundle is replaced instead.
    let healed = upload(&upkeep, &mut store, at(1), 10);
    assert!(healed.replaces());
    assert_eq!(healed.one_time().len(), 100);
    assert!(healed.last_resort().unwrap().signed_prekey_id() > lost);
    assert!(healed.one_time().iter().all(|b| b.clone().verify().is_ok()));
}
