//! A TCP fault proxy for outage tests: put it between a client (the lakehouse) and a server
//! (moto_server), then switch what the "network" does while the test runs.
//!
//! ```no_run
//! # async fn example(s3: &test_support::S3Server) {
//! use test_support::{FaultMode, FaultProxy};
//! let upstream = s3.endpoint().trim_start_matches("http://").parse().unwrap();
//! let proxy = FaultProxy::start(upstream);
//! // Point the lakehouse at `proxy.endpoint()` instead of `s3.endpoint()`, then:
//! proxy.set_mode(FaultMode::Reset); // every connection is reset (ECONNRESET)
//! proxy.set_mode(FaultMode::Stall); // connections hang: no byte passes, nothing answers
//! proxy.set_mode(FaultMode::Forward); // healthy again
//! # }
//! ```
//!
//! The proxy runs on its own thread with its own Tokio runtime, so it keeps forwarding
//! whatever the test's runtime is doing (blocking, or not a Tokio test at all), and dropping
//! it stops the thread, the listener and every connection.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections; switch with [`FaultProxy::set_mode`] at any time.
/// A switch applies to new connections and to every open one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// Each connection is forwarded to the upstream byte for byte, both ways (half-closes
    /// too). A connection the upstream refuses or resets is reset towards the client.
    Forward,
    /// Every connection is closed with `SO_LINGER` 0, so the client sees `ECONNRESET`: the
    /// open ones at once (and their upstream side too), new ones as soon as they are accepted.
    Reset,
    /// Connections hang: new ones are accepted and never answered (nothing is read, no
    /// upstream connection is made); open ones stop forwarding in both directions. Bytes the
    /// client sends stay unread in the kernel's buffers. Switching back to `Forward` resumes
    /// every stalled connection where it stopped (a healed partition); switching to `Reset`
    /// resets them.
    Stall,
}

/// A TCP proxy on a free loopback port in front of `upstream`; see the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<FaultMode>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts forwarding (mode [`FaultMode::Forward`]) from a free port on 127.0.0.1 to
    /// `upstream`. The listener is bound before this returns.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        // Bound here and kept: a port from bind(0) is never released and reused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let (mode, mode_rx) = watch::channel(FaultMode::Forward);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(thread_name(addr))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = accept_loop(listener, upstream, mode_rx) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime aborts every connection task and closes its sockets.
                drop(runtime);
            })
            .expect("spawn the proxy thread");
        FaultProxy {
            addr,
            mode,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, to configure as the client's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode; it applies at once to new and open connections.
    pub fn set_mode(&self, mode: FaultMode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> FaultMode {
        *self.mode.borrow()
    }
}

impl Drop for FaultProxy {
    /// Stops the listener and every connection, and joins the proxy's thread.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<FaultMode>,
) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(serve_connection(client, upstream, mode.clone()));
            }
            // Out of file descriptors or the like: back off briefly rather than spin.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

/// The proxy thread's name (at most 15 bytes: Linux keeps no more).
fn thread_name(addr: SocketAddr) -> String {
    format!("fproxy-{}", addr.port())
}

/// The error a pump stops with when the mode says reset (or the proxy is going away).
fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fault proxy: reset")
}

/// Waits while the mode is `Stall`; `Ok` when it is `Forward`, `Err` when `Reset`.
async fn until_forward(mode: &mut watch::Receiver<FaultMode>) -> io::Result<()> {
    loop {
        match *mode.borrow_and_update() {
            FaultMode::Forward => return Ok(()),
            FaultMode::Reset => return Err(reset_error()),
            FaultMode::Stall => {}
        }
        mode.changed().await.map_err(|_| reset_error())?;
    }
}

/// Closes `stream` so that its peer sees a reset (RST, not FIN).
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve_connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<FaultMode>,
) {
    // A new connection: reset at once, or stalled (nothing read, no upstream) until the
    // mode changes.
    if until_forward(&mut mode).await.is_err() {
        return reset(client);
    }
    let upstream = match TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(_) => return reset(client),
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client, mut upstream) = (client, upstream);
    let outcome = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        tokio::try_join!(
            pump(client_read, upstream_write, mode.clone()),
            pump(upstream_read, client_write, mode.clone()),
        )
    };
    if outcome.is_err() {
        // A reset (by the mode or by either peer) resets both sides.
        reset(client);
        reset(upstream);
    }
}

