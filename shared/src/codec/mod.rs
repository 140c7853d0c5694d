//! Engine.IO v4 and Socket.IO v5 text codec.
//!
//! Only text frames are supported: gridcast never sends binary attachments, and a client decoding
//! one gets [`CodecError::Unsupported`] instead of a silent misparse. The two layers nest: a
//! WebSocket text frame is one [`EioPacket`]; an [`EioPacket::Message`] carries one [`SioPacket`].
//!
//! ```
//! use gridcast_shared::codec::{EioPacket, SioPacket};
//! let frame = EioPacket::Message(SioPacket::event("/", "message", vec!["hi".into()], None).encode());
//! assert_eq!(frame.encode(), r#"42["message","hi"]"#);
//! ```

mod engineio;
mod error;
mod socketio;

pub use engineio::{EioPacket, OpenPayload};
pub use error::CodecError;
pub use socketio::SioPacket;

/// The Engine.IO WebSocket URL of a server base URL: `http://h:3000` becomes
/// `ws://h:3000/socket.io/?EIO=4&transport=websocket` (and `https` becomes `wss`).
pub fn engine_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let ws = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some(("http", rest)) => format!("ws://{rest}"),
        _ => base.to_owned(),
    };
    format!(
        "{ws}{}?EIO=4&transport=websocket",
        crate::event::ENGINE_IO_PATH
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn engine_urls() {
        assert_eq!(
            super::engine_url("http://127.0.0.1:3000/"),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            super::engine_url("https://example.org"),
            "wss://example.org/socket.io/?EIO=4&transport=websocket"
        );
    }
}
