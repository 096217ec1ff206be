//! TEMPORARY stand-in for main's `PhoneNumber` (being written in parallel); replaced by the
//! merge of main. Accepts only the E.164 form itself.

use core::fmt;
use core::str::FromStr;

/// A phone number in E.164 form (`+` then 7 to 15 digits, the first not `0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

/// Why a phone number was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumberError;

impl fmt::Display for PhoneNumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an E.164 phone number")
    }
}

impl std::error::Error for PhoneNumberError {}

impl PhoneNumber {
    /// Parse the E.164 form.
    pub fn parse(text: &str) -> Result<PhoneNumber, PhoneNumberError> {
        let digits = text.strip_prefix('+').ok_or(PhoneNumberError)?;
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| PhoneNumber(text.to_owned()))
            .ok_or(PhoneNumberError)
    }

    /// The E.164 form, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}
