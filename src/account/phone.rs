//! [`PhoneNumber`]: an account's phone number in E.164 form, parsed from what a user types.

use core::fmt;
use core::str::FromStr;

/// Fewest digits after the `+` (country code included).
const MIN_DIGITS: usize = 7;
/// Most digits after the `+` (E.164).
const MAX_DIGITS: usize = 15;

/// A phone number in E.164 form: `+` then 7 to 15 ASCII digits, the first not `0`
/// (PROTOCOL.md §11.1).
///
/// Parse what a user typed with [`PhoneNumber::parse`] (or `str::parse`); the separators
/// space, `-`, `.`, `(` and `)` are dropped, and the international prefix may be written `+`
/// or `00`. [`Display`](fmt::Display) and [`as_str`](Self::as_str) give the E.164 form.
///
/// ```
/// use keylink::account::{PhoneNumber, PhoneNumberError};
///
/// let number = PhoneNumber::parse("+44 20 7946-0958")?;
/// assert_eq!(number.to_string(), "+442079460958");
/// assert_eq!(PhoneNumber::parse("0044 (20) 7946 0958")?, number);
///
/// let e = PhoneNumber::parse("+44 20 7946 #958").unwrap_err();
/// assert_eq!(e, PhoneNumberError::UnexpectedCharacter { character: '#', position: 13 });
/// assert!(e.to_string().starts_with("unexpected character '#' at 13"));
/// # Ok::<(), PhoneNumberError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parse a phone number as a user typed it. The first problem in reading order is the
    /// one reported (see [`PhoneNumberError`]).
    pub fn parse(typed: &str) -> Result<Self, PhoneNumberError> {
        Reader::new(typed).read()
    }

    /// The E.164 form, `+` included; its ASCII bytes are what safety numbers hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows only the last two digits: a phone number is personal data, and `Debug` output ends
/// up in logs. Use [`Display`](fmt::Display) to show it.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.len().saturating_sub(2);
        let tail = self.0.get(shown..).unwrap_or_default();
        write!(f, "PhoneNumber(+…{tail})")
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(typed: &str) -> Result<Self, PhoneNumberError> {
        Self::parse(typed)
    }
}

impl TryFrom<&str> for PhoneNumber {
    type Error = PhoneNumberError;

    fn try_from(typed: &str) -> Result<Self, PhoneNumberError> {
        Self::parse(typed)
    }
}

/// Why typed text is not a phone number. Positions count characters of the typed text,
/// from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneNumberError {
    /// Nothing but separators (or nothing at all) was typed.
    Empty,
    /// The number does not start with `+` or `00` and a country code.
    MissingCountryCode,
    /// A character that is neither a digit nor a separator (space, `-`, `.`, `(`, `)`); a `+`
    /// after the start and a digit of another script count as such.
    UnexpectedCharacter {
        /// The character.
        character: char,
        /// Where it is.
        position: usize,
    },
    /// A national trunk prefix written `(0)`, as in "+44 (0)20 ...": in the international
    /// form it is left out, and keeping its `0` would make another number.
    TrunkPrefix {
        /// Where its `(` is.
        position: usize,
    },
    /// The country code starts with `0`; none does.
    CountryCodeStartsWithZero {
        /// Where that `0` is.
        position: usize,
    },
    /// Fewer than 7 digits after the international prefix.
    TooShort {
        /// How many digits there are.
        digits: usize,
    },
    /// More than 15 digits after the international prefix.
    TooLong {
        /// Where the 16th digit is.
        position: usize,
    },
}

