-- radacct's indexes, kept to those a query needs. Every accounting Start writes an entry into
-- each index whose predicate the new row meets, and so does every Stop: setting acctstoptime
-- changes an indexed column, so the closed row is a new version with new entries in every
-- index it falls in (an Interim-Update changes no indexed column and stays a HOT update).
-- Of the thirteen indexes 0009 and 0026 left, these were written on every session and read by
-- no query of ours, of FreeRADIUS 3.2's stock queries, of the API or of the jobs:
--
-- - idx_radacct_sessionid (acctsessionid): the stock queries find a session by acctuniqueid
--   (its unique index); an open session by Acct-Session-Id within a tenant has
--   idx_radacct_active_sessions.
-- - idx_radacct_start (acctstarttime): no query ranges over the start time of radacct alone
--   (the stock counters and Simultaneous-Use go by UserName; radacct keeps open sessions and a
--   day of closed ones, reports read radacct_history by month). Accounting-On/Off's
--   "acctstarttime <= now" has the NAS index below.
-- - idx_radacct_active (username, nasipaddress) WHERE acctstoptime IS NULL: the stock
--   Simultaneous-Use count (UserName = … AND AcctStopTime IS NULL) is served by
--   idx_radacct_username, ours by idx_radacct_open_user.
--
-- And these now hold only the rows their queries look for:
--
-- - the NAS index: Accounting-On/Off closes the NAS's open sessions (ours and the stock
--   query: NASIPAddress = … AND AcctStopTime IS NULL AND AcctStartTime <= …), so open rows
--   only, by NAS and start (FreeRADIUS's own schema has this index, radacct_bulk_close).
-- - the stop index: radacct_archive() takes rows closed before a time; open rows are never
--   looked up by it (the sweeper reads the open rows through the open-session indexes).
-- - the subscriber index: the foreign key's ON DELETE SET NULL and per-subscriber usage look up
--   one subscriber; rows without one (vouchers, MAC and table logins) are not needed there.
--
-- Kept: the primary key, UNIQUE (acctuniqueid) (FreeRADIUS's ON CONFLICT target), username
-- (stock queries, voucher usage), tenant_id (row-level security, the tenants foreign key),
-- idx_radacct_active_sessions, idx_radacct_open_user and idx_radacct_class.
DROP INDEX idx_radacct_sessionid;
DROP INDEX idx_radacct_start;
DROP INDEX idx_radacct_active;

DROP INDEX idx_radacct_nasip;
CREATE INDEX idx_radacct_nas_open ON radacct (nasipaddress, acctstarttime)
    WHERE acctstoptime IS NULL;

DROP INDEX idx_radacct_stop;
CREATE INDEX idx_radacct_stop ON radacct (acctstoptime) WHERE acctstoptime IS NOT NULL;

DROP INDEX idx_radacct_subscriber;
CREATE INDEX idx_radacct_subscriber ON radacct (subscriber_id) WHERE subscriber_id IS NOT NULL;
