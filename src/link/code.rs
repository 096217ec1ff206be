//! [`LinkingCode`]: the 8-symbol code a new companion shows and the user types on the primary
//! (PROTOCOL.md §12.1).

use core::fmt;

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::constants::{CODE_ALPHABET, LINK_CODE_DATA, LINK_CODE_LEN};

/// Symbols shown before the `-` of the displayed code.
const FIRST_GROUP: usize = 4;

/// The typed linking code: 7 random Crockford base32 symbols and a check symbol.
///
/// The new companion [`generate`](Self::generate)s one and shows it with
/// [`Display`](fmt::Display) as two groups of four upper-case symbols, `ABCD-EFGH`; the user
/// types it on the primary, which reads it with [`parse`](Self::parse). Reading is lenient
/// where that cannot change the code (case, spaces, `-`, `O` for `0`, `I` and `L` for `1`)
/// and strict otherwise: a mistyped symbol is caught by the check symbol before any
/// protocol run, with an error of its own ([`LinkingCodeError`]).
///
/// The code is a secret while it is shown: `Debug` prints no symbol, and the symbols are
/// zeroized on drop.
///
/// ```
/// use keylink::link::{LinkingCode, LinkingCodeError};
///
/// let code = LinkingCode::generate(&mut keylink::os_rng());
/// let shown = code.to_string(); // e.g. "7KQ2-M9XF"
/// assert_eq!(LinkingCode::parse(&shown.to_lowercase())?, code);
///
/// assert_eq!(
///     LinkingCode::parse("7KQ2 M9X").unwrap_err(),
///     LinkingCodeError::WrongLength { symbols: 7 }
/// );
/// # Ok::<(), LinkingCodeError>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkingCode {
    /// Symbol values `v_0..v_7`, each below 32; `v_7` is the check symbol.
    values: [u8; LINK_CODE_LEN],
}

impl LinkingCode {
    /// A new code: 7 uniformly random symbols (35 bits) and their check symbol.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut random = Zeroizing::new([0u8; LINK_CODE_DATA]);
        rng.fill_bytes(random.as_mut());
        // 256 is a multiple of 32: the low 5 bits of a uniform byte are uniform.
        let mut values = [0u8; LINK_CODE_LEN];
        values
            .iter_mut()
            .zip(random.iter())
            .for_each(|(v, r)| *v = r & 0x1F);
        Self::with_check(values)
    }

    /// Reads a code as a user typed it. Problems are reported in this order: the first
    /// unknown symbol, then a wrong number of symbols, then a check symbol that does not
    /// match (see [`LinkingCodeError`]).
    pub fn parse(typed: &str) -> Result<Self, LinkingCodeError> {
        // Zeroized on every return: the symbols read so far are part of the secret.
        let mut values = Zeroizing::new([0u8; LINK_CODE_LEN]);
        let mut symbols = 0;
        for (position, character) in (1..).zip(typed.chars()) {
            if character.is_whitespace() || character == '-' {
                continue;
            }
            let value = symbol_value(character).ok_or(LinkingCodeError::UnknownSymbol {
                symbol: character,
                position,
            })?;
            if let Some(slot) = values.get_mut(symbols) {
                *slot = value;
            }
            symbols += 1;
        }
        if symbols != LINK_CODE_LEN {
            return Err(LinkingCodeError::WrongLength { symbols });
        }
        let code = LinkingCode { values: *values };
        match check_symbol(&code.values) == code.values[LINK_CODE_DATA] {
            true => Ok(code),
            false => Err(LinkingCodeError::Mistyped),
        }
    }

    /// CPace's password `PRS`: the 7 data symbols as canonical upper-case ASCII (the check
    /// symbol is left out: it carries no entropy).
    pub fn prs(&self) -> Zeroizing<[u8; LINK_CODE_DATA]> {
        let mut prs = Zeroizing::new([0u8; LINK_CODE_DATA]);
        prs.iter_mut()
            .zip(&self.values)
            .for_each(|(c, &v)| *c = symbol(v));
        prs
    }

    /// `values` with `v_7` set to the check symbol of `v_0..v_6`.
    fn with_check(mut values: [u8; LINK_CODE_LEN]) -> Self {
        values[LINK_CODE_DATA] = check_symbol(&values);
        LinkingCode { values }
    }
}

