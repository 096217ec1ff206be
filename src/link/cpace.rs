//! CPace, the balanced PAKE of the typed-code way of linking (PROTOCOL.md §12.2):
//! draft-irtf-cfrg-cpace-21, group ristretto255 with SHA-512, initiator-responder transcript.
//!
//! Sans-IO: the initiator [`Initiator::start`]s and sends `Ya`, the responder answers with
//! [`respond`] (which also returns its `ISK`), and the initiator [`Initiator::finish`]es with
//! `Yb`. Both ends hold the same [`Isk`] exactly when `PRS`, `CI`, `sid` and the transcript
//! agree; [`Isk::link_secret`] derives keylink's `LS` from it.
//!
//! The linking state machines ([`Companion`](super::Companion), [`Primary`](super::Primary))
//! run it; the `hazmat` feature exposes it for the draft's test vectors.

use core::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::LinkSecret;
use crate::constants::{
    CPACE_DSI, CPACE_HASH_BLOCK, CPACE_ISK_DSI, LINK_CODE_SECRET_INFO, LINK_CPACE_SID_LEN,
};
use crate::error::{Error, Result};

/// A CPace session id: 16 bytes the initiator draws and sends with `Ya`.
pub type Sid = [u8; LINK_CPACE_SID_LEN];

/// An encoded ristretto255 element (`Ya`, `Yb`), as sent.
pub type Share = [u8; 32];

/// The error for a share that does not decode to a ristretto255 element.
const UNDECODABLE: Error = Error::InvalidKey("CPace share (not a canonical ristretto255 encoding)");
/// The error for a shared point `K` that is the neutral element (the share was the identity).
const IDENTITY: Error = Error::InvalidKey("CPace share (the identity element)");

/// The initiator after sending `Ya`: waits for `Yb`. Consumed by [`finish`](Self::finish), so a
/// scalar serves one run only.
pub struct Initiator {
    scalar: Zeroizing<Scalar>,
    sid: Sid,
    ya: Share,
    ad_a: Vec<u8>,
}

impl Initiator {
    /// Starts a run as the initiator: returns the state and `Ya`, to be sent with `sid` and
    /// `ADa`.
    pub fn start<R: CryptoRng + ?Sized>(
        prs: &[u8],
        ci: &[u8],
        sid: &Sid,
        ad_a: &[u8],
        rng: &mut R,
    ) -> (Initiator, Share) {
        Self::start_with_scalar(prs, ci, sid, ad_a, sample_scalar(rng))
    }

    /// [`start`](Self::start) with a caller-chosen scalar `ya` (test vectors).
    fn start_with_scalar(
        prs: &[u8],
        ci: &[u8],
        sid: &Sid,
        ad_a: &[u8],
        scalar: Zeroizing<Scalar>,
    ) -> (Initiator, Share) {
        let ya = scalar_mult(&scalar, &calculate_generator(prs, ci, sid));
        let state = Initiator {
            scalar,
            sid: *sid,
            ya,
            ad_a: ad_a.to_vec(),
        };
        (state, ya)
    }

    /// Finishes the run with the responder's `Yb` and `ADb`. Aborts with
    /// [`Error::InvalidKey`] if `Yb` does not decode or is the identity.
    pub fn finish(self, yb: &Share, ad_b: &[u8]) -> Result<Isk> {
        let k = scalar_mult_vfy(&self.scalar, yb)?;
        Ok(isk(&self.sid, &k, &self.ya, &self.ad_a, yb, ad_b))
    }
}

/// Answers an initiator's `Ya` (with `sid` and `ADa`) as the responder: returns the `ISK` and
/// `Yb`, to be sent with `ADb`. Aborts with [`Error::InvalidKey`] if `Ya` does not decode or
/// is the identity.
pub fn respond<R: CryptoRng + ?Sized>(
    prs: &[u8],
    ci: &[u8],
    sid: &Sid,
    ya: &Share,
    ad_a: &[u8],
    ad_b: &[u8],
    rng: &mut R,
) -> Result<(Isk, Share)> {
    respond_with_scalar(prs, ci, sid, ya, ad_a, ad_b, sample_scalar(rng))
}

