//! One entry of the history stream as gridcast writes it ([`Record`]), and the reading of
//! `XREAD`/`XRANGE` answers into [`Page`]s of them.
//!
//! An answer is read straight from redis-rs' values: the fields gridcast knows are moved out by
//! name, the others ignored, with no map built per entry (a reader reads every entry of the
//! cluster, wanted or not: `docs/benchmarks.md`, "The ceiling of one history stream").
//!
//! Invariant: a page says where it ends ([`Page::last`]) whether or not its entries could be read,
//! so readers move past an entry they cannot read. An entry without gridcast's fields (written
//! by something else, or by a later format) at the stream's end kept the live reader asking for
//! it again and again (~18,000 warnings a second) until the next message; and a page it
//! shortened looked like a replay's last (the attach's catch-up read on from there).

use gridcast_shared::recovery::StreamId;
use redis::Value;

use super::link::LinkError;

/// One broadcast as the history holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The event name (`message`, `room_message`, `direct`).
    pub event: String,
    /// Who gets it: `*` (everyone), `r:<room>`, or `d:<to>:<from>` (public ids).
    pub target: String,
    /// The event arguments as JSON, without offsets, and without the text when `text` holds it.
    pub payload: String,
    /// The message text, stored as it is (`x`): in `payload`, JSON would store a control
    /// character as six bytes. `None` in entries of the previous format, whose payload holds it.
    pub text: Option<String>,
    /// The instance the sender was connected to.
    pub origin: String,
    /// The message id (`MessageMeta::id`), unique in the cluster.
    pub message_id: String,
    /// Its number in the origin's outbox, when it was delivered there during an outage first.
    pub outbox_seq: Option<u64>,
}

/// A record with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The entry id: the offset.
    pub id: StreamId,
    /// The broadcast.
    pub record: Record,
}

/// The entries of one answer, in its order.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The entries that could be read.
    pub entries: Vec<Stored>,
    /// How many entries the answer held, readable or not (a page is full when it holds as
    /// many as asked for).
    pub read: usize,
    /// The id of the answer's first entry, readable or not.
    pub first: Option<StreamId>,
    /// The id of the answer's last entry, readable or not: where a reader goes on from.
    pub last: Option<StreamId>,
}

/// Parses an entry id.
pub(super) fn parse_id(text: &str) -> Result<StreamId, LinkError> {
    text.parse()
        .map_err(|e| LinkError::Reply(format!("stream id {text:?}: {e}")))
}

/// The page of an `XRANGE`/`XREVRANGE` answer on the stream `key` (named in warnings).
pub(super) fn page(value: Value, key: &str) -> Result<Page, LinkError> {
    let mut page = Page::default();
    add_entries(&mut page, value, key)?;
    Ok(page)
}

/// The page of an `XREAD` answer for one stream: nil when the block timed out; a map (RESP3)
/// or an array of `[key, entries]` pairs (RESP2).
pub(super) fn read_page(value: Value, key: &str) -> Result<Page, LinkError> {
    let mut page = Page::default();
    match value {
        Value::Nil => {}
        Value::Map(streams) => {
            for (_, stream) in streams {
                add_entries(&mut page, stream, key)?;
            }
        }
        Value::Array(streams) => {
            for stream in streams {
                let [_, stream] = pair(stream, "XREAD answer", "a [key, entries]")?;
                add_entries(&mut page, stream, key)?;
            }
        }
        other => return Err(LinkError::Reply(format!("XREAD answer: {other:?}"))),
    }
    Ok(page)
}

/// Adds the entries of `value`, an array of `[id, fields]`, to `page`.
fn add_entries(page: &mut Page, value: Value, key: &str) -> Result<(), LinkError> {
    let entries = match value {
        Value::Array(entries) => entries,
        Value::Nil => return Ok(()),
        other => return Err(LinkError::Reply(format!("stream entries: {other:?}"))),
    };
    page.entries.reserve(entries.len());
    for entry in entries {
        let [id, fields] = pair(entry, "stream entry", "an [id, fields]")?;
        let id = string(id)
            .ok_or_else(|| LinkError::Reply("stream entry id: not a string".into()))
            .and_then(|id| parse_id(&id))?;
        page.read += 1;
        page.first.get_or_insert(id);
        page.last = Some(id);
        match record(fields) {
            Some(record) => page.entries.push(Stored { id, record }),
            None => tracing::warn!(%key, %id, "unreadable history entry skipped"),
        }
    }
    Ok(())
}

