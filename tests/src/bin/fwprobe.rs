//! `fwprobe`: the small network programs the firewall tests run inside their namespaces.
//!
//! Every probe has a timeout and exits 0 on success, 1 on failure, so a test reads the exit status.
//! ADDR may be an IPv6 link-local address with its interface, `fe80::1%g0`.
//! - `http-get ADDR PORT` prints the response (status line, headers, body).
//! - `tcp-open ADDR PORT MS` succeeds when a connection opens.
//! - `tcp-hello ADDR PORT MS` succeeds when the server's `hello` line arrives.
//! - `udp-ask ADDR PORT MS` succeeds when a datagram comes back.
//! - `tcp-watch ADDR PORT MS`: reads a stream for MS milliseconds, printing `t_ms bytes` for every
//!   100 ms (bytes received in that slice).
//! - `udp-ttl ADDR PORT MS TTL`: `udp-ask` with the IP TTL (hop limit) set to TTL.
//! - `dns-flood ADDR COUNT MS`: sends COUNT DNS queries for long random names (a DNS tunnel's
//!   pattern) evenly over MS milliseconds from one socket, waits 500 ms more, and prints
//!   `sent N answered M` (answers are the echoes of `serve-dns`).
//! - `icmp-echo ADDR MS`: one ICMP (ICMPv6) echo request with 256 bytes of payload, as a ping
//!   tunnel sends them; succeeds when the reply comes.
//! - `send-ra PREFIX`: sends a router advertisement for PREFIX/64 (autonomous) to all nodes
//!   from `g0`, three times 200 ms apart.
//! - `serve-upstream`: HTTP on port 80 answering `UPSTREAM`, `hello` on TCP 5001, UDP echo on 5002,
//!   an endless stream on TCP 5003.
//! - `serve-dns`: UDP echoes on ports 53, 67 and 547 standing in for the router's DNS, DHCP and
//!   DHCPv6.
//! - `dhcp-discover MAC HOSTNAME`: broadcasts a DHCPDISCOVER as Windows sends it (its option 55
//!   list, vendor class `MSFT 5.0`) from port 68, three times 300 ms apart.
//! - `learn IFACE MS`: runs the edge's passive capture on IFACE for MS milliseconds, then prints
//!   one line per client learnt: `MAC hostname=… fingerprint=… vendor=… addrs=…`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

/// `ADDR` and `PORT` as a socket address; an IPv6 link-local address takes its interface as
/// `fe80::1%g0`.
fn addr(a: &str, p: &str) -> SocketAddr {
    let port = p.parse().expect("port");
    if let Some((ip, interface)) = a.split_once('%') {
        let index = std::fs::read_to_string(format!("/sys/class/net/{interface}/ifindex"))
            .expect("interface index");
        let ip: std::net::Ipv6Addr = ip.parse().expect("IPv6 address");
        return SocketAddr::V6(std::net::SocketAddrV6::new(
            ip,
            port,
            0,
            index.trim().parse().expect("interface index"),
        ));
    }
    let ip: IpAddr = a.parse().expect("address");
    SocketAddr::new(ip, port)
}

fn ms(s: &str) -> Duration {
    Duration::from_millis(s.parse().expect("milliseconds"))
}

fn http_get(to: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let host = match to {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    Ok(text)
}

fn tcp_hello(to: SocketAddr, timeout: Duration) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(&to, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf)?;
    Ok(&buf == b"hello\n")
}

fn tcp_watch(to: SocketAddr, total: Duration) -> std::io::Result<()> {
    use std::time::Instant;
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_millis(20)))?;
    let start = Instant::now();
    let mut slice_end = Duration::from_millis(100);
    let mut bytes = 0u64;
    let mut buf = [0u8; 65536];
    let out = std::io::stdout();
    while start.elapsed() < total {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes += n as u64,
            Err(_) => {}
        }
        while start.elapsed() >= slice_end {
            writeln!(out.lock(), "{} {bytes}", slice_end.as_millis())?;
            bytes = 0;
            slice_end += Duration::from_millis(100);
        }
    }
    Ok(())
}

fn udp_ask(to: SocketAddr, timeout: Duration) -> std::io::Result<bool> {
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let s = UdpSocket::bind(bind)?;
    s.set_read_timeout(Some(timeout))?;
    s.send_to(b"ping", to)?;
    let mut buf = [0u8; 16];
    let (n, _) = s.recv_from(&mut buf)?;
    Ok(&buf[..n] == b"ping")
}

fn udp_ttl(to: SocketAddr, timeout: Duration, ttl: u32) -> std::io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(to), Type::DGRAM, Some(Protocol::UDP))?;
    if to.is_ipv4() {
        s.set_ttl_v4(ttl)?;
    } else {
        s.set_unicast_hops_v6(ttl)?;
    }
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(timeout))?;
    s.send_to(b"ping", to)?;
    let mut buf = [0u8; 16];
    let (n, _) = s.recv_from(&mut buf)?;
    Ok(&buf[..n] == b"ping")
}

