#!/bin/sh
# Test stand-in for OpenWrt's /lib/functions/procd.sh: every call is recorded in /tmp/shim.log,
# one line each, in the order the init script makes them.

procd_open_service() { shim_record procd_open_service "$@"; }
procd_close_service() {
	procd_open_trigger
	service_triggers
	procd_close_trigger
	shim_record procd_close_service "$@"
}
procd_open_instance() { shim_record procd_open_instance "$@"; }
procd_set_param() { shim_record procd_set_param "$@"; }
procd_append_param() { shim_record procd_append_param "$@"; }
procd_close_instance() { shim_record procd_close_instance "$@"; }
procd_open_trigger() { shim_record procd_open_trigger; }
procd_close_trigger() { shim_record procd_close_trigger; }
procd_add_reload_trigger() { shim_record procd_add_reload_trigger "$@"; }
procd_add_interface_trigger() { shim_record procd_add_interface_trigger "$@"; }
procd_add_reload_interface_trigger() { shim_record procd_add_reload_interface_trigger "$@"; }
procd_send_signal() { shim_record procd_send_signal "$@"; }
procd_kill() { shim_record procd_kill "$@"; }
procd_lock() { return 0; }
