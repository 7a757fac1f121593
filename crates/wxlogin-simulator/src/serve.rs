//! Serving the router on a bound listener, over plain HTTP or TLS, with graceful shutdown.
//!
//! Every accepted connection is wrapped in a [`Conn`] carrying a [`ConnKill`] switch, handed
//! to handlers through axum's `ConnectInfo`. Flipping it makes the connection fail every
//! further read and write, so the `drop` fault closes the socket without a byte of response:
//! the closest a server can come to WeChat's gateway vanishing mid-call.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{Simulator, TlsIdentity};

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the shutdown signal, in-flight calls (a long `delay_ms` fault, say) get this long.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `simulator` on `listener` until `shutdown` resolves, over TLS when `tls` is given.
///
/// On shutdown no new connections are accepted and in-flight calls may finish for a few
/// seconds; then the function returns regardless.
pub async fn serve(
    listener: TcpListener,
    simulator: Simulator,
    tls: Option<TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = SimListener {
        tcp: listener,
        tls: tls.as_ref().map(TlsIdentity::acceptor),
        handshakes: JoinSet::new(),
    };
    let app = simulator
        .router()
        .into_make_service_with_connect_info::<ConnKill>();
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = fired_tx.send(());
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    let deadline = async move {
        match fired_rx.await {
            Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("in-flight calls did not finish in {SHUTDOWN_GRACE:?}; stopping anyway");
            Ok(())
        }
    }
}

/// The switch that silently kills one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    pub(crate) fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().kill.clone()
    }
}

/// A TCP listener that optionally completes TLS handshakes before handing connections over.
pub(crate) struct SimListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    /// Handshakes run concurrently, so one slow or silent client cannot stall `accept`.
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl Listener for SimListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // Cancel-safe, as axum requires: `TcpListener::accept` and `JoinSet::join_next` both
        // are, and pending handshakes live in `self`, not in this future.
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => {
                    let (stream, addr) = match accepted {
                        Ok(pair) => pair,
                        Err(err) => {
                            // Typically a client that reset before we got to it, or fd
                            // exhaustion; either way, back off briefly and keep serving.
                            tracing::debug!(%err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    match &self.tls {
                        None => return (Conn::new(Stream::Plain(stream)), addr),
                        Some(acceptor) => {
                            self.handshakes.spawn(handshake(acceptor.clone(), stream, addr));
                        }
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some((stream, addr))) = done {
                        return (Conn::new(Stream::Tls(Box::new(stream))), addr);
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A failed handshake (an untrusting client, a port scanner) is logged and forgotten.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some((tls, addr)),
        Ok(Err(err)) => {
            tracing::info!(%addr, %err, "tls handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(%addr, "tls handshake timed out");
            None
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection with its kill switch.
pub(crate) struct Conn {
    stream: Stream,
    kill: ConnKill,
}

impl Conn {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            kill: ConnKill::default(),
        }
    }

    fn killed() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection dropped by fault",
        )
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_triggered() {
            return Poll::Ready(Err(Self::killed()));
        }
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.kill.is_triggered() {
            return Poll::Ready(Err(Self::killed()));
        }
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_triggered() {
            return Poll::Ready(Err(Self::killed()));
        }
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.kill.is_triggered() {
            // No TLS close_notify, no orderly goodbye: the socket just closes when dropped.
            return Poll::Ready(Ok(()));
        }
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
