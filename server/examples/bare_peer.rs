//! The bare peer: the smallest socketioxide + socketioxide-redis cluster member, for benchmarks
//! (`./dev bench --peer`). It broadcasts every `message` to every client of the cluster, like the
//! Node.js reference, with TCP_NODELAY and nothing else: no validation, metadata, rate limit,
//! presence, history or recovery. Usage: `bare_peer <port> <redis url>`.

use axum::serve::ListenerExt;
use socketioxide::{
    SocketIo,
    adapter::Emitter,
    extract::{Data, SocketRef},
};
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr, drivers::redis::redis_client as redis};

type Peer = RedisAdapter<Emitter>;

async fn on_message(io: SocketIo<Peer>, Data(text): Data<serde_json::Value>) {
    let _ = io.emit("message", &text).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or("usage: bare_peer <port> <redis url>")?
        .parse()?;
    let url = args.next().ok_or("usage: bare_peer <port> <redis url>")?;
    let client = redis::Client::open(format!("{url}/?protocol=resp3"))?;
    let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
    let (layer, io) = SocketIo::builder()
        .with_adapter::<Peer>(adapter)
        .build_layer();
    io.ns("/", async |socket: SocketRef<Peer>| {
        socket.on("message", on_message)
    })
    .await?;
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await?;
    Ok(())
}