/// `v_7 = (sum over i = 0..6 of (2i + 1) * v_i) mod 32`. The weights are odd, hence invertible
/// mod 32: changing one symbol (data or check) always changes the check.
fn check_symbol(values: &[u8; LINK_CODE_LEN]) -> u8 {
    let weighted = (1u32..)
        .step_by(2)
        .zip(values.iter().take(LINK_CODE_DATA))
        .map(|(weight, &v)| weight * u32::from(v))
        .sum::<u32>();
    (weighted % 32) as u8
}

/// The canonical upper-case ASCII symbol of a value below 32.
fn symbol(value: u8) -> u8 {
    CODE_ALPHABET
        .get(usize::from(value))
        .copied()
        .unwrap_or(b'?')
}

/// The value of a typed symbol, upper or lower case, with Crockford's aliases (`O` is `0`, `I`
/// and `L` are `1`); `None` for anything else (`U` included).
fn symbol_value(typed: char) -> Option<u8> {
    let upper = match typed.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    let byte = u8::try_from(upper).ok()?;
    let position = CODE_ALPHABET.iter().position(|&a| a == byte)?;
    u8::try_from(position).ok()
}

/// Two groups of four upper-case symbols joined by `-`: `ABCD-EFGH`.
impl fmt::Display for LinkingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &v) in self.values.iter().enumerate() {
            if i == FIRST_GROUP {
                f.write_str("-")?;
            }
            write!(f, "{}", char::from(symbol(v)))?;
        }
        Ok(())
    }
}

/// Redacted: the code is a secret while it is shown, and `Debug` output ends up in logs.
impl fmt::Debug for LinkingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkingCode(<redacted>)")
    }
}

/// Constant time: the code is a secret.
impl PartialEq for LinkingCode {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.values.ct_eq(&other.values).into()
    }
}

impl Eq for LinkingCode {}

impl core::str::FromStr for LinkingCode {
    type Err = LinkingCodeError;

    fn from_str(typed: &str) -> Result<Self, LinkingCodeError> {
        Self::parse(typed)
    }
}

/// Why typed text is not a linking code. Positions count characters of the typed text, from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkingCodeError {
    /// A character that is neither a symbol of the code (Crockford base32: `0-9`, `A-Z`
    /// without `U`, either case) nor a separator (a space or `-`).
    UnknownSymbol {
        /// The character as typed.
        symbol: char,
        /// Where it is.
        position: usize,
    },
    /// Not 8 symbols (separators not counted).
    WrongLength {
        /// How many symbols there are.
        symbols: usize,
    },
    /// 8 symbols whose check symbol does not match: one of them was mistyped.
    Mistyped,
}

impl fmt::Display for LinkingCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkingCodeError::UnknownSymbol { symbol, position } => write!(
                f,
                "unknown symbol '{symbol}' at {position}: a linking code has only the digits 0-9 and the letters A-Z except U; check the code on the new device's screen"
            ),
            LinkingCodeError::WrongLength { symbols } => write!(
                f,
                "a linking code has {LINK_CODE_LEN} symbols, but {symbols} were entered; type all 8 shown on the new device's screen"
            ),
            LinkingCodeError::Mistyped => f.write_str(
                "a symbol was mistyped: check the code on the new device's screen and type it again",
            ),
        }
    }
}

impl std::error::Error for LinkingCodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_symbol_of_a_known_code() {
        // 1*1 + 3*2 + 5*3 + 7*4 + 9*5 + 11*6 + 13*7 = 252 = 7*32 + 28; 28 is 'W'.
        let code = LinkingCode::with_check([1, 2, 3, 4, 5, 6, 7, 0]);
        assert_eq!(code.to_string(), "1234-567W");
        assert_eq!(&*code.prs(), b"1234567");
    }

    #[test]
    fn every_value_has_one_symbol() {
        for v in 0..32u8 {
            assert_eq!(symbol_value(char::from(symbol(v))), Some(v));
        }
        assert_eq!(symbol_value('U'), None);
        assert_eq!(symbol_value('é'), None);
    }
}
