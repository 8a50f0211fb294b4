//! C2B: a payer pays the tenant's paybill from the phone's M-Pesa menu and types an account
//! number (`BillRefNumber`). Daraja asks our validation URL whether to accept, then posts the
//! confirmation. Both URLs carry the tenant's callback token (`mpesa_settings.callback_token_hash`).
//!
//! What the account number may name, in this order:
//! - a hotspot package of the tenant, by its name with case and spaces ignored (`1HOUR` for
//!   "1 Hour"): a voucher of that package is issued for the tenant's first active hotspot when
//!   at least its price was paid;
//! - a client, by phone number in any spelling a guest would type (`0712345678`): the amount
//!   is credited to the client's wallet.
//!
//! Anything else is refused at validation (`C2B00012`), and recorded as `unmatched` if Daraja
//! confirms it anyway (an operator settles it by hand). A confirmation is applied once per
//! `TransID`, however often it arrives.

use deadpool_postgres::{Pool, Transaction};
use hotspot_shared::phone::Msisdn;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{PaymentError, token_hash};
use crate::db::{service_transaction, tenant_transaction};
use crate::mpesa::callback::C2bPayment;

/// What an account number names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Package {
        id: Uuid,
        hotspot: Uuid,
        price_cents: i64,
    },
    Client(Uuid),
    Unknown,
}

/// Daraja's validation verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// `C2B00012`: no such account.
    BadAccount,
    /// `C2B00013`: the amount does not buy what the account names.
    BadAmount,
}

impl Verdict {
    pub fn code(self) -> &'static str {
        match self {
            Self::Accept => "0",
            Self::BadAccount => "C2B00012",
            Self::BadAmount => "C2B00013",
        }
    }
}

/// What a confirmation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Voucher(Uuid),
    Wallet(Uuid),
    Unmatched,
    /// This TransID was applied before: nothing changed.
    Duplicate,
}

/// The tenant a C2B URL token belongs to.
pub async fn tenant_of(pool: &Pool, token: &str) -> Result<Option<Uuid>, PaymentError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let mut client = crate::db::get_patient(pool).await?;
    let tx = service_transaction(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT tenant_id, callback_token_hash FROM tenant_by_mpesa_token($1)",
            &[&hash],
        )
        .await?;
    tx.commit().await?;
    Ok(row
        .filter(|r| bool::from(r.get::<_, Vec<u8>>(1).ct_eq(&hash)))
        .map(|r| r.get(0)))
}

/// The normalised form of an account number or a package name: upper case, no spaces or dashes.
pub fn account_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_uppercase)
        .collect()
}

async fn account(tx: &Transaction<'_>, bill_ref: &str) -> Result<Account, PaymentError> {
    let key = account_key(bill_ref);
    if key.is_empty() {
        return Ok(Account::Unknown);
    }
    let package = tx
        .query_opt(
            "SELECT p.id, (p.price * 100)::bigint,
                    (SELECT h.id FROM hotspots h
                     ORDER BY (h.status = 'active') DESC, h.created_at, h.id LIMIT 1)
             FROM service_packages p
             WHERE p.package_type = 'hotspot' AND p.is_active AND p.deleted_at IS NULL
               AND upper(translate(p.name, ' -_', '')) = $1
             ORDER BY p.created_at LIMIT 1",
            &[&key],
        )
        .await?;
    if let Some(r) = package
        && let Some(hotspot) = r.get::<_, Option<Uuid>>(2)
    {
        return Ok(Account::Package {
            id: r.get(0),
            price_cents: r.get(1),
            hotspot,
        });
    }
    if let Ok(phone) = Msisdn::parse(bill_ref) {
        let client = tx
            .query_opt(
                "SELECT id FROM clients
                 WHERE (phone = $1 OR mpesa_number = $1) AND deleted_at IS NULL
                 ORDER BY created_at LIMIT 1",
                &[&phone.as_str()],
            )
            .await?;
        if let Some(r) = client {
            return Ok(Account::Client(r.get(0)));
        }
    }
    Ok(Account::Unknown)
}

