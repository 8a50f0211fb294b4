-- The portal branding the cloud sent (the tenant's title, welcome text, accent colour, support
-- phone and logo). One row at most; without it the portal shows the configuration's
-- `[branding]`. Only a newer version replaces it.
CREATE TABLE branding (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    welcome TEXT NOT NULL,
    accent_color TEXT NOT NULL,
    support_phone TEXT,
    logo BLOB,
    logo_type TEXT CHECK (logo_type IN ('image/png', 'image/jpeg')),
    logo_sha256 TEXT,
    applied_at INTEGER NOT NULL
) STRICT;
