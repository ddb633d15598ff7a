//! A client that half-closes (sends its whole request, then shuts down its write side) gets
//! its whole answer from gosleep, then the close: the FIN ends the requests, not the answer
//! in progress (the hyper loop probes it with a `100 Continue`, which the client skips; one
//! that closed its socket instead is counted out, gosleep.rs's
//! `a_client_that_leaves_mid_sleep_is_counted_out`). A test of its own: gosleep.rs is the
//! contract's list.

use std::time::Duration;

use gosleep::Config;
use testkit::Conn;

#[tokio::test]
async fn a_half_closed_client_gets_its_whole_sleep_answer() {
    let g = gosleep::start(Config { delay_ms: 0, ..Config::default() }).expect("gosleep starts");
    let mut conn = Conn::open(g.addr()).await.unwrap();
    // The FIN arrives while the answer waits out its 300 ms.
    conn.send_raw(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: gosleep\r\n\r\n").await.unwrap();
    conn.shutdown_write().await.unwrap();
    let r = conn.read_response().await.expect("the answer after a half-close");
    assert_eq!((r.status, r.body), (200, vec![b'z'; 64]));
    assert!(conn.closed_by_peer(Duration::from_secs(5)).await, "not closed after the answer");
}
