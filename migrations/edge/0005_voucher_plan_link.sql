-- The plan the cloud named for a voucher, kept even before that plan has reached this router (a
-- pull may deliver a voucher ahead of its plan). `plan_id` stays a checked reference to `plans`;
-- when the plan arrives, the vouchers that named it are linked to it.
ALTER TABLE vouchers ADD COLUMN cloud_plan_id TEXT;
UPDATE vouchers SET cloud_plan_id = plan_id WHERE plan_id IS NOT NULL;
