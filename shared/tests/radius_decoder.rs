//! Property tests of the RADIUS decoder: random datagrams and mutated valid packets (built with
//! the codec: Access-Request with User-Password, CHAP and Message-Authenticator, vendor
//! attributes, Accounting-Request) never panic, decode into no more memory than their size
//! bounds, re-encode to the bytes they came from, and fail their cryptographic checks once
//! altered. Failures shrink to a minimal packet; the seeds of past ones are replayed from
//! `tests/radius_decoder.proptest-regressions`.
//!
//! The case count is kept small enough for seconds in CI, and smaller off x86_64, where these
//! tests run under qemu.

use hotspot_shared::radius::crypto::{
    chap_matches, chap_response, hide_password, sign_request, sign_response, unhide_password,
    verify_request, verify_response,
};
use hotspot_shared::radius::{
    Attribute, Code, HEADER, MAX_PACKET, Packet, attr, dict, split_vendor, vendor,
    vendor_attributes,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const SECRET: &[u8] = b"a-long-shared-secret-1";

/// 512 cases a property on x86_64, 96 under qemu; `PROPTEST_CASES` sets another count (a
/// longer search by hand).
fn config() -> ProptestConfig {
    let default = if cfg!(target_arch = "x86_64") {
        512
    } else {
        96
    };
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/radius_decoder.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Heap bytes a decoded packet holds: its attribute list and their values.
fn heap_bytes(p: &Packet) -> usize {
    p.attributes.capacity() * std::mem::size_of::<Attribute>()
        + p.attributes
            .iter()
            .map(|a| a.value.capacity())
            .sum::<usize>()
}

/// What must hold for any input: no panic anywhere in the decoding paths, and when it decodes,
/// the bounds and the round trip.
fn check_any(bytes: &[u8]) -> Result<(), TestCaseError> {
    // The cryptographic checks read raw bytes too, before or without a decode.
    let _ = verify_request(bytes, SECRET);
    let _ = verify_response(bytes, Code::AccessRequest, &[7; 16], SECRET);
    let _ = verify_response(bytes, Code::AccountingRequest, &[0; 16], SECRET);
    let Ok(p) = Packet::decode(bytes) else {
        return Ok(());
    };
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    prop_assert!((HEADER..=MAX_PACKET).contains(&len) && len <= bytes.len());
    // Every attribute is at most 253 bytes and takes at least two on the wire.
    prop_assert!(p.attributes.len() <= (len - HEADER) / 2);
    prop_assert!(p.attributes.iter().all(|a| a.value.len() <= 253));
    let values: usize = p.attributes.iter().map(|a| a.value.len()).sum();
    prop_assert_eq!(values + 2 * p.attributes.len(), len - HEADER);
    // Memory: bounded by the length field, never by a count or length read from the packet.
    prop_assert!(
        heap_bytes(&p) <= 32 * len,
        "{} heap bytes for a {len}-byte packet",
        heap_bytes(&p)
    );
    // What decodes encodes back to the bytes the length field covers, and decodes the same.
    let again = p.encode_raw().expect("a decoded packet encodes");
    prop_assert_eq!(&again[..], &bytes[..len]);
    prop_assert_eq!(Packet::decode(&again), Ok(p.clone()));
    // The accessors and the dictionary take any value.
    for a in &p.attributes {
        if let Some(def) = dict::by_number(0, a.typ) {
            let _ = def.format(&a.value);
        }
        if a.typ == attr::VENDOR_SPECIFIC {
            // Sub-attributes fill a Vendor-Specific exactly, or it is read as holding none.
            let subs: Vec<_> = vendor_attributes(&a.value).collect();
            let used: usize = subs.iter().map(|(_, _, value)| value.len() + 2).sum();
            prop_assert!(subs.is_empty() || used + 4 == a.value.len());
            prop_assert_eq!(split_vendor(&a.value), subs.first().copied());
            for (v, t, value) in subs {
                if let Some(def) = dict::by_number(v, t) {
                    let _ = def.format(value);
                }
            }
        }
        let _ = unhide_password(&a.value, SECRET, &p.authenticator);
        let _ = chap_matches(&a.value, &p.authenticator, b"pw");
    }
    let _ = (
        p.get_u32(attr::ACCT_STATUS_TYPE),
        p.get_ipv4(attr::NAS_IP_ADDRESS),
        p.get_text(attr::USER_NAME),
        p.get_vendor(vendor::MIKROTIK, 8),
    );
    Ok(())
}

/// A request as a NAS sends it, built with the codec, and signed.
#[derive(Debug, Clone)]
struct Built {
    packet: Packet,
    /// Signed with Message-Authenticator (every Access-Request; some Accounting-Requests).
    ma: bool,
}

fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

/// Any other attribute: a type and a value within the attribute limit.
fn loose_attribute() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (any::<u8>(), text(64))
}

/// Appends the loose attributes, except credentials and Message-Authenticator: a request has
/// only the ones it was built with.
fn push_loose(p: &mut Packet, loose: Vec<(u8, Vec<u8>)>) {
    let own = [
        attr::USER_PASSWORD,
        attr::CHAP_PASSWORD,
        attr::CHAP_CHALLENGE,
        attr::MESSAGE_AUTHENTICATOR,
    ];
    for (t, value) in loose {
        if !own.contains(&t) {
            p.push(t, value);
        }
    }
}

fn vendor_attribute() -> impl Strategy<Value = (u32, u8, Vec<u8>)> {
    (
        prop_oneof![
            Just(vendor::MIKROTIK),
            Just(vendor::WISPR),
            Just(vendor::CHILLISPOT),
            Just(vendor::MICROSOFT),
            any::<u32>(),
        ],
        any::<u8>(),
        text(80),
    )
}

fn access_request() -> impl Strategy<Value = Built> {
    (
        any::<u8>(),
        any::<[u8; 16]>(),
        text(64),
        prop_oneof![
            text(130).prop_map(Some),
            Just(None), // CHAP instead
        ],
        any::<u8>(),
        any::<[u8; 16]>(),
        proptest::collection::vec(vendor_attribute(), 0..4),
        proptest::collection::vec(loose_attribute(), 0..6),
    )
        .prop_map(
            |(id, authenticator, user, password, chap_id, challenge, vsas, loose)| {
                let mut p = Packet::new(Code::AccessRequest, id, authenticator);
                p.push(attr::USER_NAME, user);
                match password {
                    Some(pw) => p.push(
                        attr::USER_PASSWORD,
                        hide_password(&pw, SECRET, &authenticator),
                    ),
                    None => {
                        p.push(attr::CHAP_CHALLENGE, challenge);
                        p.push(
                            attr::CHAP_PASSWORD,
                            chap_response(chap_id, &challenge, b"pw").to_vec(),
                        );
                    }
                }
                for (v, t, value) in vsas {
                    p.push_vendor(v, t, &value);
                }
                push_loose(&mut p, loose);
                Built {
                    packet: p,
                    ma: true,
                }
            },
        )
}

fn accounting_request() -> impl Strategy<Value = Built> {
    (
        any::<u8>(),
        1u32..=8,
        text(64),
        any::<[u32; 4]>(),
        any::<bool>(),
        proptest::collection::vec(vendor_attribute(), 0..3),
        proptest::collection::vec(loose_attribute(), 0..6),
    )
        .prop_map(|(id, status, session, counters, ma, vsas, loose)| {
            let mut p = Packet::new(Code::AccountingRequest, id, [0; 16]);
            p.push_u32(attr::ACCT_STATUS_TYPE, status);
            p.push(attr::ACCT_SESSION_ID, session);
            p.push(attr::NAS_IP_ADDRESS, [192, 0, 2, 1]);
            p.push_u32(attr::ACCT_INPUT_OCTETS, counters[0]);
            p.push_u32(attr::ACCT_INPUT_GIGAWORDS, counters[1]);
            p.push_u32(attr::ACCT_OUTPUT_OCTETS, counters[2]);
            p.push_u32(attr::ACCT_OUTPUT_GIGAWORDS, counters[3]);
            for (v, t, value) in vsas {
                p.push_vendor(v, t, &value);
            }
            push_loose(&mut p, loose);
            Built { packet: p, ma }
        })
}

fn request() -> impl Strategy<Value = Built> {
    prop_oneof![access_request(), accounting_request()]
}

/// One way a datagram is damaged on the way or forged.
#[derive(Debug, Clone)]
enum Mutation {
    /// Byte at (index mod length) replaced.
    Set(usize, u8),
    /// Byte at (index mod length) with one bit flipped.
    Flip(usize, u8),
    /// Cut to (index mod length + 1) bytes.
    Truncate(usize),
    /// Bytes appended.
    Extend(Vec<u8>),
    /// A byte inserted (every later attribute shifts).
    Insert(usize, u8),
    /// A byte removed.
    Remove(usize),
    /// The length field set.
    Length(u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        text(32).prop_map(Mutation::Extend),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        prop_oneof![any::<u16>(), 0u16..=40, 4090u16..=4200].prop_map(Mutation::Length),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match *m {
        Mutation::Set(i, b) if n > 0 => bytes[i % n] = b,
        Mutation::Flip(i, bit) if n > 0 => bytes[i % n] ^= 1 << bit,
        Mutation::Truncate(i) if n > 0 => bytes.truncate(i % n + 1),
        Mutation::Extend(ref more) => bytes.extend_from_slice(more),
        Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
        Mutation::Remove(i) if n > 0 => {
            bytes.remove(i % n);
        }
        Mutation::Length(len) if n >= 4 => bytes[2..4].copy_from_slice(&len.to_be_bytes()),
        _ => {}
    }
}

/// Random bytes, mostly shaped like a datagram: sometimes a plausible header first.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=64),
        proptest::collection::vec(any::<u8>(), 0..=MAX_PACKET + 100),
        (
            prop_oneof![Just(1u8), Just(4), Just(12), Just(43), any::<u8>()],
            proptest::collection::vec(any::<u8>(), 16..=600),
        )
            .prop_map(|(code, mut rest)| {
                let len = (rest.len() + 4) as u16;
                let mut v = vec![code, 0];
                v.extend_from_slice(&len.to_be_bytes());
                v.append(&mut rest);
                v
            }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_datagrams_never_panic(bytes in datagram()) {
        check_any(&bytes)?;
    }

    #[test]
    fn built_requests_round_trip_and_verify(built in request()) {
        let Ok(bytes) = sign_request(&built.packet, SECRET, built.ma) else {
            // Too big to send: the codec refuses to encode it, and that is the whole story.
            return Ok(());
        };
        prop_assert!(bytes.len() <= MAX_PACKET);
        prop_assert_eq!(verify_request(&bytes, SECRET), Ok(built.ma));
        let p = Packet::decode(&bytes).expect("what the codec signs decodes");
        prop_assert_eq!(p.code, built.packet.code);
        // The attributes as built, with Message-Authenticator first where it was asked for.
        let mut want = built.packet.attributes.clone();
        if built.ma {
            prop_assert_eq!(p.attributes[0].typ, attr::MESSAGE_AUTHENTICATOR);
            want.insert(0, p.attributes[0].clone());
        }
        prop_assert_eq!(&p.attributes, &want);
        if let Some(hidden) = p.get(attr::USER_PASSWORD) {
            let pw = unhide_password(hidden, SECRET, &p.authenticator).expect("16-byte blocks");
            prop_assert!(pw.len() <= 128);
        }
        if let (Some(chap), Some(challenge)) =
            (p.get(attr::CHAP_PASSWORD), p.get(attr::CHAP_CHALLENGE))
        {
            prop_assert!(chap_matches(chap, challenge, b"pw"));
        }
        check_any(&bytes)?;
        // A reply to it verifies against it, and only against it.
        let mut reply = Packet::new(
            if p.code == Code::AccessRequest { Code::AccessAccept } else { Code::AccountingResponse },
            p.identifier,
            [0; 16],
        );
        reply.push_u32(attr::SESSION_TIMEOUT, 3600);
        let request_authenticator: [u8; 16] = bytes[4..20].try_into().unwrap();
        let answer = sign_response(&reply, p.code, &request_authenticator, SECRET, true).unwrap();
        prop_assert_eq!(verify_response(&answer, p.code, &request_authenticator, SECRET), Ok(true));
        check_any(&answer)?;
    }

    #[test]
    fn mutated_requests_never_panic_and_fail_their_checks(
        built in request(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let Ok(signed) = sign_request(&built.packet, SECRET, built.ma) else {
            return Ok(());
        };
        let mut bytes = signed.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_any(&bytes)?;
        // Altered where the signature covers it, a request no longer passes as signed: one of
        // a hashed kind (Accounting, CoA, Disconnect) fails its authenticator; any other fails
        // its Message-Authenticator or no longer has one (and the server requires it).
        let len = signed.len();
        if bytes.len() >= len && bytes[..len] != signed[..] {
            match verify_request(&bytes, SECRET) {
                Ok(true) => prop_assert!(false, "an altered request verified"),
                Ok(false) => prop_assert!(
                    !Code::from_u8(bytes[0]).is_some_and(Code::has_hashed_request_authenticator),
                    "an altered request of a hashed kind verified"
                ),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn every_sub_attribute_of_a_vendor_specific_is_found(
        v in any::<u32>(),
        subs in proptest::collection::vec((any::<u8>(), text(40)), 1..6),
    ) {
        let mut value = v.to_be_bytes().to_vec();
        for (t, sub) in &subs {
            value.push(*t);
            value.push((sub.len() + 2) as u8);
            value.extend_from_slice(sub);
        }
        let mut p = Packet::new(Code::AccessRequest, 1, [0; 16]);
        p.push(attr::VENDOR_SPECIFIC, value);
        let p = Packet::decode(&p.encode_raw().unwrap()).unwrap();
        for (t, _) in &subs {
            // The first sub-attribute of that type.
            let first = subs.iter().find(|(u, _)| u == t).map(|(_, s)| &s[..]);
            prop_assert_eq!(p.get_vendor(v, *t), first);
        }
    }

    #[test]
    fn passwords_and_chap_round_trip(
        pw in proptest::collection::vec(1u8..=255, 0..=128),
        authenticator in any::<[u8; 16]>(),
        id in any::<u8>(),
        secret in proptest::collection::vec(any::<u8>(), 1..40),
    ) {
        let hidden = hide_password(&pw, &secret, &authenticator);
        prop_assert!(hidden.len().is_multiple_of(16) && (16..=128).contains(&hidden.len()));
        prop_assert_eq!(unhide_password(&hidden, &secret, &authenticator), Some(pw.clone()));
        let chap = chap_response(id, &authenticator, &pw);
        prop_assert!(chap_matches(&chap, &authenticator, &pw));
    }
}
