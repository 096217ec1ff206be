//! The recovery code: 256 bits of entropy written as 13 groups of 5 characters.
//!
//! Each group holds 4 data symbols and 1 check symbol over the alphabet
//! [`CODE_ALPHABET`](crate::constants::CODE_ALPHABET) (Crockford base32, 5 bits a symbol).
//! The 52 data symbols carry the 256 entropy bits, most significant bit first, followed by 4
//! zero bits. The check symbol makes the group's position and its five symbols, read as the
//! coefficients of a polynomial over GF(2^5) = GF(2)[x]/(x^5 + x^2 + 1), vanish at x:
//!
//! ```text
//! g·x^5 + d0·x^4 + d1·x^3 + d2·x^2 + d3·x + c = 0      (g = 0-based group index)
//! ```
//!
//! All six weights are distinct and non-zero, so one wrong character, or two characters
//! swapped, always fails the group's check, and a group moved to another position fails too.

use core::fmt;

use subtle::{
    Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess,
    CtOption,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::BackupError;
use super::keys::BackupKey;
use super::rng::random;
use crate::constants::{
    CODE_ALPHABET, CODE_ENTROPY_LEN, CODE_GROUP_DATA, CODE_GROUP_LEN, CODE_GROUPS,
};

/// Characters in a recovery code, separators not counted.
pub const CODE_LEN: usize = CODE_GROUPS * CODE_GROUP_LEN;
/// Data symbols in a recovery code.
const DATA_SYMBOLS: usize = CODE_GROUPS * CODE_GROUP_DATA;
/// x^5 + x^2 + 1: the reduction polynomial of GF(32), as a bit mask.
const GF32_MODULUS: u8 = 0b10_0101;

/// A recovery code: the 256-bit secret from which the [`BackupKey`] is derived.
///
/// Show it once with [`RecoveryCode::to_display_string`] for the user to write down; read it
/// back with [`RecoveryCode::parse`], which names the group of a mistyped character before any
/// key is derived.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode {
    entropy: [u8; CODE_ENTROPY_LEN],
}

impl RecoveryCode {
    /// A fresh code with 256 bits from the operating system's random number generator.
    pub fn generate() -> Result<Self, BackupError> {
        Ok(RecoveryCode { entropy: random()? })
    }

    /// A code from given entropy (test vectors, tests; reachable from outside only as
    /// `keylink::hazmat::recovery_code_from_entropy`). The entropy must be uniformly random.
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn from_entropy(entropy: [u8; CODE_ENTROPY_LEN]) -> Self {
        RecoveryCode { entropy }
    }

    /// Parses a code as the user typed it: letters in either case, any spaces or dashes, and
    /// `O`, `I`, `L` read as `0`, `1`, `1`.
    pub fn parse(text: &str) -> Result<Self, BackupError> {
        let symbols = symbols_of(text)?;
        check_groups(&symbols)?;
        let data = data_symbols(&symbols);
        let entropy = unpack(&data).ok_or(BackupError::CodeTypo { group: CODE_GROUPS })?;
        Ok(RecoveryCode { entropy: *entropy })
    }

    /// The code as it is shown to the user: 13 groups of 5 characters joined by dashes.
    pub fn to_display_string(&self) -> Zeroizing<String> {
        let symbols = self.symbols();
        let mut out = Zeroizing::new(String::with_capacity(CODE_LEN + CODE_GROUPS));
        for (i, group) in symbols.chunks(CODE_GROUP_LEN).enumerate() {
            if i > 0 {
                out.push('-');
            }
            out.extend(group.iter().map(|&s| char::from(alphabet(s))));
        }
        out
    }

    /// The backup key this code stands for (see [`BackupKey`]).
    pub fn backup_key(&self) -> BackupKey {
        BackupKey::from_entropy(&self.entropy)
    }

