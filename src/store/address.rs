//! Peer addresses: a user and one of their devices.

use core::fmt;
use std::sync::Arc;

use crate::keys::DeviceId;

/// One device of one user: the unit a session is kept for.
///
/// Cloning is cheap (the user id is shared, not copied): every change an operation hands to
/// the store names its address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    user: Arc<str>,
    device: DeviceId,
}

impl Address {
    /// The address of `user`'s device `device`.
    pub fn new(user: impl Into<String>, device: impl Into<DeviceId>) -> Self {
        Address {
            user: Arc::from(user.into()),
            device: device.into(),
        }
    }

    /// The user id (e.g. an account or phone-number id assigned by the app's server).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The device id.
    pub fn device(&self) -> DeviceId {
        self.device
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user, self.device)
    }
}
