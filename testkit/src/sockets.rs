//! The kernel's view of a test's TCP sockets (Linux's /proc/net/tcp and tcp6): what a test
//! waits on when the event is inside a server, such as a connection taken from the listen
//! backlog.

use std::net::{IpAddr, SocketAddr};

/// Connections waiting in the listen backlog of the socket listening at `addr`, not yet
/// accepted: /proc/net/tcp shows them as a listening socket's receive queue. `None` when
/// nothing listens there (in this network namespace).
pub fn accept_queue(addr: SocketAddr) -> Option<u64> {
    const LISTEN: &str = "0A";
    let table = match addr.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    let local = proc_address(addr);
    // `sl local_address rem_address st tx_queue:rx_queue ...`, one socket a line.
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (&at, &state, &queues) = (fields.get(1)?, fields.get(3)?, fields.get(4)?);
        if at != local || state != LISTEN {
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
    use std::net::{TcpListener, TcpStream};

    use super::accept_queue;

    #[test]
    fn the_accept_queue_counts_connections_not_yet_accepted() {
        for ip in ["127.0.0.1", "[::1]"] {
            let Ok(listener) = TcpListener::bind(format!("{ip}:0")) else { continue };
            let addr = listener.local_addr().expect("addr");
            assert_eq!(accept_queue(addr), Some(0), "{addr}");
            let _waiting: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).expect("connect")).collect();
            crate::wait_until(std::time::Duration::from_secs(10), "3 connections in the backlog", || {
                accept_queue(addr) == Some(3)
            });
            let _taken = listener.accept().expect("accept");
            assert_eq!(accept_queue(addr), Some(2), "{addr}");
            drop(listener);
            assert_eq!(accept_queue(addr), None, "{addr}");
        }
    }
}
