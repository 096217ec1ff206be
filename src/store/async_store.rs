//! [`AsyncStore`]: the store-backed operations for async apps, run on a thread that owns the
//! store, so they never block the app's runtime.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::account::{AccountKey, DeviceListChanges, PhoneNumber, SignedDeviceList};
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, VerifiedBundle};
use crate::session::Message;
use crate::store::{AccountTrust, Address, FanOut, ProtocolStore};

/// One call, run on the worker with the store.
type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// The store-backed operations as futures, for apps on an async runtime (tokio, async-std,
/// smol: it needs none of them).
///
/// `AsyncStore::new` moves a store onto a thread of its own; each method queues the operation
/// there and returns a [`Pending`] future, which is `Send` and `'static` and resolves with the
/// operation's result. A store's operations run one at a time, in the order they were called;
/// the runtime's threads only wait on the future. Handles are cheap to clone and share one
/// store.
///
/// For operations that run in parallel, open several stores on one database file
/// ([`SqliteStore`](crate::store::SqliteStore) connections) and give each its own
/// `AsyncStore`: their commits are checked against each other as those of two processes are.
///
/// An operation queued runs to its end even if its future is dropped: a message encrypted
/// for a dropped future is lost (its key is never used again), a message decrypted for one
/// is consumed.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use keylink::Timestamp;
/// use keylink::account::PreKeyUpkeep;
/// use keylink::keys::{IdentityKeyPair, PreKeyBundle};
/// use keylink::store::{Address, AsyncStore, MemoryStore};
///
/// let mut rng = keylink::os_rng();
/// let mut bob = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
/// // Bob publishes his bundles; Alice fetches one from the server.
/// let now = Timestamp::from(std::time::SystemTime::now());
/// let upload = PreKeyUpkeep::new(1).run(&mut bob, now, 0, &mut rng)?;
/// let published = upload.expect("a first upload").one_time()[0].to_bytes();
/// let bundle = PreKeyBundle::try_from(published.as_slice())?.verify()?;
///
/// let alice = AsyncStore::new(MemoryStore::new(IdentityKeyPair::generate(&mut rng)))?;
/// let bob = AsyncStore::new(bob)?;
/// let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
/// alice.start_session(bob_addr.clone(), bundle).await?;
/// let message = alice.encrypt(bob_addr, b"Hi Bob!".to_vec()).await?;
/// // The futures are Send: they can be spawned on a multi-threaded runtime.
/// let received = tokio::spawn(bob.decrypt(alice_addr, message.to_bytes()));
/// assert_eq!(received.await??, b"Hi Bob!");
/// # Ok(())
/// # }
/// ```
pub struct AsyncStore<S> {
    jobs: mpsc::Sender<Job<S>>,
}

impl<S> Clone for AsyncStore<S> {
    fn clone(&self) -> Self {
        AsyncStore {
            jobs: self.jobs.clone(),
        }
    }
}

impl<S> fmt::Debug for AsyncStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncStore").finish_non_exhaustive()
    }
}

