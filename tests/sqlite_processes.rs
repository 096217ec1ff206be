//! `SqliteStore` across processes: a process killed with SIGKILL at random points (the
//! databases stay sound, every message reported as sent is delivered, no message key is used
//! twice), and two processes sharing one database for 10 s (no lost update: every message is
//! decrypted exactly once, no message key is used twice, no operation fails).
//!
//! The test binary runs itself as the child processes: `crash_child` and `shared_child` are
//! `#[ignore]`d tests that do nothing unless their environment variable names a directory.
//!
//! Message keys are not observable, but their reuse is: the body is AES-256-GCM, so the
//! first bytes of the body ciphertext XOR the plaintext are the keystream of (message key,
//! nonce). Every plaintext is 48 bytes (an id and random bytes), and two messages with the
//! same keystream but different plaintexts used the same key.
#![cfg(test)]
#![cfg(feature = "sqlite")]
#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::sqlite::device;
use common::stored_bundle;
use keylink::Error;
use keylink::store::at_rest::StorageKey;
use keylink::store::{Address, SqliteConfig, SqliteStore, Synchronous};
use rand_core::{CryptoRng, Rng};

/// The two parent tests each keep both cores busy; they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every plaintext: a tag byte, a 7-byte counter, 40 random bytes.
const PLAINTEXT_LEN: usize = 48;
/// The keystream bytes compared.
const KEYSTREAM_LEN: usize = 32;
const SIGKILL: i32 = 9;

fn alice() -> Address {
    Address::new("alice", 1)
}

fn bob() -> Address {
    Address::new("bob", 1)
}

fn plaintext(tag: u8, counter: u64, rng: &mut impl Rng) -> Vec<u8> {
    let mut p = vec![0u8; PLAINTEXT_LEN];
    p[0] = tag;
    p[1..8].copy_from_slice(&counter.to_be_bytes()[1..]);
    rng.fill_bytes(&mut p[8..]);
    p
}

// ---------------------------------------------------------------------------------------
// Devices and keys in files
// ---------------------------------------------------------------------------------------

fn new_key(path: &Path) -> StorageKey {
    let key = StorageKey::generate(&mut keylink::os_rng());
    fs::write(path, *key.to_bytes()).unwrap();
    key
}

fn read_key(path: &Path) -> StorageKey {
    let bytes: [u8; 32] = fs::read(path)
        .unwrap()
        .try_into()
        .expect("a storage key file holds 32 bytes");
    StorageKey::from_bytes(bytes)
}

/// Alice and Bob in `alice.db` and `bob.db` under `dir` (keys in `alice.key`, `bob.key`),
/// Alice with a session to Bob (her messages are PreKey messages until Bob replies).
fn alice_and_bob(dir: &Path) -> (SqliteStore, SqliteStore) {
    let a_key = new_key(&dir.join("alice.key"));
    let b_key = new_key(&dir.join("bob.key"));
    let (mut alice_store, _) = device(&dir.join("alice.db"), &a_key);
    let (bob_store, _) = device(&dir.join("bob.db"), &b_key);
    let bundle = stored_bundle(&bob_store, 1, 1, Some(1), 1)
        .verify()
        .unwrap();
    keylink::start_session(&mut alice_store, &bob(), &bundle, &mut keylink::os_rng()).unwrap();
    (alice_store, bob_store)
}

// ---------------------------------------------------------------------------------------
// Append-only logs of length-prefixed records
// ---------------------------------------------------------------------------------------

/// Append one record (`u32le(len) || payload`) with one write.
fn append(path: &Path, payload: &[u8]) {
    let mut record = Vec::with_capacity(4 + payload.len());
    record.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
    record.extend_from_slice(payload);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(&record).unwrap();
}

/// The complete records of a log (none if there is no file), and whether a torn record
/// (a process killed in the middle of its write) follows them.
fn read_log(path: &Path) -> (Vec<Vec<u8>>, bool) {
    let (records, end) = read_log_from(path, 0);
    let len = fs::metadata(path).map_or(0, |m| m.len());
    (records, end != len)
}

