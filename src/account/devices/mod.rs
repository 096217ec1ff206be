//! Device lists (PROTOCOL.md §11.6): which devices, by identity key, belong to an account.
//! Peers learn an account's devices from this list, signed by the account key, never from
//! the server alone, so a device the server adds on its own (a "ghost device") is never
//! sent anything.

mod entry;
mod list;

pub use entry::{DeviceAuthorization, DeviceEntry};
pub use list::{DeviceListChanges, SignedDeviceList, VerifiedDeviceList};
