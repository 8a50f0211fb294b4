//! HTTP of payments: the routers' purchase endpoints (`hotspot_shared::purchase`) and what Daraja
//! posts back (STK callbacks).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hotspot_shared::phone::Msisdn;
use hotspot_shared::purchase::{PurchaseRefusal, PurchaseRequest, RefusalReason};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::mpesa::callback::C2bPayment;
use crate::mpesa::callback::MAX_CALLBACK_BYTES;
use crate::payments::PaymentError;
use crate::payments::c2b::{self, Verdict};
use crate::payments::callback::{self, CallbackRefusal};
use crate::payments::config::client_ip;
use crate::payments::purchase::{self, StartError};

/// A purchase request the service could not work on: 503 when the database wait ran out (the
/// router asks again, as after any 5xx), else 500.
fn failed(e: PaymentError) -> Response {
    match e {
        PaymentError::Db(crate::db::DbError::Busy) => super::sync::overloaded(),
        e => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "payments: internal failure");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": "internal error"})),
    )
        .into_response()
}

/// Decodes a purchase request, naming the phone number when that is what is wrong.
fn decode(body: &[u8]) -> Result<PurchaseRequest, (StatusCode, PurchaseRefusal)> {
    let invalid = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            PurchaseRefusal {
                reason: RefusalReason::Invalid,
                message,
            },
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    match v.get("version").and_then(Value::as_u64) {
        Some(1) => {}
        other => {
            return Err(invalid(format!(
                "purchase protocol version {other:?} is not supported (this service speaks 1)"
            )));
        }
    }
    if let Some(phone) = v.get("phone")
        && let Err(e) = phone
            .as_str()
            .ok_or(hotspot_shared::phone::PhoneError::NotKenyanMobile)
            .and_then(Msisdn::parse)
    {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            PurchaseRefusal {
                reason: RefusalReason::InvalidPhone,
                message: e.to_string(),
            },
        ));
    }
    serde_json::from_value(v).map_err(|e| invalid(format!("malformed purchase request: {e}")))
}

/// `POST /sync/v1/purchases`
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let device = match super::sync::device(&state, &headers).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let req = match decode(&body) {
        Ok(r) => r,
        Err((status, refusal)) => return (status, Json(refusal)).into_response(),
    };
    // The purchase runs as a task of its own. When the router's request is dropped mid-way (its
    // connection cut, the router killed), this handler is cancelled at whatever it awaits; the
    // purchase must not stop between committing its row and sending and recording its STK push,
    // or it would stay pending with no push on record (or with a push out and its checkout id
    // lost, so Daraja's callback could not find it). The task runs to its end either way; the
    // router's retry of the same form finds the purchase as it left it.
    let (payments, pool) = (Arc::clone(&state.payments), state.pool.clone());
    let task = tokio::spawn(async move { purchase::start(&payments, &pool, &device, &req).await });
    let started = match task.await {
        Ok(started) => started,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels it: the router sends the form again.
        Err(_) => return super::sync::overloaded(),
    };
    match started {
        Ok(s) => Json(s).into_response(),
        Err(StartError::Refused(r)) => {
            let status = match r.reason {
                RefusalReason::InvalidPhone => StatusCode::UNPROCESSABLE_ENTITY,
                RefusalReason::UnknownPackage => StatusCode::NOT_FOUND,
                RefusalReason::PaymentsUnavailable => StatusCode::CONFLICT,
                RefusalReason::Invalid => StatusCode::BAD_REQUEST,
            };
            (status, Json(r)).into_response()
        }
        Err(StartError::Failed(e)) => failed(e),
    }
}

/// `GET /sync/v1/purchases/{id}`
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Response {
    let device = match super::sync::device(&state, &headers).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    match purchase::state_for(&state.pool, &device, id).await {
        Ok(Some(s)) => Json(s).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such purchase at this hotspot"})),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

/// The address a request came from, through trusted proxies.
fn source_ip(state: &AppState, req: &Request) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    Some(client_ip(peer, xff, &state.payments.config.trusted_proxies))
}

fn accepted() -> Response {
    Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})).into_response()
}

