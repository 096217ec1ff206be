//! The typed linking code and the linking QR payload (PROTOCOL.md §12.1): the check symbol
//! catches every single mistyped symbol, lenient reading, each error with its message, round
//! trips; QR payloads good and bad.

#![cfg(test)]

mod common;

use common::rng::TestRng;
use keylink::Error;
use keylink::keys::PublicKey;
use keylink::link::{LinkingCode, LinkingCodeError, LinkingQr};
use proptest::prelude::*;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The code's 8 symbols, as shown without the `-`.
fn symbols(code: &LinkingCode) -> Vec<u8> {
    code.to_string().bytes().filter(|&b| b != b'-').collect()
}

fn text(symbols: &[u8]) -> String {
    String::from_utf8(symbols.to_vec()).unwrap()
}

fn err(typed: &str) -> LinkingCodeError {
    LinkingCode::parse(typed).unwrap_err()
}

fn some_codes() -> Vec<LinkingCode> {
    let mut rng = TestRng::new(11);
    let mut codes: Vec<LinkingCode> = (0..20).map(|_| LinkingCode::generate(&mut rng)).collect();
    for fixed in ["0000-0000", "1234-567W", "ZZZZ-ZZZF"] {
        codes.push(LinkingCode::parse(fixed).unwrap());
    }
    codes
}

#[test]
fn check_symbol_follows_the_formula() {
    // v = 1..7: 1*1 + 3*2 + 5*3 + 7*4 + 9*5 + 11*6 + 13*7 = 252 = 28 mod 32 ('W').
    assert_eq!(
        LinkingCode::parse("1234567W").unwrap().to_string(),
        "1234-567W"
    );
    // v = 31 seven times: 31 * 49 = 1519 = 15 mod 32 ('F').
    assert!(LinkingCode::parse("ZZZZ-ZZZF").is_ok());
    assert_eq!(err("ZZZZ-ZZZ7"), LinkingCodeError::Mistyped);
    assert_eq!(&*LinkingCode::parse("ZZZZ-ZZZF").unwrap().prs(), b"ZZZZZZZ");
}

