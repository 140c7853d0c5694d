//! Our codec against socketioxide's own parsers: what we encode they decode to the same packet,
//! and what they encode we decode to the same packet.

use engineioxide_core::{Packet as RefEio, ProtocolVersion};
use gridcast_shared::codec::{EioPacket, SioPacket};
use serde_json::{Value as Json, json};
use socketioxide_core::{
    Str, Value,
    packet::{Packet as RefSio, PacketData},
    parser::{Parse, ParseConfig, ParserState},
};
use socketioxide_parser_common::CommonParser;

fn their_decode(text: String) -> RefSio {
    CommonParser
        .decode_str(
            &ParseConfig::default(),
            &ParserState::default(),
            Str::from(text),
        )
        .expect("socketioxide decodes our packet")
}

fn their_encode(packet: RefSio) -> String {
    match CommonParser.encode(packet) {
        Value::Str(s, None) => s.as_str().to_owned(),
        other => panic!("unexpected binary encoding {other:?}"),
    }
}

/// The JSON array of arguments a socketioxide event value holds (event name first).
fn event_array(value: &Value) -> Json {
    let Value::Str(s, _) = value else {
        panic!("binary")
    };
    serde_json::from_str(s.as_str()).unwrap()
}

fn their_event(event: &str, args: &[Json]) -> Value {
    let mut all = vec![json!(event)];
    all.extend_from_slice(args);
    Value::Str(Str::from(Json::Array(all).to_string()), None)
}

#[test]
fn socketioxide_decodes_our_events_and_acks() {
    let args = vec![json!("héllo \"quoted\" <b>"), json!({"id": "x-1", "n": 3})];
    for (nsp, id) in [
        ("/", None),
        ("/", Some(42)),
        ("/chat", Some(0)),
        ("/chat", None),
    ] {
        let ours = SioPacket::event(nsp, "message", args.clone(), id);
        let theirs = their_decode(ours.encode());
        assert_eq!(theirs.ns.as_str(), nsp);
        match theirs.inner {
            PacketData::Event(value, their_id) => {
                assert_eq!(their_id, id.map(|i| i as i64));
                assert_eq!(event_array(&value), json!(["message", args[0], args[1]]));
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    let ack = SioPacket::Ack {
        nsp: "/".into(),
        id: 7,
        args: vec![json!({"ok": true})],
    };
    match their_decode(ack.encode()).inner {
        PacketData::EventAck(value, 7) => {
            let Value::Str(s, _) = value else {
                panic!("binary")
            };
            assert_eq!(
                serde_json::from_str::<Json>(s.as_str()).unwrap(),
                json!([{"ok": true}])
            );
        }
        other => panic!("decoded as {other:?}"),
    }

    let connect = SioPacket::Connect {
        nsp: "/".into(),
        data: None,
    };
    assert!(matches!(
        their_decode(connect.encode()).inner,
        PacketData::Connect(None)
    ));
}

#[test]
fn we_decode_what_socketioxide_encodes() {
    let args = [
        json!("hi"),
        json!({"origin": "abcd", "received_at": 1764110000123u64}),
    ];
    let cases = [
        (
            RefSio::event("/", their_event("message", &args)),
            SioPacket::event("/", "message", args.to_vec(), None),
        ),
        (
            RefSio::ack(
                "/",
                Value::Str(Str::from(r#"[{"ok":true}]"#.to_owned()), None),
                12,
            ),
            SioPacket::Ack {
                nsp: "/".into(),
                id: 12,
                args: vec![json!({"ok": true})],
            },
        ),
        (
            RefSio::connect(
                "/",
                Some(Value::Str(Str::from(r#"{"sid":"abc"}"#.to_owned()), None)),
            ),
            SioPacket::Connect {
                nsp: "/".into(),
                data: Some(json!({"sid": "abc"})),
            },
        ),
        (
            RefSio::connect_error("/admin", "Not authorized"),
            SioPacket::ConnectError {
                nsp: "/admin".into(),
                message: "Not authorized".into(),
            },
        ),
        (
            RefSio::disconnect("/"),
            SioPacket::Disconnect { nsp: "/".into() },
        ),
    ];
    for (theirs, ours) in cases {
        let text = their_encode(theirs);
        assert_eq!(SioPacket::decode(&text).unwrap(), ours, "{text}");
    }
}

#[test]
fn engine_io_frames_agree_with_engineioxide() {
    let cases = [
        (EioPacket::Ping(None), RefEio::Ping),
        (EioPacket::Pong(None), RefEio::Pong),
        (EioPacket::Ping(Some("probe".into())), RefEio::PingUpgrade),
        (EioPacket::Pong(Some("probe".into())), RefEio::PongUpgrade),
        (EioPacket::Close, RefEio::Close),
        (EioPacket::Upgrade, RefEio::Upgrade),
        (EioPacket::Noop, RefEio::Noop),
        (
            EioPacket::Message(r#"2["message","hi"]"#.into()),
            RefEio::Message(Str::from(r#"2["message","hi"]"#.to_owned())),
        ),
    ];
    for (ours, theirs) in cases {
        assert_eq!(
            RefEio::parse(ProtocolVersion::V4, ours.encode()).unwrap(),
            theirs.clone()
        );
        assert_eq!(EioPacket::decode(&String::from(theirs)).unwrap(), ours);
    }

    // The open packet engineioxide sends is read field by field.
    let open = RefEio::Open(engineioxide_core::OpenPacket::default());
    let EioPacket::Open(ours) = EioPacket::decode(&String::from(open)).unwrap() else {
        panic!("not an open packet");
    };
    assert_eq!(ours.ping_interval, 25_000);
    assert_eq!(ours.ping_timeout, 20_000);
    assert!(!ours.sid.is_empty());
}
