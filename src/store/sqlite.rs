//! [`SqliteStore`]: a [`ProtocolStore`] in one SQLite file (feature `sqlite`; SQLite is
//! bundled, so nothing needs installing), every secret sealed at rest under the app's
//! [`StorageKey`] (PROTOCOL.md §8.1), one `BEGIN IMMEDIATE` transaction per commit.
//! Several processes may share the file: an operation whose snapshot another writer made
//! stale runs again under the lock (PROTOCOL.md §8.3).

use core::cell::{Cell, RefCell};
use core::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::account::{AccountKey, PhoneNumber, PreKeyState, SignedDeviceList};
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use crate::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
use crate::store::at_rest::{AtRestError, Row, Sealer, StorageKey};
use crate::store::{Address, Change, Changes, ProtocolStore};

mod migrate;
mod prekey_rows;

/// The schema this version of keylink writes (`PRAGMA user_version`). A file of an earlier
/// schema is migrated to it when it is opened (PROTOCOL.md §8.2).
pub const SCHEMA_VERSION: u32 = 4;

/// `PRAGMA application_id` of a keylink store: "klk1".
const APPLICATION_ID: i32 = 0x6B6C_6B31;

/// The tables of schema 1.
const TABLES_1: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 0), value BLOB NOT NULL);
CREATE TABLE peers (address BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE signed_prekeys (id INTEGER PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE one_time_prekeys (id INTEGER PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE kem_prekeys (id INTEGER PRIMARY KEY, last_resort INTEGER NOT NULL, value BLOB NOT NULL);
CREATE TABLE used_base_keys (signed_prekey INTEGER NOT NULL, base_key BLOB NOT NULL,
    PRIMARY KEY (signed_prekey, base_key));
CREATE TABLE session_index (address BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE sessions (address BLOB NOT NULL, session BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (address, session));
CREATE TABLE skipped_keys (address BLOB NOT NULL, session BLOB NOT NULL, chain INTEGER NOT NULL,
    counter INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (address, session, chain, counter));
";

/// The tables schema 2 added: peer account keys by (the keyed hash of) phone number, and the
/// prekey upkeep state.
const TABLES_2: &str = "
CREATE TABLE peer_accounts (phone BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE prekey_state (id INTEGER PRIMARY KEY CHECK (id = 0), value BLOB NOT NULL);
";

/// The table schema 3 added: the device list accepted per (keyed hash of) phone number.
const TABLES_3: &str = "
CREATE TABLE device_lists (phone BLOB PRIMARY KEY, value BLOB NOT NULL);
";

/// The table schema 4 added: the phone number of this device's own account (one row).
const TABLES_4: &str = "
CREATE TABLE local_account (id INTEGER PRIMARY KEY CHECK (id = 0), value BLOB NOT NULL);
";

/// The tables of a new file: those of schema 1 and those each later schema added, the same
/// tables a migrated file has.
const SCHEMA: [&str; 4] = [TABLES_1, TABLES_2, TABLES_3, TABLES_4];

/// Why a [`SqliteStore`] failed. It reaches callers of the store-backed operations inside
/// [`Error::Store`], where it can be downcast.
#[derive(Debug)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// SQLite itself failed (I/O, a locked or corrupt file).
    Sqlite(rusqlite::Error),
    /// A wrong storage key, or a sealed value that does not open for its row.
    AtRest(AtRestError),
    /// A value opened but is not a record this version of keylink reads.
    Record(Error),
    /// The file was written by a newer keylink (schema `found`, this one writes `supported`).
    NewerSchema {
        /// The file's schema version.
        found: u32,
        /// The newest schema this version reads.
        supported: u32,
    },
    /// The file is an SQLite database, but not one of keylink's.
    NotKeylink,
    /// The file is damaged (cut short or corrupt): SQLite cannot read it, or it is not a
    /// whole number of pages. keylink never repairs a file: restore it from a backup, or
    /// remove it and set the device up again.
    Damaged(String),
    /// SQLite can only read the file (file or directory permissions, a read-only file
    /// system, or a file format newer than this SQLite), and every operation writes.
    ReadOnly,
    /// Other connections (other processes, or other `SqliteStore`s on the same file) kept the
    /// database locked for the whole [`SqliteConfig::busy_timeout`]. Nothing changed.
    Busy,
    /// Another connection wrote to the database after the operation's first read, before
    /// its commit (PROTOCOL.md §8.3). Nothing changed; the store-backed operations then run
    /// again under the write lock, where it cannot happen, so callers of the operations do
    /// not see it.
    Conflict,
}

impl fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteStoreError::Sqlite(e) => write!(f, "SQLite failed: {e}"),
            SqliteStoreError::AtRest(e) => write!(f, "{e}"),
            SqliteStoreError::Record(e) => write!(f, "a stored record does not parse: {e}"),
            SqliteStoreError::NewerSchema { found, supported } => write!(
                f,
                "the database has schema {found}, written by a newer keylink (this one reads up to {supported}); update keylink"
            ),
            SqliteStoreError::NotKeylink => f.write_str(
                "the file is an SQLite database but not a keylink store; open another path",
            ),
            SqliteStoreError::Damaged(detail) => write!(
                f,
                "the database file is damaged ({detail}); restore it from a backup, or remove it and set the device up again"
            ),
            SqliteStoreError::ReadOnly => f.write_str(
                "SQLite can only read the database file (permissions, a read-only file system, or a newer file format), and keylink writes at every operation; make it writable",
            ),
            SqliteStoreError::Busy => f.write_str(
                "the database stayed locked by other connections for the whole busy timeout (SqliteConfig::busy_timeout); nothing was changed, try again",
            ),
            SqliteStoreError::Conflict => f.write_str(
                "another connection wrote to the database while this operation ran; nothing was changed, run it again",
            ),
        }
    }
}

impl std::error::Error for SqliteStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SqliteStoreError::Sqlite(e) => Some(e),
            SqliteStoreError::AtRest(e) => Some(e),
            SqliteStoreError::Record(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for SqliteStoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                SqliteStoreError::Busy
            }
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                SqliteStoreError::Damaged(e.to_string())
            }
            Some(rusqlite::ErrorCode::ReadOnly) => SqliteStoreError::ReadOnly,
            _ => SqliteStoreError::Sqlite(e),
        }
    }
}

