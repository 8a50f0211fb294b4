//! Guest purchases, version 1: a guest on the portal picks a package and pays for it with M-Pesa.
//!
//! The edge cannot reach Safaricom itself (it holds no Daraja credentials), so it asks the cloud:
//!
//! - `POST /sync/v1/purchases` with a [`PurchaseRequest`] (device credential as for sync). The
//!   cloud checks the package and the phone number, sends the STK push and answers a
//!   [`PurchaseState`], usually [`PurchaseStatus::Pending`]. The same `request_id` sent again
//!   answers the same purchase and never sends a second push, so a double tap or a retry after a
//!   lost answer charges once.
//! - `GET /sync/v1/purchases/{purchase_id}` answers the [`PurchaseState`] now. The edge polls it
//!   while the guest's portal shows "check your phone".
//!
//! When the payment is confirmed (by Daraja's callback, or by the cloud's own STK query when the
//! callback never came) the state becomes [`PurchaseStatus::Paid`] with the voucher the cloud
//! issued for this hotspot; the edge redeems it for the guest's device at once, exactly as if the
//! guest had typed its code. The voucher also reaches the edge through the change log, so a guest
//! whose portal was closed can still type the code from the M-Pesa receipt SMS.
//!
//! A request the cloud refuses outright (unknown package, a number that is not a Kenyan mobile,
//! payments not set up for this site) gets a 4xx with a [`PurchaseRefusal`] body.
//!
//! JSON fixtures in `fixtures/purchase/` are decoded by this crate's and the cloud's tests.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MacAddr;
use crate::phone::Msisdn;
use crate::sync::Voucher;

/// How often the edge asks for the state of a pending purchase, in milliseconds.
pub const POLL_INTERVAL_MS: u64 = 2_000;

/// What the edge sends when a guest asks to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    pub version: u32,
    /// Chosen by the edge for this one attempt; the cloud answers the same purchase for the same
    /// id (idempotency key).
    pub request_id: Uuid,
    /// The package (a plan of this hotspot, as pulled by `plan_upsert`).
    pub package_id: Uuid,
    /// The number to charge; a number that does not normalise is refused when decoded.
    pub phone: Msisdn,
    /// The guest's device, which the voucher will be bound to.
    pub mac: MacAddr,
    pub ip: Option<IpAddr>,
}

/// Where a purchase stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseState {
    pub purchase_id: Uuid,
    /// The amount asked, in whole shillings (M-Pesa takes no cents).
    pub amount_kes: u64,
    #[serde(flatten)]
    pub status: PurchaseStatus,
}

/// The outcome so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// The push was sent; no answer from the guest yet.
    Pending,
    /// Paid: the voucher issued for it, and the M-Pesa receipt number.
    Paid { voucher: Voucher, receipt: String },
    /// Not paid, and it will not be: the guest may try again.
    Failed { reason: PaymentFailure },
}

impl PurchaseStatus {
    /// No further change will come.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// Why a payment did not go through, one variant per sentence the guest is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentFailure {
    /// The guest dismissed the prompt (1032, 1031).
    Cancelled,
    /// The phone never answered the prompt (1037), or no result came within the time allowed.
    NoAnswer,
    /// Not enough money in M-Pesa (1).
    InsufficientFunds,
    /// The M-Pesa PIN was wrong (2001).
    WrongPin,
    /// The subscriber's line or M-Pesa is locked or busy with another transaction (1001).
    SubscriberLocked,
    /// Safaricom refused to send the prompt (400.002.02 and the like).
    PushRejected,
    /// The payment service could not be reached; nothing was charged.
    Unavailable,
    /// Any other failure Daraja reported.
    Other,
}

/// Why the cloud refused to start a purchase (the 4xx body of `POST /sync/v1/purchases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRefusal {
    pub reason: RefusalReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Not a Kenyan mobile number M-Pesa can charge.
    InvalidPhone,
    /// No such package for sale at this hotspot.
    UnknownPackage,
    /// M-Pesa is not set up (or is switched off) for this hotspot's operator.
    PaymentsUnavailable,
    /// The body was not a valid request of this version.
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = include_str!("../fixtures/purchase/purchase_request.json");
    const STATES: &str = include_str!("../fixtures/purchase/purchase_states.json");
    const REFUSAL: &str = include_str!("../fixtures/purchase/purchase_refusal.json");

    #[test]
    fn fixtures_decode_and_round_trip() {
        let req: PurchaseRequest = serde_json::from_str(REQUEST).unwrap();
        assert_eq!(req.version, crate::sync::VERSION);
        assert_eq!(req.phone.as_str(), "254712345678");
        let again: PurchaseRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(again, req);

        let states: Vec<PurchaseState> = serde_json::from_str(STATES).unwrap();
        let kinds: Vec<&str> = states
            .iter()
            .map(|s| match &s.status {
                PurchaseStatus::Pending => "pending",
                PurchaseStatus::Paid { .. } => "paid",
                PurchaseStatus::Failed { .. } => "failed",
            })
            .collect();
        assert_eq!(kinds, ["pending", "paid", "failed"]);
        assert!(!states[0].status.is_final());
        assert!(states[1].status.is_final() && states[2].status.is_final());
        for s in &states {
            let again: PurchaseState =
                serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            assert_eq!(&again, s);
        }

        let refusal: PurchaseRefusal = serde_json::from_str(REFUSAL).unwrap();
        assert_eq!(refusal.reason, RefusalReason::InvalidPhone);
    }

    #[test]
    fn unknown_fields_and_reasons_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
        v["surprise"] = 1.into();
        assert!(serde_json::from_value::<PurchaseRequest>(v).is_err());
        let mut v: serde_json::Value = serde_json::from_str(STATES).unwrap();
        v[2]["reason"] = "bad_luck".into();
        assert!(serde_json::from_value::<Vec<PurchaseState>>(v).is_err());
        let mut v: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
        v["phone"] = "0812345678".into();
        assert!(serde_json::from_value::<PurchaseRequest>(v).is_err());
    }
}
