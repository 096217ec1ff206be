//! `AsyncStore` on a multi-threaded tokio runtime: many tasks encrypting and decrypting at
//! once through two connections to one SQLite file (so their commits conflict) and one to
//! the peer's; the futures are `Send`; a store that panics gives an error, not a hang.
#![cfg(test)]
#![cfg(feature = "sqlite")]

mod common;

use common::rng;
use common::sqlite::{TempDb, device, introduce};
use keylink::Error;
use keylink::keys::IdentityKeyPair;
use keylink::store::at_rest::StorageKey;
use keylink::store::{Address, AsyncStore, MemoryStore, SqliteStore, WorkerStopped};

const TASKS: usize = 64;
const MESSAGES_PER_TASK: usize = 4;

fn assert_send<T: Send + 'static>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_share_two_connections_to_one_file() {
    let (a_db, b_db) = (TempDb::new("async-a"), TempDb::new("async-b"));
    let (a_key, b_key) = (
        StorageKey::generate(&mut rng()),
        StorageKey::generate(&mut rng()),
    );
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    {
        let (mut alice, _) = device(&a_db.0, &a_key);
        let (mut bob, _) = device(&b_db.0, &b_key);
        introduce(&mut alice, &mut bob);
    }
    let open = |db: &TempDb, key: &StorageKey| {
        AsyncStore::new(SqliteStore::open(&db.0, key).unwrap()).unwrap()
    };
    let alices = [open(&a_db, &a_key), open(&a_db, &a_key)];
    let bob = open(&b_db, &b_key);

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let alice = alices[task % 2].clone();
        let bob = bob.clone();
        let (alice_addr, bob_addr) = (alice_addr.clone(), bob_addr.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..MESSAGES_PER_TASK {
                let text = format!("task {task} message {i}").into_bytes();
                // Alternate directions, so Alice's two connections both send and receive.
                let (from, to, from_addr, to_addr) = match (task + i) % 2 {
                    0 => (&alice, &bob, &alice_addr, &bob_addr),
                    _ => (&bob, &alice, &bob_addr, &alice_addr),
                };
                let sent = assert_send(from.encrypt(to_addr.clone(), text.clone()));
                let bytes = sent.await?.to_bytes();
                let received = assert_send(to.decrypt(from_addr.clone(), bytes)).await?;
                assert_eq!(received, text);
            }
            Ok::<_, Error>(MESSAGES_PER_TASK)
        }));
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task
            .await
            .expect("the task ran")
            .expect("every operation succeeds");
    }
    assert_eq!(delivered, TASKS * MESSAGES_PER_TASK);

    // In place, through a clone of a handle.
    let buffer = b"in place".to_vec();
    let message = alices[1]
        .encrypt_in_place(bob_addr.clone(), buffer)
        .await
        .unwrap();
    let received = bob.decrypt(alice_addr.clone(), message).await.unwrap();
    assert_eq!(received, b"in place");
    let [first, second] = alices.map(|a| a.with(|s| s.conflicts()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    eprintln!("operations that ran again after a conflict: {first} and {second}");
    // `with` runs any store call in turn with the operations.
    let peer = bob.with(move |s| keylink::store::ProtocolStore::peer_identity(s, &alice_addr));
    assert!(peer.await.unwrap().unwrap().is_some());
}

/// A store that panics on its first read.
struct Panicking(MemoryStore);

impl keylink::store::ProtocolStore for Panicking {
    type Error = keylink::store::MemoryStoreError;
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Self::Error> {
        panic!("a store bug")
    }
    fn peer_identity(
        &self,
        a: &Address,
    ) -> Result<Option<keylink::keys::IdentityKey>, Self::Error> {
        self.0.peer_identity(a)
    }
    fn peer_account(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::AccountKey>, Self::Error> {
        self.0.peer_account(phone)
    }
    fn signed_prekey(
        &self,
        id: keylink::keys::SignedPreKeyId,
    ) -> Result<Option<keylink::keys::SignedPreKey>, Self::Error> {
        self.0.signed_prekey(id)
    }
    fn one_time_prekey(
        &self,
        id: keylink::keys::OneTimePreKeyId,
    ) -> Result<Option<keylink::keys::OneTimePreKey>, Self::Error> {
        self.0.one_time_prekey(id)
    }
    fn kem_prekey(
        &self,
        id: keylink::keys::KemPreKeyId,
    ) -> Result<Option<keylink::keys::KemPreKey>, Self::Error> {
        self.0.kem_prekey(id)
    }
    fn base_key_used(
        &self,
        s: keylink::keys::SignedPreKeyId,
        b: &keylink::keys::PublicKey,
    ) -> Result<bool, Self::Error> {
        self.0.base_key_used(s, b)
    }
    fn session_index(
        &self,
        a: &Address,
    ) -> Result<Option<keylink::session::SessionIndex>, Self::Error> {
        self.0.session_index(a)
    }
    fn session(
        &self,
        a: &Address,
        id: &keylink::session::SessionId,
    ) -> Result<Option<keylink::session::Session>, Self::Error> {
        self.0.session(a, id)
    }
    fn skipped_message_key(
        &self,
        a: &Address,
        id: &keylink::session::SkippedKeyId,
    ) -> Result<Option<keylink::session::SkippedMessageKey>, Self::Error> {
        self.0.skipped_message_key(a, id)
    }
    fn device_list(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::SignedDeviceList>, Self::Error> {
        self.0.device_list(phone)
    }
    fn prekey_state(&self) -> Result<Option<keylink::account::PreKeyState>, Self::Error> {
        self.0.prekey_state()
    }
    fn local_account(&self) -> Result<Option<keylink::account::PhoneNumber>, Self::Error> {
        self.0.local_account()
    }
    fn commit(&mut self, changes: keylink::store::Changes) -> Result<(), Self::Error> {
        self.0.commit(changes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_panics_gives_an_error_not_a_hang() {
    let bob = common::Device::new("bob", 1);
    let store = Panicking(MemoryStore::new(IdentityKeyPair::generate(&mut rng())));
    let alice = AsyncStore::new(store).unwrap();
    for _ in 0..2 {
        let e = alice
            .start_session(bob.addr.clone(), bob.bundle(Some(common::FIRST_OTPK)))
            .await
            .unwrap_err();
        let Error::Store(inner) = &e else {
            panic!("{e:?}")
        };
        assert!(inner.downcast_ref::<WorkerStopped>().is_some(), "{e}");
        assert!(e.to_string().contains("open the store again"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_keys_are_checked_and_accepted_on_the_store_thread() {
    use keylink::AccountTrust;
    use keylink::account::{AccountKeyPair, PhoneNumber};

    let store = AsyncStore::new(MemoryStore::new(IdentityKeyPair::generate(&mut rng()))).unwrap();
    let phone = PhoneNumber::parse("+44 7700 900123").unwrap();
    let (first, second) = (
        *AccountKeyPair::generate(&mut rng()).public(),
        *AccountKeyPair::generate(&mut rng()).public(),
    );
    let check = |key| assert_send(store.check_account(phone.clone(), key));
    assert_eq!(check(first).await.unwrap(), AccountTrust::FirstUse);
    assert_eq!(check(first).await.unwrap(), AccountTrust::Known);
    let e = check(second).await.unwrap_err();
    assert!(matches!(e, Error::UntrustedAccount), "{e:?}");
    let accept = store.accept_account(phone.clone(), second);
    assert_send(accept).await.unwrap();
    assert_eq!(check(second).await.unwrap(), AccountTrust::Known);
    let remembered = store.with(move |s| s.known_account(&phone).copied());
    assert_eq!(remembered.await.unwrap(), Some(second));
}
