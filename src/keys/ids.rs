//! Typed ids. Each is a `u32` on the wire; as distinct types, a signed prekey's id cannot be
//! passed where a one-time or KEM prekey's id is expected, nor a device id for either.

use core::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(u32);

        impl $name {
            /// The id with this number.
            pub const fn new(id: u32) -> Self {
                $name(id)
            }

            /// The number, as written on the wire.
            pub const fn get(self) -> u32 {
                self.0
            }

            /// The id `n` steps after this one, wrapping at `u32::MAX`.
            pub const fn wrapping_add(self, n: u32) -> Self {
                $name(self.0.wrapping_add(n))
            }
        }

        impl From<u32> for $name {
            fn from(id: u32) -> Self {
                $name(id)
            }
        }

        impl From<$name> for u32 {
            fn from(id: $name) -> u32 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($what, "({})"), self.0)
            }
        }
    };
}

id_type!(
    /// One of a user's devices (1 is the primary by convention of the app's server).
    DeviceId,
    "DeviceId"
);
id_type!(
    /// A signed prekey's id.
    SignedPreKeyId,
    "SignedPreKeyId"
);
id_type!(
    /// A one-time (X25519) prekey's id.
    OneTimePreKeyId,
    "OneTimePreKeyId"
);
id_type!(
    /// A KEM (ML-KEM-1024) prekey's id, one-time or last-resort.
    KemPreKeyId,
    "KemPreKeyId"
);

/// Which kind of prekey an id names (in [`Error::UnknownPreKey`](crate::Error::UnknownPreKey)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreKeyKind {
    /// A signed prekey.
    Signed,
    /// A one-time X25519 prekey.
    OneTime,
    /// An ML-KEM-1024 prekey (one-time or last-resort).
    Kem,
}

impl fmt::Display for PreKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PreKeyKind::Signed => "signed",
            PreKeyKind::OneTime => "one-time",
            PreKeyKind::Kem => "KEM",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_their_kind_in_debug_and_only_the_number_in_display() {
        let id = SignedPreKeyId::new(7);
        assert_eq!(format!("{id:?}"), "SignedPreKeyId(7)");
        assert_eq!(id.to_string(), "7");
        assert_eq!(u32::from(KemPreKeyId::from(9)), 9);
        assert_eq!(OneTimePreKeyId::new(u32::MAX).wrapping_add(2).get(), 1);
    }
}
