-- Seed 000's support, messaging and notification tables, support_tickets (only referenced there),
-- external technicians, and the user-scoped row rules of messages and notifications.

CREATE TABLE departments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

ALTER TABLE users
    ADD FOREIGN KEY (tenant_id, department_id) REFERENCES departments (tenant_id, id)
        ON DELETE SET NULL (department_id);

CREATE TABLE support_tickets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ticket_number VARCHAR(30) NOT NULL,
    client_id UUID,
    created_by UUID,
    assigned_to UUID,
    department_id UUID,
    title VARCHAR(255) NOT NULL,
    description TEXT NOT NULL,
    ticket_type VARCHAR(30) NOT NULL DEFAULT 'general'
        CHECK (ticket_type IN ('technical', 'billing', 'installation', 'general', 'complaint',
                               'feature_request')),
    priority VARCHAR(20) NOT NULL DEFAULT 'medium'
        CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status VARCHAR(20) NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'in_progress', 'pending', 'resolved', 'closed')),
    source VARCHAR(20) NOT NULL DEFAULT 'portal'
        CHECK (source IN ('portal', 'phone', 'email', 'sms', 'whatsapp', 'walk_in', 'system')),
    escalation_level INTEGER NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    sla_due_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    resolution TEXT,
    satisfaction_rating INTEGER CHECK (satisfaction_rating BETWEEN 1 AND 5),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ,
    updated_by UUID,
    UNIQUE (tenant_id, ticket_number),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
        ON DELETE SET NULL (client_id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (created_by),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (assigned_to),
    FOREIGN KEY (tenant_id, department_id) REFERENCES departments (tenant_id, id)
        ON DELETE SET NULL (department_id)
);
CREATE INDEX idx_support_tickets_tenant ON support_tickets(tenant_id, status)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_support_tickets_client ON support_tickets(client_id);
CREATE INDEX idx_support_tickets_assigned ON support_tickets(assigned_to);

CREATE TABLE ticket_assignments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ticket_id UUID NOT NULL,
    assigned_from UUID,
    assigned_to UUID,
    department_id UUID,
    assignment_reason TEXT,
    assigned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    status VARCHAR(50) NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'completed', 'transferred', 'cancelled')),
    notes TEXT,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES support_tickets (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, assigned_from) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (assigned_from),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (assigned_to),
    FOREIGN KEY (tenant_id, department_id) REFERENCES departments (tenant_id, id)
        ON DELETE SET NULL (department_id)
);
CREATE INDEX idx_ticket_assignments_ticket_id ON ticket_assignments(ticket_id);
CREATE INDEX idx_ticket_assignments_assigned_to ON ticket_assignments(assigned_to);

CREATE TABLE ticket_comments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ticket_id UUID NOT NULL,
    author_id UUID NOT NULL,
    content TEXT NOT NULL,
    is_internal BOOLEAN NOT NULL DEFAULT false,
    is_resolution BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES support_tickets (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_ticket_comments_ticket_id ON ticket_comments(ticket_id);

CREATE TABLE internal_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sender_id UUID NOT NULL,
    recipient_id UUID NOT NULL,
    subject TEXT NOT NULL,
    content TEXT NOT NULL,
    is_read BOOLEAN NOT NULL DEFAULT false,
    sent_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at TIMESTAMPTZ,
    message_type VARCHAR(50) NOT NULL DEFAULT 'email'
        CHECK (message_type IN ('email', 'chat', 'system', 'announcement')),
    attachments JSONB DEFAULT '[]'::jsonb,
    thread_id UUID DEFAULT gen_random_uuid(),
    reply_to_id UUID,
    is_deleted BOOLEAN NOT NULL DEFAULT false,
    deleted_at TIMESTAMPTZ,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, sender_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, reply_to_id) REFERENCES internal_messages (tenant_id, id)
        ON DELETE SET NULL (reply_to_id)
);
CREATE INDEX idx_internal_messages_sender ON internal_messages(sender_id);
CREATE INDEX idx_internal_messages_recipient ON internal_messages(recipient_id);
CREATE INDEX idx_internal_messages_thread ON internal_messages(thread_id);

