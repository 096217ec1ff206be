//! `PhoneNumber` over generated input: every E.164 number, however it is typed (separators,
//! `00` for `+`), parses to itself; what parses is always E.164; nothing panics.
#![cfg(test)]

use keylink::account::{PhoneNumber, PhoneNumberError};
use proptest::prelude::*;

/// An E.164 number: `+`, a first digit 1-9, then 6 to 14 more digits.
fn e164() -> impl Strategy<Value = String> {
    ("[1-9]", "[0-9]{6,14}").prop_map(|(first, rest)| format!("+{first}{rest}"))
}

/// `number` as someone might type it: `00` or `+`, separators between digits (never a `(`
/// right before a `0`, which could make a trunk prefix `(0)`).
fn typed(number: &str, double_zero: bool, separators: &[u8]) -> String {
    let mut out = String::from(if double_zero { "00" } else { "+" });
    for (i, digit) in number.trim_start_matches('+').chars().enumerate() {
        let separator = separators.get(i).copied().unwrap_or(0);
        match separator % 6 {
            0 => {}
            1 => out.push(' '),
            2 => out.push('-'),
            3 => out.push('.'),
            4 if digit != '0' => out.push_str("( "),
            4 => out.push(' '),
            _ => out.push(')'),
        }
        out.push(digit);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_typing_of_a_number_gives_the_number(
        number in e164(),
        double_zero in any::<bool>(),
        separators in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let text = typed(&number, double_zero, &separators);
        let parsed = PhoneNumber::parse(&text);
        prop_assert_eq!(parsed.map(|n| n.to_string()), Ok(number), "{}", text);
    }

    #[test]
    fn what_parses_is_e164_and_errors_point_into_the_text(text in "\\PC{0,24}") {
        match PhoneNumber::parse(&text) {
            Ok(number) => {
                let digits = &number.as_str()[1..];
                prop_assert!((7..=15).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(!digits.starts_with('0'));
            }
            Err(
                PhoneNumberError::UnexpectedCharacter { position, .. }
                | PhoneNumberError::TrunkPrefix { position }
                | PhoneNumberError::CountryCodeStartsWithZero { position }
                | PhoneNumberError::TooLong { position },
            ) => {
                prop_assert!(position >= 1 && position <= text.chars().count());
            }
            Err(_) => {}
        }
    }
}

#[test]
fn an_unexpected_character_is_named_where_it_is() {
    let text = "+49 30 12345# 678";
    let Err(PhoneNumberError::UnexpectedCharacter {
        character,
        position,
    }) = PhoneNumber::parse(text)
    else {
        panic!("{text}");
    };
    assert_eq!(text.chars().nth(position - 1), Some(character));
}