/// Credits C2B payment `c2b`'s amount (`cents`) to the wallet of `client_id`, as a paybill
/// payment naming that client does: a completed `wallet_topup` payment, a wallet credit with the
/// receipt, the balance raised, the payment linked to the client.
async fn credit_client(
    tx: &Transaction<'_>,
    tenant: Uuid,
    c2b: Uuid,
    client_id: Uuid,
    cents: i64,
    receipt: &str,
    bill_ref: &str,
) -> Result<(), tokio_postgres::Error> {
    let payment: Uuid = tx
        .query_one(
            "INSERT INTO billing_payments (tenant_id, client_id, amount, payment_method,
                 purpose, status, mpesa_receipt_number, reference_number, paid_at)
             VALUES ($1, $2, $3::bigint / 100.0, 'mpesa', 'wallet_topup', 'completed',
                     $4, $5, now())
             RETURNING id",
            &[&tenant, &client_id, &cents, &receipt, &bill_ref],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount,
             description, reference_number, mpesa_receipt_number, payment_id)
         VALUES ($1, $2, 'credit', $3::bigint / 100.0, 'M-Pesa paybill payment', $4,
                 $5, $6)",
        &[&tenant, &client_id, &cents, &bill_ref, &receipt, &payment],
    )
    .await?;
    tx.execute(
        "UPDATE clients SET wallet_balance = wallet_balance + $2::bigint / 100.0
         WHERE id = $1",
        &[&client_id, &cents],
    )
    .await?;
    tx.execute(
        "UPDATE mpesa_c2b_payments SET client_id = $2, payment_id = $3 WHERE id = $1",
        &[&c2b, &client_id, &payment],
    )
    .await?;
    Ok(())
}

/// What applying an unmatched paybill payment by hand came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByHand {
    /// Credited to this client's wallet.
    Credited(Uuid),
    /// Not a payment of the tenant.
    NotFound,
    /// Already applied (a voucher, a wallet): nothing more to do.
    NotUnmatched,
    /// No client of the tenant has that phone or M-Pesa number.
    NoClient,
    /// Its receipt was already credited to a wallet (by hand, in the client's page).
    ReceiptCredited,
}

/// Applies unmatched C2B payment `id` to the wallet of the client whose phone or M-Pesa number
/// is `phone` (the payer typed an account number that named nobody), in the caller's tenant
/// transaction, exactly as a payment naming that client is applied; the payment is then shown
/// as a wallet credit. Once: the payment's row is locked and must still be unmatched.
pub async fn apply_by_hand(
    tx: &Transaction<'_>,
    id: Uuid,
    phone: &Msisdn,
) -> Result<ByHand, tokio_postgres::Error> {
    let Some(row) = tx
        .query_opt(
            "SELECT tenant_id, applied_to::text, trans_id::text, (amount * 100)::bigint,
                    coalesce(bill_ref_number, '')::text
             FROM mpesa_c2b_payments WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(ByHand::NotFound);
    };
    if row.get::<_, String>(1) != "unmatched" {
        return Ok(ByHand::NotUnmatched);
    }
    let Some(client) = tx
        .query_opt(
            "SELECT id FROM clients
             WHERE (phone = $1 OR mpesa_number = $1) AND deleted_at IS NULL
             ORDER BY created_at LIMIT 1",
            &[&phone.as_str()],
        )
        .await?
    else {
        return Ok(ByHand::NoClient);
    };
    let client_id: Uuid = client.get(0);
    let receipt: String = row.get(2);
    let seen: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM wallet_transactions
                            WHERE mpesa_receipt_number = $1 AND transaction_type = 'credit')",
            &[&receipt],
        )
        .await?
        .get(0);
    if seen {
        return Ok(ByHand::ReceiptCredited);
    }
    let bill_ref: String = row.get(4);
    credit_client(
        tx,
        row.get(0),
        id,
        client_id,
        row.get(3),
        &receipt,
        &bill_ref,
    )
    .await?;
    tx.execute(
        "UPDATE mpesa_c2b_payments SET applied_to = 'wallet' WHERE id = $1",
        &[&id],
    )
    .await?;
    tracing::info!(c2b = %id, client = %client_id, "unmatched C2B payment applied by hand");
    Ok(ByHand::Credited(client_id))
}

/// Whether to accept a payment (the validation URL).
pub async fn validate(pool: &Pool, tenant: Uuid, p: &C2bPayment) -> Result<Verdict, PaymentError> {
    let mut client = crate::db::get_patient(pool).await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let acc = account(&tx, p.bill_ref_number.as_deref().unwrap_or_default()).await?;
    tx.commit().await?;
    Ok(match acc {
        Account::Unknown => Verdict::BadAccount,
        Account::Package { price_cents, .. } if p.amount_cents().unwrap_or(0) < price_cents => {
            Verdict::BadAmount
        }
        _ => Verdict::Accept,
    })
}