CREATE TABLE message_attachments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    message_id UUID NOT NULL,
    file_name TEXT NOT NULL,
    file_size BIGINT NOT NULL CHECK (file_size >= 0),
    file_type TEXT NOT NULL,
    file_url TEXT NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, message_id) REFERENCES internal_messages (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX idx_message_attachments_message_id ON message_attachments(message_id);

CREATE TABLE notifications (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    type VARCHAR(50) NOT NULL DEFAULT 'info'
        CHECK (type IN ('info', 'success', 'warning', 'error', 'message', 'renewal', 'payment',
                        'ticket', 'system')),
    is_read BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at TIMESTAMPTZ,
    related_entity_type VARCHAR(50),
    related_entity_id UUID,
    action_url TEXT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_notifications_user_is_read ON notifications(user_id, is_read);

CREATE TABLE notification_preferences (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id UUID NOT NULL UNIQUE,
    email_notifications BOOLEAN NOT NULL DEFAULT true,
    sms_notifications BOOLEAN NOT NULL DEFAULT false,
    whatsapp_notifications BOOLEAN NOT NULL DEFAULT false,
    notification_types JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE external_users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email VARCHAR NOT NULL UNIQUE,
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    phone VARCHAR,
    role VARCHAR NOT NULL
        CHECK (role IN ('technician', 'contractor', 'consultant', 'installer', 'surveyor')),
    is_active BOOLEAN NOT NULL DEFAULT true,
    company_name VARCHAR,
    specializations TEXT[] DEFAULT '{}',
    hourly_rate NUMERIC CHECK (hourly_rate >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_external_users_company ON external_users(tenant_id);
CREATE INDEX idx_external_users_role ON external_users(role);
CREATE INDEX idx_external_users_is_active ON external_users(is_active);

CREATE TABLE notification_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ticket_id UUID,
    type VARCHAR NOT NULL,
    channels TEXT[] NOT NULL,
    recipients TEXT[] NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'partial', 'failed')),
    metadata JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES support_tickets (tenant_id, id)
        ON DELETE SET NULL (ticket_id)
);
CREATE INDEX idx_notification_logs_ticket ON notification_logs(ticket_id);

SELECT hotspot_secure_tables();

-- User-scoped rules (seed 000), on top of tenant isolation. RESTRICTIVE: a row must pass the
-- tenant policy AND these. The user is `app.user_id`; unset means no user, so nothing passes.
--
-- internal_messages: only the sender and the recipient see or change a message; only the sender
-- can write one in their own name, and only the sender can delete it.
CREATE POLICY message_parties ON internal_messages AS RESTRICTIVE FOR SELECT
    USING (NULLIF(current_setting('app.user_id', true), '')::uuid IN (sender_id, recipient_id));
CREATE POLICY message_sender_writes ON internal_messages AS RESTRICTIVE FOR INSERT
    WITH CHECK (sender_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY message_parties_update ON internal_messages AS RESTRICTIVE FOR UPDATE
    USING (NULLIF(current_setting('app.user_id', true), '')::uuid IN (sender_id, recipient_id))
    WITH CHECK (NULLIF(current_setting('app.user_id', true), '')::uuid IN (sender_id, recipient_id));
CREATE POLICY message_sender_deletes ON internal_messages AS RESTRICTIVE FOR DELETE
    USING (sender_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

-- message_attachments follow their message (the subquery is itself under internal_messages' RLS).
CREATE POLICY attachment_of_visible_message ON message_attachments AS RESTRICTIVE
    USING (EXISTS (SELECT 1 FROM internal_messages m WHERE m.id = message_id))
    WITH CHECK (EXISTS (SELECT 1 FROM internal_messages m
                        WHERE m.id = message_id
                          AND m.sender_id = NULLIF(current_setting('app.user_id', true), '')::uuid));

-- notifications: a user reads, marks and removes only their own. Creating one for another user
-- of the same tenant is allowed (the system, a ticket, a message notifies its recipient).
CREATE POLICY notification_owner_reads ON notifications AS RESTRICTIVE FOR SELECT
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY notification_owner_updates ON notifications AS RESTRICTIVE FOR UPDATE
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
CREATE POLICY notification_owner_deletes ON notifications AS RESTRICTIVE FOR DELETE
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

-- notification_preferences: entirely the user's own.
CREATE POLICY preferences_owner ON notification_preferences AS RESTRICTIVE
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
