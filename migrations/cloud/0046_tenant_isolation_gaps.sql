-- Two gaps found in review, one between tenants and one between users of a tenant.
--
-- 1. A wallet credit's M-Pesa receipt was unique across every tenant. A tenant crediting a
--    receipt another tenant had already credited got a conflict, which told it that the receipt
--    was used elsewhere and let one tenant block another's credit. It is now unique within a
--    tenant, where the service's own check (under row-level security) already looked.
-- 2. ticket_comments.author_id took any user of the tenant, so a reply could be written in
--    another staff member's name through the generic API. As with internal_messages' sender
--    (0007), the author of a new comment must be the transaction's user (`app.user_id`), and
--    only its author edits or deletes a comment.

DROP INDEX idx_wallet_transactions_receipt;
CREATE UNIQUE INDEX idx_wallet_transactions_receipt
    ON wallet_transactions (tenant_id, mpesa_receipt_number)
    WHERE mpesa_receipt_number IS NOT NULL AND transaction_type = 'credit';

CREATE POLICY comment_author_writes ON ticket_comments AS RESTRICTIVE FOR INSERT
    WITH CHECK (author_id = app_current_user());
CREATE POLICY comment_author_updates ON ticket_comments AS RESTRICTIVE FOR UPDATE
    USING (author_id = app_current_user())
    WITH CHECK (author_id = app_current_user());
CREATE POLICY comment_author_deletes ON ticket_comments AS RESTRICTIVE FOR DELETE
    USING (author_id = app_current_user());
