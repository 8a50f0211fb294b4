-- "Who is online at this site", newest first: the operators' API pages through a hotspot's
-- active sessions by (start_time, id) descending. With this index each page is a short index
-- scan per partition instead of sorting every active session of the hotspot.
CREATE INDEX idx_hotspot_sessions_active_recent ON hotspot_sessions
    (tenant_id, hotspot_id, start_time DESC, id DESC) WHERE session_status = 'active';
