-- The recipient of an internal message may change it only as a reader: mark it read (is_read,
-- read_at). Row-level security (0007) lets both parties update a message, so without this the
-- recipient could rewrite its subject, text or sender through the generic API. A transaction
-- with no user (the owner, migrations, jobs) is not held to it.

CREATE FUNCTION internal_messages_recipient_reads_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF app_current_user() IS NOT NULL AND app_current_user() IS DISTINCT FROM OLD.sender_id
       AND (NEW.sender_id, NEW.recipient_id, NEW.subject, NEW.content, NEW.sent_at,
            NEW.message_type, NEW.attachments, NEW.thread_id, NEW.reply_to_id, NEW.is_deleted,
            NEW.deleted_at)
           IS DISTINCT FROM
           (OLD.sender_id, OLD.recipient_id, OLD.subject, OLD.content, OLD.sent_at,
            OLD.message_type, OLD.attachments, OLD.thread_id, OLD.reply_to_id, OLD.is_deleted,
            OLD.deleted_at)
    THEN
        RAISE EXCEPTION 'the recipient of a message may only mark it read'
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'internal_messages_recipient_reads_only';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER internal_messages_recipient_reads_only BEFORE UPDATE ON internal_messages
    FOR EACH ROW EXECUTE FUNCTION internal_messages_recipient_reads_only();
