#![doc = "keylink"]

pub mod backup;
pub mod constants;
pub mod error;