/// The complete records of a log from byte `offset` on, and the offset after them.
fn read_log_from(path: &Path, offset: u64) -> (Vec<Vec<u8>>, u64) {
    let mut bytes = Vec::new();
    if let Ok(mut file) = fs::File::open(path) {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.read_to_end(&mut bytes).unwrap();
    }
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= 4 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if bytes.len() - at - 4 < len {
            break;
        }
        records.push(bytes[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    (records, offset + at as u64)
}

/// Cut a torn trailing record off the log; whether there was one.
fn repair_log(path: &Path) -> bool {
    let (records, torn) = read_log(path);
    if torn {
        let complete: usize = records.iter().map(|r| 4 + r.len()).sum();
        let file = OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(complete as u64).unwrap();
    }
    torn
}

// ---------------------------------------------------------------------------------------
// The body ciphertext and the keystream of a message
// ---------------------------------------------------------------------------------------

fn varint(bytes: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("a truncated varint");
}

/// Field `number` (length-delimited) of a protobuf message.
fn protobuf_field(mut bytes: &[u8], number: usize) -> Option<&[u8]> {
    while !bytes.is_empty() {
        let (key, n) = varint(bytes);
        bytes = &bytes[n..];
        match key & 7 {
            0 => bytes = &bytes[varint(bytes).1..],
            2 => {
                let (len, n) = varint(bytes);
                let value = &bytes[n..n + len];
                if key >> 3 == number {
                    return Some(value);
                }
                bytes = &bytes[n + len..];
            }
            wire => panic!("wire type {wire} in a PreKey message"),
        }
    }
    None
}

/// The body ciphertext (with its tag) of a ratchet or PreKey message (PROTOCOL.md §5.2, §5.3).
fn body_ciphertext(message: &[u8]) -> &[u8] {
    let ratchet = match message.first() {
        Some(0x11) => message,
        Some(0x12) => protobuf_field(&message[1..], 5).expect("a PreKey message has field 5"),
        other => panic!("not a message: leading byte {other:?}"),
    };
    assert_eq!(
        &ratchet[..3],
        [0x11, 0x0A, 0x45],
        "a ratchet message prefix"
    );
    let rest = &ratchet[72..];
    assert_eq!(rest[0], 0x12, "field 2 follows the encrypted header");
    let (len, n) = varint(&rest[1..]);
    let ciphertext = &rest[1 + n..];
    assert_eq!(ciphertext.len(), len, "field 2 ends the ratchet message");
    ciphertext
}

/// Every keystream prefix seen, with the plaintext and a name of the message.
#[derive(Default)]
struct Keystreams {
    seen: HashMap<[u8; KEYSTREAM_LEN], (Vec<u8>, String)>,
    reuses: Vec<String>,
}

impl Keystreams {
    fn add(&mut self, name: String, message: &[u8], plaintext: &[u8]) {
        let ciphertext = body_ciphertext(message);
        // The AEAD plaintext: the sender's list version (0, no local account), then the text.
        let body = [&0u64.to_be_bytes()[..], plaintext].concat();
        assert_eq!(
            ciphertext.len(),
            body.len() + 16,
            "{name}: the body is the list version, the plaintext and a 16-byte tag"
        );
        let mut stream = [0u8; KEYSTREAM_LEN];
        for (i, s) in stream.iter_mut().enumerate() {
            *s = ciphertext[i] ^ body[i];
        }
        match self.seen.get(&stream) {
            Some((p, other)) if p != plaintext => self.reuses.push(format!(
                "{name} and {other} were sealed with the same message key and nonce"
            )),
            Some(_) => {}
            None => {
                self.seen.insert(stream, (plaintext.to_vec(), name));
            }
        }
    }
}

fn child_command(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        test,
        "--nocapture",
        "--ignored",
        "--test-threads=1",
    ]);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    command
}

fn stderr_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// Test 1: SIGKILL at random points
// ---------------------------------------------------------------------------------------

const CRASH_ENV: &str = "KEYLINK_CRASH_CHILD_DIR";
const KILLS: usize = 220;

/// One direction of the crash test: an outbox the sender appends `plaintext || message`
/// records to, and a delivered log the receiver appends `u64le(index) || plaintext` to (the
/// plaintext empty when the decrypt had committed before a kill: `DuplicateMessage`).
struct Lane {
    name: &'static str,
    tag: u8,
    outbox: PathBuf,
    delivered_log: PathBuf,
    sent: Vec<Vec<u8>>,
    delivered: usize,
    /// No decrypt attempted yet in this process: only this one may be a duplicate.
    first_attempt: bool,
}