impl fmt::Display for PhoneNumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneNumberError::Empty => f.write_str("no phone number was entered"),
            PhoneNumberError::MissingCountryCode => f.write_str(
                "missing country code: start the number with + (or 00) and the country code, e.g. +44 20 7946 0958",
            ),
            PhoneNumberError::UnexpectedCharacter {
                character,
                position,
            } => write!(
                f,
                "unexpected character '{character}' at {position}: a phone number has only digits 0-9, a leading +, spaces, -, ., ( and )"
            ),
            PhoneNumberError::TrunkPrefix { position } => write!(
                f,
                "the national prefix (0) at {position} is not dialled from abroad: leave it out (+44 (0)20 ... is +44 20 ...)"
            ),
            PhoneNumberError::CountryCodeStartsWithZero { position } => write!(
                f,
                "the country code starts with 0 at {position}, and no country code does; check the number"
            ),
            PhoneNumberError::TooShort { digits } => write!(
                f,
                "too short: {digits} digits after the country prefix, a phone number has at least {MIN_DIGITS}"
            ),
            PhoneNumberError::TooLong { position } => write!(
                f,
                "too long: the digit at {position} is the 16th, a phone number has at most {MAX_DIGITS}"
            ),
        }
    }
}

impl std::error::Error for PhoneNumberError {}

/// Where the reader is in the international prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// Nothing but separators read yet.
    None,
    /// One `0` read: a second must follow.
    Zero,
    /// `+` or `00` read.
    Done,
}

/// Reads typed text left to right, stopping at the first problem.
struct Reader {
    chars: Vec<char>,
    prefix: Prefix,
    digits: String,
}

impl Reader {
    fn new(typed: &str) -> Self {
        Reader {
            chars: typed.chars().collect(),
            prefix: Prefix::None,
            digits: String::with_capacity(MAX_DIGITS),
        }
    }

    fn read(mut self) -> Result<PhoneNumber, PhoneNumberError> {
        let mut at = 0;
        while let Some(&c) = self.chars.get(at) {
            let position = at + 1;
            if self.is_trunk_prefix(at) {
                return Err(PhoneNumberError::TrunkPrefix { position });
            }
            match c {
                ' ' | '-' | '.' | '(' | ')' => {}
                '+' if self.prefix == Prefix::None => self.prefix = Prefix::Done,
                '0'..='9' => self.digit(c, position)?,
                character => {
                    return Err(PhoneNumberError::UnexpectedCharacter {
                        character,
                        position,
                    });
                }
            }
            at += 1;
        }
        match self.prefix {
            Prefix::None => Err(PhoneNumberError::Empty),
            Prefix::Zero => Err(PhoneNumberError::MissingCountryCode),
            Prefix::Done if self.digits.len() < MIN_DIGITS => Err(PhoneNumberError::TooShort {
                digits: self.digits.len(),
            }),
            Prefix::Done => Ok(PhoneNumber(format!("+{}", self.digits))),
        }
    }

    /// Whether `(0)` (spaces allowed inside) starts at `at`: a trunk prefix, once the
    /// international prefix is read.
    fn is_trunk_prefix(&self, at: usize) -> bool {
        if self.prefix != Prefix::Done || self.chars.get(at) != Some(&'(') {
            return false;
        }
        let mut rest = self.chars.iter().skip(at + 1).filter(|&&c| c != ' ');
        rest.next() == Some(&'0') && rest.next() == Some(&')')
    }

