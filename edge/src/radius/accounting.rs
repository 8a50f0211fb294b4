//! RADIUS accounting of the sessions a RADIUS server authorised: the Accounting-Requests built
//! from the durable queue (`radius_acct_queue`) and the loop that sends them in order.
//!
//! The session engine queues Start (login), Interim-Update (accounting cycle, on the session's
//! interval), Stop (whenever the session ends), Accounting-On (start) and -Off (stop) in the same
//! transactions as the changes they report. This loop sends the oldest row, deletes it once a
//! server answers, and stops at the first request no server answers, so the order holds and a
//! request is sent again only when its answer was lost. Acct-Delay-Time says how long a request
//! waited.

use std::sync::Arc;
use std::time::Duration;

use hotspot_shared::radius::{Code, Packet, acct_status, attr};

use super::Nas;
use super::settings::RadiusConfig;
use crate::clock::Clock;
use crate::store::radius::{self as rq, QueuedAcct};
use crate::store::{Store, StoreError};

/// Acct-Authentic RADIUS (RFC 2866 §5.6).
const AUTHENTIC_RADIUS: u32 = 1;
/// The longest the loop waits between attempts while requests are queued and no server answers.
const RETRY: Duration = Duration::from_secs(30);
/// Most requests sent in one go before the loop looks at its stop signal again.
const BATCH: usize = 256;

/// The Accounting-Request for a queued row, at `now`.
pub fn request(cfg: &RadiusConfig, q: &QueuedAcct, now: i64) -> Packet {
    let mut p = Packet::new(Code::AccountingRequest, 0, [0; 16]);
    p.push_u32(attr::ACCT_STATUS_TYPE, q.status_type);
    p.push(attr::NAS_IDENTIFIER, cfg.nas_identifier.as_bytes());
    if let Some(ip) = cfg.nas_ip_address {
        p.push(attr::NAS_IP_ADDRESS, ip.octets());
    }
    if !cfg.called_station_id.is_empty() {
        p.push(attr::CALLED_STATION_ID, cfg.called_station_id.as_bytes());
    }
    let delay = (now - q.event_time).clamp(0, i64::from(u32::MAX)) as u32;
    p.push_u32(attr::ACCT_DELAY_TIME, delay);
    p.push_u32(
        attr::EVENT_TIMESTAMP,
        q.event_time.clamp(0, i64::from(u32::MAX)) as u32,
    );
    match &q.session {
        None => {
            // RFC 2866 asks for an Acct-Session-Id in every request; On/Off name none.
            p.push(attr::ACCT_SESSION_ID, "00000000");
        }
        Some(s) => {
            p.push(attr::ACCT_SESSION_ID, s.acct_session_id.as_bytes());
            p.push(attr::USER_NAME, s.user_name.as_bytes());
            p.push_u32(attr::ACCT_AUTHENTIC, AUTHENTIC_RADIUS);
            p.push_u32(attr::NAS_PORT_TYPE, super::attrs::PORT_TYPE_WIRELESS);
            p.push(attr::CALLING_STATION_ID, cfg.mac_format.format(s.mac));
            if let Some(std::net::IpAddr::V4(v4)) = s.ip.as_deref().and_then(|i| i.parse().ok()) {
                p.push(attr::FRAMED_IP_ADDRESS, v4.octets());
            }
            for c in &s.class {
                p.push(attr::CLASS, c.clone());
            }
            if q.status_type != acct_status::START {
                p.push_u32(attr::ACCT_INPUT_OCTETS, q.input_octets as u32);
                p.push_u32(attr::ACCT_INPUT_GIGAWORDS, (q.input_octets >> 32) as u32);
                p.push_u32(attr::ACCT_OUTPUT_OCTETS, q.output_octets as u32);
                p.push_u32(attr::ACCT_OUTPUT_GIGAWORDS, (q.output_octets >> 32) as u32);
                p.push_u32(attr::ACCT_SESSION_TIME, q.session_time);
            }
            if let Some(cause) = q
                .terminate_cause
                .filter(|_| q.status_type == acct_status::STOP)
            {
                p.push_u32(attr::ACCT_TERMINATE_CAUSE, cause);
            }
        }
    }
    p
}

/// Why the queue could not be emptied.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Radius(#[from] super::RadiusError),
}

