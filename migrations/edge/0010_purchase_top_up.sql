-- A purchase started from the status page of a guest already online: when it is paid, its
-- voucher extends the guest's running session instead of starting a new one (or logs the guest
-- in, if that session ended meanwhile).
ALTER TABLE purchases ADD COLUMN top_up INTEGER NOT NULL DEFAULT 0 CHECK (top_up IN (0, 1));
