//! What a device sends its server after upkeep: bundles, typed.

use crate::keys::PreKeyBundle;

/// The bundles a device publishes, as [`PreKeyUpkeep::run`](super::PreKeyUpkeep::run) returns
/// them. Send each bundle's [`to_bytes`](PreKeyBundle::to_bytes) to the app's server, which
/// stores them as opaque bytes: it hands each one-time bundle to one requester only and
/// deletes it, and hands out the last-resort bundle whenever no one-time bundle is left (and
/// reports how many one-time bundles it still holds, for the next upkeep).
///
/// An upload either **replaces** (the first publication, and every rotation: the server drops
/// every bundle it holds for this device and keeps these instead, [`last_resort`] is `Some`)
/// or **adds** one-time bundles to those the server holds ([`last_resort`] is `None`).
///
/// [`last_resort`]: Self::last_resort
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyUpload {
    pub(super) last_resort: Option<PreKeyBundle>,
    pub(super) one_time: Vec<PreKeyBundle>,
}

impl PreKeyUpload {
    /// The one-time bundles, each to be handed out once.
    pub fn one_time(&self) -> &[PreKeyBundle] {
        &self.one_time
    }

    /// The new last-resort bundle, if this upload replaces what the server holds.
    pub fn last_resort(&self) -> Option<&PreKeyBundle> {
        self.last_resort.as_ref()
    }

    /// Whether the server must drop what it holds for this device first.
    pub fn replaces(&self) -> bool {
        self.last_resort.is_some()
    }

    /// The last-resort bundle (if it replaces) and the one-time bundles.
    pub fn into_bundles(self) -> (Option<PreKeyBundle>, Vec<PreKeyBundle>) {
        (self.last_resort, self.one_time)
    }
}
