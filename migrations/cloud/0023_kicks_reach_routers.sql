-- An operator's kick (hotspot_session_kicks, written by the API) goes into the change log, so
-- the site's router ends that session on its next pull. A kick older than an hour is no longer
-- delivered: it was meant for then, not for later.
CREATE TRIGGER sync_log AFTER INSERT ON hotspot_session_kicks
    FOR EACH ROW EXECUTE FUNCTION sync_log_change();