impl Lane {
    fn load(dir: &Path, name: &'static str, tag: u8) -> Lane {
        let outbox = dir.join(format!("{name}.outbox"));
        let delivered_log = dir.join(format!("{name}.delivered"));
        let (sent, torn_out) = read_log(&outbox);
        let (delivered, torn_del) = read_log(&delivered_log);
        assert!(!torn_out && !torn_del, "{name}: logs repaired before use");
        Lane {
            name,
            tag,
            outbox,
            delivered_log,
            sent,
            delivered: delivered.len(),
            first_attempt: true,
        }
    }

    fn send(&mut self, store: &mut SqliteStore, to: &Address, rng: &mut impl Rng) {
        let p = plaintext(self.tag, self.sent.len() as u64, rng);
        let message = keylink::encrypt(store, to, &p)
            .unwrap_or_else(|e| panic!("{}: encrypt {}: {e:?}", self.name, self.sent.len()))
            .to_bytes();
        let mut record = p;
        record.extend_from_slice(&message);
        append(&self.outbox, &record);
        self.sent.push(record);
    }

    /// Decrypt everything sent beyond the delivered mark; how many were duplicates.
    fn deliver(
        &mut self,
        store: &mut SqliteStore,
        from: &Address,
        rng: &mut impl CryptoRng,
    ) -> usize {
        let mut duplicates = 0;
        while self.delivered < self.sent.len() {
            let i = self.delivered;
            let (p, message) = self.sent[i].split_at(PLAINTEXT_LEN);
            let mut record = (i as u64).to_le_bytes().to_vec();
            match keylink::decrypt(store, from, message, rng) {
                Ok(out) => {
                    assert_eq!(
                        out, p,
                        "{}: message {i} decrypts to its plaintext",
                        self.name
                    );
                    record.extend_from_slice(&out);
                }
                Err(Error::DuplicateMessage) if self.first_attempt => duplicates += 1,
                Err(e) => panic!(
                    "{}: message {i} does not decrypt (first attempt in this process: {}): {e:?}",
                    self.name, self.first_attempt
                ),
            }
            self.first_attempt = false;
            append(&self.delivered_log, &record);
            self.delivered += 1;
        }
        duplicates
    }
}

#[test]
#[ignore = "the child process of crash_safety_under_sigkill"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut rng = keylink::os_rng();
    let mut alice_store =
        SqliteStore::open(dir.join("alice.db"), &read_key(&dir.join("alice.key")))
            .expect("Alice's database opens");
    let mut bob_store = SqliteStore::open(dir.join("bob.db"), &read_key(&dir.join("bob.key")))
        .expect("Bob's database opens");
    let mut a2b = Lane::load(&dir, "a2b", b'a');
    let mut b2a = Lane::load(&dir, "b2a", b'b');
    fs::write(dir.join("ready"), b"").unwrap();
    // The parent kills it long before; the deadline only bounds an orphan.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // Delivering first: what the last run left is taken up at once.
        // Sometimes a receiver lets messages pile up, so that some arrive after a kill.
        if !rng.next_u32().is_multiple_of(4) {
            a2b.deliver(&mut bob_store, &alice(), &mut rng);
        }
        if a2b.delivered > 0 && rng.next_u32().is_multiple_of(2) {
            for _ in 0..1 + rng.next_u32() % 2 {
                b2a.send(&mut bob_store, &alice(), &mut rng);
            }
        }
        if !rng.next_u32().is_multiple_of(4) {
            b2a.deliver(&mut alice_store, &bob(), &mut rng);
        }
        for _ in 0..1 + rng.next_u32() % 3 {
            a2b.send(&mut alice_store, &bob(), &mut rng);
        }
    }
}

fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("; ")
}

fn log_lengths(dir: &Path) -> [usize; 4] {
    ["a2b.outbox", "a2b.delivered", "b2a.outbox", "b2a.delivered"]
        .map(|name| read_log(&dir.join(name)).0.len())
}

