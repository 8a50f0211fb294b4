//! What Daraja posts to us: STK callbacks and C2B validation/confirmation payloads.
//!
//! Callbacks are unsigned and their shapes vary (numbers as `1` or `1.00`, items without a
//! `Value`, fields null or empty), so parsing is by name and tolerant of shape, and strict about
//! what the payment depends on: a body without the ids or a successful one without a receipt and
//! an amount is refused.

use serde::Deserialize;
use serde_json::Value;

use super::codes::ResultCode;

/// Why a callback body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the body is not JSON")]
    NotJson,
    #[error("missing or malformed field {0}")]
    Field(&'static str),
}

/// An STK push's result as Daraja reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct StkCallback {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub result: ResultCode,
    pub description: String,
    /// Present when the payment succeeded.
    pub payment: Option<StkPayment>,
}

/// What a successful push paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StkPayment {
    /// In cents: Daraja sends shillings as `1` or `1.00`.
    pub amount_cents: i64,
    pub receipt: String,
    /// `YYYYMMDDHHmmss`, Nairobi time.
    pub transaction_date: Option<String>,
    pub phone: Option<String>,
}

/// Largest callback body read; real ones are well under 2 KiB.
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// Shillings to cents: a positive amount under a billion shillings that is at least one cent
/// (a fraction of a cent rounds to nothing, and nothing is not a payment).
fn cents(shillings: f64) -> Option<i64> {
    Some(shillings)
        .filter(|a| *a > 0.0 && *a < 1e9)
        .map(|a| (a * 100.0).round() as i64)
        .filter(|c| *c > 0)
}

/// Parses an STK callback body.
pub fn parse_stk_callback(body: &[u8]) -> Result<StkCallback, CallbackError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| CallbackError::NotJson)?;
    let cb = v
        .pointer("/Body/stkCallback")
        .ok_or(CallbackError::Field("Body.stkCallback"))?;
    let string = |name: &'static str| -> Result<String, CallbackError> {
        match cb.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 100 => {
                Ok(s.trim().to_owned())
            }
            _ => Err(CallbackError::Field(name)),
        }
    };
    let merchant_request_id = string("MerchantRequestID")?;
    let checkout_request_id = string("CheckoutRequestID")?;
    let result = match cb.get("ResultCode") {
        Some(Value::Number(n)) => ResultCode::parse(&n.to_string()),
        Some(Value::String(s)) if s.len() <= 20 => ResultCode::parse(s),
        _ => return Err(CallbackError::Field("ResultCode")),
    };
    let description = cb
        .get("ResultDesc")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let payment = if result.is_success() {
        let items = cb
            .pointer("/CallbackMetadata/Item")
            .and_then(Value::as_array)
            .ok_or(CallbackError::Field("CallbackMetadata"))?;
        let item = |name: &str| {
            items
                .iter()
                .find(|i| i.get("Name").and_then(Value::as_str) == Some(name))
                .and_then(|i| i.get("Value"))
        };
        let amount_cents = match item("Amount") {
            Some(Value::Number(n)) => n.as_f64().and_then(cents),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().and_then(cents),
            _ => None,
        }
        .ok_or(CallbackError::Field("Amount"))?;
        let receipt = item("MpesaReceiptNumber")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|r| {
                !r.is_empty() && r.len() <= 40 && r.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .ok_or(CallbackError::Field("MpesaReceiptNumber"))?
            .to_owned();
        let as_text = |v: Option<&Value>| match v {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        Some(StkPayment {
            amount_cents,
            receipt,
            transaction_date: as_text(item("TransactionDate")),
            phone: as_text(item("PhoneNumber")),
        })
    } else {
        None
    };
    Ok(StkCallback {
        merchant_request_id,
        checkout_request_id,
        result,
        description,
        payment,
    })
}

/// A C2B validation or confirmation payload. Values are strings; some may be null or empty.
/// `MSISDN` may be masked or hashed: it does not identify the payer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct C2bPayment {
    pub transaction_type: Option<String>,
    #[serde(rename = "TransID")]
    pub trans_id: String,
    pub trans_time: Option<String>,
    pub trans_amount: String,
    pub business_short_code: String,
    pub bill_ref_number: Option<String>,
    pub invoice_number: Option<String>,
    pub org_account_balance: Option<String>,
    #[serde(rename = "ThirdPartyTransID")]
    pub third_party_trans_id: Option<String>,
    #[serde(rename = "MSISDN")]
    pub msisdn: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
}