impl From<AtRestError> for SqliteStoreError {
    fn from(e: AtRestError) -> Self {
        SqliteStoreError::AtRest(e)
    }
}

type StoreResult<T> = core::result::Result<T, SqliteStoreError>;

/// How SQLite makes a commit durable (`PRAGMA synchronous`, in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL`, the default: a commit is on disk when it returns, so an operation that
    /// returned survives a power cut or an OS crash. Each commit waits for an `fsync`.
    #[default]
    Full,
    /// `NORMAL`: a commit survives the app being killed, but a power cut or an OS crash may
    /// undo the last commits. Then a message already sent may have its message key used again
    /// for the next message, and a message already shown may be decrypted again. Choose it
    /// only where that is acceptable; `benches/README.md` has what it saves.
    Normal,
}

/// Options for [`SqliteStore::open_with`]; [`SqliteStore::open`] uses the defaults.
///
/// ```
/// use std::time::Duration;
/// use keylink::store::{SqliteConfig, Synchronous};
///
/// let config = SqliteConfig::default()
///     .synchronous(Synchronous::Full)
///     .busy_timeout(Duration::from_secs(2));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// How a commit is made durable. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// How long an operation waits for another connection (another process, or another
    /// `SqliteStore` on the same file) to release the database before it fails with
    /// [`SqliteStoreError::Busy`]. Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteConfig {
    /// These options with `synchronous`.
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// These options with `busy_timeout`.
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }
}

/// A [`ProtocolStore`] in one SQLite file, sealed at rest.
///
/// Open it with the app's [`StorageKey`], which the app keeps outside the database (in the
/// OS keystore: Keychain, Android Keystore, a Secret Service): the file alone reveals no
/// secret and no contact name. A new device stores its identity and prekeys once; from then
/// on the store-backed operations keep everything up to date, one transaction per operation.
///
/// ```
/// use keylink::Timestamp;
/// use keylink::account::PreKeyUpkeep;
/// use keylink::keys::IdentityKeyPair;
/// use keylink::store::at_rest::StorageKey;
/// use keylink::store::{Address, SqliteStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("keylink.db");
/// let mut rng = keylink::os_rng();
/// // Made once per installation and kept in the OS keystore; read from there at each start.
/// let storage_key = StorageKey::generate(&mut rng);
///
/// // Registration: a new file, this device's identity, and its prekeys made and published.
/// let mut store = SqliteStore::open(&path, &storage_key)?;
/// store.set_local_identity(&IdentityKeyPair::generate(&mut rng))?;
/// let upkeep = PreKeyUpkeep::new(1);
/// let now = Timestamp::from(std::time::SystemTime::now());
/// let upload = upkeep.run(&mut store, now, 0, &mut rng)?; // to publish
/// drop(store);
///
/// # let _ = upload;
/// // Every later start: open the same file with the same key, and pass the store to every
/// // operation (and to the upkeep, with the number of bundles the server still holds).
/// let mut store = SqliteStore::open(&path, &storage_key)?;
/// # let on_server = 100;
/// if let Some(upload) = upkeep.run(&mut store, now, on_server, &mut rng)? {
///     drop(upload); // publish it
/// }
/// let bob = Address::new("bob", 1);
/// match keylink::encrypt(&mut store, &bob, b"hello") {
///     Err(keylink::Error::NoSession) => { /* fetch Bob's bundle, start_session */ }
///     sent => drop(sent?), // send it
/// }
/// # Ok(())
/// # }
/// ```
///
/// **Several processes may use one file** (an app and its notification extension), each
/// with its own `SqliteStore`, as may several `SqliteStore`s in one process. Each
/// store-backed operation reads one snapshot of the database; its commit turns that snapshot
/// into a write transaction, which SQLite refuses if another connection wrote since. Then
/// nothing is applied and the operation runs again, this time holding the write lock from its
/// first read, so the second run cannot conflict (PROTOCOL.md §8.3). A message key is never
/// used twice and no update is lost; waits for the lock are bounded by
/// [`SqliteConfig::busy_timeout`].
pub struct SqliteStore {
    conn: Connection,
    sealer: Sealer,
    /// The transaction the running operation opened.
    transaction: Transaction,
    /// How many operation runs ended in a conflict.
    conflicts: u64,
    /// The last address hashed, and its hash.
    last_address: RefCell<Option<(Address, [u8; 32])>>,
    /// The last peer identity decoded: an operation reads it from the peer's row and from
    /// its session row, and decoding the point costs more than the rest of the read.
    last_identity: Cell<Option<IdentityKey>>,
}

