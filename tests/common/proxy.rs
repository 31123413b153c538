//! A TCP forwarder on 127.0.0.1 that a test can take down and bring back, to play a
//! shard server that goes away and returns at the same address.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct Proxy {
    port: u16,
    target: SocketAddr,
    running: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    /// When set, the next client message holding these bytes is sent on to the server and
    /// then the connection is cut, before any answer can come back.
    cut_after: Arc<Mutex<Option<Vec<u8>>>>,
    /// While set, bytes are read but held, in both directions, and nothing is closed:
    /// a network that stalls.
    stalled: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Forwards a fresh port on 127.0.0.1 to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mut proxy = Proxy {
            port,
            target,
            running: Arc::new(AtomicBool::new(false)),
            streams: Arc::new(Mutex::new(Vec::new())),
            cut_after: Arc::new(Mutex::new(None)),
            stalled: Arc::new(AtomicBool::new(false)),
            acceptor: None,
        };
        proxy.serve(listener);
        proxy
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        self.running.store(true, Ordering::SeqCst);
        let (running, streams, target, cut_after, stalled) = (
            Arc::clone(&self.running),
            Arc::clone(&self.streams),
            self.target,
            Arc::clone(&self.cut_after),
            Arc::clone(&self.stalled),
        );
        self.acceptor = Some(thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = forward(client, target, &streams, &cut_after, &stalled);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        }));
    }

    /// Takes the "server" down: stops listening and cuts every open connection.
    pub fn stop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Arms a one-shot cut: the next message a client sends that contains `pattern` (such
    /// as `COMMIT`) reaches the server, and the connection is cut at once, so the client
    /// never learns the outcome.
    pub fn cut_after(&self, pattern: &[u8]) {
        *self.cut_after.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Whether an armed cut has happened.
    pub fn has_cut(&self) -> bool {
        self.cut_after.lock().unwrap().is_none()
    }

    /// Stalls the network: from now on bytes are held in both directions (new
    /// connections are accepted, and held too), and nothing is closed or refused.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Ends a stall: the held bytes go on, in order.
    pub fn unstall(&self) {
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// Brings it back on the same port.
    pub fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind proxy port");
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn forward(
    client: TcpStream,
    target: SocketAddr,
    streams: &Mutex<Vec<TcpStream>>,
    cut_after: &Arc<Mutex<Option<Vec<u8>>>>,
    stalled: &Arc<AtomicBool>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    let (client2, server2) = (client.try_clone()?, server.try_clone()?);
    {
        let mut all = streams.lock().unwrap();
        all.push(client.try_clone()?);
        all.push(server.try_clone()?);
    }
    pipe_client(client, server, Arc::clone(cut_after), Arc::clone(stalled));
    pipe(server2, client2, Arc::clone(stalled));
    Ok(())
}

/// Client to server, watching for an armed cut.
fn pipe_client(
    from: TcpStream,
    to: TcpStream,
    cut_after: Arc<Mutex<Option<Vec<u8>>>>,
    stalled: Arc<AtomicBool>,
) {
    relay(from, to, Some(cut_after), stalled);
}

/// Server to client.
fn pipe(from: TcpStream, to: TcpStream, stalled: Arc<AtomicBool>) {
    relay(from, to, None, stalled);
}

/// Copies `from` to `to` on a thread of its own, holding bytes while stalled and, with
/// `cut_after`, cutting the connection after an armed pattern went by.
fn relay(
    mut from: TcpStream,
    mut to: TcpStream,
    cut_after: Option<Arc<Mutex<Option<Vec<u8>>>>>,
    stalled: Arc<AtomicBool>,
) {
    use std::io::{Read, Write};
    thread::spawn(move || {
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            hold_while(&stalled);
            let chunk = &buf[..n];
            if let Some(cut_after) = &cut_after {
                let mut armed = cut_after.lock().unwrap();
                let hit = armed
                    .as_ref()
                    .is_some_and(|p| chunk.windows(p.len()).any(|w| w == p.as_slice()));
                if hit {
                    *armed = None;
                    drop(armed);
                    // The client hears nothing more; the server gets the message, then EOF.
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.write_all(chunk);
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
            }
            if to.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Holds the bytes in hand while the proxy is stalled (bounded: a test that forgets to
/// end its stall does not hang its threads for more than ten minutes).
fn hold_while(stalled: &AtomicBool) {
    for _ in 0..120_000 {
        if !stalled.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// `url` with its `host:port` replaced by `127.0.0.1:port`.
pub fn with_port(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let tail = hostpart.find('/').map_or("", |i| &hostpart[i..]);
    format!("{}{userinfo}127.0.0.1:{port}{tail}", &url[..scheme_end])
}

/// The `host:port` of a database URL, as a socket address.
pub fn address_of(url: &str) -> SocketAddr {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = hostpart.split('/').next().unwrap_or(hostpart);
    use std::net::ToSocketAddrs;
    host_port
        .to_socket_addrs()
        .expect("resolve")
        .next()
        .expect("an address")
}

#[test]
fn with_port_rewrites_the_host() {
    assert_eq!(
        with_port("postgres://u@db:5432/x", 9),
        "postgres://u@127.0.0.1:9/x"
    );
    assert_eq!(
        with_port("mysql://root:pw@127.0.0.1:3306/db?a=b", 7),
        "mysql://root:pw@127.0.0.1:7/db?a=b"
    );
}