    fn symbols(&self) -> Zeroizing<[u8; CODE_LEN]> {
        let data = pack(&self.entropy);
        let mut symbols = Zeroizing::new([0u8; CODE_LEN]);
        let groups = symbols
            .chunks_mut(CODE_GROUP_LEN)
            .zip(data.chunks(CODE_GROUP_DATA));
        for (g, (out, d)) in groups.enumerate() {
            let (data_out, check_out) = out.split_at_mut(CODE_GROUP_DATA);
            data_out.copy_from_slice(d);
            if let Some(c) = check_out.first_mut() {
                *c = check_symbol(g, d);
            }
        }
        symbols
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl core::str::FromStr for RecoveryCode {
    type Err = BackupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecoveryCode::parse(s)
    }
}

/// The symbol with value `v` (< 32), looked up in constant time: every entry of the alphabet
/// is read, none is indexed by the secret value.
fn alphabet(v: u8) -> u8 {
    let v = v & 0x1f;
    let mut out = 0u8;
    for (i, &a) in (0u8..).zip(CODE_ALPHABET.iter()) {
        out.conditional_assign(&a, i.ct_eq(&v));
    }
    out
}

/// The value of a typed symbol (not a separator), folding case and the confusable letters
/// `O`, `I`, `L`; `None` if it is not a symbol. Constant time over the character: ASCII lower
/// case is folded with masks and all 32 symbols (and the 3 confusables) are compared, so
/// neither the value nor which symbol it is decides a branch or a memory address.
fn symbol_value(c: char) -> CtOption<u8> {
    let code = u32::from(c);
    let lower = code.ct_gt(&u32::from(b'a' - 1)) & code.ct_lt(&u32::from(b'z' + 1));
    let upper = u32::conditional_select(&code, &code.wrapping_sub(0x20), lower);
    let confusables = [(b'O', 0u8), (b'I', 1), (b'L', 1)];
    let symbols = (0u8..).zip(CODE_ALPHABET.iter().copied());
    let table = symbols.map(|(v, a)| (a, v)).chain(confusables);
    let (mut value, mut found) = (0u8, Choice::from(0));
    for (symbol, v) in table {
        let hit = upper.ct_eq(&u32::from(symbol));
        value.conditional_assign(&v, hit);
        found |= hit;
    }
    CtOption::new(value, found)
}

/// Whether `c` is skipped as a separator: `-` or whitespace. A symbol is ASCII, so for symbols
/// this takes the same path whatever their value; only non-ASCII characters (never symbols)
/// reach the Unicode table.
fn is_separator(c: char) -> bool {
    let code = u32::from(c);
    let ascii_separator = code.ct_eq(&u32::from(b'-'))
        | code.ct_eq(&u32::from(b' '))
        | (code.ct_gt(&0x08) & code.ct_lt(&0x0e));
    bool::from(ascii_separator) || (!c.is_ascii() && c.is_whitespace())
}

/// Reads the symbols out of the typed text, skipping separators.
fn symbols_of(text: &str) -> Result<Zeroizing<[u8; CODE_LEN]>, BackupError> {
    let mut symbols = Zeroizing::new([0u8; CODE_LEN]);
    let mut count = 0usize;
    for c in text.chars().filter(|&c| !is_separator(c)) {
        let value = symbol_value(c);
        // Only a character that is no symbol at all (an error either way) takes this branch.
        if bool::from(value.is_none()) {
            return Err(BackupError::CodeCharacter {
                group: count / CODE_GROUP_LEN + 1,
                position: count % CODE_GROUP_LEN + 1,
            });
        }
        if let Some(slot) = symbols.get_mut(count) {
            *slot = value.unwrap_or(0);
        }
        count += 1;
    }
    if count != CODE_LEN {
        let complete = count.min(CODE_LEN) / CODE_GROUP_LEN;
        return Err(BackupError::CodeLength {
            found: count,
            expected: CODE_LEN,
            group: first_bad_group(&symbols, complete)
                .or_else(|| (count < CODE_LEN).then_some(complete + 1)),
        });
    }
    Ok(symbols)
}

/// Checks every group; the first that fails is reported (1-based).
fn check_groups(symbols: &[u8; CODE_LEN]) -> Result<(), BackupError> {
    match first_bad_group(symbols, CODE_GROUPS) {
        Some(group) => Err(BackupError::CodeTypo { group }),
        None => Ok(()),
    }
}

/// The first (1-based) of the first `groups` groups whose check fails.
fn first_bad_group(symbols: &[u8; CODE_LEN], groups: usize) -> Option<usize> {
    symbols
        .chunks(CODE_GROUP_LEN)
        .take(groups)
        .enumerate()
        .find(|(g, group)| !group_is_valid(*g, group))
        .map(|(g, _)| g + 1)
}

/// Whether group `g` passes its check; the comparison is constant time (only its result, which
/// the caller reports, is public).
fn group_is_valid(g: usize, group: &[u8]) -> bool {
    let (data, check) = group.split_at(CODE_GROUP_DATA.min(group.len()));
    check
        .first()
        .is_some_and(|c| bool::from(c.ct_eq(&check_symbol(g, data))))
}

/// The check symbol of group `g` with data symbols `data` (see the module docs). Only the
/// public group index and the number of symbols decide branches.
fn check_symbol(g: usize, data: &[u8]) -> u8 {
    let position = u8::try_from(g).unwrap_or(0) & 0x1f;
    let h = data
        .iter()
        .fold(position, |h, &d| gf32_mul(h, 2) ^ (d & 0x1f));
    gf32_mul(h, 2)
}

/// Multiplication in GF(2^5) modulo x^5 + x^2 + 1, without branches on either operand: five
/// fixed rounds, each adding `a` under a mask made from one bit of `b`, then multiplying `a`
/// by x (the reduction is applied under a mask made from the bit shifted out).
fn gf32_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut product) = (a & 0x1f, 0u8);
    for bit in 0..5 {
        product ^= a & 0u8.wrapping_sub((b >> bit) & 1);
        let carry = 0u8.wrapping_sub((a >> 4) & 1);
        a = ((a << 1) ^ (GF32_MODULUS & carry)) & 0x1f;
    }
    product
}