/// Applies a confirmed payment, once per TransID.
pub async fn confirm(
    pool: &Pool,
    tenant: Uuid,
    p: &C2bPayment,
    voucher_valid_days: u32,
) -> Result<Applied, PaymentError> {
    let cents = p.amount_cents().unwrap_or(0);
    let bill_ref = p.bill_ref_number.clone().unwrap_or_default();
    let body = serde_json::to_value(RawPayment(p)).unwrap_or_default();
    let mut client = crate::db::get_patient(pool).await?;
    let tx = tenant_transaction(&mut client, tenant, None).await?;
    let acc = account(&tx, &bill_ref).await?;
    let applied_to = match &acc {
        Account::Package { price_cents, .. } if cents >= *price_cents => "voucher",
        Account::Client(_) => "wallet",
        _ => "unmatched",
    };
    let row = tx
        .query_opt(
            "INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                 business_short_code, applied_to)
             VALUES ($1, $2, $3::bigint / 100.0, $4, $5, $6)
             ON CONFLICT (trans_id) DO NOTHING
             RETURNING id",
            &[
                &tenant,
                &p.trans_id.trim(),
                &cents,
                &bill_ref.chars().take(100).collect::<String>(),
                &p.business_short_code.chars().take(20).collect::<String>(),
                &applied_to,
            ],
        )
        .await?;
    let Some(row) = row else {
        tx.commit().await?;
        return Ok(Applied::Duplicate);
    };
    let id: Uuid = row.get(0);
    tx.execute(
        "INSERT INTO mpesa_callbacks (tenant_id, kind, reference, body, processed_at, outcome)
         VALUES ($1, 'c2b_confirmation', $2, $3, now(), $4)",
        &[&tenant, &p.trans_id.trim(), &body, &applied_to],
    )
    .await?;
    let receipt = p.trans_id.trim().to_owned();
    let applied = match (applied_to, acc) {
        (
            "voucher",
            Account::Package {
                id: package,
                hotspot,
                ..
            },
        ) => {
            let voucher: Uuid = tx
                .query_one(
                    "INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code,
                         voucher_type, duration_minutes, data_limit_mb, price, currency,
                         max_devices, expiry_date, payment_reference, mpesa_receipt_number,
                         service_package_id)
                     SELECT p.tenant_id, $1, generate_voucher_code(),
                            CASE WHEN p.duration_minutes IS NOT NULL THEN 'time_based'
                                 WHEN p.data_limit_mb IS NOT NULL THEN 'data_based'
                                 ELSE 'unlimited' END,
                            p.duration_minutes, p.data_limit_mb, $2::bigint / 100.0, 'KES', 1,
                            now() + make_interval(days => $3), $4, $4, p.id
                     FROM service_packages p WHERE p.id = $5
                     RETURNING id",
                    &[
                        &hotspot,
                        &cents,
                        &(voucher_valid_days.min(3650) as i32),
                        &receipt,
                        &package,
                    ],
                )
                .await?
                .get(0);
            let payment: Uuid = tx
                .query_one(
                    "INSERT INTO billing_payments (tenant_id, hotspot_id, service_package_id,
                         voucher_id, amount, payment_method, purpose, status,
                         mpesa_receipt_number, reference_number, paid_at)
                     VALUES ($1, $2, $3, $4, $5::bigint / 100.0, 'mpesa', 'hotspot_package',
                             'completed', $6, $7, now())
                     RETURNING id",
                    &[
                        &tenant, &hotspot, &package, &voucher, &cents, &receipt, &bill_ref,
                    ],
                )
                .await?
                .get(0);
            tx.execute(
                "UPDATE mpesa_c2b_payments SET voucher_id = $2, payment_id = $3 WHERE id = $1",
                &[&id, &voucher, &payment],
            )
            .await?;
            Applied::Voucher(voucher)
        }
        ("wallet", Account::Client(client_id)) => {
            credit_client(&tx, tenant, id, client_id, cents, &receipt, &bill_ref).await?;
            Applied::Wallet(client_id)
        }
        _ => Applied::Unmatched,
    };
    tx.commit().await?;
    tracing::info!(%tenant, ?applied, "C2B payment confirmed");
    Ok(applied)
}

/// A C2B payment as the console lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Daraja's TransID: the receipt the payer got.
    pub trans_id: String,
    /// KES, two decimals.
    pub amount: String,
    /// The payer's number as Daraja sent it in the confirmation (`MSISDN`, kept as
    /// `payer_phone`; Daraja may send it masked or hashed).
    pub phone: String,
    pub bill_ref_number: String,
    /// `voucher`, `wallet` or `unmatched`.
    pub applied_to: String,
    /// The client credited (`wallet`), with its name.
    pub client: Option<(Uuid, String)>,
    /// The voucher issued (`voucher`).
    pub voucher_code: Option<String>,
}

