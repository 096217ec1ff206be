//! Accounts: the phone number a person is known by.
//!
//! A user is a phone number, not a key (PROTOCOL.md §11): [`PhoneNumber`] parses what a user
//! types into E.164 form, with an error that says what is wrong.

mod phone;

pub use phone::{PhoneNumber, PhoneNumberError};