/// [`respond`] with a caller-chosen scalar `yb` (test vectors).
fn respond_with_scalar(
    prs: &[u8],
    ci: &[u8],
    sid: &Sid,
    ya: &Share,
    ad_a: &[u8],
    ad_b: &[u8],
    scalar: Zeroizing<Scalar>,
) -> Result<(Isk, Share)> {
    let yb = scalar_mult(&scalar, &calculate_generator(prs, ci, sid));
    let k = scalar_mult_vfy(&scalar, ya)?;
    Ok((isk(sid, &k, ya, ad_a, &yb, ad_b), yb))
}

/// CPace's intermediate session key `ISK` (64 bytes, SHA-512). Zeroized on drop, never printed.
pub struct Isk(Zeroizing<[u8; 64]>);

impl Isk {
    /// keylink's link secret: `LS = HKDF(0^32, ISK, "keylink v1 link code secret", 32)`.
    pub fn link_secret(self) -> Result<LinkSecret> {
        let ls =
            crate::primitives::hkdf_zero_salt::<32>(self.0.as_ref(), &[LINK_CODE_SECRET_INFO])?;
        Ok(LinkSecret::from_bytes(&ls))
    }

    /// The 64 bytes, for test vectors.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Isk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Isk(<redacted>)")
    }
}

/// Appends `prepend_len(data)`: the length of `data` in LEB128 (7 bits a byte, least
/// significant first, bit 7 set on every byte but the last), then `data`.
fn prepend_len(out: &mut Vec<u8>, data: &[u8]) {
    let mut length = data.len();
    loop {
        let low = (length & 0x7F) as u8;
        length >>= 7;
        if length == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(data);
}

/// `lv_cat(parts...)`: every part with its length prepended.
fn lv_cat(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(parts.iter().map(|p| p.len() + 2).sum()));
    parts.iter().for_each(|part| prepend_len(&mut out, part));
    out
}

/// Bytes of `prepend_len(data)` for `data` of `len` bytes.
fn prepended_len(len: usize) -> usize {
    let mut bytes = 1;
    let mut rest = len >> 7;
    while rest != 0 {
        bytes += 1;
        rest >>= 7;
    }
    bytes + len
}

/// `generator_string(DSI, PRS, CI, sid, 128) = lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)`
/// with `len_zpad = max(0, 128 - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI)))`.
fn generator_string(prs: &[u8], ci: &[u8], sid: &[u8]) -> Zeroizing<Vec<u8>> {
    let used = 1 + prepended_len(prs.len()) + prepended_len(CPACE_DSI.len());
    let zpad = vec![0u8; CPACE_HASH_BLOCK.saturating_sub(used)];
    lv_cat(&[CPACE_DSI, prs, &zpad, ci, sid])
}

/// `G.calculate_generator`: ristretto255's element derivation (RFC 9496 §4.3.4, from 64
/// uniform bytes) of `SHA-512(generator_string)`.
fn calculate_generator(prs: &[u8], ci: &[u8], sid: &[u8]) -> Zeroizing<RistrettoPoint> {
    let mut hash = Zeroizing::new([0u8; 64]);
    Digest::finalize_into(
        Sha512::new_with_prefix(generator_string(prs, ci, sid).as_slice()),
        (&mut *hash).into(),
    );
    Zeroizing::new(RistrettoPoint::from_uniform_bytes(&hash))
}

/// `G.sample_scalar`: 32 random bytes with the 4 bits above bit 251 cleared, read little-endian
/// (below 2^252 < the group order: no reduction).
fn sample_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<Scalar> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut());
    if let Some(top) = bytes.last_mut() {
        *top &= 0x0F;
    }
    Zeroizing::new(Scalar::from_bytes_mod_order(*bytes))
}

/// `G.scalar_mult(y, g) = encode(y * g)`.
fn scalar_mult(scalar: &Scalar, generator: &RistrettoPoint) -> Share {
    (generator * scalar).compress().to_bytes()
}

