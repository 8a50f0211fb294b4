#!/usr/bin/env bash
# One node of the database tier under pg_auto_failover, as the PostgreSQL owner:
#
#   pg-node.sh monitor PGDATA PORT HOSTNAME
#       creates the monitor (a PostgreSQL of its own holding the formation's state) and tunes
#       how fast it declares a primary lost (see docs/ha.md, "Failover time");
#   pg-node.sh postgres PGDATA PORT HOSTNAME MONITOR-URL NAME
#       creates a data node; the first one registered becomes the primary, the next ones
#       synchronous standbys cloned from it (pg_basebackup);
#   pg-node.sh run PGDATA
#       runs the node's keeper in the foreground (the systemd unit pg-autoctl@.service does this).
#
# AUTH (default trust, for a closed network only; use scram-sha-256 with a ~/.pgpass in
# production), PGCTL (default: the newest /usr/lib/postgresql/*/bin/pg_ctl) and, for the
# monitor, UNHEALTHY_MS / DEMOTE_MS / CHECK_MS may be set in the environment.
set -euo pipefail

die() {
    echo "pg-node.sh: $*" >&2
    exit 1
}

pgctl=${PGCTL:-$(find /usr/lib/postgresql/*/bin -name pg_ctl 2> /dev/null | sort -V | tail -n 1)}
[ -x "$pgctl" ] || die "no pg_ctl (set PGCTL)"
command -v pg_autoctl > /dev/null || die "no pg_autoctl (Debian: pg-auto-failover-cli, postgresql-15-auto-failover)"
auth=${AUTH:-trust}

cmd=${1-}
[ -n "$cmd" ] || die "usage: pg-node.sh monitor|postgres|run PGDATA ..."
shift
case $cmd in
    monitor)
        [ $# -eq 3 ] || die "usage: pg-node.sh monitor PGDATA PORT HOSTNAME"
        pg_autoctl create monitor --pgctl "$pgctl" --pgdata "$1" --pgport "$2" --hostname "$3" \
            --auth "$auth" --no-ssl
        # The monitor's failure detector: a health check every CHECK_MS, a node unhealthy after
        # UNHEALTHY_MS without an answer, and a lost primary given DEMOTE_MS to report itself
        # demoted before its standby is promoted anyway. pg_auto_failover's defaults are 5 s,
        # 20 s and 30 s.
        {
            echo "pgautofailover.health_check_period = ${CHECK_MS:-1000}"
            echo "pgautofailover.health_check_timeout = ${CHECK_MS:-1000}"
            echo "pgautofailover.health_check_max_retries = 1"
            echo "pgautofailover.health_check_retry_delay = ${CHECK_MS:-1000}"
            echo "pgautofailover.node_considered_unhealthy_timeout = ${UNHEALTHY_MS:-5000}"
            echo "pgautofailover.primary_demote_timeout = ${DEMOTE_MS:-5000}"
        } >> "$1/postgresql.auto.conf"
        ;;
    postgres)
        [ $# -eq 5 ] || die "usage: pg-node.sh postgres PGDATA PORT HOSTNAME MONITOR-URL NAME"
        pg_autoctl create postgres --pgctl "$pgctl" --pgdata "$1" --pgport "$2" --hostname "$3" \
            --listen "$3" --monitor "$4" --name "$5" --auth "$auth" --no-ssl \
            --dbname hotspot --replication-quorum true --candidate-priority 50
        ;;
    run)
        [ $# -eq 1 ] || die "usage: pg-node.sh run PGDATA"
        exec pg_autoctl run --pgdata "$1"
        ;;
    *) die "unknown command $cmd (monitor, postgres or run)" ;;
esac