/// The transaction a store-backed operation runs in (PROTOCOL.md §8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transaction {
    /// None open (outside an operation, or after its commit).
    None,
    /// `BEGIN`: the operation reads one snapshot; its commit's first write turns it into a
    /// write transaction, which SQLite refuses if another connection wrote since the
    /// snapshot (or is writing): a conflict.
    Snapshot,
    /// `BEGIN IMMEDIATE`: the write lock from the first read, so no conflict is possible.
    Locked,
}

/// A row that an operation reads, by its key: what [`SqliteStore::fetch`] reads and what a
/// sealed value is bound to.
enum RowRef {
    Identity,
    LocalAccount,
    Peer([u8; 32]),
    PeerAccount([u8; 32]),
    DeviceList([u8; 32]),
    PreKeyState,
    SignedPreKey(u32),
    OneTimePreKey(u32),
    KemPreKey(u32),
    UsedBaseKey(u32, [u8; 32]),
    SessionIndex([u8; 32]),
    Session([u8; 32], [u8; 32]),
    Skipped([u8; 32], SkippedKeyId),
}

impl RowRef {
    /// The table a sealed value of this row is bound to.
    fn table(&self) -> &'static str {
        match self {
            RowRef::Identity => "identity",
            RowRef::LocalAccount => "local_account",
            RowRef::Peer(_) => "peers",
            RowRef::PeerAccount(_) => "peer_accounts",
            RowRef::DeviceList(_) => "device_lists",
            RowRef::PreKeyState => "prekey_state",
            RowRef::SignedPreKey(_) => "signed_prekeys",
            RowRef::OneTimePreKey(_) => "one_time_prekeys",
            RowRef::KemPreKey(_) => "kem_prekeys",
            RowRef::UsedBaseKey(..) => "used_base_keys",
            RowRef::SessionIndex(_) => "session_index",
            RowRef::Session(..) => "sessions",
            RowRef::Skipped(..) => "skipped_keys",
        }
    }

    /// The row key a sealed value of this row is bound to (PROTOCOL.md §8.2).
    fn key(&self) -> Vec<u8> {
        match self {
            RowRef::Identity | RowRef::LocalAccount | RowRef::PreKeyState => Vec::new(),
            RowRef::Peer(a)
            | RowRef::SessionIndex(a)
            | RowRef::PeerAccount(a)
            | RowRef::DeviceList(a) => a.to_vec(),
            RowRef::SignedPreKey(id) | RowRef::OneTimePreKey(id) | RowRef::KemPreKey(id) => {
                id.to_be_bytes().to_vec()
            }
            RowRef::UsedBaseKey(id, base_key) => [&id.to_be_bytes()[..], base_key].concat(),
            RowRef::Session(a, id) => [a.as_slice(), id].concat(),
            RowRef::Skipped(a, id) => skipped_row_key(a, id),
        }
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open the store at `path` (created if there is no file), sealed under `key`. A file of
    /// another storage key is refused here ([`AtRestError::WrongStorageKey`]), as are a file
    /// from a newer keylink and one that is not a keylink store. WAL journal and the
    /// [default options](SqliteConfig::default): durable commits, 5 s busy timeout.
    pub fn open(path: impl AsRef<Path>, key: &StorageKey) -> StoreResult<Self> {
        Self::open_with(path, key, SqliteConfig::default())
    }

    /// [`open`](Self::open) with `config`.
    pub fn open_with(
        path: impl AsRef<Path>,
        key: &StorageKey,
        config: SqliteConfig,
    ) -> StoreResult<Self> {
        let path = path.as_ref();
        let mut conn = Connection::open(path)?;
        conn.busy_handler(Some(fair_wait(config.busy_timeout)))?;
        let mut store = SqliteStore {
            conn,
            sealer: Sealer::new(key),
            transaction: Transaction::None,
            conflicts: 0,
            last_address: RefCell::new(None),
            last_identity: Cell::new(None),
        };
        // Checked before anything is written, so a foreign or damaged file is left as it was.
        store.check_whole_pages(path)?;
        store.prepare()?;
        store.conn.pragma_update(None, "journal_mode", "WAL")?;
        let synchronous = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        store.conn.pragma_update(None, "synchronous", synchronous)?;
        Ok(store)
    }

    /// A database file is whole pages; one that is not was cut short, and SQLite would read
    /// its missing end as zeros (a row could vanish without an error).
    fn check_whole_pages(&self, path: &Path) -> StoreResult<()> {
        let Ok(metadata) = std::fs::metadata(path) else {
            return Ok(()); // not created yet
        };
        let page_size: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))?;
        let page_size = u64::try_from(page_size).unwrap_or(0);
        if page_size != 0 && metadata.len() % page_size != 0 {
            return Err(SqliteStoreError::Damaged(format!(
                "the file is {} bytes, not a whole number of its {page_size}-byte pages: it was cut short",
                metadata.len()
            )));
        }
        Ok(())
    }

    /// Create the schema in a new file, or check an existing one's version and key, then
    /// migrate it if its schema is older (PROTOCOL.md §8.2).
    fn prepare(&mut self) -> StoreResult<()> {
        let version: u32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let application_id: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))?;
        // SQLite decides this when it reads the header, as it just did.
        if self.conn.is_readonly(c"main")? {
            return Err(SqliteStoreError::ReadOnly);
        }
        let ours = application_id == APPLICATION_ID;
        if application_id != 0 && !ours {
            return Err(SqliteStoreError::NotKeylink);
        }
        match version {
            0 => self.create(),
            // Schema 1 was written without an application id at first.
            1..=SCHEMA_VERSION if ours || version == 1 => {
                self.check_key()?;
                match version < SCHEMA_VERSION {
                    true => migrate::to_current(&mut self.conn, &self.sealer),
                    false => Ok(()),
                }
            }
            found if found > SCHEMA_VERSION && ours => Err(SqliteStoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            }),
            _ => Err(SqliteStoreError::NotKeylink),
        }
    }

    fn create(&mut self) -> StoreResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tables: u32 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables != 0 {
            return Err(SqliteStoreError::NotKeylink);
        }
        for tables in SCHEMA {
            tx.execute_batch(tables)?;
        }
        let check = self.sealer.key_check();
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('key_check', ?1)",
            params![check.as_slice()],
        )?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        Ok(())
    }

    fn check_key(&self) -> StoreResult<()> {
        let tables: u32 = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )?;
        if tables == 0 {
            return Err(SqliteStoreError::NotKeylink);
        }
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let stored = stored.ok_or(SqliteStoreError::NotKeylink)?;
        Ok(self.sealer.verify_key_check(&stored)?)
    }

    /// The keyed hash of `address`; an operation names one address several times, so the
    /// last one is kept.
    fn address(&self, address: &Address) -> [u8; 32] {
        let mut last = self.last_address.borrow_mut();
        match &*last {
            Some((cached, hash)) if cached == address => *hash,
            _ => {
                let hash = address_hash(&self.sealer, address);
                *last = Some((address.clone(), hash));
                hash
            }
        }
    }

    /// Run `sql` (a statement without parameters), prepared once per connection.
    fn execute(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }

    fn seal(&self, table: &str, row_key: &[u8], value: &[u8]) -> StoreResult<Vec<u8>> {
        seal_value(&self.sealer, table, row_key, value)
    }

    /// Read `row`'s sealed value and open it.
    fn read_sealed(&self, row: RowRef) -> StoreResult<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let Some(sealed) = self.fetch(&row)? else {
            return Ok(None);
        };
        let key = row.key();
        let binding = Row {
            table: row.table(),
            row_key: &key,
            schema_version: SCHEMA_VERSION,
        };
        Ok(Some(self.sealer.open(&binding, &sealed)?))
    }

    /// The stored bytes of `row` (for a used base key, empty bytes if it is stored).
    fn fetch(&self, row: &RowRef) -> StoreResult<Option<Vec<u8>>> {
        let conn = &self.conn;
        let found = match row {
            RowRef::Identity => {
                let mut s = conn.prepare_cached("SELECT value FROM identity WHERE id = 0")?;
                s.query_row([], |r| r.get(0)).optional()?
            }
            RowRef::LocalAccount => {
                let mut s = conn.prepare_cached("SELECT value FROM local_account WHERE id = 0")?;
                s.query_row([], |r| r.get(0)).optional()?
            }
            RowRef::Peer(a) => {
                let mut s = conn.prepare_cached("SELECT value FROM peers WHERE address = ?1")?;
                s.query_row([a.as_slice()], |r| r.get(0)).optional()?
            }
            RowRef::PeerAccount(p) => {
                let mut s =
                    conn.prepare_cached("SELECT value FROM peer_accounts WHERE phone = ?1")?;
                s.query_row([p.as_slice()], |r| r.get(0)).optional()?
            }
            RowRef::DeviceList(p) => {
                let mut s =
                    conn.prepare_cached("SELECT value FROM device_lists WHERE phone = ?1")?;
                s.query_row([p.as_slice()], |r| r.get(0)).optional()?
            }
            RowRef::PreKeyState => {
                let mut s = conn.prepare_cached("SELECT value FROM prekey_state WHERE id = 0")?;
                s.query_row([], |r| r.get(0)).optional()?
            }
            RowRef::SignedPreKey(id) => {
                let mut s =
                    conn.prepare_cached("SELECT value FROM signed_prekeys WHERE id = ?1")?;
                s.query_row([id], |r| r.get(0)).optional()?
            }
            RowRef::OneTimePreKey(id) => {
                let mut s =
                    conn.prepare_cached("SELECT value FROM one_time_prekeys WHERE id = ?1")?;
                s.query_row([id], |r| r.get(0)).optional()?
            }
            RowRef::KemPreKey(id) => {
                let mut s = conn.prepare_cached("SELECT value FROM kem_prekeys WHERE id = ?1")?;
                s.query_row([id], |r| r.get(0)).optional()?
            }
            RowRef::UsedBaseKey(signed, base_key) => {
                let mut s = conn.prepare_cached(
                    "SELECT x'' FROM used_base_keys WHERE signed_prekey = ?1 AND base_key = ?2",
                )?;
                s.query_row(params![signed, base_key.as_slice()], |r| r.get(0))
                    .optional()?
            }
            RowRef::SessionIndex(a) => {
                let mut s =
                    conn.prepare_cached("SELECT value FROM session_index WHERE address = ?1")?;
                s.query_row([a.as_slice()], |r| r.get(0)).optional()?
            }
            RowRef::Session(a, id) => {
                let mut s = conn.prepare_cached(
                    "SELECT value FROM sessions WHERE address = ?1 AND session = ?2",
                )?;
                s.query_row(params![a.as_slice(), id.as_slice()], |r| r.get(0))
                    .optional()?
            }
            RowRef::Skipped(a, id) => {
                let mut s = conn.prepare_cached(
                    "SELECT value FROM skipped_keys WHERE address = ?1 AND session = ?2 AND chain = ?3 AND counter = ?4",
                )?;
                let chain = i64::try_from(id.chain).unwrap_or(i64::MAX);
                s.query_row(
                    params![
                        a.as_slice(),
                        id.session.as_bytes().as_slice(),
                        chain,
                        id.counter
                    ],
                    |r| r.get(0),
                )
                .optional()?
            }
        };
        Ok(found)
    }

    /// How many times an operation through this store found, at its commit, that another
    /// writer had changed the database since its first read, and ran again (a figure for
    /// the app's metrics: a high rate means two processes often write at once).
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Keep this device's identity (replacing one kept before).
    pub fn set_local_identity(&mut self, identity: &IdentityKeyPair) -> StoreResult<()> {
        let value = self.seal("identity", b"", &identity.to_bytes())?;
        self.conn.execute(
            "INSERT OR REPLACE INTO identity (id, value) VALUES (0, ?1)",
            params![value],
        )?;
        Ok(())
    }

    /// Keep a signed prekey (prekeys made by hand: [`PreKeyUpkeep`](crate::account::PreKeyUpkeep)
    /// makes and keeps them itself, with ids from 1 up).
    pub fn add_signed_prekey(&mut self, key: &SignedPreKey) -> StoreResult<()> {
        prekey_rows::insert_signed(&self.conn, &self.sealer, key)
    }

    /// Keep a batch of one-time prekeys, in one transaction.
    pub fn add_one_time_prekeys(&mut self, keys: &[OneTimePreKey]) -> StoreResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        prekey_rows::insert_one_time(&tx, &self.sealer, keys)?;
        Ok(tx.commit()?)
    }

    /// Keep KEM prekeys (one-time ones and the last-resort one), in one transaction.
    pub fn add_kem_prekeys(&mut self, keys: &[KemPreKey]) -> StoreResult<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        prekey_rows::insert_kem(&tx, &self.sealer, keys)?;
        Ok(tx.commit()?)
    }

    /// Ids of the signed prekeys kept (the published one and those kept for late PreKey
    /// messages), in ascending order.
    pub fn signed_prekey_ids(&self) -> StoreResult<Vec<SignedPreKeyId>> {
        prekey_rows::ids(&self.conn, "SELECT id FROM signed_prekeys ORDER BY id")
    }

    /// Ids of the one-time prekeys not used yet, in ascending order.
    pub fn one_time_prekey_ids(&self) -> StoreResult<Vec<OneTimePreKeyId>> {
        prekey_rows::ids(&self.conn, "SELECT id FROM one_time_prekeys ORDER BY id")
    }

    /// Ids of the one-time KEM prekeys not used yet, in ascending order.
    pub fn one_time_kem_prekey_ids(&self) -> StoreResult<Vec<KemPreKeyId>> {
        let sql = "SELECT id FROM kem_prekeys WHERE last_resort = 0 ORDER BY id";
        prekey_rows::ids(&self.conn, sql)
    }

    /// Ids of the last-resort KEM prekeys kept, in ascending order.
    pub fn last_resort_kem_prekey_ids(&self) -> StoreResult<Vec<KemPreKeyId>> {
        let sql = "SELECT id FROM kem_prekeys WHERE last_resort = 1 ORDER BY id";
        prekey_rows::ids(&self.conn, sql)
    }
}