/// `G.scalar_mult_vfy(y, X)`, with the abort the protocol makes of its `G.I` result: `X` must
/// decode (RFC 9496's decoding, which accepts only canonical encodings) and `y * X` must not
/// be the identity.
fn scalar_mult_vfy(scalar: &Scalar, share: &Share) -> Result<Zeroizing<[u8; 32]>> {
    let point = CompressedRistretto(*share)
        .decompress()
        .ok_or(UNDECODABLE)?;
    let k = Zeroizing::new(point * scalar);
    if k.is_identity() {
        return Err(IDENTITY);
    }
    Ok(Zeroizing::new(k.compress().to_bytes()))
}

/// `ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb))` with
/// `transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb)`.
fn isk(sid: &[u8], k: &[u8; 32], ya: &Share, ad_a: &[u8], yb: &Share, ad_b: &[u8]) -> Isk {
    let input = lv_cat(&[CPACE_ISK_DSI, sid, k, ya, ad_a, yb, ad_b]);
    let mut out = Zeroizing::new([0u8; 64]);
    Digest::finalize_into(
        Sha512::new_with_prefix(input.as_slice()),
        (&mut *out).into(),
    );
    Isk(out)
}

/// Deterministic entry points for the draft's test vectors (`keylink::hazmat::cpace`).
#[cfg(feature = "hazmat")]
pub(crate) mod vectors {
    use super::*;

    /// `generator_string(G.DSI, PRS, CI, sid, H.s_in_bytes)`.
    pub fn generator_string(prs: &[u8], ci: &[u8], sid: &[u8]) -> Vec<u8> {
        super::generator_string(prs, ci, sid).to_vec()
    }

    /// The encoded generator `g = calculate_generator(PRS, CI, sid)`.
    pub fn generator(prs: &[u8], ci: &[u8], sid: &[u8]) -> [u8; 32] {
        calculate_generator(prs, ci, sid).compress().to_bytes()
    }

    /// `G.scalar_mult_vfy(s, X)`, with the protocol's abort for `G.I`.
    pub fn scalar_mult_vfy(scalar: &[u8; 32], share: &[u8; 32]) -> Result<[u8; 32]> {
        Ok(*super::scalar_mult_vfy(
            &Scalar::from_bytes_mod_order(*scalar),
            share,
        )?)
    }

    /// [`Initiator::start`] with the scalar `ya` (32 bytes, little-endian).
    pub fn start_with_scalar(
        prs: &[u8],
        ci: &[u8],
        sid: &Sid,
        ad_a: &[u8],
        ya: &[u8; 32],
    ) -> (Initiator, Share) {
        let scalar = Zeroizing::new(Scalar::from_bytes_mod_order(*ya));
        Initiator::start_with_scalar(prs, ci, sid, ad_a, scalar)
    }