#[test]
fn crash_safety_under_sigkill() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("keylink-crash")
        .tempdir()
        .unwrap();
    let dir = temp.path();
    drop(alice_and_bob(dir));
    let (a_key, b_key) = (
        read_key(&dir.join("alice.key")),
        read_key(&dir.join("bob.key")),
    );
    let logs = ["a2b.outbox", "a2b.delivered", "b2a.outbox", "b2a.delivered"];
    let stderr_path = dir.join("child.stderr");
    let mut rng = keylink::os_rng();

    let (mut kills, mut before_ready, mut torn) = (0usize, 0usize, 0usize);
    // Runs in which the logs grew at all, and runs in which both sent and delivered grew.
    let (mut progressed, mut both) = (0usize, 0usize);
    let mut lengths = log_lengths(dir);
    for run in 0..KILLS {
        for log in logs {
            torn += usize::from(repair_log(&dir.join(log)));
        }
        let _ = fs::remove_file(dir.join("ready"));
        let mut child = child_command("crash_child")
            .env(CRASH_ENV, dir)
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        // One run in five is killed at any point from its start (opening the databases
        // included); the others once both are open, after 5 to 80 ms of work.
        if rng.next_u32().is_multiple_of(5) {
            std::thread::sleep(Duration::from_micros(u64::from(rng.next_u32() % 20_000)));
            if !dir.join("ready").exists() {
                before_ready += 1;
            }
        } else {
            let waited = Instant::now();
            while !dir.join("ready").exists() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "run {run}: the child ended before opening the databases ({status}):\n{}",
                        stderr_of(&stderr_path)
                    );
                }
                assert!(
                    waited.elapsed() < Duration::from_secs(20),
                    "run {run}: the child did not open the databases in 20 s"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(
                5_000 + u64::from(rng.next_u32() % 75_000),
            ));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "run {run}: the child failed before it was killed ({status}):\n{}",
            stderr_of(&stderr_path)
        );
        kills += 1;

        for (name, key) in [("alice.db", &a_key), ("bob.db", &b_key)] {
            let path = dir.join(name);
            assert_eq!(
                integrity_check(&path),
                "ok",
                "run {run}: {name} fails PRAGMA integrity_check after SIGKILL"
            );
            if let Err(e) = SqliteStore::open(&path, key) {
                panic!("run {run}: {name} does not open after SIGKILL: {e}");
            }
        }
        let now = log_lengths(dir);
        let sent_grew = now[0] + now[2] > lengths[0] + lengths[2];
        let delivered_grew = now[1] + now[3] > lengths[1] + lengths[3];
        progressed += usize::from(sent_grew || delivered_grew);
        both += usize::from(sent_grew && delivered_grew);
        lengths = now;
    }

    // Drain: every message ever appended to an outbox is decrypted by its receiver.
    for log in logs {
        torn += usize::from(repair_log(&dir.join(log)));
    }
    let mut alice_store = SqliteStore::open(dir.join("alice.db"), &a_key).unwrap();
    let mut bob_store = SqliteStore::open(dir.join("bob.db"), &b_key).unwrap();
    let mut a2b = Lane::load(dir, "a2b", b'a');
    let mut b2a = Lane::load(dir, "b2a", b'b');
    let drained = (
        a2b.sent.len() - a2b.delivered,
        b2a.sent.len() - b2a.delivered,
    );
    a2b.deliver(&mut bob_store, &alice(), &mut rng);
    b2a.deliver(&mut alice_store, &bob(), &mut rng);

    let mut keystreams = Keystreams::default();
    let mut duplicates = 0;
    for lane in [&a2b, &b2a] {
        let (delivered, _) = read_log(&lane.delivered_log);
        assert_eq!(
            delivered.len(),
            lane.sent.len(),
            "{}: every message sent is delivered once",
            lane.name
        );
        for (i, (record, sent)) in delivered.iter().zip(&lane.sent).enumerate() {
            assert_eq!(
                record[..8],
                (i as u64).to_le_bytes(),
                "{}: delivered in order",
                lane.name
            );
            match &record[8..] {
                [] => duplicates += 1,
                p => assert_eq!(p, &sent[..PLAINTEXT_LEN], "{}: message {i}", lane.name),
            }
            let (p, message) = sent.split_at(PLAINTEXT_LEN);
            keystreams.add(format!("{} message {i}", lane.name), message, p);
        }
    }
    assert!(
        keystreams.reuses.is_empty(),
        "message keys used twice ({}): {:#?}",
        keystreams.reuses.len(),
        &keystreams.reuses[..keystreams.reuses.len().min(10)]
    );
    println!(
        "crash test: {kills} kills ({before_ready} before the databases were open; {progressed} \
         runs made progress, {both} both sent and delivered), {torn} torn records cut; sent Alice->Bob {}, \
         Bob->Alice {}; left for the final drain {drained:?}; {duplicates} delivered as \
         DuplicateMessage (their decrypt committed just before a kill); {:.1} s",
        a2b.sent.len(),
        b2a.sent.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= 200, "only {kills} kills");
    assert!(
        progressed * 10 >= kills * 6,
        "only {progressed} of {kills} runs made progress before their kill"
    );
    assert!(
        both * 4 >= kills,
        "only {both} of {kills} runs both sent and delivered before their kill"
    );
    assert!(
        b2a.sent.len() >= 20,
        "Bob replied only {} times: too few DH ratchet steps",
        b2a.sent.len()
    );
}

