//! The part of a messenger's server that prekey upkeep talks to: it keeps a device's
//! uploaded bundles as opaque bytes and hands each one-time bundle out once.

use std::collections::VecDeque;

use keylink::account::PreKeyUpload;

/// One device's published bundles, as a server holds them.
#[derive(Default)]
pub struct BundleServer {
    one_time: VecDeque<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
}

impl BundleServer {
    /// Apply an upload: replace everything, or add one-time bundles.
    pub fn upload(&mut self, upload: &PreKeyUpload) {
        if let Some(last_resort) = upload.last_resort() {
            self.one_time.clear();
            self.last_resort = Some(last_resort.to_bytes());
        }
        let bundles = upload.one_time().iter().map(|b| b.to_bytes());
        self.one_time.extend(bundles);
    }

    /// A bundle for one requester: a one-time one while any is left, else the last-resort
    /// one (none before the first upload).
    pub fn fetch(&mut self) -> Option<Vec<u8>> {
        self.one_time
            .pop_front()
            .or_else(|| self.last_resort.clone())
    }

    /// How many one-time bundles are left (what the server reports to the device).
    pub fn held(&self) -> u32 {
        u32::try_from(self.one_time.len()).unwrap()
    }
}
