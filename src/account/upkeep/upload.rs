//! What a device sends its server after upkeep: bundles, typed.

use crate::keys::PreKeyBundle;

/// The bundles a device publishes, as [`PreKeyUpkeep::run`](super::PreKeyUpkeep::run) returns
/// them. Send each bundle's [`to_bytes`](PreKeyBundle::to_bytes) to the app's server, which
/// stores them as opaque bytes: it hands each one-time bundle to one requester only and
/// deletes it, and hands out the last-resort bundle whenever no one-time bundle is left (and
/// reports how many one-time bundles it still holds, for the next upkeep).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreKeyUpload {
    /// The server drops every bundle it holds for this device and keeps these instead: the
    /// first publication, and every rotation.
    Replace {
        /// Handed out when no one-time bundle is left, as often as needed.
        last_resort: PreKeyBundle,
        /// Each handed out once.
        one_time: Vec<PreKeyBundle>,
    },
    /// The server adds these to the one-time bundles it holds.
    Add {
        /// Each handed out once.
        one_time: Vec<PreKeyBundle>,
    },
}

impl PreKeyUpload {
    /// The one-time bundles, each to be handed out once.
    pub fn one_time(&self) -> &[PreKeyBundle] {
        match self {
            PreKeyUpload::Replace { one_time, .. } | PreKeyUpload::Add { one_time } => one_time,
        }
    }

    /// The new last-resort bundle, if this upload replaces it.
    pub fn last_resort(&self) -> Option<&PreKeyBundle> {
        match self {
            PreKeyUpload::Replace { last_resort, .. } => Some(last_resort),
            PreKeyUpload::Add { .. } => None,
        }
    }

    /// Whether the server must drop what it holds for this device first.
    pub fn replaces(&self) -> bool {
        matches!(self, PreKeyUpload::Replace { .. })
    }
}