/// A small deterministic generator: the names only need to look random to a resolver.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn dns_flood(to: SocketAddr, count: u32, total: Duration) -> std::io::Result<bool> {
    use std::time::Instant;
    let bind: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let s = UdpSocket::bind(bind)?;
    s.set_nonblocking(true)?;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let start = Instant::now();
    let (mut sent, mut answered) = (0u32, 0u32);
    let mut buf = [0u8; 1500];
    let mut drain = |answered: &mut u32| {
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            if n > 12 {
                *answered += 1;
            }
        }
    };
    while sent < count {
        let due = total.mul_f64(f64::from(sent) / f64::from(count));
        if start.elapsed() >= due {
            // Header: id, recursion desired, one question; then three 63-byte labels of
            // random letters (encoded data), the tunnel's domain, type NULL, class IN.
            let mut q = Vec::with_capacity(230);
            q.extend_from_slice(&(sent as u16).to_be_bytes());
            q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
            for _ in 0..3 {
                let label: Vec<u8> = (0..63)
                    .map(|_| alphabet[(next_random(&mut seed) % 36) as usize])
                    .collect();
                q.push(63);
                q.extend_from_slice(&label);
            }
            q.extend_from_slice(b"\x01t\x07example\x00\x00\x0a\x00\x01");
            if s.send_to(&q, to).is_ok() {
                sent += 1;
            }
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
        drain(&mut answered);
    }
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        drain(&mut answered);
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("sent {sent} answered {answered}");
    Ok(true)
}