/// The source address check and the body, or the answer refusing them.
async fn admit(state: &AppState, req: Request) -> Result<(Option<IpAddr>, Bytes), Box<Response>> {
    let ip = source_ip(state, &req);
    let allowed = match ip {
        Some(ip) => state.payments.config.allowed(ip),
        None => state.payments.config.allowlist.is_empty(),
    };
    if !allowed {
        tracing::warn!(?ip, "M-Pesa post from an address not allowed");
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                Json(json!({"ResultCode": 1, "ResultDesc": "Rejected"})),
            )
                .into_response(),
        ));
    }
    match axum::body::to_bytes(req.into_body(), MAX_CALLBACK_BYTES).await {
        Ok(body) => Ok((ip, body)),
        Err(_) => Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: body too large"})),
            )
                .into_response(),
        )),
    }
}

/// `POST /mpesa/callback/{token}`: stored, answered at once, processed after.
pub async fn stk_callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let (ip, body) = match admit(&state, req).await {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    // Storing a callback is safe to repeat (a callback stored twice settles its purchase once;
    // the second is processed as a duplicate): a failover while it is written is ridden out
    // rather than answered with an error Daraja may not retry.
    match crate::db::retry_transient(|| callback::receive(&state.pool, &token, &body, ip)).await {
        Ok(stored) => {
            let payments = state.payments.clone();
            let pool = state.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = callback::process(&payments, &pool, stored).await {
                    tracing::error!(error = %e, "processing a stored callback failed");
                }
            });
            accepted()
        }
        Err(CallbackRefusal::Malformed(why)) => {
            tracing::warn!(%why, "malformed M-Pesa callback refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: malformed"})),
            )
                .into_response()
        }
        Err(CallbackRefusal::UnknownToken) => {
            // Answered like any other so the sender learns nothing; nothing was stored.
            tracing::warn!(?ip, "M-Pesa callback with an unknown token ignored");
            accepted()
        }
        Err(CallbackRefusal::Failed(e)) => internal(e),
    }
}

fn c2b_answer(code: &str, desc: &str) -> Response {
    Json(json!({"ResultCode": code, "ResultDesc": desc})).into_response()
}

/// A C2B post admitted and parsed, with the tenant its token names (`None` for a token no
/// tenant registered). A body that is not a C2B payment gets 400 with `malformed`.
async fn c2b_post(
    state: &AppState,
    token: &str,
    req: Request,
    malformed: Value,
) -> Result<(Option<Uuid>, C2bPayment), Box<Response>> {
    let (_, body) = admit(state, req).await?;
    let Ok(payment) = C2bPayment::parse(&body) else {
        return Err(Box::new(
            (StatusCode::BAD_REQUEST, Json(malformed)).into_response(),
        ));
    };
    let tenant = c2b::tenant_of(&state.pool, token)
        .await
        .map_err(|e| Box::new(internal(e)))?;
    Ok((tenant, payment))
}

/// `POST /pay/c2b/validation/{token}` (also under `/mpesa/…`): accept or refuse a paybill
/// payment before it happens.
pub async fn c2b_validation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let (tenant, payment) = match c2b_post(
        &state,
        &token,
        req,
        json!({"ResultCode": "C2B00016", "ResultDesc": "Rejected"}),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let Some(tenant) = tenant else {
        return c2b_answer("C2B00016", "Rejected");
    };
    match c2b::validate(&state.pool, tenant, &payment).await {
        Ok(Verdict::Accept) => c2b_answer("0", "Accepted"),
        Ok(v) => c2b_answer(v.code(), "Rejected"),
        Err(e) => internal(e),
    }
}

/// `POST /pay/c2b/confirmation/{token}` (also under `/mpesa/…`): a paybill payment made;
/// applied once per TransID.
pub async fn c2b_confirmation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let (tenant, payment) = match c2b_post(
        &state,
        &token,
        req,
        json!({"ResultCode": 1, "ResultDesc": "Rejected: malformed"}),
    )
    .await
    {
        Ok(x) => x,
        Err(resp) => return *resp,
    };
    let Some(tenant) = tenant else {
        tracing::warn!("C2B confirmation with an unknown token ignored");
        return Json(json!({"ResultCode": 0, "ResultDesc": "Success"})).into_response();
    };
    match c2b::confirm(
        &state.pool,
        tenant,
        &payment,
        state.payments.config.voucher_valid_days,
    )
    .await
    {
        Ok(_) => Json(json!({"ResultCode": 0, "ResultDesc": "Success"})).into_response(),
        Err(e) => internal(e),
    }
}
