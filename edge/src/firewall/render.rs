//! The product's nftables table, rendered from plain data. Pure: no I/O, no clock.
//!
//! Everything lives in one `inet` table, [`TABLE`]; nothing outside it is created, changed or
//! read. Each function returns a [`Batch`]: the commands of one `nft -j -f -` transaction, which
//! the kernel applies entirely or not at all.
//!
//! # The table
//! - Sets `client_addrs4`/`client_addrs6` (MAC . address): each logged-in client's MAC paired
//!   with each address of its grant. Only a packet whose source MAC *and* address form such a
//!   pair is through: it reaches the router's own services, escapes the portal redirect, and is
//!   forwarded upstream. A device copying a client's MAC on another address is not.
//! - Set `dns_rate` (MAC, dynamic, [`DNS_RATE_TIMEOUT_S`]): a token bucket per client not logged
//!   in for its DNS to the router ([`DNS_RATE_PER_S`]), under a site-wide cap for all of them.
//! - Sets `up_count` (MAC), `down_count4`, `down_count6` (addresses), each element with its own
//!   counter: uploads are recognised by source MAC, downloads by destination address (the
//!   forward hook does not know the outgoing frame's MAC yet). Being in them is what lets a
//!   client's traffic through; one listing reads every counter.
//! - Rate tiers, one per plan rate in use ([`Tiers`]): sets `up_lim_<kbps>` (MAC) and
//!   `dn_lim_<kbps>` (a client's download id, a `mark`) with a `limit rate over … bytes/second`
//!   template, so every element gets its own token bucket at that rate; a lookup matches (and
//!   the rule drops) only when that client's bucket is empty. Policing, with a burst sized for
//!   TCP ([`burst_bytes`]). A client on an unlimited plan is in no tier.
//! - Maps `down_id4`/`down_id6`: each address of a client with a download limit → that
//!   client's download id. A packet toward the LAN gets the id of its destination as its
//!   `meta mark` and is policed by mark, so all addresses of one client (IPv4 and IPv6) share
//!   one bucket. nft 1.0.6 refuses a map lookup as the key of another lookup, which is why the
//!   id travels in the mark. Ids come from the caller ([`client_ids`] for a rebuild).
//! - `garden4`/`garden6`: the configured walled garden (address ranges). `garden_dns4`/
//!   `garden_dns6`: filled by dnsmasq's `nftset=` for walled-garden domains; entries expire after
//!   [`GARDEN_DNS_TIMEOUT_S`].
//! - Base chains: `input` and `forward` (filter, [`FILTER_PRIORITY`]) and `prerouting` (nat,
//!   [`NAT_PRIORITY`]). They only ever drop or redirect LAN traffic; an `accept` here means "no
//!   objection" and the packet still meets the rest of the ruleset (OpenWrt's fw4).
//!
//! Per-client state is only set elements, never rules or named objects: adding the 5,000th
//! client costs what the first did, and a change to one client touches only that client's
//! elements (plus, the first time a plan rate is seen, that rate's tier).
//!
//! The `nftables` crate's types are used for the table, chains, plain sets and their elements.
//! It cannot express sets with a counter or limit template (`stmt`), and its limit writes `unit`,
//! which nft ignores (it reads `rate_unit`/`burst_unit`), so those sets, and rule bodies, are
//! written as the JSON that `nft -j` documents (libnftables-json(5)). nft 1.0.6 ignores
//! per-element statements in JSON input, which is why a rate is a set (not a per-element limit)
//! and counters start from zero in every new element. Named objects per client were measured
//! and dropped: nft fetches every object before any element change, so the 5,000th client
//! cost 14 times the first.

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

/// DNS queries per second a client not logged in may send to the router (per MAC), after a
/// burst of [`DNS_BURST`]: enough for a phone's lookups behind a portal, too few for a tunnel.
pub const DNS_RATE_PER_S: u32 = 3;
/// The burst of DNS packets a client not logged in may send before [`DNS_RATE_PER_S`] holds.
pub const DNS_BURST: u32 = 30;
/// DNS packets per second from all clients not logged in together (burst twice that): the cap
/// that still holds when a guest rotating its MAC fills [`DNS_RATE_SIZE`].
pub const DNS_SITE_RATE_PER_S: u32 = 200;
/// Clients the per-MAC DNS limit remembers at once (each for [`DNS_RATE_TIMEOUT_S`]).
pub const DNS_RATE_SIZE: u32 = 8192;
/// How long an idle client's DNS bucket is kept.
pub const DNS_RATE_TIMEOUT_S: u32 = 60;