/// Apply one change inside the commit's transaction.
fn apply_in(store: &SqliteStore, change: Change) -> StoreResult<()> {
    let tx = &store.conn;
    match change {
        Change::SessionIndex { address, index } => {
            let a = store.address(&address);
            let value = store.seal("session_index", &a, &index.to_bytes())?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO session_index (address, value) VALUES (?1, ?2)",
            )?
            .execute(params![a.as_slice(), value])?;
        }
        Change::Session { address, session } => {
            let a = store.address(&address);
            let id = session.id();
            let key = [a.as_slice(), id.as_bytes()].concat();
            let value = store.seal("sessions", &key, &session.to_bytes())?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO sessions (address, session, value) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![a.as_slice(), id.as_bytes().as_slice(), value])?;
        }
        Change::RemoveSession { address, id } => {
            let a = store.address(&address);
            let p = params![a.as_slice(), id.as_bytes().as_slice()];
            tx.prepare_cached("DELETE FROM sessions WHERE address = ?1 AND session = ?2")?
                .execute(p)?;
            tx.prepare_cached("DELETE FROM skipped_keys WHERE address = ?1 AND session = ?2")?
                .execute(p)?;
        }
        Change::SkippedMessageKeys { address, keys } => {
            let a = store.address(&address);
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO skipped_keys (address, session, chain, counter, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for key in keys {
                let id = key.id();
                let row_key = skipped_row_key(&a, id);
                let value = store.seal("skipped_keys", &row_key, key.to_bytes().as_slice())?;
                let chain = i64::try_from(id.chain).unwrap_or(i64::MAX);
                insert.execute(params![
                    a.as_slice(),
                    id.session.as_bytes().as_slice(),
                    chain,
                    id.counter,
                    value
                ])?;
            }
        }
        Change::RemoveSkippedMessageKey { address, id } => {
            let a = store.address(&address);
            let chain = i64::try_from(id.chain).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "DELETE FROM skipped_keys WHERE address = ?1 AND session = ?2 AND chain = ?3 AND counter = ?4",
            )?
            .execute(
                params![a.as_slice(), id.session.as_bytes().as_slice(), chain, id.counter],
            )?;
        }
        Change::EvictSkippedMessageKeys {
            address,
            session,
            chain,
            count,
        } => {
            let a = store.address(&address);
            let chain = i64::try_from(chain).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "DELETE FROM skipped_keys WHERE address = ?1 AND session = ?2 AND chain = ?3 AND counter IN
                   (SELECT counter FROM skipped_keys WHERE address = ?1 AND session = ?2 AND chain = ?3
                    ORDER BY counter LIMIT ?4)",
            )?
            .execute(
                params![a.as_slice(), session.as_bytes().as_slice(), chain, count],
            )?;
        }
        Change::PeerIdentity { address, identity } => {
            let a = store.address(&address);
            let value = store.seal("peers", &a, &identity.to_bytes())?;
            tx.prepare_cached("INSERT OR REPLACE INTO peers (address, value) VALUES (?1, ?2)")?
                .execute(params![a.as_slice(), value])?;
        }
        Change::PeerAccount { phone, key } => {
            let p = phone_hash(&store.sealer, &phone);
            let value = store.seal("peer_accounts", &p, key.as_bytes())?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO peer_accounts (phone, value) VALUES (?1, ?2)",
            )?
            .execute(params![p.as_slice(), value])?;
        }
        Change::RemoveOneTimePreKey(id) => {
            tx.prepare_cached("DELETE FROM one_time_prekeys WHERE id = ?1")?
                .execute([id.get()])?;
        }
        Change::RemoveKemPreKey(id) => {
            tx.prepare_cached("DELETE FROM kem_prekeys WHERE id = ?1 AND last_resort = 0")?
                .execute([id.get()])?;
        }
        Change::UsedBaseKey {
            signed_prekey,
            base_key,
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO used_base_keys (signed_prekey, base_key) VALUES (?1, ?2)",
            )?
            .execute(params![signed_prekey.get(), base_key.as_bytes().as_slice()])?;
        }
        Change::DeviceList { phone, list } => {
            let p = phone_hash(&store.sealer, &phone);
            let value = store.seal("device_lists", &p, &list.to_bytes())?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO device_lists (phone, value) VALUES (?1, ?2)",
            )?
            .execute(params![p.as_slice(), value])?;
        }
        Change::LocalAccount(phone) => {
            let value = store.seal("local_account", b"", phone.as_str().as_bytes())?;
            tx.prepare_cached("INSERT OR REPLACE INTO local_account (id, value) VALUES (0, ?1)")?
                .execute([value])?;
        }
        Change::PreKeyState(state) => {
            let value = store.seal("prekey_state", b"", &state.to_bytes())?;
            tx.prepare_cached("INSERT OR REPLACE INTO prekey_state (id, value) VALUES (0, ?1)")?
                .execute([value])?;
        }
        Change::SignedPreKey(key) => prekey_rows::insert_signed(tx, &store.sealer, &key)?,
        Change::OneTimePreKeys(keys) => prekey_rows::insert_one_time(tx, &store.sealer, &keys)?,
        Change::KemPreKeys(keys) => prekey_rows::insert_kem(tx, &store.sealer, &keys)?,
        Change::RemoveSignedPreKey(id) => prekey_rows::remove_signed(tx, id)?,
        Change::RemoveLastResortKemPreKey(id) => prekey_rows::remove_last_resort(tx, id)?,
        Change::RemoveOneTimePreKeysBelow { one_time, kem } => {
            prekey_rows::remove_below(tx, one_time, kem)?
        }
    }
    Ok(())
}