/// The two parts of `value`, an array of two (`what` and `shape` name it in errors).
fn pair(value: Value, what: &str, shape: &str) -> Result<[Value; 2], LinkError> {
    let Value::Array(parts) = value else {
        return Err(LinkError::Reply(format!("{what}: {value:?}")));
    };
    <[Value; 2]>::try_from(parts).map_err(|_| LinkError::Reply(format!("{what}: not {shape} pair")))
}

/// The record of an entry's fields (a flat array of names and values, or a map), or `None`
/// when one gridcast needs is missing or unreadable.
fn record(fields: Value) -> Option<Record> {
    let pairs: Vec<(Value, Value)> = match fields {
        Value::Array(flat) => {
            let mut flat = flat.into_iter();
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                pairs.push((name, value));
            }
            pairs
        }
        Value::Map(pairs) => pairs,
        _ => return None,
    };
    let [mut e, mut t, mut p, mut x, mut o, mut m, mut q]: [Option<String>; 7] = Default::default();
    for (name, value) in pairs {
        let slot: &mut Option<String> = match name {
            Value::BulkString(ref name) => match name.as_slice() {
                b"e" => &mut e,
                b"t" => &mut t,
                b"p" => &mut p,
                b"x" => &mut x,
                b"o" => &mut o,
                b"m" => &mut m,
                b"q" => &mut q,
                _ => continue,
            },
            _ => continue,
        };
        // A field present but unreadable makes the entry unreadable, not a missing field.
        *slot = Some(string(value)?);
    }
    Some(Record {
        event: e?,
        target: t?,
        payload: p?,
        text: x,
        origin: o?,
        message_id: m?,
        outbox_seq: match q {
            Some(q) => Some(q.parse().ok()?),
            None => None,
        },
    })
}

/// A string value (moved, not copied), or `None` for anything else or invalid UTF-8.
fn string(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    /// Every field gridcast writes is read back, others are ignored, and an entry without
    /// gridcast's fields is skipped while the page still ends at it.
    #[test]
    fn pages_read_gridcast_entries_and_end_at_the_last_entry_read() {
        let ours = [
            "e", "message", "t", "*", "p", "[]", "x", "hi", "o", "i1", "m", "id1", "q", "3",
            "extra", "ignored",
        ];
        let answer = Value::Array(vec![
            entry("1-0", &["foo", "bar"]),
            entry("2-0", &ours),
            entry("3-0", &["e", "message", "t", "*"]),
        ]);
        let page = page(answer, "k").unwrap();
        assert_eq!(page.read, 3);
        assert_eq!(page.first, Some("1-0".parse().unwrap()));
        assert_eq!(page.last, Some("3-0".parse().unwrap()));
        assert_eq!(page.entries.len(), 1);
        let Stored { id, record } = &page.entries[0];
        assert_eq!(*id, "2-0".parse().unwrap());
        assert_eq!(
            *record,
            Record {
                event: "message".into(),
                target: "*".into(),
                payload: "[]".into(),
                text: Some("hi".into()),
                origin: "i1".into(),
                message_id: "id1".into(),
                outbox_seq: Some(3),
            }
        );
    }

    /// An `XREAD` answer in RESP3 (a map of streams) and RESP2 (pairs), and a block that timed
    /// out.
    #[test]
    fn read_answers_of_both_protocols_and_nil() {
        let fields = ["e", "message", "t", "*", "p", "[]", "o", "i1", "m", "id1"];
        let entries = Value::Array(vec![entry("5-1", &fields)]);
        let resp3 = Value::Map(vec![(bulk("k"), entries.clone())]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), entries])]);
        for answer in [resp3, resp2] {
            let page = read_page(answer, "k").unwrap();
            assert_eq!(page.entries.len(), 1);
            assert_eq!(page.last, Some("5-1".parse().unwrap()));
        }
        let nothing = read_page(Value::Nil, "k").unwrap();
        assert_eq!((nothing.read, nothing.last), (0, None));
        // A text that is not UTF-8, or an outbox number that is not one, makes the entry
        // unreadable.
        for (name, bad) in [("x", Value::BulkString(vec![0xff])), ("q", bulk("three"))] {
            let mut fields = fields.map(bulk).to_vec();
            fields.extend([bulk(name), bad]);
            let entry = Value::Array(vec![bulk("6-0"), Value::Array(fields)]);
            let unreadable = page(Value::Array(vec![entry]), "k").unwrap();
            assert_eq!(
                (unreadable.read, unreadable.entries.len()),
                (1, 0),
                "{name}"
            );
        }
    }
}