/// Set and map names.
pub mod names {
    pub const CLIENT_ADDRS4: &str = "client_addrs4";
    pub const CLIENT_ADDRS6: &str = "client_addrs6";
    pub const DNS_RATE: &str = "dns_rate";
    pub const GARDEN4: &str = "garden4";
    pub const GARDEN6: &str = "garden6";
    pub const GARDEN_DNS4: &str = "garden_dns4";
    pub const GARDEN_DNS6: &str = "garden_dns6";
    pub const UP_COUNT: &str = "up_count";
    pub const DOWN_COUNT4: &str = "down_count4";
    pub const DOWN_COUNT6: &str = "down_count6";
    pub const DOWN_ID4: &str = "down_id4";
    pub const DOWN_ID6: &str = "down_id6";
    pub const UP_LIMITS: &str = "up_limits";
    pub const DOWN_LIMITS: &str = "down_limits";
    pub const DOWN_POLICE: &str = "down_police";
    pub const INPUT: &str = "input";
    pub const FORWARD: &str = "forward";
    pub const PREROUTING: &str = "prerouting";
    pub const FROM_LAN: &str = "from_lan";
    pub const TO_LAN: &str = "to_lan";
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

/// The set of clients policed at `kbps` upstream (MACs).
pub fn up_tier(kbps: u32) -> String {
    format!("up_lim_{kbps}")
}

/// The set of clients (download ids) policed at `kbps` downstream.
pub fn down_tier(kbps: u32) -> String {
    format!("dn_lim_{kbps}")
}

/// A client's download id: the `meta mark` its download packets are policed by. Unique among
/// the clients in the table, never 0.
pub type ClientId = u32;

/// Ids for a rebuild from `grants` (after [`dedupe`]): 1, 2, 3… in order. The backend's state
/// assigns the same, and gives a new client the smallest id not in use.
pub fn client_ids(grants: &[Grant]) -> BTreeMap<MacAddr, ClientId> {
    (1..).zip(grants).map(|(id, g)| (g.mac, id)).collect()
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

/// A set whose every element gets its own token bucket at the plan rate (`limit rate over`):
/// looking a packet up in it matches only when that element's bucket is empty. Raw JSON: the
/// crate's set has no `stmt`, and its limit writes `unit`, which nft ignores.
fn limit_set(name: &str, key: &str, kbps: u32) -> Value {
    json!({"add": {"set": {"family": "inet", "table": TABLE, "name": name, "type": key,
        "stmt": [{"limit": {"rate": rate_bytes(kbps), "rate_unit": "bytes", "per": "second",
            "burst": burst_bytes(kbps), "burst_unit": "bytes", "inv": true}}]}}})
}

/// A set of (MAC, address) pairs: the addresses each logged-in client may use.
fn pair_set(name: &str, addr_type: &str) -> Value {
    json!({"add": {"set": {"family": "inet", "table": TABLE, "name": name,
        "type": ["ether_addr", addr_type]}}})
}

/// Matches a packet whose source MAC and address are a pair in `set` (`ip` or `ip6`).
fn from_pair(proto: &str, set: &str) -> Value {
    eq(
        json!({"concat": [payload("ether", "saddr"), payload(proto, "saddr")]}),
        at(set),
    )
}

/// A map from address to download id.
fn id_map(name: &'static str, key: SetType) -> Value {
    add(NfListObject::Map(Box::new(schema::Map {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: name.into(),
        set_type: SetTypeValue::Single(key),
        map: SetTypeValue::Single(SetType::Mark),
        ..Default::default()
    })))
}

/// A set whose every element carries its own counter. Raw JSON: the crate's set has no `stmt`.
fn counted_set(name: &str, key: &str) -> Value {
    json!({"add": {"set": {"family": "inet", "table": TABLE, "name": name, "type": key,
        "stmt": [{"counter": null}]}}})
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

fn jump(chain: &str) -> Value {
    json!({"jump": {"target": chain}})
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

/// Grants with every MAC and every address at most once: the first grant naming one keeps it,
/// later ones lose it (a MAC seen again drops the whole later grant).
pub fn dedupe(grants: &[Grant]) -> Vec<Grant> {
    let mut macs = BTreeSet::new();
    let mut addrs = BTreeSet::new();
    grants
        .iter()
        .filter(|g| macs.insert(g.mac))
        .map(|g| Grant {
            addrs: g
                .addrs
                .iter()
                .copied()
                .filter(|a| addrs.insert(*a))
                .collect(),
            ..g.clone()
        })
        .collect()
}

/// The whole table with exactly `grants` through (after [`dedupe`]), replacing whatever table
/// of ours exists, in one transaction: there is never a moment with half a table. Counters start
/// from zero.
pub fn rebuild(layout: &Layout, grants: &[Grant]) -> Batch {
    let grants = dedupe(grants);
    let mut b = remove_table();
    b.push(add(NfListObject::Table(table())));
    b.extend(skeleton(layout));
    let tiers = Tiers::of(&grants);
    for kbps in &tiers.up {
        b.extend(up_tier_commands(*kbps));
    }
    for kbps in &tiers.down {
        b.extend(down_tier_commands(*kbps));
    }
    let ids = client_ids(&grants);
    let mut elems = Elements::default();
    for g in &grants {
        elems.client(g);
        elems.limits(g, ids[&g.mac], true);
    }
    b.extend(elems.into_commands(true));
    b
}

/// Sets, maps, chains and rules: the table with no client in it.
fn skeleton(layout: &Layout) -> Batch {
    let lan = Value::String(layout.lan_interface.clone());
    let mut b = vec![
        pair_set(CLIENT_ADDRS4, "ipv4_addr"),
        pair_set(CLIENT_ADDRS6, "ipv6_addr"),
        json!({"add": {"set": {"family": "inet", "table": TABLE, "name": DNS_RATE,
            "type": "ether_addr", "flags": ["timeout"],
            "timeout": DNS_RATE_TIMEOUT_S, "size": DNS_RATE_SIZE}}}),
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
        counted_set(UP_COUNT, "ether_addr"),
        counted_set(DOWN_COUNT4, "ipv4_addr"),
        counted_set(DOWN_COUNT6, "ipv6_addr"),
        id_map(DOWN_ID4, SetType::Ipv4Addr),
        id_map(DOWN_ID6, SetType::Ipv6Addr),
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
    for c in [FROM_LAN, TO_LAN, UP_LIMITS, DOWN_LIMITS, DOWN_POLICE] {
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
            vec![from_pair("ip", CLIENT_ADDRS4), verdict("accept")],
        ),
        rule(
            INPUT,
            vec![from_pair("ip6", CLIENT_ADDRS6), verdict("accept")],
        ),
        // DNS from anyone else is rate-limited per MAC, and all of it together, before
        // conntrack can call a query stream "established": a tunnel through the router's
        // resolver gets a few queries a second.
        rule(
            INPUT,
            vec![
                eq(l4(), anon_set(vec![json!("tcp"), json!("udp")])),
                eq(payload("th", "dport"), json!(53)),
                json!({"set": {"op": "update", "elem": payload("ether", "saddr"),
                    "set": at(DNS_RATE), "stmt": [{"limit": {"rate": DNS_RATE_PER_S,
                        "per": "second", "burst": DNS_BURST, "inv": true}}]}}),
                verdict("drop"),
            ],
        ),
        rule(
            INPUT,
            vec![
                eq(l4(), anon_set(vec![json!("tcp"), json!("udp")])),
                eq(payload("th", "dport"), json!(53)),
                json!({"limit": {"rate": DNS_SITE_RATE_PER_S, "per": "second",
                    "burst": 2 * DNS_SITE_RATE_PER_S, "inv": true}}),
                verdict("drop"),
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

    // Forward: guests' traffic through the router, both directions. A client over its limit is
    // dropped; one through is counted (the set lookup bumps its element's counter) and let on to
    // fw4; anyone else reaches only the walled garden.
    b.extend([
        rule(
            FORWARD,
            vec![eq(meta("iifname"), lan.clone()), jump(FROM_LAN)],
        ),
        rule(
            FORWARD,
            vec![eq(meta("oifname"), lan.clone()), jump(TO_LAN)],
        ),
        rule(FROM_LAN, vec![jump(UP_LIMITS)]),
    ]);
    // Only a logged-in client's own addresses pass (and are counted): a device that copies its
    // MAC but uses another address does not ride on its session.
    for (proto, pairs) in [("ip", CLIENT_ADDRS4), ("ip6", CLIENT_ADDRS6)] {
        b.push(rule(
            FROM_LAN,
            vec![
                from_pair(proto, pairs),
                eq(payload("ether", "saddr"), at(UP_COUNT)),
                verdict("accept"),
            ],
        ));
    }
    b.push(rule(TO_LAN, vec![jump(DOWN_LIMITS)]));
    // A packet to an address with a download limit carries its client's id as mark into the
    // tier rules; any other packet's mark is left alone (a failed map lookup ends the rule).
    for (proto, ids) in [("ip", DOWN_ID4), ("ip6", DOWN_ID6)] {
        b.push(rule(
            DOWN_LIMITS,
            vec![
                json!({"mangle": {"key": meta("mark"), "value": {"map": {
                    "key": payload(proto, "daddr"), "data": at(ids)}}}}),
                json!({"goto": {"target": DOWN_POLICE}}),
            ],
        ));
    }
    for (proto, counts) in [("ip", DOWN_COUNT4), ("ip6", DOWN_COUNT6)] {
        b.push(rule(
            TO_LAN,
            vec![eq(payload(proto, "daddr"), at(counts)), verdict("accept")],
        ));
    }
    for (chain, field) in [(FROM_LAN, "daddr"), (TO_LAN, "saddr")] {
        for (set4, set6) in [(GARDEN4, GARDEN6), (GARDEN_DNS4, GARDEN_DNS6)] {
            b.push(rule(
                chain,
                vec![eq(payload("ip", field), at(set4)), verdict("accept")],
            ));
            b.push(rule(
                chain,
                vec![eq(payload("ip6", field), at(set6)), verdict("accept")],
            ));
        }
        b.push(rule(chain, vec![verdict("drop")]));
    }

    // Prerouting: a guest not logged in who opens any web page over plain HTTP gets the portal.
    b.extend([
        rule(
            PREROUTING,
            vec![ne(meta("iifname"), lan), verdict("return")],
        ),
        rule(
            PREROUTING,
            vec![from_pair("ip", CLIENT_ADDRS4), verdict("return")],
        ),
        rule(
            PREROUTING,
            vec![from_pair("ip6", CLIENT_ADDRS6), verdict("return")],
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

/// The rate tiers present in the table: for each plan rate in use, a set (upload) or two
/// (download) whose elements are policed at that rate, and the rule that looks them up. Tiers
/// are added when a client on a new rate arrives and dropped at the next rebuild when unused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tiers {
    pub up: BTreeSet<u32>,
    pub down: BTreeSet<u32>,
}

impl Tiers {
    /// The tiers `grants` need.
    pub fn of(grants: &[Grant]) -> Tiers {
        let mut t = Tiers::default();
        for g in grants {
            t.add(g);
        }
        t
    }

    /// Includes the tiers of `g`.
    pub fn add(&mut self, g: &Grant) {
        if g.up_kbps > 0 {
            self.up.insert(g.up_kbps);
        }
        if g.down_kbps > 0 {
            self.down.insert(g.down_kbps);
        }
    }

    /// Commands creating the tiers `g` needs that are not in `self`.
    fn create_missing(&self, g: &Grant) -> Batch {
        let mut b = Vec::new();
        if g.up_kbps > 0 && !self.up.contains(&g.up_kbps) {
            b.extend(up_tier_commands(g.up_kbps));
        }
        if g.down_kbps > 0 && !self.down.contains(&g.down_kbps) {
            b.extend(down_tier_commands(g.down_kbps));
        }
        b
    }
}

fn up_tier_commands(kbps: u32) -> Batch {
    let set = up_tier(kbps);
    vec![
        limit_set(&set, "ether_addr", kbps),
        rule(
            UP_LIMITS,
            vec![eq(payload("ether", "saddr"), at(&set)), verdict("drop")],
        ),
    ]
}

fn down_tier_commands(kbps: u32) -> Batch {
    let set = down_tier(kbps);
    vec![
        limit_set(&set, "mark", kbps),
        rule(
            DOWN_POLICE,
            vec![eq(meta("mark"), at(&set)), verdict("drop")],
        ),
    ]
}

/// Elements gathered per set or map, so a batch has one command per set however many clients.
#[derive(Default)]
struct Elements {
    sets: BTreeMap<String, Vec<Value>>,
}

impl Elements {
    fn push(&mut self, set: &str, v: impl Into<Value>) {
        self.sets.entry(set.to_owned()).or_default().push(v.into());
    }

    /// Membership and counters: `up_count`, and per address its `client_addrs*` pair and
    /// `down_count*`.
    fn client(&mut self, g: &Grant) {
        self.push(UP_COUNT, g.mac.to_string());
        self.addrs(g.mac, g.addrs.iter());
    }

    fn addrs<'a>(&mut self, mac: MacAddr, addrs: impl Iterator<Item = &'a IpAddr>) {
        for a in addrs {
            let (counts, pairs) = if a.is_ipv4() {
                (DOWN_COUNT4, CLIENT_ADDRS4)
            } else {
                (DOWN_COUNT6, CLIENT_ADDRS6)
            };
            self.push(counts, a.to_string());
            self.push(pairs, json!({"concat": [mac.to_string(), a.to_string()]}));
        }
    }

    /// The client's MAC in the upload tier of its rate; its download id in the download tier
    /// and its addresses mapped to that id. Map elements are `[address, id]` when `adding`, the
    /// address alone when deleting.
    fn limits(&mut self, g: &Grant, id: ClientId, adding: bool) {
        if g.up_kbps > 0 {
            self.push(&up_tier(g.up_kbps), g.mac.to_string());
        }
        if g.down_kbps > 0 {
            self.push(&down_tier(g.down_kbps), id);
            for a in &g.addrs {
                let map = if a.is_ipv4() { DOWN_ID4 } else { DOWN_ID6 };
                if adding {
                    self.push(map, json!([a.to_string(), id]));
                } else {
                    self.push(map, a.to_string());
                }
            }
        }
    }

    /// `add` (or `delete`) commands, one per set.
    fn into_commands(self, adding: bool) -> Batch {
        self.sets
            .into_iter()
            .map(|(set, elems)| {
                let cmd = if adding { "add" } else { "delete" };
                json!({ cmd: {"element": {"family": "inet", "table": TABLE, "name": set,
                    "elem": elems}}})
            })
            .collect()
    }
}

/// Lets `grant` through with download id `id`, given the `tiers` the table has. With
/// `previous` (the same client as applied now, with the same id) only what differs is touched:
/// it moves between tier sets if its rates changed, addresses it lost or gained are removed or
/// added, and the counters of its MAC and kept addresses carry on (a top-up never resets the
/// bytes).
pub fn grant(tiers: &Tiers, previous: Option<&Grant>, grant: &Grant, id: ClientId) -> Batch {
    let mut b = tiers.create_missing(grant);
    match previous {
        None => {
            let mut add = Elements::default();
            add.client(grant);
            add.limits(grant, id, true);
            b.extend(add.into_commands(true));
        }
        Some(p) => {
            let mut remove = Elements::default();
            remove.limits(p, id, false);
            remove.addrs(p.mac, p.addrs.iter().filter(|a| !grant.addrs.contains(a)));
            b.extend(remove.into_commands(false));
            let mut add = Elements::default();
            add.addrs(
                grant.mac,
                grant.addrs.iter().filter(|a| !p.addrs.contains(a)),
            );
            add.limits(grant, id, true);
            b.extend(add.into_commands(true));
        }
    }
    b
}

/// Removes a client applied as `previous` with download id `id`, with its counters and limits.
pub fn revoke(previous: &Grant, id: ClientId) -> Batch {
    let mut remove = Elements::default();
    remove.client(previous);
    remove.limits(previous, id, false);
    remove.into_commands(false)
}

/// The JSON text `nft -j -f -` reads.
pub fn payload_text(batch: &[Value]) -> String {
    json!({ "nftables": batch }).to_string()
}

/// The sets holding counters. nft 1.0.6 cannot list several sets in one run (its cache filter
/// keeps only the last), and listing the whole table costs as much as every element in it, so
/// the backend lists these three, each with `nft -j list set inet hotspot NAME`, side by side.
pub const COUNTED_SETS: [&str; 3] = [UP_COUNT, DOWN_COUNT4, DOWN_COUNT6];

/// Reads the listings of [`COUNTED_SETS`] (one or several JSON documents) into per-client
/// counters. Download counters are per address; `owners` says whose each address is, and
/// addresses of no one are ignored.
pub fn parse_counters(
    text: &str,
    owners: &BTreeMap<IpAddr, MacAddr>,
) -> Result<BTreeMap<MacAddr, Counters>, String> {
    let mut out: BTreeMap<MacAddr, Counters> = BTreeMap::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| format!("counter list: {e}"))?;
        let items = doc
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or("counter list: no \"nftables\" array")?;
        for set in items.iter().filter_map(|i| i.get("set")) {
            if set.get("table").and_then(Value::as_str) != Some(TABLE) {
                continue;
            }
            let up = match set.get("name").and_then(Value::as_str) {
                Some(UP_COUNT) => true,
                Some(DOWN_COUNT4 | DOWN_COUNT6) => false,
                _ => continue,
            };
            for e in set
                .get("elem")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let e = &e["elem"];
                let (Some(key), Some(bytes)) = (e["val"].as_str(), e["counter"]["bytes"].as_u64())
                else {
                    continue;
                };
                let mac = if up {
                    key.parse::<MacAddr>().ok()
                } else {
                    key.parse::<IpAddr>()
                        .ok()
                        .and_then(|a| owners.get(&a).copied())
                };
                let Some(mac) = mac else { continue };
                let c = out.entry(mac).or_default();
                if up {
                    c.bytes_up += bytes;
                } else {
                    c.bytes_down += bytes;
                }
            }
        }
    }
    Ok(out)
}

/// Arguments to `nft` that list every flowtable in the ruleset (read only).
pub const LIST_FLOWTABLES: [&str; 3] = ["-j", "list", "flowtables"];

/// Flowtables outside our table, as `family table name`, from [`LIST_FLOWTABLES`] output. A
/// flow offloaded by one (OpenWrt's fw4 with `flow_offloading`) no longer passes the forward
/// hook: its packets escape our counters and limits until the flow ends.
pub fn foreign_flowtables(json_text: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(json_text).map_err(|e| format!("flowtable list: {e}"))?;
    Ok(v.get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("flowtable"))
        .filter(|f| f["table"] != TABLE || f["family"] != "inet")
        .map(|f| {
            format!(
                "{} {} {}",
                f["family"].as_str().unwrap_or("?"),
                f["table"].as_str().unwrap_or("?"),
                f["name"].as_str().unwrap_or("?")
            )
        })
        .collect())
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
        let batch = rebuild(&layout(), &[client(1, 2000, 1000), client(2, 0, 0)]);
        snapshot("rebuild", include_str!("snapshots/rebuild.json"), &batch);
    }

    #[test]
    fn one_client_changes_match_snapshots() {
        snapshot(
            "grant_new",
            include_str!("snapshots/grant_new.json"),
            &grant(&Tiers::default(), None, &client(3, 5000, 2000), 3),
        );
        snapshot(
            "grant_topup",
            include_str!("snapshots/grant_topup.json"),
            &grant(
                &Tiers::of(&[client(3, 5000, 2000)]),
                Some(&client(3, 5000, 2000)),
                &client(3, 10_000, 0),
                3,
            ),
        );
        snapshot(
            "revoke",
            include_str!("snapshots/revoke.json"),
            &revoke(&client(3, 10_000, 0), 3),
        );
    }

    #[test]
    fn rebuild_replaces_the_whole_table_in_one_batch_and_touches_nothing_else() {
        let batch = rebuild(&layout(), &[client(1, 1, 1)]);
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
            .collect();
        let c = client(3, 5000, 2000);
        // With the plan rates' tiers in place (the usual case: plans are few), a change is
        // elements only.
        let tiers = Tiers::of(&[c.clone(), client(3, 1, 0)]);
        for batch in [
            grant(&tiers, None, &c, 3),
            grant(&tiers, Some(&c), &client(3, 1, 0), 3),
            revoke(&c, 3),
        ] {
            for cmd in &batch {
                let (verb, obj) = cmd.as_object().unwrap().iter().next().unwrap();
                assert!(verb == "add" || verb == "delete", "{cmd}");
                let (kind, _) = obj.as_object().unwrap().iter().next().unwrap();
                assert!(
                    kind == "element",
                    "a client change must not touch {kind}: {cmd}"
                );
                let text = cmd.to_string();
                assert!(
                    text.contains("020000000003")
                        || text.contains("00:03")
                        || text.contains("::3")
                        || text.contains(".3.9\"")
                        || text.contains("\"elem\":[3]"),
                    "{cmd}"
                );
                for o in &others {
                    assert!(!text.contains(o.as_str()), "{cmd} names {o}");
                }
            }
        }
    }

    #[test]
    fn a_new_plan_rate_adds_its_tier_once_and_a_known_one_adds_nothing() {
        let c = client(3, 5000, 2000);
        let new = grant(&Tiers::default(), None, &c, 1);
        let sets: Vec<&Value> = new.iter().filter_map(|cmd| cmd["add"].get("set")).collect();
        let names: Vec<&str> = sets.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["up_lim_2000", "dn_lim_5000"]);
        assert_eq!(
            new.iter()
                .filter(|c| c["add"].get("rule").is_some())
                .count(),
            2
        );
        let known = grant(
            &Tiers::of(std::slice::from_ref(&c)),
            None,
            &client(4, 5000, 2000),
            2,
        );
        assert!(
            known.iter().all(|c| c["add"].get("element").is_some()),
            "{known:?}"
        );
    }

    #[test]
    fn the_cost_of_a_grant_does_not_depend_on_how_many_are_through() {
        // A grant is rendered from the client alone: its size is the same for the 1st and the
        // 5,000th (the batch has no way to see the others).
        let tiers = Tiers::of(&[client(1, 2000, 1000)]);
        let first = grant(&tiers, None, &client(0x01, 2000, 1000), 1);
        let later = grant(&tiers, None, &client(0xfe, 2000, 1000), 5000);
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
        let b = payload_text(&grant(&Tiers::default(), None, &client(4, 0, 0), 1));
        assert!(!b.contains(DOWN_ID4) && !b.contains(DOWN_ID6), "{b}");
        assert!(!b.contains("\"limit\"") && !b.contains("_lim"), "{b}");
        let b = payload_text(&grant(&Tiers::default(), None, &client(4, 2000, 0), 1));
        assert!(b.contains("\"rate\":250000,\"rate_unit\":\"bytes\""), "{b}");
        assert_eq!(rate_bytes(2000), 250_000);
        assert_eq!(burst_bytes(2000), MIN_BURST_BYTES);
        assert_eq!(burst_bytes(100_000), 1_250_000);
        assert_eq!(rate_bytes(u32::MAX), u32::MAX);
    }

    #[test]
    fn all_addresses_of_a_client_share_one_download_bucket() {
        // Client 1 has an IPv4 and an IPv6 address; both map to its id, and the tier holds the
        // id once: one bucket for the client, whatever the family.
        let batch = rebuild(&layout(), &[client(1, 2000, 1000), client(2, 2000, 0)]);
        let elems = |name: &str| -> Vec<Value> {
            batch
                .iter()
                .filter_map(|c| c["add"].get("element"))
                .filter(|e| e["name"] == name)
                .flat_map(|e| e["elem"].as_array().unwrap().clone())
                .collect()
        };
        assert_eq!(elems("dn_lim_2000"), [json!(1), json!(2)]);
        assert_eq!(
            elems(DOWN_ID4),
            [json!(["192.168.1.9", 1]), json!(["192.168.2.9", 2])]
        );
        assert_eq!(
            elems(DOWN_ID6),
            [json!(["fd00::1", 1]), json!(["fd00::2", 2])]
        );
        let police: Vec<&Value> = batch
            .iter()
            .filter_map(|c| c["add"].get("rule"))
            .filter(|r| r["chain"] == DOWN_POLICE)
            .collect();
        assert_eq!(police.len(), 1, "one rule per download rate: {police:?}");
    }

    #[test]
    fn duplicate_clients_and_addresses_in_a_rebuild_go_to_the_first() {
        let mut b = client(2, 0, 0);
        b.addrs = client(1, 0, 0).addrs;
        let text = payload_text(&rebuild(&layout(), &[client(1, 0, 0), b, client(1, 5, 5)]));
        // Once counted, once paired with the first client's MAC.
        assert_eq!(text.matches("\"192.168.1.9\"").count(), 2, "{text}");
        assert!(
            text.contains(r#"["02:00:00:00:00:01","192.168.1.9"]"#),
            "{text}"
        );
        assert!(text.contains("02:00:00:00:00:02"), "{text}");
        assert!(
            !text.contains("up_lim_5"),
            "the later duplicate's limits are ignored: {text}"
        );
    }

    #[test]
    fn counters_sum_per_client_from_nft_output_including_large_values() {
        let text = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"set": {"family": "inet", "name": "up_count", "table": "hotspot", "type": "ether_addr",
             "elem": [{"elem": {"val": "02:00:00:00:00:01", "counter": {"packets": 4, "bytes": 6000000000}}}]}}]}
            {"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"set": {"family": "inet", "name": "down_count4", "table": "hotspot", "type": "ipv4_addr",
             "elem": [{"elem": {"val": "10.0.0.1", "counter": {"packets": 1, "bytes": 60}}},
                      {"elem": {"val": "10.0.0.9", "counter": {"packets": 1, "bytes": 99}}}]}}]}
            {"nftables": [{"set": {"family": "inet", "name": "down_count6", "table": "hotspot", "type": "ipv6_addr",
             "elem": [{"elem": {"val": "fd00::1", "counter": {"packets": 1, "bytes": 40}}}]}},
            {"set": {"family": "inet", "name": "up_count", "table": "fw4",
             "elem": [{"elem": {"val": "02:00:00:00:00:02", "counter": {"packets": 1, "bytes": 1}}}]}}]}"#;
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let owners = BTreeMap::from([
            ("10.0.0.1".parse().unwrap(), mac),
            ("fd00::1".parse().unwrap(), mac),
        ]);
        let c = parse_counters(text, &owners).unwrap();
        assert_eq!(
            c,
            BTreeMap::from([(
                mac,
                Counters {
                    bytes_up: 6_000_000_000,
                    bytes_down: 100
                }
            )])
        );
        assert!(parse_counters("not json", &owners).is_err());
    }

    #[test]
    fn every_ipv4_rule_has_its_ipv6_twin() {
        // IPv6 must be no way around the portal: each rule matching an IPv4 header field exists
        // for IPv6 too (same chain, same verdict, ip6 and the v6 set).
        let rules: Vec<String> = rebuild(&layout(), &[client(1, 2000, 1000)])
            .iter()
            .filter_map(|c| c["add"].get("rule"))
            .map(|r| format!("{} {}", r["chain"], r["expr"]))
            .collect();
        let v4: Vec<&String> = rules
            .iter()
            .filter(|r| r.contains(r#""protocol":"ip""#))
            .collect();
        assert!(v4.len() >= 8, "{rules:#?}");
        for r in v4 {
            let twin = r
                .replace(r#""protocol":"ip""#, r#""protocol":"ip6""#)
                .replace("garden4", "garden6")
                .replace("client_addrs4", "client_addrs6")
                .replace("garden_dns4", "garden_dns6")
                .replace("down_count4", "down_count6")
                .replace("down_id4", "down_id6");
            assert!(rules.contains(&twin), "no IPv6 twin for {r}");
        }
    }

    #[test]
    fn flowtables_of_others_are_reported() {
        let text = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"flowtable": {"family": "inet", "name": "ft", "table": "fw4", "handle": 2, "hook": "ingress", "prio": 0, "dev": ["eth0", "br-lan"]}}]}"#;
        assert_eq!(foreign_flowtables(text).unwrap(), ["inet fw4 ft"]);
        assert!(
            foreign_flowtables(r#"{"nftables": [{"metainfo": {}}]}"#)
                .unwrap()
                .is_empty()
        );
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
