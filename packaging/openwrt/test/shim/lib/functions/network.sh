#!/bin/sh
# Test stand-in for OpenWrt's /lib/functions/network.sh: what netifd would report, read from
# /etc/shim-network ("<network> <device> <ipv4 address>" per line). A network not listed is down.

_shim_network() {
	local net dev addr
	[ -f /etc/shim-network ] || return 1
	# shellcheck disable=SC2034 # dev and addr are read through eval.
	while read -r net dev addr; do
		if [ "$net" = "$2" ]; then
			case "$3" in
			device) eval "$1=\$dev" ;;
			address) eval "$1=\$addr" ;;
			esac
			return 0
		fi
	done < /etc/shim-network
	return 1
}

network_get_device() {
	unset "$1"
	_shim_network "$1" "$2" device
}
network_get_ipaddr() {
	unset "$1"
	_shim_network "$1" "$2" address
}
