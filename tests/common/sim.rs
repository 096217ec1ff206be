//! The simulator that drives two (or more) [`Device`]s through a schedule: messages in flight,
//! delivered in any order, duplicated, tampered with, dropped, or delivered to a receiver whose
//! commit fails, and restarts from the serialized store. Every step checks what must always
//! hold: a genuine message decrypts exactly once, to what was sent, and every rejected delivery
//! leaves the receiver's serialized state byte-identical.
//!
//! The schedules themselves are the tests' own: `properties.rs` draws them with proptest,
//! `session_schedule.rs` from a seeded [`TestRng`](super::TestRng).

use keylink::Error;
use keylink::store::{Address, ProtocolStore};

use super::{Device, FailingStore, TestStoreError, rng};

/// A message on its way from party `from` to party `to`.
pub struct InFlight {
    pub from: usize,
    pub to: usize,
    pub plaintext: Vec<u8>,
    pub bytes: Vec<u8>,
    pub delivered: bool,
}

/// Parties, the messages they sent, and a log of what happened (printed when a run fails).
pub struct Sim {
    pub parties: Vec<Device>,
    pub flight: Vec<InFlight>,
    pub log: Vec<String>,
    sent: usize,
}

impl Sim {
    pub fn new(parties: impl IntoIterator<Item = Device>) -> Sim {
        Sim {
            parties: parties.into_iter().collect(),
            flight: Vec::new(),
            log: Vec::new(),
            sent: 0,
        }
    }

    pub fn addr(&self, party: usize) -> Address {
        self.parties[party].addr.clone()
    }

    /// The serialized store of `party`.
    pub fn snapshot(&self, party: usize) -> Vec<u8> {
        self.parties[party].snapshot()
    }

    /// Whether `from` has a session with `to`.
    pub fn can_send(&self, from: usize, to: usize) -> bool {
        let peer = self.addr(to);
        self.parties[from]
            .store
            .session_index(&peer)
            .unwrap()
            .is_some()
    }

    /// `from` encrypts a new plaintext for `to`; the message is put in flight and its index
    /// returned. An error (no session yet) puts nothing in flight.
    pub fn send(&mut self, from: usize, to: usize) -> keylink::Result<usize> {
        let to_addr = self.addr(to);
        let plaintext = format!("message {} from {from} to {to}", self.sent).into_bytes();
        let message = keylink::encrypt(&mut self.parties[from].store, &to_addr, &plaintext)?;
        self.sent += 1;
        let k = self.flight.len();
        self.log.push(format!("send {k} from {from} to {to}"));
        self.flight.push(InFlight {
            from,
            to,
            plaintext,
            bytes: message.to_bytes(),
            delivered: false,
        });
        Ok(k)
    }

    /// Hand `bytes` to the receiver of message `k`, as if sent by its sender.
    fn receive(&mut self, k: usize, bytes: &[u8]) -> keylink::Result<Vec<u8>> {
        let (from, to) = (self.flight[k].from, self.flight[k].to);
        let sender = self.addr(from);
        self.parties[to].recv(&sender, bytes)
    }

    /// Deliver message `k` as sent. The first delivery must decrypt to the plaintext; any later
    /// one must be rejected without changing the receiver's state, and its error is returned.
    pub fn deliver(&mut self, k: usize) -> Option<Error> {
        let (to, delivered) = (self.flight[k].to, self.flight[k].delivered);
        self.log.push(format!("deliver {k} (again: {delivered})"));
        let bytes = self.flight[k].bytes.clone();
        let before = self.snapshot(to);
        let result = self.receive(k, &bytes);
        if delivered {
            let e = result.expect_err("a duplicate decrypted");
            assert!(
                self.snapshot(to) == before,
                "rejected duplicate changed state"
            );
            Some(e)
        } else {
            let plaintext = result.unwrap_or_else(|e| panic!("message {k}: {e:?}"));
            assert_eq!(plaintext, self.flight[k].plaintext);
            self.flight[k].delivered = true;
            None
        }
    }

    /// Deliver message `k` with byte `at` xored with `mask` (not 0): rejected, state unchanged.
    pub fn tamper(&mut self, k: usize, at: usize, mask: u8) {
        assert_ne!(mask, 0);
        self.log
            .push(format!("tamper {k} at {at} with {mask:#04x}"));
        let mut bytes = self.flight[k].bytes.clone();
        bytes[at] ^= mask;
        let to = self.flight[k].to;
        let before = self.snapshot(to);
        let result = self.receive(k, &bytes);
        assert!(
            result.is_err(),
            "tampered message {k} (byte {at}) decrypted"
        );
        assert!(
            self.snapshot(to) == before,
            "rejected tampered message changed state"
        );
    }

    /// Deliver message `k` to a receiver whose commit fails: nothing may change, and the same
    /// bytes are then delivered as usual ([`Sim::deliver`]).
    pub fn fail_commit(&mut self, k: usize) {
        let (from, to) = (self.flight[k].from, self.flight[k].to);
        self.log.push(format!("deliver {k} with a failing commit"));
        let sender = self.addr(from);
        let bytes = self.flight[k].bytes.clone();
        let before = self.snapshot(to);
        let device = &mut self.parties[to];
        let mut store = FailingStore {
            inner: std::mem::take(&mut device.store),
            fail_next: true,
        };
        let result = keylink::decrypt(&mut store, &sender, &bytes, &mut rng());
        // A duplicate fails before it reaches the commit; the store is disarmed in any case.
        device.store = store.inner;
        match result {
            Err(Error::Store(e)) => {
                assert!(e.downcast_ref::<TestStoreError>().is_some());
                assert!(!self.flight[k].delivered, "a duplicate reached the commit");
            }
            Err(_) => assert!(self.flight[k].delivered, "first delivery failed early"),
            Ok(_) => panic!("decrypt returned plaintext although its commit failed"),
        }
        assert_eq!(self.snapshot(to), before, "failed commit changed state");
        self.deliver(k);
    }

    /// Serialize, drop and restore the store of `party`, as an app restart would.
    pub fn restart(&mut self, party: usize) {
        self.log.push(format!("restart {party}"));
        self.parties[party].restart();
    }

    /// Deliver everything never delivered: all of it must still decrypt.
    pub fn drain(&mut self) {
        for k in 0..self.flight.len() {
            if !self.flight[k].delivered {
                self.deliver(k);
            }
        }
    }
}