// ---------------------------------------------------------------------------------------
// Test 2: two processes on one database
// ---------------------------------------------------------------------------------------

const SHARED_ENV: &str = "KEYLINK_SHARED_CHILD_DIR";
const SHARED_ID_ENV: &str = "KEYLINK_SHARED_CHILD_ID";
const HAMMER: Duration = Duration::from_secs(10);

/// Append one line to `errorN.txt`: the parent fails the test with it.
fn report_error(dir: &Path, id: usize, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("error{id}.txt")))
        .unwrap();
    writeln!(file, "{text}").unwrap();
}

/// Child `id` of `two_processes_share_one_database`, with Alice's database: until `stop`
/// exists, encrypt to Bob (`outN`: `plaintext || message` records) and claim and decrypt
/// Bob's messages from `queue/` (`recvN`: `u64le(number) || plaintext` records). Errors go to
/// `errorN.txt`, and it goes on.
#[test]
#[ignore = "a child process of two_processes_share_one_database"]
fn shared_child() {
    let Some(dir) = std::env::var_os(SHARED_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let id: usize = std::env::var(SHARED_ID_ENV).unwrap().parse().unwrap();
    let mut rng = keylink::os_rng();
    let mut store = match SqliteStore::open(dir.join("alice.db"), &read_key(&dir.join("alice.key")))
    {
        Ok(store) => store,
        Err(e) => {
            report_error(&dir, id, &format!("child {id}: open: {e}"));
            return;
        }
    };
    let (outbox, received) = (dir.join(format!("out{id}")), dir.join(format!("recv{id}")));
    let claimed = dir.join(format!("claimed{id}"));
    fs::create_dir_all(&claimed).unwrap();
    let tag = b'0' + u8::try_from(id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counter = 0u64;
    while !dir.join("stop").exists() && Instant::now() < deadline {
        let p = plaintext(tag, counter, &mut rng);
        counter += 1;
        let began = Instant::now();
        match keylink::encrypt(&mut store, &bob(), &p) {
            Ok(message) => {
                let mut record = p;
                record.extend_from_slice(&message.to_bytes());
                append(&outbox, &record);
            }
            Err(e) => report_error(
                &dir,
                id,
                &format!(
                    "child {id}: encrypt: {e:?} after {:?} ({} conflicts so far)",
                    began.elapsed(),
                    store.conflicts()
                ),
            ),
        }
        let mut names: Vec<_> = fs::read_dir(dir.join("queue"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let mine = claimed.join(&name);
            if fs::rename(dir.join("queue").join(&name), &mine).is_err() {
                continue; // the other child took it
            }
            let number: u64 = name.trim_end_matches(".msg").parse().unwrap();
            let message = fs::read(&mine).unwrap();
            let began = Instant::now();
            match keylink::decrypt(&mut store, &bob(), &message, &mut rng) {
                Ok(p) => {
                    let mut record = number.to_le_bytes().to_vec();
                    record.extend_from_slice(&p);
                    append(&received, &record);
                }
                Err(e) => report_error(
                    &dir,
                    id,
                    &format!(
                        "child {id}: decrypt Bob's message {number}: {e:?} after {:?}",
                        began.elapsed()
                    ),
                ),
            }
        }
    }
    fs::write(
        dir.join(format!("conflicts{id}")),
        store.conflicts().to_string(),
    )
    .unwrap();
}

/// Bob's side: decrypt the new records of both outboxes.
struct BobSide {
    store: SqliteStore,
    read: [usize; 2],
    offset: [u64; 2],
    from_child: [Vec<(Vec<u8>, Vec<u8>)>; 2],
    failures: Vec<String>,
    sent: Vec<(Vec<u8>, Vec<u8>)>,
}

impl BobSide {
    fn receive(&mut self, dir: &Path) {
        let mut rng = keylink::os_rng();
        for c in 0..2 {
            let (records, end) = read_log_from(&dir.join(format!("out{c}")), self.offset[c]);
            self.offset[c] = end;
            for record in &records {
                let (p, message) = record.split_at(PLAINTEXT_LEN);
                let n = self.read[c];
                match keylink::decrypt(&mut self.store, &alice(), message, &mut rng) {
                    Ok(out) if out == p => {}
                    Ok(_) => self
                        .failures
                        .push(format!("child {c} message {n}: a wrong plaintext at Bob")),
                    Err(e) => self.failures.push(format!(
                        "child {c} message {n}: Bob cannot decrypt it: {e:?}"
                    )),
                }
                self.from_child[c].push((p.to_vec(), message.to_vec()));
                self.read[c] += 1;
                // Bob answers now and then, a burst at times, so that both of Alice's
                // processes take DH ratchet steps, also while Bob is catching up.
                if rng.next_u32().is_multiple_of(12) {
                    for _ in 0..1 + rng.next_u32() % 3 {
                        self.send(dir);
                    }
                }
            }
        }
    }

    fn send(&mut self, dir: &Path) {
        let mut rng = keylink::os_rng();
        let n = self.sent.len() as u64;
        let p = plaintext(b'B', n, &mut rng);
        let message = keylink::encrypt(&mut self.store, &alice(), &p)
            .unwrap()
            .to_bytes();
        let name = format!("{n:06}.msg");
        let temp = dir.join("queue-tmp").join(&name);
        fs::write(&temp, &message).unwrap();
        fs::rename(&temp, dir.join("queue").join(&name)).unwrap();
        self.sent.push((p, message));
    }
}

fn errors_of(dir: &Path) -> Vec<String> {
    (0..2)
        .flat_map(|id| {
            fs::read_to_string(dir.join(format!("error{id}.txt")))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn two_processes_share_one_database() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("keylink-shared")
        .tempdir()
        .unwrap();
    let dir = temp.path();
    drop(alice_and_bob(dir));
    // Bob is not what is tested here: his commits skip the fsync, so that he keeps up with
    // two writers and still sends often.
    let bob_store = SqliteStore::open_with(
        dir.join("bob.db"),
        &read_key(&dir.join("bob.key")),
        SqliteConfig::default().synchronous(Synchronous::Normal),
    )
    .unwrap();
    fs::create_dir(dir.join("queue")).unwrap();
    fs::create_dir(dir.join("queue-tmp")).unwrap();

    let mut children: Vec<Child> = (0..2)
        .map(|id| {
            child_command("shared_child")
                .env(SHARED_ENV, dir)
                .env(SHARED_ID_ENV, id.to_string())
                .stderr(fs::File::create(dir.join(format!("child{id}.stderr"))).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut bob_side = BobSide {
        store: bob_store,
        read: [0, 0],
        offset: [0, 0],
        from_child: [Vec::new(), Vec::new()],
        failures: Vec::new(),
        sent: Vec::new(),
    };
    let mut rng = keylink::os_rng();
    let hammer = Instant::now();
    let mut ended_early = Vec::new();
    while hammer.elapsed() < HAMMER {
        // Bob has a session once a message from Alice arrived; then he answers now and then.
        bob_side.receive(dir);
        for (id, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait().unwrap() {
                ended_early.push((id, status));
            }
        }
        if !ended_early.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    fs::write(dir.join("stop"), b"").unwrap();
    let statuses: Vec<ExitStatus> = children
        .iter_mut()
        .map(|child| {
            let waited = Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if waited.elapsed() > Duration::from_secs(30) {
                    child.kill().unwrap();
                    break child.wait().unwrap();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .collect();
    let hammered = hammer.elapsed();

    // Drain: Bob reads what is left; Alice (opened here) decrypts Bob's unclaimed messages.
    bob_side.receive(dir);
    let mut alice_store =
        SqliteStore::open(dir.join("alice.db"), &read_key(&dir.join("alice.key"))).unwrap();
    let mut delivered: BTreeMap<u64, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for id in 0..2 {
        for record in read_log(&dir.join(format!("recv{id}"))).0 {
            let number = u64::from_le_bytes(record[..8].try_into().unwrap());
            delivered
                .entry(number)
                .or_default()
                .push((format!("child {id}"), record[8..].to_vec()));
        }
    }
    let mut unclaimed: Vec<_> = fs::read_dir(dir.join("queue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    unclaimed.sort();
    let mut drain_failures = Vec::new();
    for name in &unclaimed {
        let number: u64 = name.trim_end_matches(".msg").parse().unwrap();
        let message = fs::read(dir.join("queue").join(name)).unwrap();
        match keylink::decrypt(&mut alice_store, &bob(), &message, &mut rng) {
            Ok(p) => delivered
                .entry(number)
                .or_default()
                .push(("the final drain".to_owned(), p)),
            Err(e) => drain_failures.push(format!("drain: Bob's message {number}: {e:?}")),
        }
    }

    // Every Bob message decrypted exactly once, with its plaintext.
    let mut bob_problems = Vec::new();
    for (n, (p, _)) in bob_side.sent.iter().enumerate() {
        match delivered.get(&(n as u64)).map(Vec::as_slice) {
            Some([(_, out)]) if out == p => {}
            Some([(who, _)]) => {
                bob_problems.push(format!("Bob's message {n}: a wrong plaintext at {who}"))
            }
            None | Some([]) => bob_problems.push(format!("Bob's message {n}: never decrypted")),
            Some(many) => bob_problems.push(format!(
                "Bob's message {n}: decrypted {} times ({:?})",
                many.len(),
                many.iter().map(|(who, _)| who).collect::<Vec<_>>()
            )),
        }
    }

    let mut keystreams = Keystreams::default();
    for (c, messages) in bob_side.from_child.iter().enumerate() {
        for (i, (p, message)) in messages.iter().enumerate() {
            keystreams.add(format!("child {c} message {i}"), message, p);
        }
    }
    for (n, (p, message)) in bob_side.sent.iter().enumerate() {
        keystreams.add(format!("Bob's message {n}"), message, p);
    }

    let sent = [bob_side.from_child[0].len(), bob_side.from_child[1].len()];
    let conflicts: Vec<String> = (0..2)
        .map(|id| fs::read_to_string(dir.join(format!("conflicts{id}"))).unwrap_or_default())
        .collect();
    let received: Vec<usize> = (0..2)
        .map(|id| read_log(&dir.join(format!("recv{id}"))).0.len())
        .collect();
    println!(
        "two processes: {:.1} s of hammering; children sent {sent:?} (Bob decrypted {} of them \
         without error), decrypted {received:?} of Bob's {} messages ({} left for the final \
         drain); operations run again after a conflict {conflicts:?}; {} child errors, {} keys \
         used twice; {:.1} s in all",
        hammered.as_secs_f64(),
        sent.iter().sum::<usize>() - bob_side.failures.len(),
        bob_side.sent.len(),
        unclaimed.len(),
        errors_of(dir).len(),
        keystreams.reuses.len(),
        started.elapsed().as_secs_f64()
    );

    let mut problems = Vec::new();
    for (id, status) in &ended_early {
        problems.push(format!(
            "child {id} ended before the stop file ({status}):\n{}",
            stderr_of(&dir.join(format!("child{id}.stderr")))
        ));
    }
    for (id, status) in statuses.iter().enumerate() {
        if !status.success() {
            problems.push(format!(
                "child {id} failed ({status}):\n{}",
                stderr_of(&dir.join(format!("child{id}.stderr")))
            ));
        }
    }
    for (what, list) in [
        ("errors in the children", errors_of(dir)),
        (
            "children's messages Bob could not decrypt",
            bob_side.failures,
        ),
        ("problems with Bob's messages", bob_problems),
        ("failures in the final drain", drain_failures),
        ("message keys used twice", keystreams.reuses),
    ] {
        if !list.is_empty() {
            problems.push(format!(
                "{} {what}, the first ones:\n  {}",
                list.len(),
                list[..list.len().min(8)].join("\n  ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "two processes on one database:\n{}",
        problems.join("\n")
    );
    assert!(
        sent.iter().all(|&s| s >= 100),
        "a child made too little progress: sent {sent:?}"
    );
    assert!(
        received.iter().all(|&r| r >= 10),
        "a child decrypted too few of Bob's messages: {received:?}"
    );
}