/// SQLite's busy handler for a connection: wait for a lock in short sleeps of random length
/// (0.1 to 1 ms) until `timeout` has passed since the wait began. SQLite's own timeout handler
/// backs off to sleeps of 100 ms, so a connection waiting for the write lock while another
/// commits back to back keeps missing the short gaps between commits and times out although
/// no transaction held the lock for long; short random sleeps take their turn.
fn fair_wait(timeout: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut started = std::time::Instant::now();
    move |count| {
        if count == 0 {
            started = std::time::Instant::now();
        }
        if started.elapsed() >= timeout {
            return false;
        }
        let jitter = rand_core::Rng::next_u32(&mut crate::os_rng()) % 900;
        std::thread::sleep(Duration::from_micros(100 + u64::from(jitter)));
        true
    }
}

/// The keyed hash standing for `address` in row keys:
/// `name("address", u32be(len user) || user || u32be(device))`.
fn address_hash(sealer: &Sealer, address: &Address) -> [u8; 32] {
    let user = address.user().as_bytes();
    let mut name = Vec::with_capacity(4 + user.len() + 4);
    name.extend_from_slice(&u32::try_from(user.len()).unwrap_or(u32::MAX).to_be_bytes());
    name.extend_from_slice(user);
    name.extend_from_slice(&address.device().get().to_be_bytes());
    sealer.name("address", &name)
}

