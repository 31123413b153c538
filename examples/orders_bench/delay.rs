//! Remote-shard mode: an in-process TCP proxy that holds every chunk a fixed time in each
//! direction, so that shards on this machine behave like shards on other machines.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use crate::BoxError;

/// Starts a proxy to `target` on a fresh port of 127.0.0.1; it lives as long as the
/// process. Returns its port.
pub fn start(target: SocketAddr, delay: Duration) -> Result<u16, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                pipe(client, server, delay);
                pipe(s2, c2, delay);
            }
        }
    });
    Ok(port)
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    // Named, so that a profile tells the proxy's CPU from the systems' own.
    let named = thread::Builder::new().name("delay-proxy".to_owned());
    let spawned = named.spawn(move || {
        let mut buf = vec![0_u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            thread::sleep(delay);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    if let Err(error) = spawned {
        eprintln!("delay proxy: cannot start a thread: {error}");
    }
}

/// The `host:port` of a database URL.
pub fn address_of(url: &str) -> Result<SocketAddr, BoxError> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    host.to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("cannot resolve `{host}`").into())
}

/// `url` with its `host:port` replaced by `127.0.0.1:port`.
pub fn via_port(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let (userinfo, hostpart) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let tail = hostpart.find(['/', '?']).map_or("", |i| &hostpart[i..]);
    format!("{}{userinfo}127.0.0.1:{port}{tail}", &url[..scheme_end])
}