/// The internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp_echo(to: IpAddr, timeout: Duration) -> std::io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, protocol, request, reply) = match to {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let s = Socket::new(domain, Type::RAW, Some(protocol))?;
    s.set_read_timeout(Some(timeout))?;
    let mut m = vec![request, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend(std::iter::repeat_n(b'T', 256));
    if to.is_ipv4() {
        let c = checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
    } // The kernel fills in the ICMPv6 checksum.
    s.send_to(&m, &SocketAddr::new(to, 0).into())?;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    while std::time::Instant::now() < deadline {
        let Ok(n) = (&s).read(&mut buf) else {
            return Ok(false);
        };
        let got = &buf[..n];
        // An IPv4 raw socket hands over the IP header too (the source at bytes 12..16).
        let (icmp, from_target) = match to {
            IpAddr::V4(a) => {
                let header = usize::from(got.first().copied().unwrap_or(0) & 0x0f) * 4;
                (
                    got.get(header..).unwrap_or_default(),
                    got.get(12..16) == Some(&a.octets()[..]),
                )
            }
            IpAddr::V6(_) => (got, true),
        };
        if from_target && icmp.first() == Some(&reply) && icmp.get(4..6) == Some(&[0x12, 0x34]) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn send_ra(prefix: std::net::Ipv6Addr) -> std::io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.bind_device(Some(b"g0"))?;
    // RA: type 134, hop limit 64, no flags, router lifetime 0 (not a default router: only
    // the prefix is offered), reachable and retrans 0.
    let mut m = vec![134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // Prefix information: /64, on-link and autonomous, lifetimes one day.
    m.extend_from_slice(&[3, 4, 64, 0xc0]);
    m.extend_from_slice(&86_400u32.to_be_bytes());
    m.extend_from_slice(&86_400u32.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&prefix.octets());
    let all_nodes: SocketAddr = "[ff02::1]:0".parse().unwrap();
    for _ in 0..3 {
        s.send_to(&m, &all_nodes.into())?;
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(true)
}

fn udp_echo(port: u16) {
    let s = UdpSocket::bind(("::", port)).expect("bind udp");
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    }
}

fn serve_tcp(port: u16, reply: fn(&mut TcpStream)) {
    let l = TcpListener::bind(("::", port)).expect("bind tcp");
    for mut c in l.incoming().flatten() {
        std::thread::spawn(move || reply(&mut c));
    }
}

/// The parameter request list Windows 10 and 11 send (DHCP option 55).
const WINDOWS_PRL: [u8; 14] = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];

fn dhcp_discover(mac: &str, hostname: &str) -> std::io::Result<bool> {
    let mac: hotspot_shared::MacAddr = mac.parse().expect("MAC");
    let mut m = vec![0u8; 240];
    m[0..4].copy_from_slice(&[1, 1, 6, 0]);
    m[4..8].copy_from_slice(&[0x39, 0x03, 0xf3, 0x26]);
    m[10] = 0x80; // broadcast flag
    m[28..34].copy_from_slice(&mac.0);
    m[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let mut option = |code: u8, value: &[u8]| {
        m.push(code);
        m.push(u8::try_from(value.len()).expect("option length"));
        m.extend_from_slice(value);
    };
    option(53, &[1]);
    let mut client_id = vec![1];
    client_id.extend_from_slice(&mac.0);
    option(61, &client_id);
    option(12, hostname.as_bytes());
    option(60, b"MSFT 5.0");
    option(55, &WINDOWS_PRL);
    m.push(255);
    let s = UdpSocket::bind("0.0.0.0:68")?;
    s.set_broadcast(true)?;
    for _ in 0..3 {
        s.send_to(&m, "255.255.255.255:67")?;
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(true)
}

fn learn(interface: &str, total: Duration) -> std::io::Result<bool> {
    use hotspot_edge::net::capture::{Capture, Learnt, QUEUE};
    use std::time::Instant;
    let capture = Capture::open(interface, QUEUE)?;
    let learnt = Learnt::default();
    let mut macs = std::collections::BTreeSet::new();
    let start = Instant::now();
    while start.elapsed() < total {
        if let Ok(seen) = capture.recv_timeout(Duration::from_millis(100)) {
            macs.insert(seen.mac());
            learnt.observe(&seen);
        }
    }
    let dropped = capture.dropped();
    capture.stop();
    for mac in macs {
        let info = learnt.get(mac).unwrap_or_default();
        let addrs: Vec<String> = info.addrs.iter().map(ToString::to_string).collect();
        println!(
            "{mac} hostname={} fingerprint={} vendor={} addrs={}",
            info.hostname.unwrap_or_default(),
            info.fingerprint.unwrap_or_default(),
            info.vendor_class.unwrap_or_default(),
            addrs.join(",")
        );
    }
    eprintln!("dropped {dropped}");
    Ok(true)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let ok = match a.as_slice() {
        ["http-get", host, port] => match http_get(addr(host, port)) {
            Ok(text) => {
                print!("{text}");
                true
            }
            Err(e) => {
                eprintln!("{e}");
                false
            }
        },
        ["tcp-open", host, port, t] => TcpStream::connect_timeout(&addr(host, port), ms(t)).is_ok(),
        ["tcp-watch", host, port, t] => tcp_watch(addr(host, port), ms(t)).is_ok(),
        ["tcp-hello", host, port, t] => tcp_hello(addr(host, port), ms(t)).unwrap_or(false),
        ["udp-ask", host, port, t] => udp_ask(addr(host, port), ms(t)).unwrap_or(false),
        ["udp-ttl", host, port, t, ttl] => {
            udp_ttl(addr(host, port), ms(t), ttl.parse().expect("ttl")).unwrap_or(false)
        }
        ["dns-flood", host, count, t] => {
            dns_flood(addr(host, "53"), count.parse().expect("count"), ms(t)).unwrap_or(false)
        }
        ["icmp-echo", host, t] => {
            icmp_echo(host.parse().expect("address"), ms(t)).unwrap_or_else(|e| {
                eprintln!("{e}");
                false
            })
        }
        ["send-ra", prefix] => send_ra(prefix.parse().expect("IPv6 prefix")).unwrap_or_else(|e| {
            eprintln!("{e}");
            false
        }),
        ["serve-upstream"] => {
            std::thread::spawn(|| udp_echo(5002));
            std::thread::spawn(|| {
                serve_tcp(5003, |c| {
                    let chunk = [b'x'; 8192];
                    while c.write_all(&chunk).is_ok() {}
                })
            });
            std::thread::spawn(|| {
                serve_tcp(5001, |c| {
                    let _ = c.write_all(b"hello\n");
                })
            });
            serve_tcp(80, |c| {
                // Read the whole request first: closing with unread data would reset the
                // connection before the client reads the answer.
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = Vec::new();
                let mut buf = [0u8; 2048];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nUPSTREAM\n",
                );
            });
            true
        }
        ["dhcp-discover", mac, hostname] => dhcp_discover(mac, hostname).unwrap_or_else(|e| {
            eprintln!("{e}");
            false
        }),
        ["learn", interface, t] => learn(interface, ms(t)).unwrap_or_else(|e| {
            eprintln!("{e}");
            false
        }),
        ["serve-dns"] => {
            // DHCP and DHCPv6 stand-ins too: the firewall rules are what is under test.
            std::thread::spawn(|| udp_echo(67));
            std::thread::spawn(|| udp_echo(547));
            udp_echo(53);
            true
        }
        _ => {
            eprintln!(
                "usage: fwprobe http-get|tcp-open|tcp-hello|tcp-watch|udp-ask|udp-ttl|dns-flood|icmp-echo|send-ra|serve-upstream|serve-dns|dhcp-discover|learn ..."
            );
            false
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
