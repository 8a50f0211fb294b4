//! Passive client learning: MACs, addresses, host names and DHCP fingerprints seen on the LAN
//! interface, without asking anyone.
//!
//! A capture ([`Capture::open`], an AF_PACKET socket through `pnet_datalink`) runs on a thread of
//! its own, reads every frame, keeps the few it understands and hands them over a bounded
//! channel; when the channel is full an observation is dropped and counted, the capture never
//! waits. [`start_learning`] adds the consumer that records observations in [`Learnt`], a
//! bounded in-memory table the rest of the daemon reads ([`fingerprint_for`], [`hostname_for`]).
//!
//! The parsers ([`parse_frame`], [`parse_dhcp`], [`parse_arp`], [`parse_ndp`]) are pure functions
//! from bytes to a value: anything short, inconsistent or not of interest is `None`, never a
//! panic. Frames are parsed by hand: only a few header fields are needed, and `pnet_packet`
//! would add its generated code to the router build for them.
//!
//! What this module must not do: decide anything about access. A fingerprint or host name is a
//! hint the client chose to send, not an identity. It also does not read the kernel's neighbour
//! table or dnsmasq's leases (see the parent module): those remain the source of IP → MAC for
//! the portal.
//!
//! Cost: a classic BPF program ([`FILTER`]) attached to the socket lets the kernel pass only
//! ARP, IPv4 UDP to port 67 and ICMPv6 types 133–136; the rest of the LAN's traffic is never
//! copied to the capture thread. pnet has no filter of its own, so the socket is made here
//! (`socket2`) and handed to pnet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hotspot_shared::MacAddr;

/// Observations waiting for the consumer; past this they are dropped.
pub const QUEUE: usize = 256;
/// Clients remembered; the one seen longest ago makes room for a new one.
pub const MAX_CLIENTS: usize = 4096;
/// Addresses remembered per client (the most recent).
pub const MAX_ADDRS: usize = 8;
/// Longest host name or vendor class kept, in characters.
pub const MAX_TEXT: usize = 64;
/// How often the capture thread looks at its stop flag when the LAN is quiet.
const POLL: Duration = Duration::from_millis(250);
/// Bytes of a frame the kernel copies to us; a DHCP message fits well within it.
const SNAP: u32 = 2048;

/// The socket filter, as classic BPF `(code, jump if true, jump if false, k)`; jumps are
/// relative to the next instruction. Accepts (first `SNAP` bytes of) ARP, unfragmented IPv4
/// UDP to port 67, and IPv6 whose next header is ICMPv6 with a type from 133 to 136 (router
/// solicitation to neighbour advertisement); drops everything else, VLAN-tagged frames
/// included (the kernel hands tags over out of band on most drivers). In tcpdump's words:
/// `arp or (ip and udp dst port 67 and ip[6:2] & 0x1fff = 0) or (icmp6 and ip6[40] >= 133 and
/// ip6[40] <= 136)`, without extension headers.
pub const FILTER: [(u16, u8, u8, u32); 18] = [
    (0x28, 0, 0, 12),      //  0 ldh [12]            ethertype
    (0x15, 14, 0, 0x0806), //  1 jeq ARP             → accept
    (0x15, 0, 7, 0x0800),  //  2 jeq IPv4            else → 10
    (0x30, 0, 0, 23),      //  3 ldb [23]            IPv4 protocol
    (0x15, 0, 12, 17),     //  4 jeq UDP             else → drop
    (0x28, 0, 0, 20),      //  5 ldh [20]            flags, fragment offset
    (0x45, 10, 0, 0x1fff), //  6 jset offset         a later fragment → drop
    (0xb1, 0, 0, 14),      //  7 ldxb 4*([14]&0xf)   X = IPv4 header length
    (0x48, 0, 0, 16),      //  8 ldh [x + 16]        UDP destination port
    (0x15, 6, 7, 67),      //  9 jeq 67              → accept, else → drop
    (0x15, 0, 6, 0x86dd),  // 10 jeq IPv6            else → drop
    (0x30, 0, 0, 20),      // 11 ldb [20]            next header
    (0x15, 0, 4, 58),      // 12 jeq ICMPv6          else → drop
    (0x30, 0, 0, 54),      // 13 ldb [54]            ICMPv6 type
    (0x35, 0, 2, 133),     // 14 jge 133             else → drop
    (0x25, 1, 0, 136),     // 15 jgt 136             → drop, else → accept
    (0x06, 0, 0, SNAP),    // 16 accept
    (0x06, 0, 0, 0),       // 17 drop
];

// ---- What is seen ----------------------------------------------------------------------------