#[test]
fn every_single_substitution_is_caught() {
    let mut checked = 0;
    for code in some_codes() {
        let shown = symbols(&code);
        for position in 0..8 {
            for &other in ALPHABET.iter().filter(|&&a| a != shown[position]) {
                let mut typed = shown.clone();
                typed[position] = other;
                assert_eq!(
                    err(&text(&typed)),
                    LinkingCodeError::Mistyped,
                    "{}",
                    text(&typed)
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 23 * 8 * 31);
}

#[test]
fn reading_is_case_insensitive_with_aliases_and_separators() {
    let code = LinkingCode::parse("1234-567W").unwrap();
    for typed in [
        "1234567W",
        "1234567w",
        "l234567w",
        "I234567W",
        "i234-567w",
        " 12 34 - 56 7W ",
        "1-2-3-4-5-6-7-W",
        "1234\t567W\n",
    ] {
        assert_eq!(LinkingCode::parse(typed).unwrap(), code, "{typed:?}");
    }
    let zeros = LinkingCode::parse("0000-0000").unwrap();
    assert_eq!(LinkingCode::parse("oOoO-0o0O").unwrap(), zeros);
    assert_eq!(zeros.to_string(), "0000-0000");
}

#[test]
fn each_problem_has_its_error() {
    use LinkingCodeError::*;
    assert_eq!(err(""), WrongLength { symbols: 0 });
    assert_eq!(err(" - - "), WrongLength { symbols: 0 });
    assert_eq!(err("1234-567"), WrongLength { symbols: 7 });
    assert_eq!(err("1234-567W0"), WrongLength { symbols: 9 });
    assert_eq!(
        err("1234-U67W"),
        UnknownSymbol {
            symbol: 'U',
            position: 6
        }
    );
    assert_eq!(
        err("1234-u67W"),
        UnknownSymbol {
            symbol: 'u',
            position: 6
        }
    );
    assert_eq!(
        err("1234_567W"),
        UnknownSymbol {
            symbol: '_',
            position: 5
        }
    );
    // Positions count characters, not bytes.
    assert_eq!(
        err("é1234567W"),
        UnknownSymbol {
            symbol: 'é',
            position: 1
        }
    );
    assert_eq!(
        err("ü ü"),
        UnknownSymbol {
            symbol: 'ü',
            position: 1
        }
    );
    assert_eq!(err("1234-567X"), Mistyped);
}

#[test]
fn the_first_problem_is_reported() {
    use LinkingCodeError::*;
    // An unknown symbol before a wrong length, a wrong length before the check.
    assert_eq!(
        err("12#"),
        UnknownSymbol {
            symbol: '#',
            position: 3
        }
    );
    assert_eq!(
        err("1234-567W-1234#"),
        UnknownSymbol {
            symbol: '#',
            position: 15
        }
    );
    assert_eq!(err("1234-567X-0"), WrongLength { symbols: 9 });
    assert_eq!(
        err("1U#"),
        UnknownSymbol {
            symbol: 'U',
            position: 2
        }
    );
}

#[test]
fn errors_say_what_to_do() {
    let unknown = err("1234-U67W").to_string();
    assert!(unknown.starts_with("unknown symbol 'U' at 6"), "{unknown}");
    assert!(unknown.contains("except U"), "{unknown}");
    let length = err("1234-567").to_string();
    assert!(
        length.contains("has 8 symbols, but 7 were entered"),
        "{length}"
    );
    let mistyped = err("1234-567X").to_string();
    assert!(
        mistyped.starts_with("a symbol was mistyped: check the code"),
        "{mistyped}"
    );
}

#[test]
fn debug_is_redacted() {
    let code = LinkingCode::parse("1234-567W").unwrap();
    assert_eq!(format!("{code:?}"), "LinkingCode(<redacted>)");
    let qr = LinkingQr::generate(valid_key(), &mut TestRng::new(3));
    let shown = format!("{qr:?}");
    assert!(shown.contains("LinkSecret(<redacted>)"), "{shown}");
    assert!(
        !shown.contains(&hex::encode(qr.link_secret().as_bytes())),
        "{shown}"
    );
}

proptest! {
    #[test]
    fn random_codes_round_trip(seed in any::<u64>()) {
        let code = LinkingCode::generate(&mut TestRng::new(seed));
        let shown = code.to_string();
        prop_assert_eq!(shown.len(), 9);
        prop_assert_eq!(shown.as_bytes()[4], b'-');
        prop_assert!(symbols(&code).iter().all(|s| ALPHABET.contains(s)));
        prop_assert_eq!(&LinkingCode::parse(&shown).unwrap(), &code);
        prop_assert_eq!(&LinkingCode::parse(&shown.to_lowercase()).unwrap(), &code);
        prop_assert_eq!(&shown.parse::<LinkingCode>().unwrap(), &code);
        let prs = code.prs();
        prop_assert_eq!(&prs[..], &symbols(&code)[..7]);
    }

    #[test]
    fn parse_never_panics(typed in "\\PC{0,24}") {
        if let Ok(code) = LinkingCode::parse(&typed) {
            prop_assert_eq!(LinkingCode::parse(&code.to_string()).unwrap(), code);
        }
    }
}

// ---- QR payload ------------------------------------------------------------------------------

/// An X25519 public key (u = 9, the base point: on the curve, of large order).
fn valid_key() -> PublicKey {
    let mut u = [0u8; 32];
    u[0] = 9;
    PublicKey::from_canonical(u).unwrap()
}

fn payload(ephemeral: [u8; 32]) -> Vec<u8> {
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&[0x5A; 32]);
    bytes.extend_from_slice(&ephemeral);
    bytes
}

#[test]
fn qr_payload_round_trips() {
    let qr = LinkingQr::generate(valid_key(), &mut TestRng::new(5));
    let bytes = qr.to_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 0x01);
    assert_eq!(&bytes[1..33], qr.link_secret().as_bytes());
    assert_eq!(&bytes[33..], valid_key().as_bytes());
    let parsed = LinkingQr::parse(bytes.as_ref()).unwrap();
    assert_eq!(parsed, qr);
    assert_eq!(parsed.ephemeral(), &valid_key());
    let other = LinkingQr::generate(valid_key(), &mut TestRng::new(6));
    assert_ne!(other.link_secret(), qr.link_secret());
}

#[test]
fn bad_qr_payloads_are_refused() {
    let good = payload(*valid_key().as_bytes());
    assert!(LinkingQr::parse(&good).is_ok());
    assert!(matches!(LinkingQr::parse(&[]), Err(Error::Malformed(_))));
    assert!(matches!(
        LinkingQr::parse(&good[..64]),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        LinkingQr::parse(&[good.clone(), vec![0]].concat()),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        LinkingQr::parse(&[0x01]),
        Err(Error::Malformed(_))
    ));
    // The version is checked first, whatever the length.
    for version in [0x00, 0x02, 0xFF] {
        for len in [1, 65, 70] {
            let mut bytes = good.clone();
            bytes.resize(len, 0);
            bytes[0] = version;
            assert!(
                matches!(LinkingQr::parse(&bytes), Err(Error::UnknownVersion { found, .. }) if found == version),
                "{version} {len}"
            );
        }
    }
    // Non-canonical encodings: bit 255 set, u = p, u = p + 1.
    let mut high_bit = *valid_key().as_bytes();
    high_bit[31] |= 0x80;
    let mut p = [0xFF; 32];
    p[0] = 0xED;
    p[31] = 0x7F;
    let mut p_plus_one = p;
    p_plus_one[0] = 0xEE;
    // Small order: 0, 1, p - 1 (= -1, on the twist), and the two order-8 points.
    let mut minus_one = p;
    minus_one[0] = 0xEC;
    let order_8 = [
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800").unwrap(),
        hex::decode("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157").unwrap(),
    ];
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut bad_keys = vec![high_bit, p, p_plus_one, [0; 32], one, minus_one];
    bad_keys.extend(
        order_8
            .iter()
            .map(|k| <[u8; 32]>::try_from(k.as_slice()).unwrap()),
    );
    // A u-coordinate on the twist (u = 2).
    let mut two = [0u8; 32];
    two[0] = 2;
    bad_keys.push(two);
    for key in bad_keys {
        let refused = LinkingQr::parse(&payload(key));
        assert!(
            matches!(refused, Err(Error::InvalidKey(_))),
            "{} {refused:?}",
            hex::encode(key)
        );
    }
}
