//! The Dynamic Authorization server (RFC 5176): Disconnect-Request ends a RADIUS session at
//! once; CoA-Request changes its time, data limit or rates in place (the firewall grant is
//! updated, the guest stays online).
//!
//! A request counts only when it comes from one of `das_clients`, decodes, is a Disconnect- or
//! CoA-Request, and its authenticator (and Message-Authenticator, when present) holds under the
//! secret; anything else is dropped without an answer and changes nothing. The session is named
//! by any of User-Name, Acct-Session-Id, Framed-IP-Address and Calling-Station-Id (all given must
//! match one live RADIUS session); a NAS-Identifier, when present, must be ours. The answer is an
//! ACK, or a NAK with Error-Cause. Answers are remembered for the last 64 requests, so a
//! retransmission gets the same answer without acting twice.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;

use hotspot_shared::MacAddr;
use hotspot_shared::radius::crypto::{sign_response, verify_request};
use hotspot_shared::radius::{Code, MAX_PACKET, Packet, attr, error_cause};

use crate::sessions::Sessions;

/// Answers remembered for retransmissions.
const CACHE: usize = 64;

/// A request as RFC 5080 §2.2.2 tells duplicates apart: source, identifier, authenticator.
type RequestKey = (SocketAddr, u8, [u8; 16]);

/// What a request names the session by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub user_name: Option<String>,
    pub acct_session_id: Option<String>,
    pub framed_ip: Option<IpAddr>,
    pub mac: Option<MacAddr>,
}

impl Selector {
    /// The identifiers in `p`; `Err` with an Error-Cause when a given one is unusable.
    pub fn of(p: &Packet) -> Result<Self, u32> {
        let mac = match p.get_text(attr::CALLING_STATION_ID) {
            None => None,
            Some(t) => Some(
                t.parse::<MacAddr>()
                    .map_err(|_| error_cause::INVALID_REQUEST)?,
            ),
        };
        let s = Selector {
            user_name: p.get_text(attr::USER_NAME),
            acct_session_id: p.get_text(attr::ACCT_SESSION_ID),
            framed_ip: p.get_ipv4(attr::FRAMED_IP_ADDRESS).map(IpAddr::V4),
            mac,
        };
        if s == Selector::default() {
            return Err(error_cause::MISSING_ATTRIBUTE);
        }
        Ok(s)
    }
}

/// Serves `socket` until `stop` turns true.
pub async fn run(
    socket: UdpSocket,
    sessions: Arc<Sessions>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(nas) = sessions.nas().cloned() else {
        return;
    };
    let mut buf = vec![0u8; MAX_PACKET];
    let mut cache: VecDeque<(RequestKey, Vec<u8>)> = VecDeque::new();
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "DAS socket error");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let raw = &buf[..n];
        if !nas.config.das_clients.contains(&from.ip()) {
            tracing::warn!(%from, "DAS request from an address not in das_clients dropped");
            continue;
        }
        let Ok(req) = Packet::decode(raw) else {
            tracing::warn!(%from, "malformed DAS request dropped");
            continue;
        };
        if !matches!(req.code, Code::DisconnectRequest | Code::CoaRequest) {
            continue;
        }
        if let Err(e) = verify_request(raw, &nas.config.secret.0) {
            tracing::warn!(%from, error = %e, "DAS request failing its checks dropped");
            continue;
        }
        let key = (from, req.identifier, req.authenticator);
        if let Some((_, answer)) = cache.iter().find(|(k, _)| *k == key) {
            let _ = socket.send_to(answer, from).await;
            continue;
        }
        let (ok, cause) = match handle(&sessions, &req).await {
            Ok(()) => (true, None),
            Err(cause) => (false, Some(cause)),
        };
        let code = match (req.code, ok) {
            (Code::DisconnectRequest, true) => Code::DisconnectAck,
            (Code::DisconnectRequest, false) => Code::DisconnectNak,
            (_, true) => Code::CoaAck,
            (_, false) => Code::CoaNak,
        };
        let mut reply = Packet::new(code, req.identifier, [0; 16]);
        if let Some(c) = cause {
            reply.push_u32(attr::ERROR_CAUSE, c);
        }
        let Ok(bytes) = sign_response(
            &reply,
            req.code,
            &req.authenticator,
            &nas.config.secret.0,
            true,
        ) else {
            continue;
        };
        tracing::info!(%from, request = ?req.code, answer = ?code, ?cause, "DAS request");
        let _ = socket.send_to(&bytes, from).await;
        if cache.len() == CACHE {
            cache.pop_front();
        }
        cache.push_back((key, bytes));
    }
}

/// Acts on a request; `Err` is the Error-Cause of the NAK.
async fn handle(sessions: &Arc<Sessions>, req: &Packet) -> Result<(), u32> {
    let Some(nas) = sessions.nas() else {
        return Err(error_cause::RESOURCES_UNAVAILABLE);
    };
    if let Some(id) = req.get_text(attr::NAS_IDENTIFIER)
        && id != nas.config.nas_identifier
    {
        return Err(error_cause::NAS_IDENTIFICATION_MISMATCH);
    }
    let selector = Selector::of(req)?;
    let found = sessions
        .radius_find(selector)
        .await
        .map_err(|_| error_cause::RESOURCES_UNAVAILABLE)?;
    if found.is_empty() {
        return Err(error_cause::SESSION_CONTEXT_NOT_FOUND);
    }
    for s in found {
        if req.code == Code::DisconnectRequest {
            sessions
                .end(s.mac, hotspot_shared::plan::EndReason::Kick)
                .await
                .map_err(|_| error_cause::RESOURCES_UNAVAILABLE)?;
        } else {
            let change = super::attrs::authorization(req);
            sessions
                .radius_change(s.id, change)
                .await
                .map_err(|_| error_cause::RESOURCES_UNAVAILABLE)?;
        }
    }
    Ok(())
}
