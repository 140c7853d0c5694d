//! A mutational fuzz harness on stable Rust (cargo-fuzz needs a nightly toolchain, which these
//! machines cannot install): every input of the seed corpus (`shared/fuzz/corpus/`) is mutated at
//! random (bit flips, inserted and deleted bytes, repeated and spliced ranges, protocol tokens)
//! and fed to every target that reads untrusted text. A target must never panic, and what it
//! accepts must survive its own round trip.
//!
//! `cargo test` runs a bounded number of inputs (`GRIDCAST_FUZZ_ITERATIONS`, default 20,000, a
//! few seconds); `./dev fuzz [iterations]` runs a long one in release mode. A failing input is
//! printed with its seed, so it can be added to the corpus.

use std::{panic, path::PathBuf};

use gridcast_shared::{
    codec::{EioPacket, SioPacket},
    presence::{check_display_name, check_room},
    recovery::{ConnectAuth, Offset, StreamId},
    session::ClientSession,
    validate,
};
use serde_json::Value;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that mean something to the codecs and parsers.
const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "-",
    ".",
    "0",
    "4",
    "2",
    "40",
    "42",
    "451-",
    "/",
    "\\u",
    "\\ud800",
    "null",
    "true",
    "1e999",
    "-0",
    "18446744073709551616",
    "99999999999999999999",
    "\"offset\":",
    "\"session\":",
    "_placeholder",
    "\u{200b}",
    "\u{202e}",
    "\u{0}",
    "é",
    "😀",
];

fn corpus() -> Vec<Vec<u8>> {
    // At run time: cargo sets it for `cargo test`, and a binary reused from a build in another
    // checkout (one shared target directory) would otherwise look there.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = PathBuf::from(manifest).join("fuzz/corpus");
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the seed corpus is missing");
    inputs
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if !data.is_empty() => {
                let end = (at + rng.below(8)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(16)).min(data.len());
                let chunk = data[start..end].repeat(1 + rng.below(4));
                data.splice(at..at, chunk);
            }
            4 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            5 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            _ => data.truncate(at),
        }
    }
    data
}

/// Every target on one input; panics (with the input) on a broken property.
fn run_targets(text: &str) {
    // Encoding what was decoded is a fixed point (compared as text: a JSON number too large for
    // an integer becomes a float on the first parse, as in every serde_json user).
    if let Ok(packet) = EioPacket::decode(text) {
        let once = packet.encode();
        let again = EioPacket::decode(&once).expect("an encoded packet decodes");
        assert_eq!(again.encode(), once, "Engine.IO round trip");
    }
    if let Ok(packet) = SioPacket::decode(text) {
        let once = packet.encode();
        let again = SioPacket::decode(&once).expect("an encoded packet decodes");
        assert_eq!(again.encode(), once, "Socket.IO round trip");
    }
    if let Ok(offset) = text.parse::<Offset>() {
        assert_eq!(offset.to_string().parse::<Offset>(), Ok(offset.clone()));
        assert!(offset.at >= StreamId::ZERO);
    }
    let json: Option<Value> = serde_json::from_str(text).ok();
    let _ = ConnectAuth::read(json.as_ref());
    let _ = ConnectAuth::read(Some(&Value::String(text.to_owned())));
    let _ = ConnectAuth::read(Some(&serde_json::json!({"offset": text, "session": text})));
    let _ = validate::message_text(Ok(&Value::String(text.to_owned())));
    if let Some(json) = &json {
        let _ = validate::message_text(Ok(json));
    }
    let _ = validate::check_text(text);
    let _ = validate::display_safe(text);
    let _ = check_display_name(text);
    let _ = check_room(text);
    // A client session that got a valid open packet, then this frame from the server.
    let mut session = ClientSession::new(None);
    session
        .receive(r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#)
        .expect("a valid open packet");
    let _ = session.receive(text);
    let _ = session.receive("40{\"sid\":\"x\"}");
    let _ = session.receive(text);
}

#[test]
fn no_input_panics_any_target_and_accepted_input_round_trips() {
    let iterations: u64 = std::env::var("GRIDCAST_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("GRIDCAST_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x6772_6964_6361_7374);
    let corpus = corpus();
    for input in &corpus {
        run_targets(&String::from_utf8_lossy(input));
    }
    let mut rng = Rng(seed);
    for n in 0..iterations {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base, &corpus);
        let text = String::from_utf8_lossy(&input).into_owned();
        if let Err(cause) = panic::catch_unwind(|| run_targets(&text)) {
            panic!(
                "input {n} (GRIDCAST_FUZZ_SEED={seed}) broke a target: {text:?}\ncause: {:?}",
                cause
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| cause.downcast_ref::<&str>().copied())
            );
        }
    }
}
