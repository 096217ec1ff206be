//! How many one-time prekeys a device keeps published, and how often it rotates the others.

use core::time::Duration;

use crate::error::{Error, Result};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The upkeep schedule of a device's published prekeys (PROTOCOL.md §11.5).
///
/// The defaults: 100 one-time bundles published, topped back up to 100 when the server holds
/// fewer than 25; the signed prekey and the last-resort KEM prekey rotated every 7 days; keys
/// that were replaced kept 30 days, so a PreKey message that was sent to a bundle fetched
/// before the replacement still decrypts if it arrives within 30 days.
///
/// ```
/// use core::time::Duration;
/// use keylink::account::{PreKeyPolicy, PreKeyUpkeep};
///
/// let policy = PreKeyPolicy::default()
///     .one_time_target(50)
///     .refill_below(10)
///     .rotate_after(Duration::from_secs(2 * 24 * 60 * 60));
/// let upkeep = PreKeyUpkeep::with_policy(1, policy)?;
/// # Ok::<(), keylink::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreKeyPolicy {
    pub(crate) one_time_target: u32,
    pub(crate) refill_below: u32,
    pub(crate) rotate_after: Duration,
    pub(crate) keep_old_for: Duration,
}

impl Default for PreKeyPolicy {
    fn default() -> Self {
        PreKeyPolicy {
            one_time_target: 100,
            refill_below: 25,
            rotate_after: DAY.saturating_mul(7),
            keep_old_for: DAY.saturating_mul(30),
        }
    }
}

impl PreKeyPolicy {
    /// The most one-time bundles a policy may keep published (each carries an ML-KEM-1024
    /// key: 10,000 bundles are about 18 MB to upload).
    pub const MAX_ONE_TIME_TARGET: u32 = 10_000;
    /// The shortest rotation period.
    pub const MIN_ROTATE_AFTER: Duration = DAY;
    /// The longest rotation period and the longest time replaced keys may be kept.
    pub const MAX_PERIOD: Duration = DAY.saturating_mul(365);

    /// Top the published one-time bundles back up to `count` (default 100).
    pub fn one_time_target(mut self, count: u32) -> Self {
        self.one_time_target = count;
        self
    }

    /// Top up when the server reports fewer than `count` one-time bundles left (default 25).
    pub fn refill_below(mut self, count: u32) -> Self {
        self.refill_below = count;
        self
    }

    /// Replace the signed prekey, the last-resort KEM prekey and every published one-time
    /// bundle once the signed prekey is `period` old (default 7 days).
    pub fn rotate_after(mut self, period: Duration) -> Self {
        self.rotate_after = period;
        self
    }

    /// Keep replaced keys for `period` (default 30 days), so that PreKey messages sent to
    /// them before they were replaced still decrypt.
    pub fn keep_old_for(mut self, period: Duration) -> Self {
        self.keep_old_for = period;
        self
    }

    /// Check that the values work together.
    pub(crate) fn check(&self) -> Result<()> {
        let problem = if self.one_time_target == 0 {
            "one_time_target must be at least 1"
        } else if self.one_time_target > Self::MAX_ONE_TIME_TARGET {
            "one_time_target must be at most PreKeyPolicy::MAX_ONE_TIME_TARGET (10,000)"
        } else if self.refill_below > self.one_time_target {
            "refill_below must not be above one_time_target"
        } else if self.rotate_after < Self::MIN_ROTATE_AFTER {
            "rotate_after must be at least one day"
        } else if self.rotate_after > Self::MAX_PERIOD || self.keep_old_for > Self::MAX_PERIOD {
            "rotate_after and keep_old_for must be at most 365 days"
        } else if self.keep_old_for < self.rotate_after {
            "keep_old_for must be at least rotate_after (a lost upload is healed by the next rotation)"
        } else {
            return Ok(());
        };
        Err(Error::InvalidPreKeyPolicy(problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid() {
        assert!(PreKeyPolicy::default().check().is_ok());
    }

    #[test]
    fn each_bad_value_is_named() {
        let p = PreKeyPolicy::default();
        let bad = [
            (p.one_time_target(0), "at least 1"),
            (p.one_time_target(10_001), "at most"),
            (p.refill_below(101), "refill_below"),
            (p.rotate_after(Duration::from_secs(3600)), "one day"),
            (p.keep_old_for(DAY.saturating_mul(400)), "365"),
            (p.keep_old_for(DAY), "at least rotate_after"),
        ];
        for (policy, words) in bad {
            let err = policy.check().unwrap_err().to_string();
            assert!(err.contains(words), "{err}");
        }
    }
}
