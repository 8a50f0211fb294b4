-- A staff member's messages, newest first: those received and those sent, each from an index in
-- the list's order, so a page reads a page of rows, not every message of the user.

CREATE INDEX idx_internal_messages_recipient_sent
    ON internal_messages (recipient_id, sent_at DESC, id DESC);
CREATE INDEX idx_internal_messages_sender_sent
    ON internal_messages (sender_id, sent_at DESC, id DESC);
