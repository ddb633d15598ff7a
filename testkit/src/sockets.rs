//! The kernel's view of a test's TCP sockets (Linux's /proc/net/tcp and tcp6): what a test
//! waits on when the event is inside a server, such as a connection taken from the listen
//! backlog or a request's bytes read.

use std::net::{IpAddr, SocketAddr};

/// A socket's state in /proc/net/tcp: listening.
const LISTEN: &str = "0A";

/// Connections waiting in the listen backlog of the socket listening at `addr`, not yet
/// accepted: /proc/net/tcp shows them as a listening socket's receive queue. `None` when
/// nothing listens there (in this network namespace).
pub fn accept_queue(addr: SocketAddr) -> Option<u64> {
    let local = proc_address(addr);
    receive_queue(addr.ip(), |at, _, state| at == local && state == LISTEN)
}

/// Bytes that arrived from `peer` on the connection whose own end is `local` (a server's
/// side: the server's address, the client's), and that the server has not read yet: that
/// socket's receive queue. `None` when there is no such connection.
pub fn unread_bytes(local: SocketAddr, peer: SocketAddr) -> Option<u64> {
    let ip = local.ip();
    let (local, peer) = (proc_address(local), proc_address(peer));
    receive_queue(ip, |at, to, state| at == local && to == peer && state != LISTEN)
}

/// The receive queue of the first socket in the table of `ip`'s family that `matches` by
/// its local address, remote address and state (as /proc/net/tcp writes them).
fn receive_queue(ip: IpAddr, matches: impl Fn(&str, &str, &str) -> bool) -> Option<u64> {
    let table = match ip {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    // `sl local_address rem_address st tx_queue:rx_queue ...`, one socket a line.
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (&at, &to, &state, &queues) = (fields.get(1)?, fields.get(2)?, fields.get(3)?, fields.get(4)?);
        if !matches(at, to, state) {
            return None;
        }
        u64::from_str_radix(queues.split_once(':')?.1, 16).ok()
    })
}

/// `addr` as /proc/net/tcp writes it: the address's 32-bit words in the machine's byte
/// order, then the port, in hex.
fn proc_address(addr: SocketAddr) -> String {
    let octets = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    let words: String =
        octets.chunks(4).map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))).collect();
    format!("{words}:{:04X}", addr.port())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::{accept_queue, unread_bytes};

    #[test]
    fn the_accept_queue_counts_connections_not_yet_accepted() {
        for ip in ["127.0.0.1", "[::1]"] {
            let Ok(listener) = TcpListener::bind(format!("{ip}:0")) else { continue };
            let addr = listener.local_addr().expect("addr");
            assert_eq!(accept_queue(addr), Some(0), "{addr}");
            let _waiting: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).expect("connect")).collect();
            crate::wait_until(Duration::from_secs(10), "3 connections in the backlog", || {
                accept_queue(addr) == Some(3)
            });
            let _taken = listener.accept().expect("accept");
            assert_eq!(accept_queue(addr), Some(2), "{addr}");
            drop(listener);
            assert_eq!(accept_queue(addr), None, "{addr}");
        }
    }

    #[test]
    fn unread_bytes_are_what_the_server_side_has_not_read() {
        for ip in ["127.0.0.1", "[::1]"] {
            let Ok(listener) = TcpListener::bind(format!("{ip}:0")) else { continue };
            let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
            let (mut server, peer) = listener.accept().expect("accept");
            let local = server.local_addr().expect("addr");
            assert_eq!(unread_bytes(local, peer), Some(0), "{local}");
            client.write_all(b"12345").expect("send");
            crate::wait_until(Duration::from_secs(10), "5 bytes at the server", || {
                unread_bytes(local, peer) == Some(5)
            });
            server.read_exact(&mut [0u8; 5]).expect("read");
            assert_eq!(unread_bytes(local, peer), Some(0), "{local}");
            assert_eq!(unread_bytes(peer, local).map(|_| ()), Some(()), "the client's end is a connection too");
        }
    }
}
