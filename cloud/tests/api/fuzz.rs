//! Fuzz targets of what the cloud parses from routers and from Daraja (`fuzz/mutate.rs`, corpus
//! in `fuzz/corpus/`): push bodies (decoded, checked and placed in time as ingest does), pull
//! cursors, STK callbacks and C2B payloads. None may panic, and what they accept holds the
//! bounds the database relies on. The HTTP side, with the database, is in `bad_input.rs`.
//! `FUZZ_SECONDS=300 cargo test -p hotspot-cloud --test api fuzz -- --nocapture` runs each long.

#[path = "../../../fuzz/mutate.rs"]
mod mutate;

use hotspot_cloud::mpesa::callback::{C2bPayment, parse_stk_callback};
use hotspot_cloud::payments::c2b::account_key;
use hotspot_cloud::payments::callback::outcome_of;
use hotspot_cloud::sync::ingest;
use hotspot_cloud::sync::pull::Cursor;
use hotspot_shared::sync::{PushRequest, place};
use proptest::prelude::*;

#[test]
fn fuzz_push_body() {
    let received = 1_800_000_000_000;
    mutate::run("push_body", 3.0, |input| {
        let Ok(push) = serde_json::from_slice::<PushRequest>(input) else {
            return Ok(());
        };
        if ingest::validate(&push).is_err() {
            return Ok(());
        }
        for e in &push.events {
            prop_assert!(place(&e.at, &push.sent, received) <= received);
        }
        Ok(())
    });
}

#[test]
fn fuzz_sync_cursor() {
    mutate::run("sync_cursor", 1.0, |input| {
        let text = String::from_utf8_lossy(input);
        if let Ok(c) = Cursor::parse(&text) {
            prop_assert_eq!(Cursor::parse(&c.encode()).ok(), Some(c));
        }
        Ok(())
    });
}

#[test]
fn fuzz_stk_callback() {
    mutate::run("stk_callback", 2.0, |input| {
        let Ok(cb) = parse_stk_callback(input) else {
            return Ok(());
        };
        prop_assert!(!cb.checkout_request_id.is_empty() && cb.checkout_request_id.len() <= 100);
        prop_assert!(!cb.merchant_request_id.is_empty() && cb.merchant_request_id.len() <= 100);
        if let Some(p) = &cb.payment {
            prop_assert!(p.amount_cents > 0 && p.amount_cents <= 100_000_000_000);
            prop_assert!(!p.receipt.is_empty() && p.receipt.len() <= 40);
        }
        let _ = outcome_of(&cb);
        Ok(())
    });
}

#[test]
fn fuzz_c2b() {
    mutate::run("c2b", 2.0, |input| {
        let Ok(p) = C2bPayment::parse(input) else {
            return Ok(());
        };
        prop_assert!(!p.trans_id.trim().is_empty() && p.trans_id.len() <= 40);
        let cents = p.amount_cents();
        prop_assert!(cents.is_some_and(|c| c > 0 && c <= 100_000_000_000));
        let _ = account_key(&p.account());
        Ok(())
    });
}
