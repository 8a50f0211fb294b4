//! The product's nftables table, rendered from plain data. Pure: no I/O, no clock.
//!
//! Everything lives in one `inet` table, [`TABLE`]; nothing outside it is created, changed or
//! read. Each function returns a [`Batch`]: the commands of one `nft -j -f -` transaction, which
//! the kernel applies entirely or not at all.
//!
//! # The table
//! - Sets `clients` (MAC), `clients4`, `clients6` (addresses): who is through. Uploads are
//!   recognised by source MAC, downloads by destination address (the forward hook does not know
//!   the outgoing frame's MAC yet).
//! - Maps `up_counter`, `down_counter4`, `down_counter6` point each client's MAC or address at the
//!   client's two named counters (`up_<mac>`, `dn_<mac>`): one `list counters` reads them all.
//! - Maps `up_limit`, `down_limit4`, `down_limit6` point at the client's named limits
//!   (`lim_up_<mac>`, `lim_dn_<mac>`, `rate over … bytes/second`): packets over the plan rate
//!   are dropped (policing, with a burst sized for TCP, [`burst_bytes`]). A client on an
//!   unlimited plan has no limit element.
//! - `garden4`/`garden6`: the configured walled garden (address ranges). `garden_dns4`/
//!   `garden_dns6`: filled by dnsmasq's `nftset=` for walled-garden domains; entries expire after
//!   [`GARDEN_DNS_TIMEOUT_S`].
//! - Base chains: `input` and `forward` (filter, [`FILTER_PRIORITY`]) and `prerouting` (nat,
//!   [`NAT_PRIORITY`]). They only ever drop or redirect LAN traffic; an `accept` here means "no
//!   objection" and the packet still meets the rest of the ruleset (OpenWrt's fw4).
//!
//! Per-client state is only elements and named objects, never rules: adding the 5,000th client
//! costs what the first did, and a change to one client touches only that client's elements.
//!
//! The `nftables` crate's types are used for the table, chains, sets and their elements. It
//! cannot express maps whose values are objects (`ether_addr : counter`), object references
//! through a map (`counter name ether saddr map @m`), counters above 4 GiB, or limits in bytes
//! (its limit object writes `unit`, which nft ignores), so those, and rule bodies, are written as
//! the JSON that `nft -j` documents (libnftables-json(5)).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hotspot_shared::MacAddr;
use nftables::schema::{self, NfCmd, NfListObject, SetFlag, SetType, SetTypeValue};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde_json::{Value, json};

use super::{Counters, Grant};

/// The product's table (family `inet`).
pub const TABLE: &str = "hotspot";
/// Priority of our filter chains: before fw4's (`filter`, 0), so a client over its limit or not
/// logged in is dropped before fw4 can accept it or offload its flow.
pub const FILTER_PRIORITY: i32 = -10;
/// Priority of our port-80 redirect: before fw4's `dstnat` (-100).
pub const NAT_PRIORITY: i32 = -105;
/// How long a walled-garden domain's address stays allowed after dnsmasq resolved it.
pub const GARDEN_DNS_TIMEOUT_S: u32 = 86_400;
/// The smallest policing burst. It must exceed the largest packet the policer can see: with
/// GRO/GSO a forwarded packet can be up to 64 KiB, and a smaller bucket would drop it every time.
pub const MIN_BURST_BYTES: u32 = 64 * 1024;
/// The policing burst in time at the plan rate: enough for a TCP window to keep the rate.
pub const BURST_MS: u64 = 100;

/// Set and map names.
pub mod names {
    pub const CLIENTS: &str = "clients";
    pub const CLIENTS4: &str = "clients4";
    pub const CLIENTS6: &str = "clients6";
    pub const GARDEN4: &str = "garden4";
    pub const GARDEN6: &str = "garden6";
    pub const GARDEN_DNS4: &str = "garden_dns4";
    pub const GARDEN_DNS6: &str = "garden_dns6";
    pub const UP_COUNTER: &str = "up_counter";
    pub const DOWN_COUNTER4: &str = "down_counter4";
    pub const DOWN_COUNTER6: &str = "down_counter6";
    pub const UP_LIMIT: &str = "up_limit";
    pub const DOWN_LIMIT4: &str = "down_limit4";
    pub const DOWN_LIMIT6: &str = "down_limit6";
    pub const INPUT: &str = "input";
    pub const FORWARD: &str = "forward";
    pub const PREROUTING: &str = "prerouting";
    pub const FROM_LAN: &str = "from_lan";
    pub const TO_LAN: &str = "to_lan";
    pub const CLIENT_UP: &str = "client_up";
    pub const CLIENT_DOWN4: &str = "client_down4";
    pub const CLIENT_DOWN6: &str = "client_down6";
}
use names::*;