/// A DHCP message from a client (DISCOVER, REQUEST, DECLINE, RELEASE or INFORM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpClient {
    /// `chaddr`: the client's hardware address.
    pub mac: MacAddr,
    /// Option 53.
    pub message_type: u8,
    /// Option 55, the parameter request list, as decimal codes joined by commas
    /// (`1,3,6,15,31,33,43,44,46,47,119,121,249,252`): which OS asks is told by this order.
    pub fingerprint: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 60.
    pub vendor_class: Option<String>,
    /// Option 50: the address the client asks for (not yet its own).
    pub requested_ip: Option<Ipv4Addr>,
    /// `ciaddr`: the address the client already uses (renewing, INFORM), if any.
    pub client_ip: Option<Ipv4Addr>,
}

/// One thing learnt from one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A DHCP client message.
    Dhcp(DhcpClient),
    /// A MAC using an address: an ARP sender, or an IPv6 neighbour discovery message.
    Address { mac: MacAddr, ip: IpAddr },
}

impl Seen {
    /// The client the observation is about.
    pub fn mac(&self) -> MacAddr {
        match self {
            Seen::Dhcp(d) => d.mac,
            Seen::Address { mac, .. } => *mac,
        }
    }
}

// ---- Parsing (pure) --------------------------------------------------------------------------

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const DHCP_MAGIC: [u8; 4] = [99, 130, 83, 99];

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn mac_at(b: &[u8], at: usize) -> Option<MacAddr> {
    Some(MacAddr(b.get(at..at + 6)?.try_into().ok()?))
}

fn ipv4_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

fn ipv6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

/// A unicast MAC a client could have: not all zeros, not multicast or broadcast.
fn is_client_mac(m: &MacAddr) -> bool {
    m.0 != [0; 6] && m.0[0] & 1 == 0
}

/// Client-supplied text, made safe to keep and log: control characters dropped, trimmed, at
/// most [`MAX_TEXT`] characters; empty is `None`.
fn text(bytes: &[u8]) -> Option<String> {
    let s: String = String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// An Ethernet frame (optionally with one 802.1Q tag) → what it tells about a client.
pub fn parse_frame(frame: &[u8]) -> Option<Seen> {
    let mut ethertype = u16_at(frame, 12)?;
    let mut at = 14;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = u16_at(frame, 16)?;
        at = 18;
    }
    let payload = frame.get(at..)?;
    match ethertype {
        ETHERTYPE_IPV4 => parse_dhcp(udp_to_dhcp_server(payload)?).map(Seen::Dhcp),
        ETHERTYPE_ARP => {
            let (mac, ip) = parse_arp(payload)?;
            Some(Seen::Address {
                mac,
                ip: IpAddr::V4(ip),
            })
        }
        ETHERTYPE_IPV6 => {
            let (mac, ip) = parse_ndp(payload)?;
            Some(Seen::Address {
                mac,
                ip: IpAddr::V6(ip),
            })
        }
        _ => None,
    }
}

/// An IPv4 packet → the payload of a UDP datagram from port 68 to port 67 (a DHCP client's),
/// bounded by the IP and UDP lengths. Fragments are not reassembled (DHCP messages fit one).
fn udp_to_dhcp_server(ip: &[u8]) -> Option<&[u8]> {
    let first = *ip.first()?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || *ip.get(9)? != 17 {
        return None;
    }
    let total = usize::from(u16_at(ip, 2)?);
    let flags_fragment = u16_at(ip, 6)?;
    // More fragments, or a later fragment.
    if flags_fragment & 0x3fff != 0 || total < header || total > ip.len() {
        return None;
    }
    let udp = &ip[header..total];
    let (src, dst, len) = (
        u16_at(udp, 0)?,
        u16_at(udp, 2)?,
        usize::from(u16_at(udp, 4)?),
    );
    if src != 68 || dst != 67 || len < 8 || len > udp.len() {
        return None;
    }
    Some(&udp[8..len])
}

