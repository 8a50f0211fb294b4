#!/bin/sh
# Test stand-in for the part of OpenWrt's /lib/functions.sh that init scripts use: loading a UCI
# package into CONFIG_<section>_<option> variables and reading them back. A UCI file is read by
# running it with config/option/list defined, which is what `uci export` output amounts to.

# shim_record WHAT ARGS...: one line in /tmp/shim.log.
shim_record() {
	{
		printf '%s' "$1"
		shift
		for a in "$@"; do printf ' %s' "$a"; done
		printf '\n'
	} >> /tmp/shim.log
}

_shim_anon=0
config() {
	local name=$2
	if [ -z "$name" ]; then
		_shim_anon=$((_shim_anon + 1))
		name="cfg$_shim_anon"
	fi
	CONFIG_SECTION=$name
	CONFIG_SECTIONS="$CONFIG_SECTIONS $name"
	eval "CONFIG_${name}_TYPE=\$1"
}

option() {
	eval "CONFIG_${CONFIG_SECTION}_$1=\$2"
}

list() {
	local len
	eval "len=\${CONFIG_${CONFIG_SECTION}_$1_LENGTH:-0}"
	len=$((len + 1))
	eval "CONFIG_${CONFIG_SECTION}_$1_ITEM$len=\$2"
	eval "CONFIG_${CONFIG_SECTION}_$1_LENGTH=$len"
	eval "CONFIG_${CONFIG_SECTION}_$1=\"\${CONFIG_${CONFIG_SECTION}_$1:+\${CONFIG_${CONFIG_SECTION}_$1} }\$2\""
}

config_load() {
	shim_record config_load "$@"
	local s v
	for s in $CONFIG_SECTIONS; do
		for v in $(set | sed -n "s/^\(CONFIG_${s}_[A-Za-z0-9_]*\)=.*/\1/p"); do unset "$v"; done
	done
	CONFIG_SECTIONS=""
	[ -f "/etc/config/$1" ] || return 1
	# shellcheck source=/dev/null
	. "/etc/config/$1"
}

config_get() {
	eval "$1=\${CONFIG_$2_$3:-\$4}"
}

config_get_bool() {
	local _v
	config_get _v "$2" "$3" "$4"
	case "$_v" in
	1 | on | true | yes | enabled) _v=1 ;;
	0 | off | false | no | disabled) _v=0 ;;
	*) _v=$4 ;;
	esac
	eval "$1=\$_v"
}

config_list_foreach() {
	local section=$1 option=$2 fn=$3 len i item
	shift 3
	eval "len=\${CONFIG_${section}_${option}_LENGTH:-0}"
	i=1
	while [ "$i" -le "$len" ]; do
		eval "item=\$CONFIG_${section}_${option}_ITEM$i"
		"$fn" "$item" "$@"
		i=$((i + 1))
	done
}