/// The commands of one transaction, in order.
pub type Batch = Vec<Value>;

/// An IPv4 or IPv6 network such as `192.0.2.0/24`, for the walled garden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl FromStr for Prefix {
    type Err = String;

    /// `addr/len`, or a bare address (a single host).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an address or address/length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = if l.is_empty() {
            max
        } else {
            l.parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?
        };
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What the table is built from, apart from the clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The interface guests arrive on (OpenWrt's `br-lan`).
    pub lan_interface: String,
    /// The portal's TCP port on the router; guests' port 80 is redirected here.
    pub portal_port: u16,
    /// Address ranges reachable before login.
    pub garden: Vec<Prefix>,
}

/// Name of a client's upload counter.
pub fn up_counter_name(mac: MacAddr) -> String {
    format!("up_{}", hex(mac))
}

/// Name of a client's download counter.
pub fn down_counter_name(mac: MacAddr) -> String {
    format!("dn_{}", hex(mac))
}

fn up_limit_name(mac: MacAddr) -> String {
    format!("lim_up_{}", hex(mac))
}

fn down_limit_name(mac: MacAddr) -> String {
    format!("lim_dn_{}", hex(mac))
}

fn hex(mac: MacAddr) -> String {
    mac.octets().iter().map(|b| format!("{b:02x}")).collect()
}

/// Policing rate in bytes per second for a plan rate in kbit/s.
pub fn rate_bytes(kbps: u32) -> u32 {
    // 1 kbit = 1000 bit; u64 avoids overflow for plans up to u32::MAX kbit/s.
    u32::try_from(u64::from(kbps) * 1000 / 8).unwrap_or(u32::MAX)
}

/// Policing burst for a plan rate in kbit/s: [`BURST_MS`] at the rate, at least
/// [`MIN_BURST_BYTES`].
pub fn burst_bytes(kbps: u32) -> u32 {
    let b = u64::from(rate_bytes(kbps)) * BURST_MS / 1000;
    u32::try_from(b).unwrap_or(u32::MAX).max(MIN_BURST_BYTES)
}

// ---- JSON building blocks -------------------------------------------------------------------

fn typed(cmd: NfCmd<'_>) -> Value {
    serde_json::to_value(cmd).expect("nftables schema types serialize")
}

fn add(obj: NfListObject<'_>) -> Value {
    typed(NfCmd::Add(obj))
}

fn delete(obj: NfListObject<'_>) -> Value {
    typed(NfCmd::Delete(obj))
}

fn table() -> schema::Table<'static> {
    schema::Table {
        family: NfFamily::INet,
        name: TABLE.into(),
        handle: None,
    }
}

fn base_chain(name: &'static str, kind: NfChainType, hook: NfHook, prio: i32) -> Value {
    add(NfListObject::Chain(schema::Chain {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: name.into(),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Default::default()
    }))
}

fn chain(name: &'static str) -> Value {
    add(NfListObject::Chain(schema::Chain {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: name.into(),
        ..Default::default()
    }))
}

fn set(name: &'static str, kind: SetType, flag: Option<SetFlag>, timeout: Option<u32>) -> Value {
    add(NfListObject::Set(Box::new(schema::Set {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: name.into(),
        set_type: SetTypeValue::Single(kind),
        flags: flag.map(|f| HashSet::from([f])),
        timeout,
        ..Default::default()
    })))
}

/// A map from `key` to named objects of `kind` (`counter`, `limit`): not expressible through the
/// crate's `SetType`.
fn object_map(name: &str, key: &str, kind: &str) -> Value {
    json!({"add": {"map": {"family": "inet", "table": TABLE, "name": name, "type": key, "map": kind}}})
}