/// A BOOTP/DHCP message (the UDP payload) → the client's DHCP message, or `None` when it is not
/// one (a server's reply, plain BOOTP, truncated or malformed options).
pub fn parse_dhcp(m: &[u8]) -> Option<DhcpClient> {
    // op = BOOTREQUEST, htype = Ethernet, hlen = 6.
    if m.get(0..3)? != [1, 1, 6] || m.get(236..240)? != DHCP_MAGIC {
        return None;
    }
    let mac = mac_at(m, 28).filter(is_client_mac)?;
    let client_ip = ipv4_at(m, 12).filter(|a| !a.is_unspecified());
    let mut d = DhcpClient {
        mac,
        message_type: 0,
        fingerprint: None,
        hostname: None,
        vendor_class: None,
        requested_ip: None,
        client_ip,
    };
    let mut at = 240;
    loop {
        let code = *m.get(at)?;
        match code {
            0 => {
                at += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let len = usize::from(*m.get(at + 1)?);
        let value = m.get(at + 2..at + 2 + len)?;
        match code {
            53 if len == 1 => d.message_type = value[0],
            55 if len > 0 => {
                let codes: Vec<String> = value.iter().map(u8::to_string).collect();
                d.fingerprint = Some(codes.join(","));
            }
            12 => d.hostname = text(value),
            60 => d.vendor_class = text(value),
            50 if len == 4 => d.requested_ip = ipv4_at(value, 0),
            _ => {}
        }
        at += 2 + len;
    }
    // Client messages only: DISCOVER, REQUEST, DECLINE, RELEASE, INFORM.
    matches!(d.message_type, 1 | 3 | 4 | 7 | 8).then_some(d)
}

/// An ARP packet (Ethernet/IPv4, request or reply) → its sender's MAC and address. Probes
/// (sender address 0.0.0.0) tell nothing yet and are `None`.
pub fn parse_arp(a: &[u8]) -> Option<(MacAddr, Ipv4Addr)> {
    // htype 1, ptype IPv4, hlen 6, plen 4.
    if a.get(0..6)? != [0, 1, 8, 0, 6, 4] || !matches!(u16_at(a, 6)?, 1 | 2) {
        return None;
    }
    let mac = mac_at(a, 8).filter(is_client_mac)?;
    let ip = ipv4_at(a, 14).filter(|ip| !ip.is_unspecified() && !ip.is_broadcast())?;
    Some((mac, ip))
}

/// An IPv6 packet carrying neighbour discovery → a MAC and an address it uses: the source
/// address with the source link-layer option of a router or neighbour solicitation, or the
/// target address with the target link-layer option of a neighbour advertisement. Anything
/// else (other traffic, hop limit not 255, malformed options) is `None`.
pub fn parse_ndp(ip: &[u8]) -> Option<(MacAddr, Ipv6Addr)> {
    if ip.first()? >> 4 != 6 || *ip.get(6)? != 58 || *ip.get(7)? != 255 {
        return None;
    }
    let len = usize::from(u16_at(ip, 4)?);
    let icmp = ip.get(40..40 + len)?;
    let source = ipv6_at(ip, 8)?;
    let (options_at, address, wanted_option) = match *icmp.first()? {
        133 => (8, source, 1),
        135 => (24, source, 1),
        136 => (24, ipv6_at(icmp, 8)?, 2),
        _ => return None,
    };
    if address.is_unspecified() || address.is_multicast() {
        return None;
    }
    let mut options = icmp.get(options_at..)?;
    while !options.is_empty() {
        let kind = *options.first()?;
        let size = usize::from(*options.get(1)?) * 8;
        if size == 0 {
            return None;
        }
        let option = options.get(..size)?;
        if kind == wanted_option && size == 8 {
            return Some((mac_at(option, 2).filter(is_client_mac)?, address));
        }
        options = &options[size..];
    }
    None
}

// ---- What was learnt -------------------------------------------------------------------------

/// What is known about one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// From DHCP option 12.
    pub hostname: Option<String>,
    /// From DHCP option 55 (see [`DhcpClient::fingerprint`]).
    pub fingerprint: Option<String>,
    /// From DHCP option 60.
    pub vendor_class: Option<String>,
    /// Addresses seen in use, most recent last, at most [`MAX_ADDRS`].
    pub addrs: Vec<IpAddr>,
}

/// Clients learnt passively, at most [`MAX_CLIENTS`] of them. Memory only: it is refilled within
/// minutes of a restart (DHCP renewals, ARP).
#[derive(Debug, Default)]
pub struct Learnt {
    inner: Mutex<LearntInner>,
}

#[derive(Debug, Default)]
struct LearntInner {
    /// Each client with the tick at which it was last seen.
    clients: HashMap<MacAddr, (u64, ClientInfo)>,
    /// Counts observations; orders clients by last sight, without a clock.
    tick: u64,
}

impl Learnt {
    /// Records an observation.
    pub fn observe(&self, seen: &Seen) {
        let Ok(mut s) = self.inner.lock() else {
            return;
        };
        s.tick += 1;
        let tick = s.tick;
        let mac = seen.mac();
        if !s.clients.contains_key(&mac)
            && s.clients.len() >= MAX_CLIENTS
            && let Some(oldest) = s
                .clients
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(m, _)| *m)
        {
            s.clients.remove(&oldest);
        }
        let (last, info) = s.clients.entry(mac).or_default();
        *last = tick;
        let add_addr = |addrs: &mut Vec<IpAddr>, ip: IpAddr| {
            addrs.retain(|a| *a != ip);
            addrs.push(ip);
            if addrs.len() > MAX_ADDRS {
                addrs.remove(0);
            }
        };
        match seen {
            Seen::Address { ip, .. } => add_addr(&mut info.addrs, *ip),
            Seen::Dhcp(d) => {
                if let Some(ip) = d.client_ip {
                    add_addr(&mut info.addrs, IpAddr::V4(ip));
                }
                // A later message without an option does not erase what an earlier one said.
                if d.hostname.is_some() {
                    info.hostname.clone_from(&d.hostname);
                }
                if d.fingerprint.is_some() {
                    info.fingerprint.clone_from(&d.fingerprint);
                }
                if d.vendor_class.is_some() {
                    info.vendor_class.clone_from(&d.vendor_class);
                }
            }
        }
    }

    /// Everything known about `mac`.
    pub fn get(&self, mac: MacAddr) -> Option<ClientInfo> {
        self.inner
            .lock()
            .ok()?
            .clients
            .get(&mac)
            .map(|(_, i)| i.clone())
    }

    /// The DHCP fingerprint `mac` sent, if it was seen.
    pub fn fingerprint(&self, mac: MacAddr) -> Option<String> {
        self.get(mac)?.fingerprint
    }

    /// The host name `mac` sent in DHCP, if it was seen.
    pub fn hostname(&self, mac: MacAddr) -> Option<String> {
        self.get(mac)?.hostname
    }

    /// How many clients are known.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|s| s.clients.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The daemon's table of learnt clients: one per process, filled by [`start_learning`], so the
/// session logic can ask without the capture being passed to it.
pub fn learnt() -> &'static Learnt {
    static LEARNT: LazyLock<Learnt> = LazyLock::new(Learnt::default);
    &LEARNT
}

