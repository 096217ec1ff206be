//! Time as the app passes it in: keylink reads no clock.

use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch (1970-01-01 00:00 UTC), as the app
/// passes it in: keylink reads no clock. Arithmetic saturates instead of overflowing, so a
/// clock far off in either direction gives a wrong schedule, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch itself.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// `secs` seconds after the Unix epoch (saturating).
    pub const fn from_unix_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// This time plus `duration` (saturating).
    pub fn saturating_add(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_add(millis(duration)))
    }

    /// How long after `earlier` this time is; zero if it is not after it (a clock that went
    /// back).
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl From<SystemTime> for Timestamp {
    /// The time `time` gives, as [`SystemTime::now`] would: a time before the epoch is the
    /// epoch, one beyond `u64::MAX` milliseconds is that.
    fn from(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp(millis(since))
    }
}

/// `duration` in whole milliseconds, saturating at `u64::MAX`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let late = Timestamp::from_unix_millis(u64::MAX - 1);
        assert_eq!(
            late.saturating_add(Duration::from_secs(5)).as_unix_millis(),
            u64::MAX
        );
        assert_eq!(Timestamp::EPOCH.saturating_since(late), Duration::ZERO);
        assert_eq!(
            Timestamp::from_unix_secs(u64::MAX).as_unix_millis(),
            u64::MAX
        );
        let day = Timestamp::from_unix_secs(86_400);
        assert_eq!(
            day.saturating_since(Timestamp::EPOCH),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn system_time_before_the_epoch_is_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(Timestamp::from(before), Timestamp::EPOCH);
        let after = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(Timestamp::from(after).as_unix_millis(), 1500);
    }
}