/// The keyed hash standing for `phone` in row keys: `name("phone", phone)`, the ASCII of
/// its E.164 form.
fn phone_hash(sealer: &Sealer, phone: &PhoneNumber) -> [u8; 32] {
    sealer.name("phone", phone.as_str().as_bytes())
}

/// `value` sealed for (`table`, `row_key`) under this schema version.
fn seal_value(sealer: &Sealer, table: &str, row_key: &[u8], value: &[u8]) -> StoreResult<Vec<u8>> {
    let row = Row {
        table,
        row_key,
        schema_version: SCHEMA_VERSION,
    };
    Ok(sealer.seal(&row, value, &mut crate::os_rng())?)
}

/// `address hash || session id || u64be(chain) || u32be(counter)`.
fn skipped_row_key(address: &[u8; 32], id: &SkippedKeyId) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 32 + 8 + 4);
    key.extend_from_slice(address);
    key.extend_from_slice(id.session.as_bytes());
    key.extend_from_slice(&id.chain.to_be_bytes());
    key.extend_from_slice(&id.counter.to_be_bytes());
    key
}

/// A phone number stored as the ASCII of its E.164 form: exactly that form, nothing else.
fn stored_phone(bytes: &[u8]) -> Result<PhoneNumber> {
    const BAD: Error = Error::Malformed("local account (not a phone number in E.164 form)");
    let text = core::str::from_utf8(bytes).map_err(|_| BAD)?;
    let phone = PhoneNumber::parse(text).map_err(|_| BAD)?;
    match phone.as_str() == text {
        true => Ok(phone),
        false => Err(BAD),
    }
}