/// The data symbols of a code, without the check symbols.
fn data_symbols(symbols: &[u8; CODE_LEN]) -> Zeroizing<[u8; DATA_SYMBOLS]> {
    let mut data = Zeroizing::new([0u8; DATA_SYMBOLS]);
    let pairs = data
        .chunks_mut(CODE_GROUP_DATA)
        .zip(symbols.chunks(CODE_GROUP_LEN));
    for (out, group) in pairs {
        out.copy_from_slice(
            group
                .get(..CODE_GROUP_DATA)
                .unwrap_or(&[0; CODE_GROUP_DATA]),
        );
    }
    data
}

/// Entropy bits, most significant first, then zero bits, as 5-bit symbols.
fn pack(entropy: &[u8; CODE_ENTROPY_LEN]) -> Zeroizing<[u8; DATA_SYMBOLS]> {
    let mut data = Zeroizing::new([0u8; DATA_SYMBOLS]);
    for (i, symbol) in data.iter_mut().enumerate() {
        *symbol = (0..5).fold(0, |s, b| (s << 1) | bit(entropy, i * 5 + b));
    }
    data
}

/// The inverse of [`pack`]; `None` when a padding bit is set.
/// The entropy is zeroized when dropped, also when a padding bit fails it.
fn unpack(data: &[u8; DATA_SYMBOLS]) -> Option<Zeroizing<[u8; CODE_ENTROPY_LEN]>> {
    let mut entropy = Zeroizing::new([0u8; CODE_ENTROPY_LEN]);
    let mut padding = 0u8;
    for (i, &symbol) in data.iter().enumerate() {
        for b in 0..5 {
            let value = (symbol >> (4 - b)) & 1;
            match entropy.get_mut((i * 5 + b) / 8) {
                Some(byte) => *byte |= value << (7 - (i * 5 + b) % 8),
                None => padding |= value,
            }
        }
    }
    (padding == 0).then_some(entropy)
}