/// The DHCP fingerprint learnt for `mac` (for `session_started`'s `device_fingerprint`).
pub fn fingerprint_for(mac: MacAddr) -> Option<String> {
    learnt().fingerprint(mac)
}

/// The host name learnt for `mac`.
pub fn hostname_for(mac: MacAddr) -> Option<String> {
    learnt().hostname(mac)
}

// ---- The capture (I/O) -----------------------------------------------------------------------

/// A running capture on one interface. Dropping it asks the thread to stop (within a quarter
/// of a second); [`Capture::stop`] also waits for it.
#[derive(Debug)]
pub struct Capture {
    observations: Receiver<Seen>,
    stop: Arc<AtomicBool>,
    /// Observations dropped because the channel was full.
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Opens an AF_PACKET socket on `interface` (needs CAP_NET_RAW) and starts reading it on a
    /// thread of its own; at most `queue` observations wait in the channel.
    pub fn open(interface: &str, queue: usize) -> io::Result<Capture> {
        use pnet_datalink::{Channel, Config};
        let nic = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == interface)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no interface {interface}"))
            })?;
        let own_mac = nic.mac.map(|m| MacAddr(m.octets()));
        let config = Config {
            socket_fd: Some(filtered_socket()?),
            read_timeout: Some(POLL),
            // Ours to read the first bytes of; the rest of a large frame is cut off.
            read_buffer_size: 2048,
            // Frames to and from the router are all we need; qemu-user also refuses the
            // membership option promiscuous mode sets.
            promiscuous: false,
            ..Config::default()
        };
        let mut rx = match pnet_datalink::channel(&nic, config)? {
            Channel::Ethernet(_tx, rx) => rx,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "not an Ethernet channel",
                ));
            }
        };
        let (tx, observations) = std::sync::mpsc::sync_channel(queue.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stop_flag, dropped_count) = (Arc::clone(&stop), Arc::clone(&dropped));
        let name = interface.to_owned();
        let thread = std::thread::Builder::new()
            .name("lan-capture".into())
            .spawn(move || {
                capture_loop(&mut *rx, own_mac, &tx, &stop_flag, &dropped_count, &name);
            })?;
        Ok(Capture {
            observations,
            stop,
            dropped,
            thread: Some(thread),
        })
    }

    /// The next observation, waiting at most `timeout`. `Err(Disconnected)` once the capture
    /// thread has ended.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Seen, RecvTimeoutError> {
        self.observations.recv_timeout(timeout)
    }

    /// Observations dropped so far because the consumer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops the capture thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An AF_PACKET socket for every protocol with [`FILTER`] attached, not yet bound (pnet binds