impl C2bPayment {
    /// Parses a payload; the id and the amount must be usable.
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        let p: Self = serde_json::from_slice(body).map_err(|_| CallbackError::NotJson)?;
        if p.trans_id.trim().is_empty() || p.trans_id.len() > 40 {
            return Err(CallbackError::Field("TransID"));
        }
        if p.amount_cents().is_none() {
            return Err(CallbackError::Field("TransAmount"));
        }
        Ok(p)
    }

    /// The amount in cents.
    pub fn amount_cents(&self) -> Option<i64> {
        self.trans_amount.trim().parse::<f64>().ok().and_then(cents)
    }

    /// What the payer typed as the account number, trimmed and upper-cased.
    pub fn account(&self) -> String {
        self.bill_ref_number
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: &str = r#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925",
 "ResultCode":0,"ResultDesc":"The service request is processed successfully.",
 "CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},
 {"Name":"Balance"},{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}"#;

    #[test]
    fn the_documented_success_callback_parses() {
        let cb = parse_stk_callback(SUCCESS.as_bytes()).unwrap();
        assert_eq!(cb.checkout_request_id, "ws_CO_191220191020363925");
        assert!(cb.result.is_success());
        let p = cb.payment.unwrap();
        assert_eq!(p.amount_cents, 100);
        assert_eq!(p.receipt, "NLJ7RT61SV");
        assert_eq!(p.transaction_date.as_deref(), Some("20191219102115"));
        assert_eq!(p.phone.as_deref(), Some("254708374149"));
    }

    #[test]
    fn items_are_found_by_name_not_position() {
        let reordered = SUCCESS
            .replace(r#"{"Name":"Amount","Value":1.00},"#, "")
            .replace(
                r#"{"Name":"Balance"}"#,
                r#"{"Name":"Balance"},{"Name":"Amount","Value":"20"}"#,
            );
        let p = parse_stk_callback(reordered.as_bytes())
            .unwrap()
            .payment
            .unwrap();
        assert_eq!(p.amount_cents, 2000);
    }

    #[test]
    fn failures_have_no_payment_and_keep_their_code() {
        let body = r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"ws_CO_1","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#;
        let cb = parse_stk_callback(body.as_bytes()).unwrap();
        assert_eq!(cb.result, ResultCode::Cancelled("1032".into()));
        assert!(cb.payment.is_none());
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(parse_stk_callback(b"not json"), Err(CallbackError::NotJson));
        assert_eq!(
            parse_stk_callback(b"{}"),
            Err(CallbackError::Field("Body.stkCallback"))
        );
        let no_receipt = SUCCESS.replace(r#""Value":"NLJ7RT61SV""#, r#""Value":"""#);
        assert_eq!(
            parse_stk_callback(no_receipt.as_bytes()),
            Err(CallbackError::Field("MpesaReceiptNumber"))
        );
        let no_amount = SUCCESS.replace(r#""Value":1.00"#, r#""Value":-5"#);
        assert_eq!(
            parse_stk_callback(no_amount.as_bytes()),
            Err(CallbackError::Field("Amount"))
        );
        // Found by fuzzing: a positive amount under half a cent rounded to a payment of 0.
        let no_cents = SUCCESS.replace(r#""Value":1.00"#, r#""Value":0.001"#);
        assert_eq!(
            parse_stk_callback(no_cents.as_bytes()),
            Err(CallbackError::Field("Amount"))
        );
        let no_id = SUCCESS.replace("ws_CO_191220191020363925", "");
        assert_eq!(
            parse_stk_callback(no_id.as_bytes()),
            Err(CallbackError::Field("CheckoutRequestID"))
        );
    }

    #[test]
    fn c2b_payloads_parse_with_nulls_and_masked_numbers() {
        let body = r#"{"TransactionType":"Pay Bill","TransID":"RKL51ZDR4F","TransTime":"20231121121325","TransAmount":"5.00",
 "BusinessShortCode":"600966","BillRefNumber":" hs-4821 ","InvoiceNumber":"","OrgAccountBalance":"25.00",
 "ThirdPartyTransID":null,"MSISDN":"2547 ***** 126","FirstName":"JANE","MiddleName":"","LastName":null}"#;
        let p = C2bPayment::parse(body.as_bytes()).unwrap();
        assert_eq!(p.amount_cents(), Some(500));
        assert_eq!(p.account(), "HS-4821");
        assert_eq!(p.msisdn.as_deref(), Some("2547 ***** 126"));
        let bad = body.replace(r#""TransAmount":"5.00""#, r#""TransAmount":"five""#);
        assert_eq!(
            C2bPayment::parse(bad.as_bytes()),
            Err(CallbackError::Field("TransAmount"))
        );
        let no_cents = body.replace(r#""TransAmount":"5.00""#, r#""TransAmount":"0.001""#);
        assert_eq!(
            C2bPayment::parse(no_cents.as_bytes()),
            Err(CallbackError::Field("TransAmount"))
        );
        let no_id = body.replace("RKL51ZDR4F", "");
        assert_eq!(
            C2bPayment::parse(no_id.as_bytes()),
            Err(CallbackError::Field("TransID"))
        );
    }
}
