-- Site settings pulled from the cloud or set by the technician: one value per key.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL -- unix seconds
) STRICT;
