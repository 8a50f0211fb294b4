-- One row (at least) in every tenant-scoped table for the tenant {T}. {S} makes globally unique
-- values unique; {N} (1-250) picks the tenant's NAS address. Run by the schema owner.
DO $fixture$
DECLARE
    t UUID := '{T}';
    u_admin UUID; u_staff UUID; cust UUID; pkg UUID; cl UUID; hs UUID; v UUID; prod UUID;
    plan UUID; price UUID; sub UUID; inv UUID; pay UUID; eq UUID; item UUID; dept UUID;
    ticket UUID; msg UUID; bp UUID; subscr UUID; pool UUID; dev UUID; olt UUID; tower UUID;
    sector UUID; pur UUID;
BEGIN
    INSERT INTO tenants (id, name, slug, status) VALUES (t, 'Tenant {S}', 'tenant-{S}', 'active');
    INSERT INTO users (tenant_id, email, full_name, role) VALUES (t, 'admin@{S}.test', 'Admin {S}', 'isp_admin')
        RETURNING id INTO u_admin;
    INSERT INTO users (tenant_id, email, full_name, role) VALUES (t, 'staff@{S}.test', 'Staff {S}', 'support')
        RETURNING id INTO u_staff;
    INSERT INTO customers (tenant_id, customer_number, first_name, phone)
        VALUES (t, 'CUST-{S}', 'Wanjiru', '254700000001') RETURNING id INTO cust;
    INSERT INTO service_packages (tenant_id, name, download_mbps, upload_mbps, monthly_rate)
        VALUES (t, 'Home 10', 10, 5, 1500) RETURNING id INTO pkg;
    INSERT INTO clients (tenant_id, user_id, customer_id, name, phone, status, service_package_id,
                         monthly_rate, wallet_balance, subscription_end_date)
        VALUES (t, u_staff, cust, 'Client {S}', '254711000001', 'active', pkg, 1500, 3000,
                now() + interval '10 days')
        RETURNING id INTO cl;
    INSERT INTO hotspots (tenant_id, name, location, ssid) VALUES (t, 'Cafe {S}', 'Nairobi', 'Cafe-{S}')
        RETURNING id INTO hs;
    INSERT INTO hotspot_devices (tenant_id, hotspot_id, token_hash)
        VALUES (t, hs, digest('token-{S}', 'sha256'));
    INSERT INTO service_package_hotspots (tenant_id, service_package_id, hotspot_id)
        VALUES (t, pkg, hs);
    INSERT INTO hotspot_vouchers (tenant_id, hotspot_id, voucher_code, duration_minutes, price)
        VALUES (t, hs, 'V{S}', 60, 20) RETURNING id INTO v;
    INSERT INTO hotspot_sessions (tenant_id, hotspot_id, client_id, mac_address, voucher_code)
        VALUES (t, hs, cl, 'AA:BB:CC:00:00:01', 'V{S}');
    INSERT INTO client_hotspot_access (tenant_id, client_id, hotspot_id, mac_address)
        VALUES (t, cl, hs, 'AA:BB:CC:00:00:02');
    INSERT INTO hotspot_analytics (tenant_id, hotspot_id, date) VALUES (t, hs, current_date);
    INSERT INTO edge_events (tenant_id, event_id, device_id, kind, occurred_at)
        SELECT t, gen_random_uuid(), d.id, 'device_health', now()
        FROM hotspot_devices d WHERE d.tenant_id = t;
    INSERT INTO hotspot_device_health (tenant_id, device_id, hotspot_id, recorded_at, uptime_s,
                                       clients_online, outbox_len)
        SELECT t, d.id, hs, now(), 60, 1, 0 FROM hotspot_devices d WHERE d.tenant_id = t;
    INSERT INTO hotspot_voucher_redemptions (tenant_id, voucher_id, hotspot_id, mac_address,
                                             redeemed_at, accepted)
        VALUES (t, v, hs, 'aa:bb:cc:00:00:01', now(), true);
    INSERT INTO hotspot_settings (tenant_id, hotspot_id, key, value)
        VALUES (t, hs, 'portal.welcome', 'Karibu {S}');
    INSERT INTO billing_products (tenant_id, name, service_package_id) VALUES (t, 'Internet', pkg)
        RETURNING id INTO prod;
    INSERT INTO billing_subscription_plans (tenant_id, product_id, name) VALUES (t, prod, 'Monthly')
        RETURNING id INTO plan;
    INSERT INTO billing_prices (tenant_id, plan_id, amount) VALUES (t, plan, 1500)
        RETURNING id INTO price;
    INSERT INTO billing_subscriptions (tenant_id, client_id, plan_id, price_id, current_period_end)
        VALUES (t, cl, plan, price, now() + interval '30 days') RETURNING id INTO sub;
    INSERT INTO billing_invoices (tenant_id, invoice_number, client_id, subscription_id, total_amount)
        VALUES (t, 'INV-1', cl, sub, 1500) RETURNING id INTO inv;
    INSERT INTO billing_invoice_line_items (tenant_id, invoice_id, description, unit_price, amount)
        VALUES (t, inv, 'Home 10', 1500, 1500);
    INSERT INTO billing_payments (tenant_id, invoice_id, client_id, amount, status, paid_at,
                                  checkout_request_id, mpesa_receipt_number)
        VALUES (t, inv, cl, 1500, 'completed', now(), 'ws_CO_{S}', 'R{S}') RETURNING id INTO pay;
    INSERT INTO wallet_transactions (tenant_id, client_id, transaction_type, amount, payment_id)
        VALUES (t, cl, 'credit', 3000, pay);
    INSERT INTO mpesa_settings (tenant_id, paybill_number, callback_token_hash)
        VALUES (t, '600{N}', digest('callback-{S}', 'sha256'));
    -- Guest purchases and what Daraja posted (0024).
    INSERT INTO hotspot_purchases (tenant_id, hotspot_id, request_id, service_package_id,
                                   package_name, amount, phone_number, client_mac, status,
                                   failure_reason, checkout_request_id, callback_token_hash)
        VALUES (t, hs, gen_random_uuid(), pkg, 'Home 10', 20, '254711000001', 'aa:bb:cc:00:00:05',
                'failed', 'cancelled', 'ws_CO_P{S}', digest('purchase-{S}', 'sha256'))
        RETURNING id INTO pur;
    INSERT INTO mpesa_callbacks (tenant_id, kind, purchase_id, reference, body)
        VALUES (t, 'stk', pur, 'ws_CO_P{S}', '{}');
    INSERT INTO user_recovery_codes (tenant_id, user_id, lookup, code_hash)
        VALUES (t, u_staff, 'AAAA', 'not-a-real-hash');
    INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number, applied_to,
                                    client_id)
        VALUES (t, 'C2B{S}', 100, 'ACC-{S}', 'wallet', cl);
    INSERT INTO equipment (tenant_id, client_id, type, serial_number) VALUES (t, cl, 'router', 'EQ-{S}')
        RETURNING id INTO eq;
    INSERT INTO inventory_items (tenant_id, category, type, serial_number)
        VALUES (t, 'CPE', 'ONT', 'INV-{S}') RETURNING id INTO item;
    INSERT INTO client_equipment (tenant_id, client_id, equipment_id) VALUES (t, cl, eq);
    INSERT INTO network_events (tenant_id, client_id, equipment_id, event_type, triggered_by)
        VALUES (t, cl, eq, 'status_check', 'system');
    INSERT INTO qos_policies (tenant_id, name, max_bandwidth_down, max_bandwidth_up)
        VALUES (t, 'Default', 10, 5);
    INSERT INTO client_service_assignments (tenant_id, client_id, service_package_id)
        VALUES (t, cl, pkg);
    INSERT INTO interface_statistics (tenant_id, equipment_id, interface_index, interface_name)
        VALUES (t, eq, 1, 'ether1');
    INSERT INTO bandwidth_statistics (tenant_id, equipment_id, in_octets) VALUES (t, eq, 100);
    INSERT INTO departments (tenant_id, name) VALUES (t, 'Support') RETURNING id INTO dept;
    INSERT INTO support_tickets (tenant_id, ticket_number, client_id, created_by, department_id,
                                 title, description)
        VALUES (t, 'TCK-1', cl, u_staff, dept, 'Slow', 'Slow internet') RETURNING id INTO ticket;
    INSERT INTO ticket_assignments (tenant_id, ticket_id, assigned_to, department_id)
        VALUES (t, ticket, u_admin, dept);
    INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, content)
        VALUES (t, ticket, u_admin, 'Looking');
    INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content)
        VALUES (t, u_admin, u_staff, 'Hello', 'Welcome') RETURNING id INTO msg;
    INSERT INTO message_attachments (tenant_id, message_id, file_name, file_size, file_type, file_url)
        VALUES (t, msg, 'a.pdf', 10, 'application/pdf', 'https://files.test/a.pdf');
    INSERT INTO notification_preferences (tenant_id, user_id) VALUES (t, u_staff);
    INSERT INTO external_users (tenant_id, email, first_name, last_name, role)
        VALUES (t, 'tech@{S}.test', 'Otieno', 'Tech', 'technician');
    INSERT INTO notification_logs (tenant_id, ticket_id, type, channels, recipients)
        VALUES (t, ticket, 'ticket_created', '{email}', '{staff@{S}.test}');
    INSERT INTO bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps)
        VALUES (t, '10M', 10, 10) RETURNING id INTO bp;
    INSERT INTO subscribers (tenant_id, customer_id, subscriber_number, service_type,
                             bandwidth_profile_id, billing_subscription_id, pppoe_username)
        VALUES (t, cust, 'SUB-{S}', 'ftth', bp, sub, 'ppp{S}') RETURNING id INTO subscr;
    INSERT INTO ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, available_ips)
        VALUES (t, 'Pool', '10.{N}.0.0/24', '10.{N}.0.10', '10.{N}.0.250', 241, 240)
        RETURNING id INTO pool;
    INSERT INTO ip_allocations (tenant_id, ip_pool_id, subscriber_id, ip_address)
        VALUES (t, pool, subscr, '10.{N}.0.10');
    INSERT INTO devices (tenant_id, name, device_type) VALUES (t, 'OLT-1', 'olt') RETURNING id INTO dev;
    INSERT INTO vpn_tunnels (tenant_id, device_id, tunnel_name, vpn_ip)
        VALUES (t, dev, 'wg0', '172.16.{N}.2');
    INSERT INTO olts (tenant_id, device_id, olt_type) VALUES (t, dev, 'gpon') RETURNING id INTO olt;
    INSERT INTO onus (tenant_id, olt_id, subscriber_id, serial_number, pon_port, onu_id)
        VALUES (t, olt, subscr, 'ONU-{S}', 1, 1);
    INSERT INTO splitters (tenant_id, olt_id, name, split_ratio, output_ports)
        VALUES (t, olt, 'SPL-1', '1x8', 8);
    INSERT INTO fiber_cables (tenant_id, cable_name, fiber_count, start_device_id)
        VALUES (t, 'FC-1', 12, dev);
    INSERT INTO wireless_towers (tenant_id, name, latitude, longitude)
        VALUES (t, 'Tower 1', -1.28, 36.82) RETURNING id INTO tower;
    INSERT INTO wireless_sectors (tenant_id, tower_id, device_id, name, frequency_mhz, azimuth,
                                  beamwidth_degrees)
        VALUES (t, tower, dev, 'Sector A', 5800, 90, 60) RETURNING id INTO sector;
    INSERT INTO wireless_subscribers (tenant_id, subscriber_id, sector_id, cpe_mac,
                                      install_latitude, install_longitude)
        VALUES (t, subscr, sector, 'AA:BB:CC:00:00:03', -1.29, 36.83);
    INSERT INTO service_activations (tenant_id, subscriber_id, activation_type, bandwidth_profile_id,
                                     billing_plan_id)
        VALUES (t, subscr, 'new_service', bp, plan);
    INSERT INTO ansible_jobs (tenant_id, job_name, playbook_name, target_device_id)
        VALUES (t, 'backup', 'backup.yml', dev);
    INSERT INTO nas (tenant_id, nasname, shortname, secret) VALUES (t, '192.0.2.{N}', 'nas{S}', 's3cret');
    INSERT INTO radcheck (tenant_id, subscriber_id, username, attribute, value)
        VALUES (t, subscr, 'ppp{S}', 'Cleartext-Password', 'pw');
    INSERT INTO radreply (tenant_id, subscriber_id, username, attribute, value)
        VALUES (t, subscr, 'ppp{S}', 'Mikrotik-Rate-Limit', '10M/10M');
    INSERT INTO radusergroup (tenant_id, username, groupname) VALUES (t, 'ppp{S}', 'grp{S}');
    INSERT INTO radgroupcheck (tenant_id, groupname, attribute, op, value)
        VALUES (t, 'grp{S}', 'Simultaneous-Use', ':=', '1');
    INSERT INTO radgroupreply (tenant_id, groupname, attribute, value)
        VALUES (t, 'grp{S}', 'Session-Timeout', '3600');
    INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime)
        VALUES ('s-{S}', md5('open-{S}'), 'ppp{S}', '192.0.2.{N}', now());
    INSERT INTO radacct_history (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress,
                                 acctstarttime, acctstoptime, radacctid)
        VALUES (t, 'h-{S}', md5('closed-{S}'), 'ppp{S}', '192.0.2.{N}', now() - interval '2 hours',
                now() - interval '1 hour', nextval('radacct_radacctid_seq'));
    INSERT INTO radpostauth (username, pass, reply) VALUES ('ppp{S}', 'pw', 'Access-Accept');
    INSERT INTO radius_dynauth (tenant_id, radacctid, acctuniqueid, username, kind, reason, target,
                                status, answered_at)
        SELECT t, radacctid, acctuniqueid, username, 'disconnect', 'operator', '192.0.2.{N}:3799',
               'nak', now()
        FROM radacct WHERE acctuniqueid = md5('open-{S}');
    -- The operators' API (0020): a sign-in token and a kicked session.
    INSERT INTO api_tokens (tenant_id, user_id, token_hash, expires_at)
        VALUES (t, u_admin, digest('api-token-{S}', 'sha256'), now() + interval '1 hour');
    INSERT INTO hotspot_session_kicks (tenant_id, hotspot_id, session_id, session_start,
                                       mac_address, requested_by)
        VALUES (t, hs, gen_random_uuid(), now(), 'AA:BB:CC:00:00:09', u_admin);
    -- Session extensions (0039): one for a session long over, past the day it is delivered for.
    INSERT INTO hotspot_session_extensions (tenant_id, hotspot_id, session_id, session_start,
                                            mac_address, minutes, requested_by, requested_at)
        VALUES (t, hs, gen_random_uuid(), now() - interval '3 days', 'AA:BB:CC:00:00:08', 30,
                u_admin, now() - interval '2 days');
    -- The web console (0030): a signed-in session.
    INSERT INTO console_sessions (tenant_id, user_id, session_hash, expires_at)
        VALUES (t, u_admin, digest('console-session-{S}', 'sha256'), now() + interval '1 hour');
END
$fixture$;
