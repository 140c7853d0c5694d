//! How the native client opens its WebSocket: from which local address, with which buffer. It
//! knows WebSocket and TCP only; Socket.IO framing is [`probe`](super::probe)'s.

use std::net::IpAddr;

use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::protocol::WebSocketConfig};

/// Bytes read from the socket at a time. tungstenite's default read buffer (128 KiB) is zeroed
/// on every read: a third of a load generator's CPU went to that memset. Socket.IO frames here
/// are small.
const READ_BUFFER: usize = 4096;

/// The WebSocket at the engine URL `url` (`ws://` or `wss://`), from `local` if given (plain
/// `ws://` only), or why not.
pub(super) async fn websocket(
    url: &str,
    local: Option<IpAddr>,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, String> {
    let config = Some(WebSocketConfig::default().read_buffer_size(READ_BUFFER));
    let ws = match local {
        None => tokio_tungstenite::connect_async_with_config(url, config, true).await,
        Some(local) => {
            let tcp = tcp_from(url, local).await.map_err(|e| e.to_string())?;
            tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(tcp), config)
                .await
        }
    };
    ws.map(|(ws, _)| ws).map_err(|e| e.to_string())
}

/// A TCP connection (`TCP_NODELAY`) from `local` to the host of the `ws://` URL `url`.
async fn tcp_from(url: &str, local: IpAddr) -> std::io::Result<TcpStream> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| std::io::Error::other(format!("not a ws:// URL: {url}")))?;
    let server = tokio::net::lookup_host(authority)
        .await?
        .find(|addr| addr.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| std::io::Error::other(format!("no address of {authority} for {local}")))?;
    let socket = match local {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind((local, 0).into())?;
    socket.set_nodelay(true)?;
    socket.connect(server).await
}