    fn digit(&mut self, c: char, position: usize) -> Result<(), PhoneNumberError> {
        match (self.prefix, c) {
            (Prefix::None, '0') => self.prefix = Prefix::Zero,
            (Prefix::None, _) | (Prefix::Zero, _) if c != '0' => {
                return Err(PhoneNumberError::MissingCountryCode);
            }
            (Prefix::Zero, _) => self.prefix = Prefix::Done,
            (_, '0') if self.digits.is_empty() => {
                return Err(PhoneNumberError::CountryCodeStartsWithZero { position });
            }
            _ if self.digits.len() == MAX_DIGITS => {
                return Err(PhoneNumberError::TooLong { position });
            }
            _ => self.digits.push(c),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(typed: &str) -> String {
        PhoneNumber::parse(typed).unwrap().to_string()
    }

    fn err(typed: &str) -> PhoneNumberError {
        PhoneNumber::parse(typed).unwrap_err()
    }

    #[test]
    fn typed_forms_give_e164() {
        assert_eq!(ok("+442079460958"), "+442079460958");
        assert_eq!(ok(" +44 20 7946 0958 "), "+442079460958");
        assert_eq!(ok("0044-20-7946-0958"), "+442079460958");
        assert_eq!(ok("(+1) 555.010.9999"), "+15550109999");
        assert_eq!(ok("+1 (555) 010-9999"), "+15550109999");
        assert_eq!(ok("0 0 4 9 30 1234567"), "+49301234567");
        assert_eq!(ok("+1234567"), "+1234567");
        assert_eq!(ok("+123456789012345"), "+123456789012345");
    }

    #[test]
    fn each_problem_has_its_error() {
        use PhoneNumberError::*;
        assert_eq!(err(""), Empty);
        assert_eq!(err(" - ( ) . "), Empty);
        assert_eq!(err("020 7946 0958"), MissingCountryCode);
        assert_eq!(err("442079460958"), MissingCountryCode);
        assert_eq!(err("0"), MissingCountryCode);
        assert_eq!(
            err("+44 20 7946 #958"),
            UnexpectedCharacter {
                character: '#',
                position: 13
            }
        );
        assert_eq!(
            err("+44 2O 7946 0958"),
            UnexpectedCharacter {
                character: 'O',
                position: 6
            }
        );
        assert_eq!(
            err("++442079460958"),
            UnexpectedCharacter {
                character: '+',
                position: 2
            }
        );
        assert_eq!(
            err("00+442079460958"),
            UnexpectedCharacter {
                character: '+',
                position: 3
            }
        );
        // Arabic-Indic digits are digits, but not ASCII ones; the position counts characters.
        assert_eq!(
            err("+٤٤ 20"),
            UnexpectedCharacter {
                character: '٤',
                position: 2
            }
        );
        assert_eq!(
            err("+44 2079460958 ٣"),
            UnexpectedCharacter {
                character: '٣',
                position: 16
            }
        );
        assert_eq!(err("+44 (0)20 7946 0958"), TrunkPrefix { position: 5 });
        assert_eq!(err("+44 ( 0 ) 20 7946 0958"), TrunkPrefix { position: 5 });
        assert_eq!(err("0044(0)2079460958"), TrunkPrefix { position: 5 });
        assert_eq!(
            err("+0442079460958"),
            CountryCodeStartsWithZero { position: 2 }
        );
        assert_eq!(
            err("000442079460958"),
            CountryCodeStartsWithZero { position: 3 }
        );
        assert_eq!(err("+"), TooShort { digits: 0 });
        assert_eq!(err("+123456"), TooShort { digits: 6 });
        assert_eq!(err("+1234567890123456"), TooLong { position: 17 });
    }

    #[test]
    fn the_first_problem_in_reading_order_is_reported() {
        use PhoneNumberError::*;
        // A missing country code is known at the first digit, before the '#'.
        assert_eq!(err("12#4567"), MissingCountryCode);
        assert_eq!(
            err("0#"),
            UnexpectedCharacter {
                character: '#',
                position: 2
            }
        );
        assert_eq!(err("+0#"), CountryCodeStartsWithZero { position: 2 });
        assert_eq!(err("+1234567890123456#"), TooLong { position: 17 });
        assert_eq!(
            err("+12#"),
            UnexpectedCharacter {
                character: '#',
                position: 4
            }
        );
        assert_eq!(err("+44 (0)2#"), TrunkPrefix { position: 5 });
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = err("+44 20 7946 #958").to_string();
        assert!(e.starts_with("unexpected character '#' at 13"), "{e}");
        assert!(
            err("2079460958")
                .to_string()
                .starts_with("missing country code")
        );
        assert!(err("+123").to_string().starts_with("too short"));
        assert!(err("+44 (0)20 7946 0958").to_string().contains("(0) at 5"));
    }

    #[test]
    fn debug_shows_only_the_last_digits() {
        let number = PhoneNumber::parse("+442079460958").unwrap();
        assert_eq!(format!("{number:?}"), "PhoneNumber(+…58)");
        assert_eq!(number.as_str(), "+442079460958");
        assert_eq!("+442079460958".parse::<PhoneNumber>().unwrap(), number);
    }
}
