//! The socket pair of a hub: a Unix socket pair, or on Windows (which has none) a loopback
//! TCP pair, as asyncio's own self-pipe uses there.

/// One end of the pair.
#[cfg(unix)]
pub use std::os::unix::net::UnixStream as Socket;

/// One end of the pair.
#[cfg(windows)]
pub use std::net::TcpStream as Socket;

/// A connected pair (writer, reader).
#[cfg(unix)]
pub fn pair() -> std::io::Result<(Socket, Socket)> {
    Socket::pair()
}

/// A connected pair (writer, reader) over loopback; a stranger connecting first is refused.
#[cfg(windows)]
pub fn pair() -> std::io::Result<(Socket, Socket)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let tx = Socket::connect(listener.local_addr()?)?;
    let (rx, peer) = listener.accept()?;
    if peer != tx.local_addr()? {
        return Err(std::io::Error::other("an unexpected peer connected to the hub's socket"));
    }
    tx.set_nodelay(true)?;
    Ok((tx, rx))
}

/// The number `loop.add_reader` takes for `socket`.
#[cfg(unix)]
pub fn fileno(socket: &Socket) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(socket.as_raw_fd())
}

/// The number `loop.add_reader` takes for `socket`.
#[cfg(windows)]
pub fn fileno(socket: &Socket) -> i64 {
    use std::os::windows::io::AsRawSocket;
    // SOCKET handles fit in an i64 (asyncio keeps them as Python ints).
    i64::try_from(socket.as_raw_socket()).unwrap_or(i64::MAX)
}