fn record<T>(parsed: Result<T>) -> StoreResult<T> {
    parsed.map_err(SqliteStoreError::Record)
}

impl ProtocolStore for SqliteStore {
    type Error = SqliteStoreError;

    fn local_identity(&self) -> StoreResult<Option<IdentityKeyPair>> {
        let value = self.read_sealed(RowRef::Identity)?;
        value
            .map(|v| record(IdentityKeyPair::from_bytes(&v)))
            .transpose()
    }

    fn local_account(&self) -> StoreResult<Option<PhoneNumber>> {
        let value = self.read_sealed(RowRef::LocalAccount)?;
        value.map(|v| record(stored_phone(&v))).transpose()
    }

    fn peer_identity(&self, address: &Address) -> StoreResult<Option<IdentityKey>> {
        let value = self.read_sealed(RowRef::Peer(self.address(address)))?;
        let Some(bytes) = value else {
            return Ok(None);
        };
        match self.last_identity.get() {
            Some(known) if known.as_bytes().as_slice() == bytes.as_slice() => Ok(Some(known)),
            _ => {
                let identity = record(IdentityKey::try_from(bytes.as_slice()))?;
                self.last_identity.set(Some(identity));
                Ok(Some(identity))
            }
        }
    }

    fn peer_account(&self, phone: &PhoneNumber) -> StoreResult<Option<AccountKey>> {
        let value = self.read_sealed(RowRef::PeerAccount(phone_hash(&self.sealer, phone)))?;
        value
            .map(|v| record(AccountKey::try_from(v.as_slice())))
            .transpose()
    }