    /// [`respond`] with the scalar `yb` (32 bytes, little-endian).
    pub fn respond_with_scalar(
        prs: &[u8],
        ci: &[u8],
        sid: &Sid,
        ya: &Share,
        ad_a: &[u8],
        ad_b: &[u8],
        yb: &[u8; 32],
    ) -> Result<(Isk, Share)> {
        let scalar = Zeroizing::new(Scalar::from_bytes_mod_order(*yb));
        super::respond_with_scalar(prs, ci, sid, ya, ad_a, ad_b, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../test-vectors/cpace/ristretto255_sha512.json");

    fn vectors() -> Value {
        serde_json::from_str(VECTORS).unwrap()
    }

    fn bytes(v: &Value, key: &str) -> Vec<u8> {
        hex::decode(v[key].as_str().unwrap()).unwrap()
    }

    fn array<const N: usize>(v: &Value, key: &str) -> [u8; N] {
        bytes(v, key).try_into().unwrap()
    }

    fn scalar(bytes: [u8; 32]) -> Zeroizing<Scalar> {
        Zeroizing::new(Scalar::from_bytes_mod_order(bytes))
    }

    /// A deterministic RNG for the property tests: SHA-512 of a seed and a counter.
    struct TestRng([u8; 32], u64);

    impl rand_core::TryRng for TestRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(64) {
                self.1 += 1;
                let block = Sha512::new_with_prefix(self.0)
                    .chain_update(self.1.to_be_bytes())
                    .finalize();
                chunk.copy_from_slice(&block[..chunk.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for TestRng {}

    #[test]
    fn string_utils_match_the_draft() {
        let v = vectors();
        let utils = v["string_utils"].as_array().unwrap();
        let prepend = |data: &[u8]| {
            let mut out = Vec::new();
            prepend_len(&mut out, data);
            out
        };
        let range = |n: u8| (0..n).collect::<Vec<u8>>();
        assert_eq!(prepend(b""), bytes(&utils[0], "prepend_len(b'')"));
        assert_eq!(prepend(b"1234"), bytes(&utils[0], "prepend_len(b'1234')"));
        let r127 = bytes(&utils[0], "prepend_len(bytes(range(127)))");
        assert_eq!(prepend(&range(127)), r127);
        let r128 = bytes(&utils[0], "prepend_len(bytes(range(128)))");
        assert_eq!(prepend(&range(128)), r128);
        for len in [0, 1, 127, 128, 300, 16_384, 20_000] {
            assert_eq!(prepend(&vec![0; len]).len(), prepended_len(len), "{len}");
        }
        let lv = lv_cat(&[b"1234", b"5", b"", b"678"]);
        assert_eq!(*lv, bytes(&utils[1], "lv_cat(b'1234',b'5',b'',b'678')"));
        for (ya, yb, key) in [
            (
                &b"123"[..],
                &b"234"[..],
                "transcript_ir(b'123',b'PartyA',b'234',b'PartyB')",
            ),
            (
                b"3456",
                b"2345",
                "transcript_ir(b'3456',b'PartyA',b'2345',b'PartyB')",
            ),
        ] {
            let transcript = lv_cat(&[ya, b"PartyA", yb, b"PartyB"]);
            assert_eq!(*transcript, bytes(&utils[3], key));
        }
    }

    #[test]
    fn generator_matches_the_draft() {
        let v = vectors();
        let g = &v["ristretto255_sha512"]["generator"];
        let (prs, ci, sid) = (bytes(g, "PRS"), bytes(g, "CI"), bytes(g, "sid"));
        let string = generator_string(&prs, &ci, &sid);
        let expected = bytes(g, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)");
        assert_eq!(*string, expected);
        assert_eq!(bytes(g, "DSI"), CPACE_DSI);
        assert_eq!(g["ZPAD length"], 100);
        assert_eq!(Sha512::digest(&expected).to_vec(), bytes(g, "hash result"));
        let generator = calculate_generator(&prs, &ci, &sid).compress().to_bytes();
        assert_eq!(generator, array::<32>(g, "encoded generator g"));
    }

    #[test]
    fn a_run_matches_the_draft() {
        let v = vectors();
        let p = &v["ristretto255_sha512"]["protocol"];
        let (prs, ci, sid) = (bytes(p, "PRS"), bytes(p, "CI"), array::<16>(p, "sid"));
        let (ad_a, ad_b) = (bytes(p, "ADa"), bytes(p, "ADb"));
        let ya_scalar = scalar(array(p, "ya"));
        let (initiator, ya) = Initiator::start_with_scalar(&prs, &ci, &sid, &ad_a, ya_scalar);
        assert_eq!(ya, array::<32>(p, "Ya"));
        let yb_scalar = scalar(array(p, "yb"));
        let k = scalar_mult_vfy(&yb_scalar, &ya).unwrap();
        assert_eq!(*k, array::<32>(p, "K"));
        let (isk_b, yb) =
            respond_with_scalar(&prs, &ci, &sid, &ya, &ad_a, &ad_b, yb_scalar).unwrap();
        assert_eq!(yb, array::<32>(p, "Yb"));
        assert_eq!(isk_b.as_bytes(), &array::<64>(p, "ISK_IR"));
        let isk_a = initiator.finish(&yb, &ad_b).unwrap();
        assert_eq!(isk_a.as_bytes(), &array::<64>(p, "ISK_IR"));
        assert_eq!(isk_a.link_secret().unwrap(), isk_b.link_secret().unwrap());
    }

    #[test]
    fn invalid_shares_abort() {
        let v = vectors();
        let m = &v["ristretto255_sha512"]["scalar_mult"];
        let valid = &m["Valid"];
        let s = scalar(array(valid, "s"));
        let out = scalar_mult_vfy(&s, &array(valid, "X")).unwrap();
        assert_eq!(*out, array::<32>(valid, "G.scalar_mult_vfy(s,X)"));
        let undecodable = array::<32>(m, "Invalid Y1");
        let identity = array::<32>(m, "Invalid Y2");
        let error = |share| scalar_mult_vfy(&s, share).unwrap_err().to_string();
        assert_eq!(error(&undecodable), UNDECODABLE.to_string());
        assert_eq!(error(&identity), IDENTITY.to_string());

        let (sid, mut rng) = ([7u8; 16], TestRng([1; 32], 0));
        for bad in [undecodable, identity] {
            let responded = respond(b"1234567", b"ci", &sid, &bad, b"", b"", &mut rng);
            assert!(matches!(responded, Err(Error::InvalidKey(_))));
            let (initiator, _) = Initiator::start(b"1234567", b"ci", &sid, b"", &mut rng);
            assert!(matches!(
                initiator.finish(&bad, b""),
                Err(Error::InvalidKey(_))
            ));
        }
    }

    #[test]
    fn a_linking_code_runs_with_keylink_labels() {
        let code = crate::link::LinkingCode::parse("1234-567W").unwrap();
        let (prs, mut rng) = (code.prs(), TestRng([2; 32], 0));
        let sid: Sid = [9; 16];
        let ci = crate::constants::LINK_CPACE_CI;
        let (c, ya) = Initiator::start(prs.as_ref(), ci, &sid, b"", &mut rng);
        let (isk_p, yb) = respond(prs.as_ref(), ci, &sid, &ya, b"", b"", &mut rng).unwrap();
        let isk_c = c.finish(&yb, b"").unwrap();
        assert_eq!(format!("{isk_c:?}"), "Isk(<redacted>)");
        let ls = isk_c.link_secret().unwrap();
        assert_eq!(ls, isk_p.link_secret().unwrap());
        assert_eq!(format!("{ls:?}"), "LinkSecret(<redacted>)");
    }

    /// The worked example of PROTOCOL.md §12.2.
    #[test]
    fn the_protocol_md_example() {
        let code = crate::link::LinkingCode::parse("1234-567W").unwrap();
        let prs = code.prs();
        assert_eq!(prs.as_ref(), b"1234567");
        let sid: Sid = core::array::from_fn(|i| i as u8);
        let ci = crate::constants::LINK_CPACE_CI;
        let string = generator_string(prs.as_ref(), ci, &sid);
        assert_eq!(string.len(), 166);
        assert_eq!(string[26..28], [0x65, 0]);
        assert_eq!(string[127..129], [0, 0x14]);
        let g = calculate_generator(prs.as_ref(), ci, &sid)
            .compress()
            .to_bytes();
        let hex = |b: &[u8]| hex::encode(b);
        assert_eq!(
            hex(&g),
            "9cb7269c2eb5639ff96f135f8b66ef0e4e42f0a4cb06c586805b7f50faa57b12"
        );
        let (mut ya, mut yb) = ([0x11; 32], [0x22; 32]);
        (ya[31], yb[31]) = (0x01, 0x02);
        let (c, ya) = Initiator::start_with_scalar(prs.as_ref(), ci, &sid, b"", scalar(ya));
        assert_eq!(
            hex(&ya),
            "ae163c98b4bce41562e8904cbe4fd03e15285c897c0157eb8b0ff76921d0c54e"
        );
        let k = scalar_mult_vfy(&scalar(yb), &ya).unwrap();
        assert_eq!(
            hex(&*k),
            "349d79880be649e37181a8179901fc9a32adcd877733f042dc38c5e17a618423"
        );
        let (isk_p, yb) =
            respond_with_scalar(prs.as_ref(), ci, &sid, &ya, b"", b"", scalar(yb)).unwrap();
        assert_eq!(
            hex(&yb),
            "d055f7016ff167b1270cfae65fa4e942bf1a18e10b5847c276b02c664275ae01"
        );
        let isk_c = c.finish(&yb, b"").unwrap();
        assert_eq!(
            hex(isk_c.as_bytes()),
            "8aed3d6b7fa7ac92c8c287f17a5bc04c10a95d9edef14a433048bdfece69ab65\
             87fed0c044f1e22607a4a219c4993fb0d03353464d2af103b38495ba08f912d5"
        );
        assert_eq!(isk_c.as_bytes(), isk_p.as_bytes());
        let ls = isk_c.link_secret().unwrap();
        assert_eq!(
            hex(ls.as_bytes()),
            "7fb47cdfb947a531058d59dc9715060e8ccc80f5ad1e7929d4080c52791672d8"
        );
    }

    /// What goes differently in a run, for the property test.
    #[derive(Clone, Copy, Debug)]
    enum Deviation {
        None,
        Prs,
        Sid,
        Ci,
        /// Both sides act as the initiator.
        BothInitiators,
        TamperYa(usize, u8),
        TamperYb(usize, u8),
    }

    fn deviation() -> impl Strategy<Value = Deviation> {
        prop_oneof![
            Just(Deviation::None),
            Just(Deviation::Prs),
            Just(Deviation::Sid),
            Just(Deviation::Ci),
            Just(Deviation::BothInitiators),
            (0..32usize, 1..=255u8).prop_map(|(i, x)| Deviation::TamperYa(i, x)),
            (0..32usize, 1..=255u8).prop_map(|(i, x)| Deviation::TamperYb(i, x)),
        ]
    }

    /// The ISKs of C and P after a run with `deviation`, or `None` for an abort.
    fn run(deviation: Deviation, prs: &[u8; 7], seed: [u8; 32]) -> Option<(Isk, Isk)> {
        let mut rng = TestRng(seed, 0);
        let ci: &[u8] = crate::constants::LINK_CPACE_CI;
        let sid: Sid = [seed[0]; 16];
        let mut other_prs = *prs;
        other_prs[0] ^= 1;
        let (p_prs, p_ci, p_sid): (&[u8], &[u8], Sid) = match deviation {
            Deviation::Prs => (&other_prs, ci, sid),
            Deviation::Ci => (prs, b"keylink v1 other", sid),
            Deviation::Sid => (prs, ci, [seed[0] ^ 1; 16]),
            _ => (prs, ci, sid),
        };
        let (c, mut ya) = Initiator::start(prs, ci, &sid, b"", &mut rng);
        if let Deviation::BothInitiators = deviation {
            let (p, yb) = Initiator::start(p_prs, p_ci, &p_sid, b"", &mut rng);
            return Some((c.finish(&yb, b"").ok()?, p.finish(&ya, b"").ok()?));
        }
        if let Deviation::TamperYa(i, x) = deviation {
            ya[i] ^= x;
        }
        let (isk_p, mut yb) = respond(p_prs, p_ci, &p_sid, &ya, b"", b"", &mut rng).ok()?;
        if let Deviation::TamperYb(i, x) = deviation {
            yb[i] ^= x;
        }
        Some((c.finish(&yb, b"").ok()?, isk_p))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn isks_agree_exactly_on_an_honest_run(
            deviation in deviation(),
            prs in proptest::array::uniform7(b'0'..=b'Z'),
            seed in any::<[u8; 32]>(),
        ) {
            match (deviation, run(deviation, &prs, seed)) {
                (Deviation::None, Some((c, p))) => prop_assert_eq!(c.as_bytes(), p.as_bytes()),
                (Deviation::None, None) => prop_assert!(false, "an honest run aborted"),
                (_, Some((c, p))) => prop_assert_ne!(c.as_bytes(), p.as_bytes()),
                (_, None) => {}
            }
        }
    }
}