fn elements(name: &'static str, elems: Vec<Value>) -> NfListObject<'static> {
    let elem = elems
        .into_iter()
        .map(|v| match v {
            Value::String(s) => nftables::expr::Expression::String(s.into()),
            other => serde_json::from_value(other).expect("element expression"),
        })
        .collect::<Vec<_>>();
    NfListObject::Element(schema::Element {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: name.into(),
        elem: elem.into(),
    })
}

fn add_elements(name: &'static str, elems: Vec<Value>) -> Value {
    add(elements(name, elems))
}

fn delete_elements(name: &'static str, elems: Vec<Value>) -> Value {
    delete(elements(name, elems))
}

/// Adds map elements `key : "object"`.
fn add_mappings(name: &str, pairs: Vec<(String, String)>) -> Value {
    let elem: Vec<Value> = pairs.into_iter().map(|(k, v)| json!([k, v])).collect();
    json!({"add": {"element": {"family": "inet", "table": TABLE, "name": name, "elem": elem}}})
}

/// A named limit matching traffic over the plan rate. Raw JSON: the crate's limit object writes
/// `unit`, which nft ignores (it reads `rate_unit`/`burst_unit`), and would police packets.
fn limit(name: String, kbps: u32) -> Value {
    json!({"add": {"limit": {"family": "inet", "table": TABLE, "name": name,
        "rate": rate_bytes(kbps), "rate_unit": "bytes", "per": "second",
        "burst": burst_bytes(kbps), "burst_unit": "bytes", "inv": true}}})
}

fn delete_limit(name: String) -> Value {
    json!({"delete": {"limit": {"family": "inet", "table": TABLE, "name": name}}})
}

/// A named counter, starting from `start` (carried over a rebuild). Raw JSON: the crate's counter
/// holds 32-bit values.
fn counter(name: String, bytes: u64) -> Value {
    json!({"add": {"counter": {"family": "inet", "table": TABLE, "name": name, "packets": 0, "bytes": bytes}}})
}

fn delete_counter(name: String) -> Value {
    json!({"delete": {"counter": {"family": "inet", "table": TABLE, "name": name}}})
}

fn rule(chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "inet", "table": TABLE, "chain": chain, "expr": expr}}})
}

fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn ne(left: Value, right: Value) -> Value {
    json!({"match": {"op": "!=", "left": left, "right": right}})
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn at(set: &str) -> Value {
    Value::String(format!("@{set}"))
}

fn verdict(v: &str) -> Value {
    json!({ v: null })
}

fn goto(chain: &str) -> Value {
    json!({"goto": {"target": chain}})
}

fn jump(chain: &str) -> Value {
    json!({"jump": {"target": chain}})
}

/// `STATEMENT name KEY map @MAP`: an object reference looked up by key.
fn objref(kind: &str, key: Value, map: &str) -> Value {
    json!({ kind: {"map": {"key": key, "data": at(map)}} })
}

fn anon_set(items: Vec<Value>) -> Value {
    json!({ "set": items })
}

fn prefix_value(p: &Prefix) -> Value {
    json!({"prefix": {"addr": p.addr.to_string(), "len": p.len}})
}

// ---- The table ------------------------------------------------------------------------------

/// Removes the table if it exists (`add` first makes the `delete` valid when it does not).
pub fn remove_table() -> Batch {
    vec![
        add(NfListObject::Table(table())),
        delete(NfListObject::Table(table())),
    ]
}

/// The whole table with exactly `grants` through, replacing whatever table of ours exists, in one
/// transaction: there is never a moment with half a table. Counters in `carried` start from
/// their values (so a rebuild does not reset a session's bytes).
///
/// A client address listed by two grants goes to the first; later duplicates are skipped.
pub fn rebuild(layout: &Layout, grants: &[Grant], carried: &BTreeMap<MacAddr, Counters>) -> Batch {
    let mut b = remove_table();
    b.push(add(NfListObject::Table(table())));
    b.extend(skeleton(layout));
    let mut seen_macs = BTreeSet::new();
    let mut seen_addrs = BTreeSet::new();
    for g in grants {
        if !seen_macs.insert(g.mac) {
            continue;
        }
        let addrs: Vec<IpAddr> = g
            .addrs
            .iter()
            .copied()
            .filter(|a| seen_addrs.insert(*a))
            .collect();
        let g = Grant { addrs, ..g.clone() };
        let c = carried.get(&g.mac).copied().unwrap_or_default();
        b.push(counter(up_counter_name(g.mac), c.bytes_up));
        b.push(counter(down_counter_name(g.mac), c.bytes_down));
        b.extend(client_elements(&g));
    }
    b
}

/// Sets, maps, chains and rules: the table with no client in it.
fn skeleton(layout: &Layout) -> Batch {
    let lan = Value::String(layout.lan_interface.clone());
    let mut b = vec![
        set(CLIENTS, SetType::EtherAddr, None, None),
        set(CLIENTS4, SetType::Ipv4Addr, None, None),
        set(CLIENTS6, SetType::Ipv6Addr, None, None),
        set(GARDEN4, SetType::Ipv4Addr, Some(SetFlag::Interval), None),
        set(GARDEN6, SetType::Ipv6Addr, Some(SetFlag::Interval), None),
        set(
            GARDEN_DNS4,
            SetType::Ipv4Addr,
            Some(SetFlag::Timeout),
            Some(GARDEN_DNS_TIMEOUT_S),
        ),
        set(
            GARDEN_DNS6,
            SetType::Ipv6Addr,
            Some(SetFlag::Timeout),
            Some(GARDEN_DNS_TIMEOUT_S),
        ),
        object_map(UP_COUNTER, "ether_addr", "counter"),
        object_map(DOWN_COUNTER4, "ipv4_addr", "counter"),
        object_map(DOWN_COUNTER6, "ipv6_addr", "counter"),
        object_map(UP_LIMIT, "ether_addr", "limit"),
        object_map(DOWN_LIMIT4, "ipv4_addr", "limit"),
        object_map(DOWN_LIMIT6, "ipv6_addr", "limit"),
    ];
    let (g4, g6): (Vec<&Prefix>, Vec<&Prefix>) =
        layout.garden.iter().partition(|p| p.addr.is_ipv4());
    if !g4.is_empty() {
        b.push(add_elements(
            GARDEN4,
            g4.iter().map(|p| prefix_value(p)).collect(),
        ));
    }
    if !g6.is_empty() {
        b.push(add_elements(
            GARDEN6,
            g6.iter().map(|p| prefix_value(p)).collect(),
        ));
    }

    b.push(base_chain(
        INPUT,
        NfChainType::Filter,
        NfHook::Input,
        FILTER_PRIORITY,
    ));
    b.push(base_chain(
        FORWARD,
        NfChainType::Filter,
        NfHook::Forward,
        FILTER_PRIORITY,
    ));
    b.push(base_chain(
        PREROUTING,
        NfChainType::NAT,
        NfHook::Prerouting,
        NAT_PRIORITY,
    ));
    for c in [FROM_LAN, TO_LAN, CLIENT_UP, CLIENT_DOWN4, CLIENT_DOWN6] {
        b.push(chain(c));
    }

    // Input: what a guest may reach on the router before login. After login, fw4 decides.
    let l4 = || meta("l4proto");
    b.extend([
        rule(
            INPUT,
            vec![ne(meta("iifname"), lan.clone()), verdict("accept")],
        ),
        rule(
            INPUT,
            vec![
                eq(payload("ether", "saddr"), at(CLIENTS)),
                verdict("accept"),
            ],
        ),
        rule(
            INPUT,
            vec![
                json!({"match": {"op": "in", "left": {"ct": {"key": "state"}},
                    "right": ["established", "related"]}}),
                verdict("accept"),
            ],
        ),
        // DHCP and DHCPv6.
        rule(
            INPUT,
            vec![
                eq(l4(), json!("udp")),
                eq(
                    payload("udp", "dport"),
                    anon_set(vec![json!(67), json!(547)]),
                ),
                verdict("accept"),
            ],
        ),
        // DNS to the router.
        rule(
            INPUT,
            vec![
                eq(l4(), anon_set(vec![json!("tcp"), json!("udp")])),
                eq(payload("th", "dport"), json!(53)),
                verdict("accept"),
            ],
        ),
        // The portal.
        rule(
            INPUT,
            vec![
                eq(l4(), json!("tcp")),
                eq(payload("tcp", "dport"), json!(layout.portal_port)),
                verdict("accept"),
            ],
        ),
        // IPv6 neighbour discovery and router solicitation, without which IPv6 does not start.
        rule(
            INPUT,
            vec![
                eq(l4(), json!("ipv6-icmp")),
                eq(
                    payload("icmpv6", "type"),
                    anon_set(
                        [
                            "nd-router-solicit",
                            "nd-neighbor-solicit",
                            "nd-neighbor-advert",
                            "mld-listener-report",
                            "mld2-listener-report",
                        ]
                        .into_iter()
                        .map(Value::from)
                        .collect(),
                    ),
                ),
                verdict("accept"),
            ],
        ),
        rule(INPUT, vec![verdict("drop")]),
    ]);

    // Forward: guests' traffic through the router, both directions.
    b.extend([
        rule(
            FORWARD,
            vec![eq(meta("iifname"), lan.clone()), jump(FROM_LAN)],
        ),
        rule(
            FORWARD,
            vec![eq(meta("oifname"), lan.clone()), jump(TO_LAN)],
        ),
        rule(
            FROM_LAN,
            vec![eq(payload("ether", "saddr"), at(CLIENTS)), goto(CLIENT_UP)],
        ),
    ]);
    for (field, set4, set6) in [
        ("daddr", GARDEN4, GARDEN6),
        ("daddr", GARDEN_DNS4, GARDEN_DNS6),
    ] {
        b.push(rule(
            FROM_LAN,
            vec![eq(payload("ip", field), at(set4)), verdict("accept")],
        ));
        b.push(rule(
            FROM_LAN,
            vec![eq(payload("ip6", field), at(set6)), verdict("accept")],
        ));
    }
    b.push(rule(FROM_LAN, vec![verdict("drop")]));
    b.extend([
        rule(
            CLIENT_UP,
            vec![
                objref("limit", payload("ether", "saddr"), UP_LIMIT),
                verdict("drop"),
            ],
        ),
        rule(
            CLIENT_UP,
            vec![objref("counter", payload("ether", "saddr"), UP_COUNTER)],
        ),
        rule(CLIENT_UP, vec![verdict("accept")]),
        rule(
            TO_LAN,
            vec![eq(payload("ip", "daddr"), at(CLIENTS4)), goto(CLIENT_DOWN4)],
        ),
        rule(
            TO_LAN,
            vec![
                eq(payload("ip6", "daddr"), at(CLIENTS6)),
                goto(CLIENT_DOWN6),
            ],
        ),
    ]);
    for (set4, set6) in [(GARDEN4, GARDEN6), (GARDEN_DNS4, GARDEN_DNS6)] {
        b.push(rule(
            TO_LAN,
            vec![eq(payload("ip", "saddr"), at(set4)), verdict("accept")],
        ));
        b.push(rule(
            TO_LAN,
            vec![eq(payload("ip6", "saddr"), at(set6)), verdict("accept")],
        ));
    }
    b.push(rule(TO_LAN, vec![verdict("drop")]));
    for (chain, proto, limits, counters) in [
        (CLIENT_DOWN4, "ip", DOWN_LIMIT4, DOWN_COUNTER4),
        (CLIENT_DOWN6, "ip6", DOWN_LIMIT6, DOWN_COUNTER6),
    ] {
        b.extend([
            rule(
                chain,
                vec![
                    objref("limit", payload(proto, "daddr"), limits),
                    verdict("drop"),
                ],
            ),
            rule(
                chain,
                vec![objref("counter", payload(proto, "daddr"), counters)],
            ),
            rule(chain, vec![verdict("accept")]),
        ]);
    }

    // Prerouting: a guest not logged in who opens any web page over plain HTTP gets the portal.
    b.extend([
        rule(
            PREROUTING,
            vec![ne(meta("iifname"), lan), verdict("return")],
        ),
        rule(
            PREROUTING,
            vec![
                eq(payload("ether", "saddr"), at(CLIENTS)),
                verdict("return"),
            ],
        ),
    ]);
    for (set4, set6) in [(GARDEN4, GARDEN6), (GARDEN_DNS4, GARDEN_DNS6)] {
        b.push(rule(
            PREROUTING,
            vec![eq(payload("ip", "daddr"), at(set4)), verdict("return")],
        ));
        b.push(rule(
            PREROUTING,
            vec![eq(payload("ip6", "daddr"), at(set6)), verdict("return")],
        ));
    }
    b.push(rule(
        PREROUTING,
        vec![
            eq(l4(), json!("tcp")),
            eq(payload("tcp", "dport"), json!(80)),
            json!({"redirect": {"port": layout.portal_port}}),
        ],
    ));
    b
}

/// Elements (and limits) that let one client through; its counters must exist.
fn client_elements(g: &Grant) -> Batch {
    let mac = g.mac.to_string();
    let (v4, v6): (Vec<String>, Vec<String>) = {
        let (a, b): (Vec<&IpAddr>, Vec<&IpAddr>) = g.addrs.iter().partition(|a| a.is_ipv4());
        (
            a.iter().map(|a| a.to_string()).collect(),
            b.iter().map(|a| a.to_string()).collect(),
        )
    };
    let mut b = Vec::new();
    if g.up_kbps > 0 {
        b.push(limit(up_limit_name(g.mac), g.up_kbps));
    }
    if g.down_kbps > 0 {
        b.push(limit(down_limit_name(g.mac), g.down_kbps));
    }
    b.push(add_mappings(
        UP_COUNTER,
        vec![(mac.clone(), up_counter_name(g.mac))],
    ));
    if g.up_kbps > 0 {
        b.push(add_mappings(
            UP_LIMIT,
            vec![(mac.clone(), up_limit_name(g.mac))],
        ));
    }
    for (addrs, set, counters, limits) in [
        (&v4, CLIENTS4, DOWN_COUNTER4, DOWN_LIMIT4),
        (&v6, CLIENTS6, DOWN_COUNTER6, DOWN_LIMIT6),
    ] {
        if addrs.is_empty() {
            continue;
        }
        b.push(add_mappings(
            counters,
            addrs
                .iter()
                .map(|a| (a.clone(), down_counter_name(g.mac)))
                .collect(),
        ));
        if g.down_kbps > 0 {
            b.push(add_mappings(
                limits,
                addrs
                    .iter()
                    .map(|a| (a.clone(), down_limit_name(g.mac)))
                    .collect(),
            ));
        }
        b.push(add_elements(set, addrs.iter().map(|a| json!(a)).collect()));
    }
    // Last: the client counts as through only once its limits and counters are in place.
    b.push(add_elements(CLIENTS, vec![json!(mac)]));
    b
}

/// Commands removing what [`client_elements`] added; counters are left alone.
fn remove_client_elements(g: &Grant) -> Batch {
    let mac = g.mac.to_string();
    let mut b = vec![delete_elements(CLIENTS, vec![json!(mac)])];
    for (is4, set, counters, limits) in [
        (true, CLIENTS4, DOWN_COUNTER4, DOWN_LIMIT4),
        (false, CLIENTS6, DOWN_COUNTER6, DOWN_LIMIT6),
    ] {
        let addrs: Vec<Value> = g
            .addrs
            .iter()
            .filter(|a| a.is_ipv4() == is4)
            .map(|a| json!(a.to_string()))
            .collect();
        if addrs.is_empty() {
            continue;
        }
        b.push(delete_elements(set, addrs.clone()));
        b.push(delete_elements(counters, addrs.clone()));
        if g.down_kbps > 0 {
            b.push(delete_elements(limits, addrs));
        }
    }
    b.push(delete_elements(UP_COUNTER, vec![json!(mac)]));
    if g.up_kbps > 0 {
        b.push(delete_elements(UP_LIMIT, vec![json!(mac)]));
        b.push(delete_limit(up_limit_name(g.mac)));
    }
    if g.down_kbps > 0 {
        b.push(delete_limit(down_limit_name(g.mac)));
    }
    b
}

/// Lets `grant` through. With `previous` (the same client as applied now) its elements and
/// limits are replaced and its counters kept: a top-up or a new address never resets the bytes.
pub fn grant(previous: Option<&Grant>, grant: &Grant) -> Batch {
    let mut b = match previous {
        Some(p) => remove_client_elements(p),
        None => vec![
            counter(up_counter_name(grant.mac), 0),
            counter(down_counter_name(grant.mac), 0),
        ],
    };
    b.extend(client_elements(grant));
    b
}

/// Removes a client applied as `previous`, counters included.
pub fn revoke(previous: &Grant) -> Batch {
    let mut b = remove_client_elements(previous);
    b.push(delete_counter(up_counter_name(previous.mac)));
    b.push(delete_counter(down_counter_name(previous.mac)));
    b
}

/// The JSON text `nft -j -f -` reads.
pub fn payload_text(batch: &[Value]) -> String {
    json!({ "nftables": batch }).to_string()
}

/// Reads `nft -j list counters table inet hotspot` output into per-client counters. Counters
/// whose names are not ours are ignored.
pub fn parse_counters(json_text: &str) -> Result<BTreeMap<MacAddr, Counters>, String> {
    let v: Value = serde_json::from_str(json_text).map_err(|e| format!("counter list: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("counter list: no \"nftables\" array")?;
    let mut out: BTreeMap<MacAddr, Counters> = BTreeMap::new();
    for item in items {
        let Some(c) = item.get("counter") else {
            continue;
        };
        if c.get("table").and_then(Value::as_str) != Some(TABLE) {
            continue;
        }
        let (Some(name), Some(bytes)) = (
            c.get("name").and_then(Value::as_str),
            c.get("bytes").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let (up, hex) = if let Some(h) = name.strip_prefix("up_") {
            (true, h)
        } else if let Some(h) = name.strip_prefix("dn_") {
            (false, h)
        } else {
            continue;
        };
        let Ok(mac) = hex.parse::<MacAddr>() else {
            continue;
        };
        let e = out.entry(mac).or_default();
        if up {
            e.bytes_up = bytes;
        } else {
            e.bytes_down = bytes;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            lan_interface: "br-lan".into(),
            portal_port: 2050,
            garden: vec![
                "192.0.2.0/24".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
        }
    }

    fn client(n: u8, down: u32, up: u32) -> Grant {
        Grant {
            mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(),
            addrs: vec![
                format!("192.168.{n}.9").parse().unwrap(),
                format!("fd00::{n:x}").parse().unwrap(),
            ],
            down_kbps: down,
            up_kbps: up,
        }
    }

    /// Compares `batch` with the committed `snapshots/NAME.json`; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn snapshot(name: &str, committed: &str, batch: &Batch) {
        let text = serde_json::to_string_pretty(&json!({ "nftables": batch })).unwrap() + "\n";
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            let path = format!(
                "{}/src/firewall/snapshots/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::write(path, &text).unwrap();
            return;
        }
        assert!(
            committed == text,
            "snapshot {name} differs; review and run with UPDATE_SNAPSHOTS=1 to accept:\n{text}"
        );
    }

    #[test]
    fn rebuild_matches_snapshot() {
        let carried = BTreeMap::from([(
            client(1, 0, 0).mac,
            Counters {
                bytes_up: 5_000_000_000,
                bytes_down: 7,
            },
        )]);
        let batch = rebuild(
            &layout(),
            &[client(1, 2000, 1000), client(2, 0, 0)],
            &carried,
        );
        snapshot("rebuild", include_str!("snapshots/rebuild.json"), &batch);
    }

    #[test]
    fn one_client_changes_match_snapshots() {
        snapshot(
            "grant_new",
            include_str!("snapshots/grant_new.json"),
            &grant(None, &client(3, 5000, 2000)),
        );
        snapshot(
            "grant_topup",
            include_str!("snapshots/grant_topup.json"),
            &grant(Some(&client(3, 5000, 2000)), &client(3, 10_000, 0)),
        );
        snapshot(
            "revoke",
            include_str!("snapshots/revoke.json"),
            &revoke(&client(3, 10_000, 0)),
        );
    }

    #[test]
    fn rebuild_replaces_the_whole_table_in_one_batch_and_touches_nothing_else() {
        let batch = rebuild(&layout(), &[client(1, 1, 1)], &BTreeMap::new());
        assert_eq!(
            batch[0],
            json!({"add": {"table": {"family": "inet", "name": TABLE}}})
        );
        assert_eq!(
            batch[1],
            json!({"delete": {"table": {"family": "inet", "name": TABLE}}})
        );
        for cmd in &batch {
            let obj = cmd.as_object().unwrap().values().next().unwrap();
            let inner = obj.as_object().unwrap().values().next().unwrap();
            let table = inner.get("table").or(inner.get("name")).unwrap();
            assert_eq!(inner["family"], "inet", "{cmd}");
            if inner.get("table").is_some() {
                assert_eq!(table, TABLE, "{cmd}");
            }
        }
    }

    #[test]
    fn a_client_change_touches_only_that_clients_elements() {
        let other = client(9, 1, 1);
        let others: Vec<String> = std::iter::once(other.mac.to_string())
            .chain(other.addrs.iter().map(|a| a.to_string()))
            .chain([up_counter_name(other.mac), down_counter_name(other.mac)])
            .collect();
        let c = client(3, 5000, 2000);
        for batch in [
            grant(None, &c),
            grant(Some(&c), &client(3, 1, 0)),
            revoke(&c),
        ] {
            for cmd in &batch {
                let (verb, obj) = cmd.as_object().unwrap().iter().next().unwrap();
                assert!(verb == "add" || verb == "delete", "{cmd}");
                let (kind, _) = obj.as_object().unwrap().iter().next().unwrap();
                assert!(
                    ["element", "counter", "limit"].contains(&kind.as_str()),
                    "a client change must not touch {kind}: {cmd}"
                );
                let text = cmd.to_string();
                assert!(
                    text.contains("020000000003")
                        || text.contains("00:03")
                        || text.contains("::3")
                        || text.contains(".3.9\""),
                    "{cmd}"
                );
                for o in &others {
                    assert!(!text.contains(o.as_str()), "{cmd} names {o}");
                }
            }
        }
    }

    #[test]
    fn the_cost_of_a_grant_does_not_depend_on_how_many_are_through() {
        // A grant is rendered from the client alone: its size is the same for the 1st and the
        // 5,000th (the batch has no way to see the others).
        let first = grant(None, &client(0x01, 2000, 1000));
        let later = grant(None, &client(0xfe, 2000, 1000));
        let shape = |b: &Batch| -> Vec<String> {
            b.iter()
                .map(|cmd| {
                    let (verb, obj) = cmd.as_object().unwrap().iter().next().unwrap();
                    let (kind, inner) = obj.as_object().unwrap().iter().next().unwrap();
                    let n = inner["elem"].as_array().map_or(0, Vec::len);
                    let set = if kind == "element" {
                        inner["name"].to_string()
                    } else {
                        String::new()
                    };
                    format!("{verb} {kind} {set} {n}")
                })
                .collect()
        };
        assert_eq!(shape(&first), shape(&later));
    }

    #[test]
    fn unlimited_plans_get_no_limit_and_limits_use_bytes_with_a_tcp_burst() {
        let b = payload_text(&grant(None, &client(4, 0, 0)));
        assert!(!b.contains("\"limit\""), "{b}");
        let b = payload_text(&grant(None, &client(4, 2000, 0)));
        assert!(b.contains("\"rate\":250000,\"rate_unit\":\"bytes\""), "{b}");
        assert_eq!(rate_bytes(2000), 250_000);
        assert_eq!(burst_bytes(2000), MIN_BURST_BYTES);
        assert_eq!(burst_bytes(100_000), 1_250_000);
        assert_eq!(rate_bytes(u32::MAX), u32::MAX);
    }

    #[test]
    fn duplicate_clients_and_addresses_in_a_rebuild_go_to_the_first() {
        let mut b = client(2, 0, 0);
        b.addrs = client(1, 0, 0).addrs;
        let text = payload_text(&rebuild(
            &layout(),
            &[client(1, 0, 0), b, client(1, 5, 5)],
            &BTreeMap::new(),
        ));
        assert_eq!(text.matches("\"192.168.1.9\"").count(), 2, "{text}"); // clients4 + counter map
        assert!(
            !text.contains("lim_up_"),
            "the later duplicate's limits are ignored: {text}"
        );
    }

    #[test]
    fn counters_parse_from_nft_output_including_large_values() {
        let text = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "inet", "name": "up_020000000001", "table": "hotspot", "handle": 3, "packets": 4, "bytes": 6000000000}},
            {"counter": {"family": "inet", "name": "dn_020000000001", "table": "hotspot", "handle": 4, "packets": 1, "bytes": 60}},
            {"counter": {"family": "inet", "name": "other", "table": "hotspot", "handle": 5, "packets": 1, "bytes": 60}},
            {"counter": {"family": "inet", "name": "up_020000000002", "table": "fw4", "handle": 6, "packets": 1, "bytes": 60}}]}"#;
        let c = parse_counters(text).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[&"02:00:00:00:00:01".parse::<MacAddr>().unwrap()],
            Counters {
                bytes_up: 6_000_000_000,
                bytes_down: 60
            }
        );
        assert!(parse_counters("not json").is_err());
    }

    #[test]
    fn prefixes_parse_and_refuse_nonsense() {
        assert_eq!(
            "10.0.0.0/8".parse::<Prefix>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("2001:db8::1".parse::<Prefix>().unwrap().len, 128);
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }
}
