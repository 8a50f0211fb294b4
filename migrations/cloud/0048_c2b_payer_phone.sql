-- The C2B list showed the payer's number, and searched by it, from each payment's stored
-- confirmation (a JSON body in mpesa_callbacks), read row by row: a search by phone read every
-- confirmation of the tenant until it had a page. The payment now keeps the number itself.
--
-- 1. payer_phone: the MSISDN of the payment's first confirmation, as Daraja sent it (it may be
--    masked or hashed), at most 20 characters; filled for the payments already there.
-- 2. A confirmation stored for a payment fills its payer_phone when still empty (the C2B
--    handler stores the payment, then its confirmation, in one transaction).

ALTER TABLE mpesa_c2b_payments ADD COLUMN payer_phone VARCHAR(20);

UPDATE mpesa_c2b_payments c SET payer_phone = left(cb.body->>'MSISDN', 20)
FROM (SELECT DISTINCT ON (tenant_id, reference) tenant_id, reference, body
      FROM mpesa_callbacks WHERE kind = 'c2b_confirmation'
      ORDER BY tenant_id, reference, received_at) cb
WHERE cb.tenant_id = c.tenant_id AND cb.reference = c.trans_id;

CREATE FUNCTION mpesa_c2b_payer_phone() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE mpesa_c2b_payments SET payer_phone = left(NEW.body->>'MSISDN', 20)
    WHERE tenant_id = NEW.tenant_id AND trans_id = NEW.reference AND payer_phone IS NULL
      AND NEW.body->>'MSISDN' IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER mpesa_c2b_payer_phone AFTER INSERT ON mpesa_callbacks
    FOR EACH ROW WHEN (NEW.kind = 'c2b_confirmation')
    EXECUTE FUNCTION mpesa_c2b_payer_phone();