/// it to the interface and owns it from then on).
fn filtered_socket() -> io::Result<i32> {
    use socket2::{Domain, Protocol, SockFilter, Socket, Type};
    use std::os::fd::IntoRawFd;
    // ETH_P_ALL, in network byte order as AF_PACKET wants it.
    let all = Protocol::from(i32::from(0x0003u16.to_be()));
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(all))?;
    let program: Vec<SockFilter> = FILTER
        .iter()
        .map(|&(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect();
    socket.attach_filter(&program)?;
    Ok(socket.into_raw_fd())
}

/// Reads frames until told to stop, the consumer is gone, or the socket keeps failing.
fn capture_loop(
    rx: &mut dyn pnet_datalink::DataLinkReceiver,
    own_mac: Option<MacAddr>,
    tx: &SyncSender<Seen>,
    stop: &AtomicBool,
    dropped: &AtomicU64,
    interface: &str,
) {
    let mut errors = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let frame = match rx.next() {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(e) => {
                errors += 1;
                if errors >= 10 {
                    tracing::warn!(error = %e, interface, "LAN capture stopped after repeated errors");
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        errors = 0;
        let Some(seen) = parse_frame(frame) else {
            continue;
        };
        // The router's own ARP and neighbour messages are not a client.
        if Some(seen.mac()) == own_mac {
            continue;
        }
        match tx.try_send(seen) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// The daemon's passive learning: a capture on `interface` whose observations go into
/// [`learnt`]. Stops when dropped.
#[derive(Debug)]
pub struct Learning {
    stop: Arc<AtomicBool>,
}

impl Drop for Learning {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts passive learning on `interface` when `enabled`. Without the capability (CAP_NET_RAW),
/// or without the interface, it logs once and returns `None`: the daemon runs on without it.
pub fn start_learning(interface: &str, enabled: bool) -> Option<Learning> {
    if !enabled {
        tracing::info!("passive client learning is off ([clients] capture = false)");
        return None;
    }
    let capture = match Capture::open(interface, QUEUE) {
        Ok(c) => c,
        Err(e) => {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (needs CAP_NET_RAW)"
            } else {
                ""
            };
            tracing::warn!(error = %e, interface, "passive client learning is unavailable{hint}; running without it");
            return None;
        }
    };
    tracing::info!(interface, "learning clients passively (DHCP, ARP, IPv6 ND)");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("lan-learning".into())
        .spawn(move || {
            let mut reported_drops = 0;
            while !stop_flag.load(Ordering::Relaxed) {
                match capture.recv_timeout(POLL) {
                    Ok(seen) => {
                        if let Seen::Dhcp(d) = &seen {
                            tracing::debug!(mac = %d.mac, fingerprint = ?d.fingerprint, "DHCP client seen");
                        }
                        learnt().observe(&seen);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                let dropped = capture.dropped();
                if dropped >= reported_drops + 1000 {
                    tracing::warn!(dropped, "LAN capture is dropping observations");
                    reported_drops = dropped;
                }
            }
            capture.stop();
        });
    match spawned {
        Ok(_) => Some(Learning { stop }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the learning thread; running without it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    const WINDOWS_PRL: [u8; 14] = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];

    fn ethernet(src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// A BOOTP request with the given options (code, value), ending in 255.
    fn dhcp(chaddr: [u8; 6], options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; 240];
        m[0..4].copy_from_slice(&[1, 1, 6, 0]);
        m[4..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        m[28..34].copy_from_slice(&chaddr);
        m[236..240].copy_from_slice(&DHCP_MAGIC);
        for (code, value) in options {
            m.push(*code);
            m.push(value.len() as u8);
            m.extend_from_slice(value);
        }
        m.push(255);
        m
    }

    /// IPv4 + UDP around `payload`, from 0.0.0.0:`sport` to 255.255.255.255:`dport`.
    fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len() as u16;
        let total = 20 + udp_len;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&udp_len.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn discover() -> Vec<u8> {
        dhcp(
            GUEST,
            &[
                (53, &[1]),
                (61, &[1, 2, 0x11, 0x22, 0x33, 0x44, 0x55]),
                (50, &[192, 168, 1, 23]),
                (12, b"DESKTOP-7QK2"),
                (60, b"MSFT 5.0"),
                (55, &WINDOWS_PRL),
            ],
        )
    }

    fn arp(op: u16, sender_mac: [u8; 6], sender_ip: [u8; 4]) -> Vec<u8> {
        let mut a = vec![0, 1, 8, 0, 6, 4];
        a.extend_from_slice(&op.to_be_bytes());
        a.extend_from_slice(&sender_mac);
        a.extend_from_slice(&sender_ip);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&[192, 168, 1, 1]);
        a
    }

    /// IPv6 + ICMPv6 neighbour solicitation from `src` for `target`, with a source link-layer
    /// option of `mac` when given.
    fn neighbour_solicitation(src: Ipv6Addr, target: Ipv6Addr, mac: Option<[u8; 6]>) -> Vec<u8> {
        let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        if let Some(m) = mac {
            icmp.extend_from_slice(&[1, 1]);
            icmp.extend_from_slice(&m);
        }
        ipv6(src, &icmp)
    }

    fn ipv6(src: Ipv6Addr, icmp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        p.extend_from_slice(&[58, 255]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&"ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(icmp);
        p
    }

    #[test]
    fn a_dhcp_discover_gives_mac_hostname_vendor_fingerprint_and_requested_address() {
        let frame = ethernet(GUEST, ETHERTYPE_IPV4, &udp4(68, 67, &discover()));
        let Some(Seen::Dhcp(d)) = parse_frame(&frame) else {
            panic!("not parsed: {:?}", parse_frame(&frame));
        };
        assert_eq!(d.mac, MacAddr(GUEST));
        assert_eq!(d.message_type, 1);
        assert_eq!(
            d.fingerprint.as_deref(),
            Some("1,3,6,15,31,33,43,44,46,47,119,121,249,252")
        );
        assert_eq!(d.hostname.as_deref(), Some("DESKTOP-7QK2"));
        assert_eq!(d.vendor_class.as_deref(), Some("MSFT 5.0"));
        assert_eq!(d.requested_ip, Some(Ipv4Addr::new(192, 168, 1, 23)));
        assert_eq!(d.client_ip, None);
    }

    #[test]
    fn a_vlan_tagged_frame_and_a_padded_frame_are_read() {
        let mut tagged = ethernet(GUEST, ETHERTYPE_VLAN, &[0, 10]);
        tagged.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        tagged.extend_from_slice(&udp4(68, 67, &discover()));
        assert!(matches!(parse_frame(&tagged), Some(Seen::Dhcp(_))));
        // Ethernet pads short frames; the IP and UDP lengths say where the message ends.
        let mut padded = ethernet(GUEST, ETHERTYPE_ARP, &arp(1, GUEST, [192, 168, 1, 23]));
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(
            parse_frame(&padded),
            Some(Seen::Address {
                mac: MacAddr(GUEST),
                ip: "192.168.1.23".parse().unwrap()
            })
        );
    }

    #[test]
    fn server_replies_other_ports_and_plain_bootp_are_not_client_messages() {
        let mut offer = discover();
        offer[0] = 2;
        assert_eq!(parse_dhcp(&offer), None);
        let bootp = dhcp(GUEST, &[(12, b"x")]);
        assert_eq!(parse_dhcp(&bootp), None, "no option 53");
        let ack = dhcp(GUEST, &[(53, &[5])]);
        assert_eq!(parse_dhcp(&ack), None, "DHCPACK is a server's");
        let frame = ethernet(GUEST, ETHERTYPE_IPV4, &udp4(68, 68, &discover()));
        assert_eq!(parse_frame(&frame), None);
        let mut fragment = udp4(68, 67, &discover());
        fragment[6] = 0x20; // more fragments
        assert_eq!(
            parse_frame(&ethernet(GUEST, ETHERTYPE_IPV4, &fragment)),
            None
        );
        let zero_mac = dhcp([0; 6], &[(53, &[1])]);
        assert_eq!(parse_dhcp(&zero_mac), None);
    }

    #[test]
    fn a_renewing_client_gives_its_address_and_text_is_cleaned() {
        let mut m = dhcp(GUEST, &[(53, &[3]), (12, b" phone\x07\n "), (60, b"")]);
        m[12..16].copy_from_slice(&[192, 168, 1, 23]);
        let d = parse_dhcp(&m).unwrap();
        assert_eq!(d.client_ip, Some(Ipv4Addr::new(192, 168, 1, 23)));
        assert_eq!(d.hostname.as_deref(), Some("phone"));
        assert_eq!(d.vendor_class, None);
        assert_eq!(d.fingerprint, None);
        let long = vec![b'a'; 300];
        let d = parse_dhcp(&dhcp(GUEST, &[(53, &[1]), (12, &long[..255])])).unwrap();
        assert_eq!(d.hostname.unwrap().len(), MAX_TEXT);
    }

    #[test]
    fn truncated_and_malformed_packets_are_none_and_never_panic() {
        let good = ethernet(GUEST, ETHERTYPE_IPV4, &udp4(68, 67, &discover()));
        // Every prefix of a good frame: parsing must not panic, and a DHCP message cut before
        // its end option is refused rather than half read.
        for n in 0..good.len() {
            let cut = &good[..n];
            let _ = parse_frame(cut);
        }
        let message = discover();
        for n in 0..message.len() {
            assert_eq!(parse_dhcp(&message[..n]), None, "cut at {n}");
        }
        // An option running past the end.
        let mut m = dhcp(GUEST, &[(53, &[1])]);
        m.pop();
        m.extend_from_slice(&[55, 40, 1, 3]);
        assert_eq!(parse_dhcp(&m), None);
        // Lengths that lie.
        let mut ip = udp4(68, 67, &discover());
        ip[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse_frame(&ethernet(GUEST, ETHERTYPE_IPV4, &ip)), None);
        let mut ip = udp4(68, 67, &discover());
        ip[24..26].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(parse_frame(&ethernet(GUEST, ETHERTYPE_IPV4, &ip)), None);
        let mut ip = udp4(68, 67, &discover());
        ip[0] = 0x43; // header length 12 bytes
        assert_eq!(parse_frame(&ethernet(GUEST, ETHERTYPE_IPV4, &ip)), None);
        // Arbitrary bytes of every kind.
        let mut seed = 0x2545_f491_u32;
        for _ in 0..2000 {
            let len = (seed % 400) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            for ethertype in [
                ETHERTYPE_IPV4,
                ETHERTYPE_ARP,
                ETHERTYPE_IPV6,
                ETHERTYPE_VLAN,
            ] {
                let _ = parse_frame(&ethernet(GUEST, ethertype, &bytes));
            }
            let _ = parse_dhcp(&bytes);
            let _ = parse_ndp(&bytes);
        }
        // Empty and short frames.
        assert_eq!(parse_frame(&[]), None);
        assert_eq!(parse_frame(&[0; 13]), None);
        assert_eq!(parse_arp(&arp(1, GUEST, [1, 2, 3, 4])[..17]), None);
    }

    #[test]
    fn arp_gives_the_sender_but_not_probes_or_broadcast_macs() {
        let a = arp(2, GUEST, [192, 168, 1, 23]);
        assert_eq!(
            parse_arp(&a),
            Some((MacAddr(GUEST), Ipv4Addr::new(192, 168, 1, 23)))
        );
        assert_eq!(parse_arp(&arp(1, GUEST, [0, 0, 0, 0])), None, "a probe");
        assert_eq!(parse_arp(&arp(1, [0xff; 6], [192, 168, 1, 23])), None);
        assert_eq!(parse_arp(&arp(3, GUEST, [192, 168, 1, 23])), None, "RARP");
        let mut ipv6_arp = a.clone();
        ipv6_arp[2..4].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse_arp(&ipv6_arp), None);
    }

    #[test]
    fn neighbour_discovery_gives_mac_and_address() {
        let src: Ipv6Addr = "fd00::23".parse().unwrap();
        let ns = neighbour_solicitation(src, "fd00::1".parse().unwrap(), Some(GUEST));
        assert_eq!(parse_ndp(&ns), Some((MacAddr(GUEST), src)));
        let frame = ethernet(GUEST, ETHERTYPE_IPV6, &ns);
        assert_eq!(
            parse_frame(&frame),
            Some(Seen::Address {
                mac: MacAddr(GUEST),
                ip: IpAddr::V6(src)
            })
        );
        // Duplicate address detection comes from :: with no option: nothing to learn yet.
        let dad = neighbour_solicitation(Ipv6Addr::UNSPECIFIED, src, None);
        assert_eq!(parse_ndp(&dad), None);
        // A neighbour advertisement names its target and carries a target link-layer option.
        let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
        na.extend_from_slice(&src.octets());
        na.extend_from_slice(&[2, 1]);
        na.extend_from_slice(&GUEST);
        let na = ipv6("fe80::1".parse().unwrap(), &na);
        assert_eq!(parse_ndp(&na), Some((MacAddr(GUEST), src)));
        // Hop limit other than 255: not neighbour discovery (RFC 4861 says discard).
        let mut routed = ns.clone();
        routed[7] = 64;
        assert_eq!(parse_ndp(&routed), None);
        // A zero-length option is malformed.
        let mut bad = neighbour_solicitation(src, src, None);
        bad.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        bad[4..6].copy_from_slice(&32u16.to_be_bytes());
        assert_eq!(parse_ndp(&bad), None);
        // An echo request is not neighbour discovery.
        let echo = ipv6(src, &[128, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(parse_ndp(&echo), None);
    }

    /// Runs [`FILTER`] on `frame` as the kernel would: the bytes it passes on (0 = dropped).
    fn run_filter(frame: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| frame.get(at).map(|b| u32::from(*b));
        let half = |at: usize| u16_at(frame, at).map(u32::from);
        loop {
            let (code, jt, jf, k) = FILTER[pc];
            pc += 1;
            let jump = |cond: bool| usize::from(if cond { jt } else { jf });
            match code {
                0x28 => match half(k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0x30 => match byte(k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0x48 => match half((x + k) as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                0xb1 => match byte(k as usize) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                0x15 => pc += jump(a == k),
                0x25 => pc += jump(a > k),
                0x35 => pc += jump(a >= k),
                0x45 => pc += jump(a & k != 0),
                0x06 => return k,
                other => panic!("instruction {other:#x} not known to this test"),
            }
        }
    }

    #[test]
    fn the_socket_filter_passes_what_the_parsers_read_and_drops_the_rest() {
        let src: Ipv6Addr = "fd00::23".parse().unwrap();
        let dhcp_frame = ethernet(GUEST, ETHERTYPE_IPV4, &udp4(68, 67, &discover()));
        let arp_frame = ethernet(GUEST, ETHERTYPE_ARP, &arp(1, GUEST, [192, 168, 1, 23]));
        let ns = ethernet(
            GUEST,
            ETHERTYPE_IPV6,
            &neighbour_solicitation(src, src, Some(GUEST)),
        );
        let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
        na.extend_from_slice(&src.octets());
        let na = ethernet(GUEST, ETHERTYPE_IPV6, &ipv6(src, &na));
        let rs = ethernet(
            GUEST,
            ETHERTYPE_IPV6,
            &ipv6(src, &[133, 0, 0, 0, 0, 0, 0, 0]),
        );
        for (what, frame) in [
            ("DHCP", &dhcp_frame),
            ("ARP", &arp_frame),
            ("NS", &ns),
            ("NA", &na),
            ("RS", &rs),
        ] {
            assert_eq!(run_filter(frame), SNAP, "{what} must pass");
        }
        // A longer IPv4 header (options) moves the UDP port: the filter follows it.
        let mut with_options = udp4(68, 67, &discover());
        with_options[0] = 0x46;
        with_options.splice(20..20, [1, 1, 1, 1]);
        assert_eq!(
            run_filter(&ethernet(GUEST, ETHERTYPE_IPV4, &with_options)),
            SNAP
        );
        let mut tcp = udp4(68, 67, &discover());
        tcp[9] = 6;
        let mut fragment = udp4(68, 67, &discover());
        fragment[7] = 1;
        let echo = ethernet(
            GUEST,
            ETHERTYPE_IPV6,
            &ipv6(src, &[128, 0, 0, 0, 0, 1, 0, 1]),
        );
        let redirect = ethernet(GUEST, ETHERTYPE_IPV6, &ipv6(src, &[137, 0, 0, 0]));
        for (what, frame) in [
            (
                "DHCP reply",
                ethernet(GUEST, ETHERTYPE_IPV4, &udp4(67, 68, &discover())),
            ),
            ("TCP", ethernet(GUEST, ETHERTYPE_IPV4, &tcp)),
            (
                "a later fragment",
                ethernet(GUEST, ETHERTYPE_IPV4, &fragment),
            ),
            ("ICMPv6 echo", echo),
            ("ICMPv6 redirect", redirect),
            ("another ethertype", ethernet(GUEST, 0x88cc, &[0; 60])),
            ("a runt", vec![0; 10]),
        ] {
            assert_eq!(run_filter(&frame), 0, "{what} must be dropped");
        }
    }

    #[test]
    fn the_table_merges_what_each_message_says_and_stays_bounded() {
        let t = Learnt::default();
        let mac = MacAddr(GUEST);
        let Some(Seen::Dhcp(d)) =
            parse_frame(&ethernet(GUEST, ETHERTYPE_IPV4, &udp4(68, 67, &discover())))
        else {
            panic!("discover");
        };
        t.observe(&Seen::Dhcp(d));
        t.observe(&Seen::Address {
            mac,
            ip: "192.168.1.23".parse().unwrap(),
        });
        // A REQUEST without option 12 keeps the host name the DISCOVER gave.
        t.observe(&Seen::Dhcp(
            parse_dhcp(&dhcp(GUEST, &[(53, &[3])])).unwrap(),
        ));
        let info = t.get(mac).unwrap();
        assert_eq!(info.hostname.as_deref(), Some("DESKTOP-7QK2"));
        assert_eq!(
            t.fingerprint(mac).as_deref(),
            Some("1,3,6,15,31,33,43,44,46,47,119,121,249,252")
        );
        assert_eq!(info.addrs, ["192.168.1.23".parse::<IpAddr>().unwrap()]);
        for i in 0..20u8 {
            t.observe(&Seen::Address {
                mac,
                ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            });
        }
        assert_eq!(t.get(mac).unwrap().addrs.len(), MAX_ADDRS);
        // Fill past the bound: the client seen longest ago goes first.
        for i in 0..MAX_CLIENTS as u32 {
            let [_, a, b, c] = i.to_be_bytes();
            t.observe(&Seen::Address {
                mac: MacAddr([2, 9, 0, a, b, c]),
                ip: "10.9.9.9".parse().unwrap(),
            });
        }
        assert_eq!(t.len(), MAX_CLIENTS);
        assert_eq!(t.get(mac), None, "the oldest client made room");
        assert!(t.get(MacAddr([2, 9, 0, 0, 0, 1])).is_some());
    }

    #[test]
    fn without_the_interface_learning_logs_and_returns_none() {
        assert!(start_learning("no-such-if0", true).is_none());
        assert!(start_learning("lo", false).is_none());
    }
}