impl<S: ProtocolStore + Send + 'static> AsyncStore<S> {
    /// Move `store` onto a new thread ("keylink-store"), which runs until every handle is
    /// dropped. Fails only if the operating system cannot start a thread.
    pub fn new(store: S) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        std::thread::Builder::new()
            .name("keylink-store".into())
            .spawn(move || {
                let mut store = store;
                while let Ok(job) = queue.recv() {
                    job(&mut store);
                }
            })?;
        Ok(AsyncStore { jobs })
    }

    /// [`start_session`](crate::start_session), on the store's thread.
    pub fn start_session(&self, address: Address, bundle: VerifiedBundle) -> Pending<()> {
        self.run(move |store| crate::start_session(store, &address, &bundle, &mut crate::os_rng()))
    }

    /// [`encrypt`](crate::encrypt), on the store's thread.
    pub fn encrypt(&self, address: Address, plaintext: Vec<u8>) -> Pending<Message> {
        self.run(move |store| {
            let plaintext = zeroize::Zeroizing::new(plaintext);
            crate::encrypt(store, &address, &plaintext)
        })
    }

    /// [`encrypt_in_place`](crate::encrypt_in_place), on the store's thread: `buffer` holds
    /// the plaintext, and the future gives it back holding the serialized message. On an
    /// error the buffer, plaintext and all, is wiped and dropped; keep a copy if the message
    /// must be retried.
    pub fn encrypt_in_place(&self, address: Address, buffer: Vec<u8>) -> Pending<Vec<u8>> {
        self.run(move |store| {
            let mut buffer = zeroize::Zeroizing::new(buffer);
            crate::encrypt_in_place(store, &address, &mut buffer)?;
            Ok(core::mem::take(&mut *buffer))
        })
    }

    /// [`encrypt_for_accounts`](crate::encrypt_for_accounts), on the store's thread.
    pub fn encrypt_for_accounts(
        &self,
        accounts: Vec<PhoneNumber>,
        plaintext: Vec<u8>,
    ) -> Pending<FanOut> {
        self.run(move |store| {
            let plaintext = zeroize::Zeroizing::new(plaintext);
            crate::encrypt_for_accounts(store, &accounts, &plaintext)
        })
    }

    /// [`devices_without_session`](crate::devices_without_session), on the store's thread.
    pub fn devices_without_session(&self, accounts: Vec<PhoneNumber>) -> Pending<Vec<Address>> {
        self.run(move |store| crate::devices_without_session(store, &accounts))
    }

    /// [`decrypt`](crate::decrypt), on the store's thread.
    pub fn decrypt(&self, address: Address, bytes: Vec<u8>) -> Pending<Vec<u8>> {
        self.run(move |store| crate::decrypt(store, &address, &bytes, &mut crate::os_rng()))
    }

    /// [`accept_identity`](crate::accept_identity), on the store's thread.
    pub fn accept_identity(&self, address: Address, identity: IdentityKey) -> Pending<()> {
        self.run(move |store| crate::accept_identity(store, &address, &identity))
    }

    /// [`check_account`](crate::check_account), on the store's thread.
    pub fn check_account(&self, phone: PhoneNumber, key: AccountKey) -> Pending<AccountTrust> {
        self.run(move |store| crate::check_account(store, &phone, &key))
    }

    /// [`accept_account`](crate::accept_account), on the store's thread.
    pub fn accept_account(&self, phone: PhoneNumber, key: AccountKey) -> Pending<()> {
        self.run(move |store| crate::accept_account(store, &phone, &key))
    }

    /// [`accept_device_list`](crate::accept_device_list) on the store's thread.
    pub fn accept_device_list(
        &self,
        phone: PhoneNumber,
        list: SignedDeviceList,
    ) -> Pending<DeviceListChanges> {
        self.run(move |store| crate::accept_device_list(store, &phone, list))
    }

    /// [`accept_own_device_list`](crate::accept_own_device_list) on the store's thread.
    pub fn accept_own_device_list(
        &self,
        phone: PhoneNumber,
        list: SignedDeviceList,
    ) -> Pending<DeviceListChanges> {
        self.run(move |store| crate::accept_own_device_list(store, &phone, list))
    }

    /// [`device_list_needed`](crate::device_list_needed) on the store's thread.
    pub fn device_list_needed(&self, phone: PhoneNumber) -> Pending<Option<u64>> {
        self.run(move |store| crate::device_list_needed(store, &phone))
    }

    /// Run `f` with the store on its thread, in turn with the operations: for
    /// [`PreKeyUpkeep::run`](crate::account::PreKeyUpkeep::run) and what the store offers
    /// besides them (adding prekeys, reading a row).
    pub fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> Pending<T> {
        self.run(move |store| Ok(f(store)))
    }

    fn run<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut S) -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        let slot = Arc::new(Mutex::new(Slot {
            value: None,
            waker: None,
            closed: false,
        }));
        let reply = Reply(Arc::clone(&slot));
        let job: Job<S> = Box::new(move |store| reply.send(operation(store)));
        // If the worker is gone, the job (and its `Reply`) is dropped here, which closes the
        // slot: the future resolves to `WorkerStopped`.
        let _ = self.jobs.send(job);
        Pending { slot }
    }
}

/// The store's thread stopped: the store panicked while running an operation. The error
/// reaches callers inside [`Error::Store`].
#[derive(Debug)]
#[non_exhaustive]
pub struct WorkerStopped;

impl fmt::Display for WorkerStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the store's thread stopped (the store panicked during an operation); open the store again and make a new AsyncStore",
        )
    }
}

impl std::error::Error for WorkerStopped {}

struct Slot<T> {
    value: Option<Result<T>>,
    waker: Option<Waker>,
    /// The worker will never send a value (it sent one, or dropped the job).
    closed: bool,
}

fn lock<T>(slot: &Mutex<Slot<T>>) -> std::sync::MutexGuard<'_, Slot<T>> {
    // Nothing panics while holding the lock; if something did, the slot is still consistent.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The worker's end of one call.
struct Reply<T>(Arc<Mutex<Slot<T>>>);

impl<T> Reply<T> {
    fn send(self, value: Result<T>) {
        lock(&self.0).value = Some(value);
        // Dropping `self` closes the slot and wakes the future.
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The result of an operation queued on an [`AsyncStore`]: a `Send` future.
#[must_use = "the operation runs anyway; await the future for its result"]
pub struct Pending<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut slot = lock(&self.slot);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(value);
        }
        if slot.closed {
            return Poll::Ready(Err(Error::Store(Box::new(WorkerStopped))));
        }
        match &mut slot.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            None => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