/// Bit `n` (most significant first) of `bytes`, 0 past the end.
fn bit(bytes: &[u8], n: usize) -> u8 {
    bytes.get(n / 8).map_or(0, |byte| (byte >> (7 - n % 8)) & 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecoveryCode {
        let mut e = [0u8; 32];
        for (i, b) in e.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        RecoveryCode::from_entropy(e)
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", sample()), "RecoveryCode(<redacted>)");
    }

    #[test]
    fn matches_the_protocol_document_example() {
        let code = RecoveryCode::from_entropy(core::array::from_fn(|i| i as u8));
        assert_eq!(
            *code.to_display_string(),
            "000G5-40R48-0M30Q-E209P-185GZ-R38E9-1W81J-24GKJ-2GAHP-C5RR1-34D14-P70X2-3RFGE"
        );
    }

    #[test]
    fn display_has_13_groups_of_5() {
        let s = sample().to_display_string();
        let groups: Vec<&str> = s.split('-').collect();
        assert_eq!(groups.len(), 13);
        assert!(groups.iter().all(|g| g.len() == 5));
    }

    #[test]
    fn round_trips_with_any_case_and_separators() {
        let code = sample();
        let shown = code.to_display_string();
        let messy = shown.replace('-', " ").to_lowercase().replace('0', "o");
        let parsed = RecoveryCode::parse(&format!("  {messy}\n")).unwrap();
        assert_eq!(parsed.entropy, code.entropy);
        let compact = shown.replace('-', "");
        assert_eq!(RecoveryCode::parse(&compact).unwrap().entropy, code.entropy);
    }

    #[test]
    fn generated_codes_round_trip() {
        for _ in 0..20 {
            let code = RecoveryCode::generate().unwrap();
            let parsed = RecoveryCode::parse(&code.to_display_string()).unwrap();
            assert_eq!(parsed.entropy, code.entropy);
        }
    }

    #[test]
    fn every_single_substitution_names_its_group() {
        let shown: Vec<u8> = sample().to_display_string().replace('-', "").into_bytes();
        for pos in 0..CODE_LEN {
            for &other in CODE_ALPHABET.iter().filter(|&&a| a != shown[pos]) {
                let mut typo = shown.clone();
                typo[pos] = other;
                let err = RecoveryCode::parse(std::str::from_utf8(&typo).unwrap()).unwrap_err();
                match err {
                    BackupError::CodeTypo { group } => assert_eq!(group, pos / 5 + 1),
                    e => panic!("position {pos}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn adjacent_swaps_are_detected() {
        let shown: Vec<u8> = sample().to_display_string().replace('-', "").into_bytes();
        for pos in 0..CODE_LEN - 1 {
            let mut typo = shown.clone();
            typo.swap(pos, pos + 1);
            if typo == shown {
                continue;
            }
            let text = String::from_utf8(typo).unwrap();
            assert!(RecoveryCode::parse(&text).is_err(), "swap at {pos}");
        }
    }

    #[test]
    fn swapped_groups_are_detected() {
        let shown = sample().to_display_string();
        let mut groups: Vec<&str> = shown.split('-').collect();
        groups.swap(2, 3);
        let err = RecoveryCode::parse(&groups.join("-")).unwrap_err();
        assert!(matches!(err, BackupError::CodeTypo { group: 3 }), "{err:?}");
    }

    #[test]
    fn unknown_character_names_its_group() {
        let mut shown = sample().to_display_string().to_string();
        shown.replace_range(7..8, "U");
        let err = RecoveryCode::parse(&shown).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::CodeCharacter {
                    group: 2,
                    position: 2
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_character_error_does_not_show_the_character() {
        // Group 3 of the code, with its third symbol mistyped as a symbol no code has.
        let mut shown = sample().to_display_string().to_string();
        shown.replace_range(14..15, "#");
        let err = RecoveryCode::parse(&shown).unwrap_err();
        assert!(matches!(
            err,
            BackupError::CodeCharacter {
                group: 3,
                position: 3
            }
        ));
        let (display, debug) = (err.to_string(), format!("{err:?}"));
        assert!(display.contains("group 3"), "{display}");
        assert!(
            !display.contains('#') && !debug.contains('#'),
            "{display} / {debug}"
        );
    }

    /// The former, branching lookup, as the reference for the constant-time one.
    fn reference_value(c: char) -> Option<u8> {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        };
        let byte = u8::try_from(c).ok()?;
        let pos = CODE_ALPHABET.iter().position(|&a| a == byte)?;
        u8::try_from(pos).ok()
    }

    #[test]
    fn constant_time_lookup_agrees_with_the_reference() {
        let chars = (0u32..0x3100).chain([0x1_F600, 0x10_FFFF]);
        for c in chars.filter_map(char::from_u32) {
            assert_eq!(
                Option::<u8>::from(symbol_value(c)),
                reference_value(c),
                "{c:?}"
            );
            assert_eq!(is_separator(c), c.is_whitespace() || c == '-', "{c:?}");
        }
        for v in 0..32u8 {
            assert_eq!(alphabet(v), CODE_ALPHABET[usize::from(v)]);
        }
    }

    #[test]
    fn branch_free_multiplication_agrees_with_the_schoolbook_one() {
        fn schoolbook(mut a: u8, mut b: u8) -> u8 {
            let mut product = 0;
            while b != 0 {
                if b & 1 == 1 {
                    product ^= a;
                }
                a <<= 1;
                if a & 0x20 != 0 {
                    a ^= GF32_MODULUS;
                }
                b >>= 1;
            }
            product
        }
        for a in 0..32u8 {
            for b in 0..32u8 {
                assert_eq!(gf32_mul(a, b), schoolbook(a, b), "{a} * {b}");
            }
        }
    }

    #[test]
    fn missing_character_is_a_length_error_near_its_group() {
        let mut shown = sample().to_display_string().replace('-', "");
        shown.remove(23);
        let err = RecoveryCode::parse(&shown).unwrap_err();
        match err {
            BackupError::CodeLength {
                found: 64,
                expected: 65,
                group: Some(5),
            } => {}
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn extra_characters_at_the_end_name_no_group() {
        let shown = format!("{}X", *sample().to_display_string());
        let err = RecoveryCode::parse(&shown).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::CodeLength {
                    found: 66,
                    group: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn padding_bits_must_be_zero() {
        let code = sample();
        let mut symbols = code.symbols();
        // Flip a padding bit and recompute the last check so only the padding is wrong.
        symbols[CODE_LEN - 2] ^= 1;
        let last = &symbols[CODE_LEN - 5..CODE_LEN - 1].to_vec();
        symbols[CODE_LEN - 1] = check_symbol(CODE_GROUPS - 1, last);
        let text: String = symbols.iter().map(|&s| char::from(alphabet(s))).collect();
        let err = RecoveryCode::parse(&text).unwrap_err();
        assert!(
            matches!(err, BackupError::CodeTypo { group: 13 }),
            "{err:?}"
        );
    }

    #[test]
    fn gf32_multiplication_has_inverses() {
        for a in 1..32u8 {
            assert_eq!((1..32u8).filter(|&b| gf32_mul(a, b) == 1).count(), 1);
        }
    }
}