/// Copies `from` to `to` while the mode is `Forward`; stops copying (mid-chunk too) while it
/// is `Stall`; fails when it is `Reset`. At `from`'s end, half-closes `to`.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<FaultMode>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        until_forward(&mut mode).await?;
        let n = tokio::select! {
            read = from.read(&mut buf) => read?,
            _ = mode.changed() => continue,
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let mut sent = 0;
        while sent < n {
            until_forward(&mut mode).await?;
            tokio::select! {
                written = to.write(&buf[sent..n]) => match written? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    w => sent += w,
                },
                _ = mode.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{FaultMode, FaultProxy};

    const LIMIT: Duration = Duration::from_secs(10);

    /// A loopback echo server; its task ends with the test's runtime.
    async fn echo_server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn connect(proxy: &FaultProxy) -> TcpStream {
        tokio::time::timeout(LIMIT, TcpStream::connect(proxy.addr()))
            .await
            .expect("connect within the limit")
            .expect("connect")
    }

    /// Sends `text` and reads back as many bytes, within `limit`.
    async fn echo(stream: &mut TcpStream, text: &[u8], limit: Duration) -> Outcome {
        if let Err(e) = stream.write_all(text).await {
            return Outcome::Error(e.kind());
        }
        let mut back = vec![0u8; text.len()];
        match tokio::time::timeout(limit, stream.read_exact(&mut back)).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(e)) => Outcome::Error(e.kind()),
            Ok(Ok(_)) => Outcome::Echoed(back),
        }
    }

    /// What a client saw: bytes (empty = EOF), nothing within the limit, or an error.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Echoed(Vec<u8>),
        TimedOut,
        Error(std::io::ErrorKind),
    }

    /// Reads until an error, EOF or `limit`: what the client sees of a reset.
    async fn read_outcome(stream: &mut TcpStream, limit: Duration) -> Outcome {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(e)) => Outcome::Error(e.kind()),
            Ok(Ok(n)) => Outcome::Echoed(buf[..n].to_vec()),
        }
    }

    #[tokio::test]
    async fn forwards_both_ways_byte_for_byte() {
        let proxy = FaultProxy::start(echo_server().await);
        assert!(proxy.endpoint().starts_with("http://127.0.0.1:"));
        assert_eq!(proxy.mode(), FaultMode::Forward);
        let mut stream = connect(&proxy).await;
        assert_eq!(
            echo(&mut stream, b"hello", LIMIT).await,
            Outcome::Echoed(b"hello".to_vec())
        );
        // A body larger than the proxy's buffer and the socket buffers, in both directions
        // at once.
        let big = crate::pseudo_random(3 << 20, 7);
        let (mut r, mut w) = stream.into_split();
        let sent = big.clone();
        let writer = tokio::spawn(async move { w.write_all(&sent).await.map(|_| w) });
        let mut back = vec![0u8; big.len()];
        tokio::time::timeout(LIMIT, r.read_exact(&mut back))
            .await
            .expect("echoed within the limit")
            .unwrap();
        assert!(back == big, "3 MiB echoed byte for byte");
        let mut w = writer.await.unwrap().unwrap();
        // A half-close passes through: the echo server ends its side, the client sees EOF.
        w.shutdown().await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(LIMIT, r.read_to_end(&mut rest))
            .await
            .expect("EOF within the limit")
            .unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn reset_resets_open_and_new_connections_and_forward_heals() {
        let proxy = FaultProxy::start(echo_server().await);
        let mut open = connect(&proxy).await;
        assert_eq!(
            echo(&mut open, b"before", LIMIT).await,
            Outcome::Echoed(b"before".to_vec())
        );

        proxy.set_mode(FaultMode::Reset);
        assert_eq!(
            read_outcome(&mut open, LIMIT).await,
            Outcome::Error(std::io::ErrorKind::ConnectionReset),
            "an open connection is reset"
        );
        for _ in 0..3 {
            // The reset can beat the connect's own completion on loopback.
            let outcome = match tokio::time::timeout(LIMIT, TcpStream::connect(proxy.addr()))
                .await
                .expect("connect within the limit")
            {
                Ok(mut new) => read_outcome(&mut new, LIMIT).await,
                Err(e) => Outcome::Error(e.kind()),
            };
            assert_eq!(
                outcome,
                Outcome::Error(std::io::ErrorKind::ConnectionReset),
                "a new connection is reset"
            );
        }
        // An HTTP client sees it as a failed request.
        common::tls::install_provider();
        let http = reqwest::Client::new()
            .get(format!("{}/x", proxy.endpoint()))
            .timeout(LIMIT)
            .send()
            .await;
        assert!(http.is_err(), "{http:?}");

        proxy.set_mode(FaultMode::Forward);
        let mut again = connect(&proxy).await;
        assert_eq!(
            echo(&mut again, b"after", LIMIT).await,
            Outcome::Echoed(b"after".to_vec())
        );
    }

    #[tokio::test]
    async fn stall_answers_nothing_until_forward_resumes() {
        let proxy = FaultProxy::start(echo_server().await);
        let mut open = connect(&proxy).await;
        assert_eq!(
            echo(&mut open, b"1", LIMIT).await,
            Outcome::Echoed(b"1".to_vec())
        );

        proxy.set_mode(FaultMode::Stall);
        let short = Duration::from_millis(300);
        assert_eq!(
            echo(&mut open, b"2", short).await,
            Outcome::TimedOut,
            "an open connection stops forwarding"
        );
        let mut new = connect(&proxy).await;
        assert_eq!(
            echo(&mut new, b"3", short).await,
            Outcome::TimedOut,
            "a new connection is accepted and never answered"
        );
        common::tls::install_provider();
        let http = reqwest::Client::new()
            .get(format!("{}/x", proxy.endpoint()))
            .timeout(short)
            .send()
            .await;
        assert!(http.as_ref().is_err_and(|e| e.is_timeout()), "{http:?}");

        proxy.set_mode(FaultMode::Forward);
        let mut fresh = connect(&proxy).await;
        assert_eq!(
            echo(&mut fresh, b"4", LIMIT).await,
            Outcome::Echoed(b"4".to_vec()),
            "new connections work again"
        );
        // The stalled ones resume where they stopped.
        let mut back = [0u8; 1];
        for (stream, expected) in [(&mut open, b"2"), (&mut new, b"3")] {
            tokio::time::timeout(LIMIT, stream.read_exact(&mut back))
                .await
                .expect("resumed within the limit")
                .unwrap();
            assert_eq!(&back, expected);
        }

        // Stall then reset: a stalled connection is reset too.
        proxy.set_mode(FaultMode::Stall);
        assert_eq!(echo(&mut fresh, b"5", short).await, Outcome::TimedOut);
        proxy.set_mode(FaultMode::Reset);
        assert_eq!(
            read_outcome(&mut fresh, LIMIT).await,
            Outcome::Error(std::io::ErrorKind::ConnectionReset)
        );
    }

    #[tokio::test]
    async fn drop_closes_the_port_and_every_connection() {
        let proxy = FaultProxy::start(echo_server().await);
        let addr = proxy.addr();
        let mut open = connect(&proxy).await;
        assert_eq!(
            echo(&mut open, b"x", LIMIT).await,
            Outcome::Echoed(b"x".to_vec())
        );
        let name = super::thread_name(addr);
        assert!(thread_names().contains(&name), "the proxy's thread runs");
        drop(proxy);
        assert!(
            !thread_names().contains(&name),
            "the proxy's thread is joined"
        );
        // The open connection ends (EOF or reset, not a hang) and the port is closed.
        match read_outcome(&mut open, LIMIT).await {
            Outcome::Echoed(bytes) => assert!(bytes.is_empty(), "EOF, got {bytes:?}"),
            Outcome::Error(_) => {}
            Outcome::TimedOut => panic!("an open connection outlived the proxy"),
        }
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is closed"
        );
    }

    /// The names of this process's threads (Linux).
    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    }
}