impl Listed {
    /// As the API lists it and the console's CSV writes it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "created_at": self.created_at.to_rfc3339(),
            "trans_id": self.trans_id,
            "amount": self.amount,
            "phone": self.phone,
            "bill_ref_number": self.bill_ref_number,
            "applied_to": self.applied_to,
            "client_id": self.client.as_ref().map(|(id, _)| id),
            "client_name": self.client.as_ref().map(|(_, n)| n),
            "voucher_code": self.voucher_code,
        })
    }
}

/// What a C2B payment was applied to (`mpesa_c2b_payments.applied_to`).
pub const APPLIED_TO: [&str; 3] = ["voucher", "wallet", "unmatched"];

/// Which C2B payments a list shows (each optional): the API's and the console's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// One of [`APPLIED_TO`].
    pub applied_to: Option<String>,
    /// A receipt (Daraja's TransID, whole), part of the account number the payer typed, or the
    /// payer's number in any spelling.
    pub q: Option<String>,
    /// Received at or after.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Received before.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

impl Selection {
    /// The first field refused, with why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if let Some(a) = &self.applied_to
            && !APPLIED_TO.contains(&a.as_str())
        {
            return Err(("applied_to", "must be voucher, wallet or unmatched"));
        }
        if let Some(q) = &self.q
            && (q.trim().is_empty() || q.chars().count() > 100 || q.chars().any(char::is_control))
        {
            return Err(("q", "must be 1 to 100 characters on one line"));
        }
        Ok(())
    }
}

/// The tenant's C2B payments that `sel` selects, newest first, at most `limit`, only those
/// before `before` (created at, id) when given: keyset-paged in the caller's tenant transaction.
/// `sel` must have passed [`Selection::check`].
pub async fn list(
    tx: &Transaction<'_>,
    sel: &Selection,
    before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, tokio_postgres::Error> {
    let (before_at, before_id) = before.unzip();
    let q = sel.q.as_deref().map(str::trim);
    let pattern = q.map(crate::api::like_pattern);
    let phone = q
        .and_then(|q| Msisdn::parse(q).ok())
        .map(|m| m.as_str().to_owned());
    let rows = tx
        .query(
            "SELECT c.id, c.created_at, c.trans_id::text, to_char(c.amount, 'FM999999999990.00'),
                    coalesce(c.payer_phone, '')::text, coalesce(c.bill_ref_number, '')::text,
                    c.applied_to::text, cl.id, cl.name::text, v.voucher_code::text
             FROM mpesa_c2b_payments c
             LEFT JOIN clients cl ON cl.id = c.client_id
             LEFT JOIN hotspot_vouchers v ON v.id = c.voucher_id
             WHERE ($1::timestamptz IS NULL OR (c.created_at, c.id) < ($1, $2::uuid))
               AND ($4::text IS NULL OR c.applied_to = $4)
               AND ($5::timestamptz IS NULL OR c.created_at >= $5)
               AND ($6::timestamptz IS NULL OR c.created_at < $6)
               AND ($7::text IS NULL OR upper(c.trans_id) = upper($7)
                    OR c.bill_ref_number ILIKE $8 OR c.payer_phone = $9)
             ORDER BY c.created_at DESC, c.id DESC LIMIT $3",
            &[
                &before_at,
                &before_id,
                &limit,
                &sel.applied_to,
                &sel.from,
                &sel.to,
                &q,
                &pattern,
                &phone,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Listed {
            id: r.get(0),
            created_at: r.get(1),
            trans_id: r.get(2),
            amount: r.get(3),
            phone: r.get(4),
            bill_ref_number: r.get(5),
            applied_to: r.get(6),
            client: r
                .get::<_, Option<Uuid>>(7)
                .map(|id| (id, r.get::<_, Option<String>>(8).unwrap_or_default())),
            voucher_code: r.get(9),
        })
        .collect())
}

/// The payload as it came, for the inbox row.
struct RawPayment<'a>(&'a C2bPayment);

impl serde::Serialize for RawPayment<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        serde_json::json!({
            "TransactionType": p.transaction_type,
            "TransID": p.trans_id,
            "TransTime": p.trans_time,
            "TransAmount": p.trans_amount,
            "BusinessShortCode": p.business_short_code,
            "BillRefNumber": p.bill_ref_number,
            "InvoiceNumber": p.invoice_number,
            "ThirdPartyTransID": p.third_party_trans_id,
            "MSISDN": p.msisdn,
            "FirstName": p.first_name,
        })
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_ignore_case_spaces_and_dashes() {
        assert_eq!(account_key(" 1 hour "), "1HOUR");
        assert_eq!(account_key("1-Hour"), "1HOUR");
        assert_eq!(account_key(""), "");
        assert_eq!(Verdict::BadAccount.code(), "C2B00012");
        assert_eq!(Verdict::Accept.code(), "0");
    }
}
