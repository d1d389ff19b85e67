//! Slow and idle clients cannot hold connections open: a connection that never finishes its headers, a silent
//! one and an idle kept-alive one are closed, the connection cap answers 503, and `/healthz` keeps answering
//! throughout. Timeouts are configured short; the tests assert that sockets get closed, never how fast.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::harness::Daemon;

const SHORT: &str =
    "[server]\nheader_read_timeout = \"1s\"\nrequest_timeout = \"2s\"\nidle_timeout = \"3s\"";

fn address(daemon: &Daemon) -> SocketAddr {
    daemon
        .url("")
        .trim_start_matches("http://")
        .parse()
        .expect("daemon address")
}

/// Reads until the server closes the connection; panics if it is still open after a minute (the patience of the
/// test, far above any configured timeout). Returns what arrived.
fn wait_until_closed(mut stream: TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return received,
            Err(error) => panic!(
                "the server did not close the connection ({error}); received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

#[test]
fn slow_silent_and_idle_connections_are_closed() {
    let daemon = Daemon::start_with(SHORT);
    let address = address(&daemon);

    // Headers that never end.
    let mut slow = TcpStream::connect(address).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .unwrap();
    // Nothing at all.
    let silent = TcpStream::connect(address).unwrap();
    // One request, then idle on a kept-alive connection.
    let mut idle = TcpStream::connect(address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Meanwhile the daemon answers others.
    for _ in 0..3 {
        daemon.get_public("/healthz").expect(200);
    }

    wait_until_closed(slow);
    wait_until_closed(silent);
    let answered = String::from_utf8(wait_until_closed(idle)).unwrap();
    assert!(
        answered.starts_with("HTTP/1.1 200"),
        "the kept-alive request was answered before the close: {answered:?}"
    );
    daemon.get_public("/healthz").expect(200);
}

#[test]
fn connections_over_the_cap_are_refused_with_503() {
    let daemon = Daemon::start_with(
        "[server]\nmax_connections = 2\nheader_read_timeout = \"30s\"\nidle_timeout = \"40s\"",
    );
    let address = address(&daemon);
    let first = TcpStream::connect(address).unwrap();
    let second = TcpStream::connect(address).unwrap();
    // Both are held open (silent); the next one is over the cap. The accept loop may not have counted them yet
    // when the third connects, so try until one is refused.
    let mut refused = None;
    for _ in 0..100 {
        let mut third = TcpStream::connect(address).unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let reply = String::from_utf8(wait_until_closed(third)).unwrap();
        if reply.starts_with("HTTP/1.1 503") {
            refused = Some(reply);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = refused.expect("a connection over the cap was served");
    let body: serde_json::Value =
        serde_json::from_str(reply.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    // Closing the held connections frees the slots.
    drop((first, second));
    let mut served = false;
    for _ in 0..100 {
        let reply = daemon.send_raw("GET /healthz HTTP/1.1", b"");
        if reply.status == 200 {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        served,
        "the daemon never served again after the held connections closed"
    );
}

#[test]
fn a_request_being_worked_on_is_not_idle() {
    // A costly password hash keeps the registration busy far longer than the idle timeout, with nothing moving
    // on the connection meanwhile: the request must still complete.
    let daemon = Daemon::start_with(
        "[server]\nidle_timeout = \"100ms\"\n[auth]\nargon2_memory_kib = 65536\nargon2_iterations = 8",
    );
    let body = serde_json::json!({
        "name": "Ann", "email": "ann@example.org", "password": crate::harness::PASSWORD
    });
    daemon.post_public("/auth/register", body).expect(200);
}