/// Sends queued requests in order, at most `max`, until the queue is empty or a request gets
/// no answer. Returns how many were answered.
pub async fn flush(
    store: &Store,
    nas: &Nas,
    clock: &Arc<dyn Clock>,
    max: usize,
) -> Result<usize, FlushError> {
    let _one = nas.flushing.lock().await;
    let mut sent = 0;
    while sent < max {
        let Some(q) = store.read(rq::queue_head).await? else {
            break;
        };
        let packet = request(&nas.config, &q, clock.now());
        let seq = q.seq;
        match nas.acct.send(&packet, None).await {
            Ok(_) => {}
            // A row that cannot be encoded never will be: dropped, or it would block the rest.
            Err(super::RadiusError::Encode(e)) => {
                tracing::error!(error = %e, seq, "RADIUS accounting request dropped");
            }
            Err(e) => return Err(e.into()),
        }
        store.write(move |c| rq::dequeue(c, seq)).await?;
        sent += 1;
    }
    Ok(sent)
}

/// Sends queued accounting until `stop` turns true: at once when woken (a login, a session's
/// end, a cycle's Interim-Updates), else every 30 s. At stop, queues Accounting-Off and tries
/// for a short while to send what is left; what is not sent waits in the database for the next
/// start.
pub async fn run(
    store: Store,
    nas: Arc<Nas>,
    clock: Arc<dyn Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match flush(&store, &nas, &clock, BATCH).await {
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "RADIUS accounting waits in the queue"),
        }
        tokio::select! {
            _ = nas.wake.notified() => {}
            _ = tokio::time::sleep(RETRY) => {}
            _ = stop.changed() => break,
        }
    }
    let now = clock.now();
    if let Err(e) = store
        .write(move |c| rq::queue_nas(c, acct_status::ACCOUNTING_OFF, now))
        .await
    {
        tracing::error!(error = %e, "queueing Accounting-Off");
        return;
    }
    // One round of the client's own timeouts, no more: a stopping daemon must not hang.
    let budget = nas.config.timeout * (nas.config.retries + 1) * 2;
    match tokio::time::timeout(budget, flush(&store, &nas, &clock, BATCH)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "RADIUS accounting left queued at stop"),
        Err(_) => tracing::warn!("RADIUS accounting left queued at stop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::radius::AcctSession;

    fn cfg() -> RadiusConfig {
        let raw: super::super::settings::RawRadius = toml::from_str(
            "enabled = true\nauth_servers = [\"127.0.0.1\"]\nsecret = \"0123456789abcdef\"\n\
             called_station_id = \"Cafe\"",
        )
        .unwrap();
        raw.validate().unwrap().unwrap()
    }

    #[test]
    fn a_stop_carries_totals_with_gigawords_and_the_class() {
        let q = QueuedAcct {
            seq: 1,
            status_type: acct_status::STOP,
            session: Some(AcctSession {
                acct_session_id: "ABC".into(),
                user_name: "alice".into(),
                class: vec![b"c1".to_vec(), b"c2".to_vec()],
                mac: "02:00:00:00:00:01".parse().unwrap(),
                ip: Some("10.0.0.5".into()),
            }),
            input_octets: (5 << 32) + 7,
            output_octets: 9,
            session_time: 600,
            terminate_cause: Some(1),
            event_time: 1000,
        };
        let p = request(&cfg(), &q, 1030);
        assert_eq!(p.get_u32(attr::ACCT_STATUS_TYPE), Some(2));
        assert_eq!(p.get_u32(attr::ACCT_INPUT_OCTETS), Some(7));
        assert_eq!(p.get_u32(attr::ACCT_INPUT_GIGAWORDS), Some(5));
        assert_eq!(p.get_u32(attr::ACCT_OUTPUT_OCTETS), Some(9));
        assert_eq!(p.get_u32(attr::ACCT_OUTPUT_GIGAWORDS), Some(0));
        assert_eq!(p.get_u32(attr::ACCT_SESSION_TIME), Some(600));
        assert_eq!(p.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(1));
        assert_eq!(p.get_u32(attr::ACCT_DELAY_TIME), Some(30));
        assert_eq!(p.get_text(attr::ACCT_SESSION_ID).as_deref(), Some("ABC"));
        assert_eq!(
            p.get_text(attr::CALLING_STATION_ID).as_deref(),
            Some("02-00-00-00-00-01")
        );
        assert_eq!(p.get_text(attr::CALLED_STATION_ID).as_deref(), Some("Cafe"));
        assert_eq!(
            p.get_ipv4(attr::FRAMED_IP_ADDRESS),
            Some([10, 0, 0, 5].into())
        );
        assert_eq!(p.get_all(attr::CLASS).collect::<Vec<_>>(), [b"c1", b"c2"]);

        let on = QueuedAcct {
            status_type: acct_status::ACCOUNTING_ON,
            session: None,
            terminate_cause: None,
            ..q
        };
        let p = request(&cfg(), &on, 1000);
        assert_eq!(p.get_u32(attr::ACCT_STATUS_TYPE), Some(7));
        assert!(!p.has(attr::USER_NAME) && !p.has(attr::ACCT_TERMINATE_CAUSE));
    }
}
