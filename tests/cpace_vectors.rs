//! draft-irtf-cfrg-cpace-21's ristretto255/SHA-512 test vectors (test-vectors/cpace/, see its
//! SOURCE.md) through `keylink::hazmat::cpace`, the deterministic entry points of the CPace
//! the typed linking code runs: generator, `Ya`, `Yb`, `K`, `ISK` in initiator-responder mode,
//! and the invalid shares that must abort.

#![cfg(test)]
#![cfg(feature = "hazmat")]

use keylink::Error;
use keylink::hazmat::cpace;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/test-vectors/cpace/ristretto255_sha512.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

fn array<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    bytes(v, key).try_into().unwrap()
}

#[test]
fn generator() {
    let v = vectors();
    let g = &v["ristretto255_sha512"]["generator"];
    let (prs, ci, sid) = (bytes(g, "PRS"), bytes(g, "CI"), bytes(g, "sid"));
    assert_eq!(
        cpace::generator_string(&prs, &ci, &sid),
        bytes(g, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)")
    );
    assert_eq!(
        cpace::generator(&prs, &ci, &sid),
        array::<32>(g, "encoded generator g")
    );
}

#[test]
fn initiator_responder_run() {
    let v = vectors();
    let p = &v["ristretto255_sha512"]["protocol"];
    let (prs, ci, sid) = (bytes(p, "PRS"), bytes(p, "CI"), array::<16>(p, "sid"));
    let (ad_a, ad_b) = (bytes(p, "ADa"), bytes(p, "ADb"));
    assert_eq!(cpace::generator(&prs, &ci, &sid), array::<32>(p, "g"));
    let (initiator, ya) = cpace::start_with_scalar(&prs, &ci, &sid, &ad_a, &array(p, "ya"));
    assert_eq!(ya, array::<32>(p, "Ya"));
    let yb_scalar = array(p, "yb");
    assert_eq!(
        cpace::scalar_mult_vfy(&yb_scalar, &ya).unwrap(),
        array::<32>(p, "K")
    );
    let (isk_b, yb) =
        cpace::respond_with_scalar(&prs, &ci, &sid, &ya, &ad_a, &ad_b, &yb_scalar).unwrap();
    assert_eq!(yb, array::<32>(p, "Yb"));
    assert_eq!(
        cpace::scalar_mult_vfy(&array(p, "ya"), &yb).unwrap(),
        array::<32>(p, "K")
    );
    assert_eq!(isk_b.as_bytes(), &array::<64>(p, "ISK_IR"));
    let isk_a = initiator.finish(&yb, &ad_b).unwrap();
    assert_eq!(isk_a.as_bytes(), &array::<64>(p, "ISK_IR"));
    // The symmetric-mode ISK is another value: keylink runs initiator-responder mode only.
    assert_ne!(isk_a.as_bytes(), &array::<64>(p, "ISK_SY"));
}

#[test]
fn invalid_shares_abort() {
    let v = vectors();
    let m = &v["ristretto255_sha512"]["scalar_mult"];
    let valid = &m["Valid"];
    let s = array(valid, "s");
    assert_eq!(
        cpace::scalar_mult_vfy(&s, &array(valid, "X")).unwrap(),
        array::<32>(valid, "G.scalar_mult_vfy(s,X)")
    );
    let p = &v["ristretto255_sha512"]["protocol"];
    let (prs, ci, sid) = (bytes(p, "PRS"), bytes(p, "CI"), array::<16>(p, "sid"));
    for key in ["Invalid Y1", "Invalid Y2"] {
        let bad = array::<32>(m, key);
        assert!(
            matches!(cpace::scalar_mult_vfy(&s, &bad), Err(Error::InvalidKey(_))),
            "{key}"
        );
        // As Ya, the responder aborts; as Yb, the initiator does.
        let responded = cpace::respond_with_scalar(&prs, &ci, &sid, &bad, b"", b"", &s);
        assert!(matches!(responded, Err(Error::InvalidKey(_))), "{key}");
        let (initiator, _) = cpace::start_with_scalar(&prs, &ci, &sid, b"", &s);
        assert!(
            matches!(initiator.finish(&bad, b""), Err(Error::InvalidKey(_))),
            "{key}"
        );
    }
}