    fn device_list(&self, phone: &PhoneNumber) -> StoreResult<Option<SignedDeviceList>> {
        let value = self.read_sealed(RowRef::DeviceList(phone_hash(&self.sealer, phone)))?;
        value
            .map(|v| record(SignedDeviceList::try_from(v.as_slice())))
            .transpose()
    }

    fn prekey_state(&self) -> StoreResult<Option<PreKeyState>> {
        let value = self.read_sealed(RowRef::PreKeyState)?;
        value
            .map(|v| record(PreKeyState::from_bytes(&v)))
            .transpose()
    }

    fn signed_prekey(&self, id: SignedPreKeyId) -> StoreResult<Option<SignedPreKey>> {
        let value = self.read_sealed(RowRef::SignedPreKey(id.get()))?;
        value
            .map(|v| record(SignedPreKey::from_bytes(&v)))
            .transpose()
    }

    fn one_time_prekey(&self, id: OneTimePreKeyId) -> StoreResult<Option<OneTimePreKey>> {
        let value = self.read_sealed(RowRef::OneTimePreKey(id.get()))?;
        value
            .map(|v| record(OneTimePreKey::from_bytes(&v)))
            .transpose()
    }

    fn kem_prekey(&self, id: KemPreKeyId) -> StoreResult<Option<KemPreKey>> {
        let value = self.read_sealed(RowRef::KemPreKey(id.get()))?;
        value.map(|v| record(KemPreKey::from_bytes(&v))).transpose()
    }

    fn base_key_used(
        &self,
        signed_prekey: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> StoreResult<bool> {
        let row = RowRef::UsedBaseKey(signed_prekey.get(), *base_key.as_bytes());
        Ok(self.fetch(&row)?.is_some())
    }

    fn session_index(&self, address: &Address) -> StoreResult<Option<SessionIndex>> {
        let value = self.read_sealed(RowRef::SessionIndex(self.address(address)))?;
        value
            .map(|v| record(SessionIndex::from_bytes(&v)))
            .transpose()
    }

    fn session(&self, address: &Address, id: &SessionId) -> StoreResult<Option<Session>> {
        let row = RowRef::Session(self.address(address), *id.as_bytes());
        let Some(bytes) = self.read_sealed(row)? else {
            return Ok(None);
        };
        let known = self.last_identity.get();
        let session = record(Session::from_bytes_for_peer(&bytes, known.as_ref()))?;
        self.last_identity.set(Some(*session.remote_identity()));
        Ok(Some(session))
    }

    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> StoreResult<Option<SkippedMessageKey>> {
        let value = self.read_sealed(RowRef::Skipped(self.address(address), *id))?;
        value
            .map(|v| record(SkippedMessageKey::from_bytes(*id, &v)))
            .transpose()
    }

    fn commit(&mut self, changes: Changes) -> StoreResult<()> {
        let transaction = core::mem::replace(&mut self.transaction, Transaction::None);
        if transaction == Transaction::None {
            self.execute("BEGIN IMMEDIATE")?;
        }
        let applied = changes
            .into_iter()
            .try_for_each(|change| apply_in(self, change));
        let committed = applied.and_then(|()| Ok(self.execute("COMMIT")?));
        if !self.conn.is_autocommit() {
            // A failed change or COMMIT: undo what was applied.
            let _ = self.execute("ROLLBACK");
        }
        match committed {
            // The snapshot could not become a write transaction: another connection wrote
            // since the operation's first read, or is writing.
            Err(SqliteStoreError::Busy) if transaction == Transaction::Snapshot => {
                Err(SqliteStoreError::Conflict)
            }
            other => other,
        }
    }

    fn begin_operation(&mut self, attempt: u32) -> StoreResult<()> {
        self.end_operation();
        // After a conflict, hold the write lock from the first read, so this run cannot
        // conflict again.
        let (sql, transaction) = match attempt {
            1 => ("BEGIN", Transaction::Snapshot),
            _ => ("BEGIN IMMEDIATE", Transaction::Locked),
        };
        self.execute(sql)?;
        self.transaction = transaction;
        Ok(())
    }

    fn end_operation(&mut self) {
        // Still open only if the operation failed before its commit.
        if core::mem::replace(&mut self.transaction, Transaction::None) != Transaction::None
            && !self.conn.is_autocommit()
        {
            let _ = self.execute("ROLLBACK");
        }
    }

    fn retry_operation(&mut self, error: &SqliteStoreError, _attempt: u32) -> bool {
        let conflict = matches!(error, SqliteStoreError::Conflict);
        self.conflicts += u64::from(conflict);
        conflict
    }
}
