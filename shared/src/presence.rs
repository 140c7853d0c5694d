//! Presence, rooms and direct messages: payloads and name rules.

use serde::{Deserialize, Serialize};

use crate::{
    message::MessageMeta,
    script,
    validate::{Rejection, RejectionCode, is_invisible},
};

/// Longest display name or room name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Rooms one socket may be in at once.
pub const MAX_ROOMS_PER_SOCKET: usize = 16;

/// One connected client, anywhere in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Public id: random, chosen by the server at connect, and the only name other clients ever
    /// learn for this client (the address of [`DIRECT`](crate::event::DIRECT), `sender` in
    /// [`MessageMeta`]). It is not the Engine.IO session id, which stays a secret between one
    /// client and its instance.
    pub id: String,
    /// Id of the instance it is connected to.
    pub instance: String,
    /// Base URL of that instance.
    pub instance_url: String,
    /// Display name (empty until the user sets one).
    pub name: String,
    /// When it connected, in milliseconds since the Unix epoch.
    pub since: u64,
    /// Rooms it is in, sorted.
    pub rooms: Vec<String>,
}

/// Most members in one `presence` page: a 10,000-client cluster's list is about 1.5 MB of JSON,
/// too much for one ack.
pub const PRESENCE_PAGE: usize = 500;

/// Argument of [`PRESENCE`](crate::event::PRESENCE) (optional: none, or `null`, asks for the
/// first page of [`PRESENCE_PAGE`] members).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresencePage {
    /// The previous page's `next`; absent for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Most members wanted, 1 to [`PRESENCE_PAGE`] (the default).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A presence change, pushed to every client as the [`PRESENCE`](crate::event::PRESENCE) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PresenceDelta {
    /// A client connected, or changed its name or rooms: replace the member with this id.
    Upsert {
        /// The member as it is now.
        member: Member,
    },
    /// A client disconnected from `instance`.
    Leave {
        /// Its public id.
        id: String,
        /// The instance it left. A session can come back on another instance (or be taken over
        /// there) before the old socket's leave goes out: a member listed on another instance is
        /// not this one and stays. Absent: whichever instance it is listed on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
}

/// Argument of [`SET_NAME`](crate::event::SET_NAME).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetName {
    /// The new display name.
    pub name: String,
}

/// Argument of [`JOIN`](crate::event::JOIN) and [`LEAVE`](crate::event::LEAVE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRef {
    /// The room.
    pub room: String,
}

/// Argument of [`ROOM_MESSAGE`](crate::event::ROOM_MESSAGE) from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToRoom {
    /// The room, which the sender must be in.
    pub room: String,
    /// The text.
    pub text: String,
}

/// Argument of [`DIRECT`](crate::event::DIRECT) from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToSocket {
    /// Public id of the recipient (a [`Member::id`]), on any instance.
    pub to: String,
    /// The text.
    pub text: String,
}

/// A room or direct message as delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// The room, for room messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The recipient's public id, for direct messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The sender's display name at the time.
    pub from_name: String,
    /// The text.
    pub text: String,
    /// Provenance, as for broadcasts.
    pub meta: MessageMeta,
}

/// Checks a display name: 1 to [`MAX_NAME_CHARS`] characters, letters, digits, spaces and `_-.'`,
/// no leading or trailing space, nothing invisible (the Hangul fillers are letters that render as
/// nothing), and letters of one writing system (no look-alikes of another script mixed in: see
/// `script`).
pub fn check_display_name(name: &str) -> Result<(), Rejection> {
    check_name(name, "display name", RejectionCode::BadName, |c| {
        c.is_alphanumeric() || " _-.'".contains(c)
    })?;
    match script::clash(name) {
        None => Ok(()),
        Some(script::Clash { first, second, odd }) => Err(Rejection::new(
            RejectionCode::BadName,
            format!(
                "display name mixes {first} and {second} letters ({} is {second}); \
                 letters that look alike in two scripts can impersonate another name, \
                 so write it in one script",
                shown(odd)
            ),
        )),
    }
}

/// Checks a room name: 1 to [`MAX_NAME_CHARS`] characters from `A-Z a-z 0-9 _ - .`.
pub fn check_room(room: &str) -> Result<(), Rejection> {
    check_name(room, "room name", RejectionCode::BadRoom, |c| {
        c.is_ascii_alphanumeric() || "_-.".contains(c)
    })
}

fn check_name(
    name: &str,
    what: &str,
    code: RejectionCode,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Rejection> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Rejection::new(code, format!("{what} is empty")));
    }
    if chars > MAX_NAME_CHARS {
        return Err(Rejection::new(
            code,
            format!("{what} is {chars} characters, the limit is {MAX_NAME_CHARS}"),
        ));
    }
    if name.trim() != name {
        return Err(Rejection::new(
            code,
            format!("{what} starts or ends with a space"),
        ));
    }
    if let Some(bad) = name.chars().find(|&c| is_invisible(c)) {
        return Err(Rejection::new(
            code,
            format!(
                "{what} may not contain an invisible character ({})",
                shown(bad)
            ),
        ));
    }
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(Rejection::new(
            code,
            format!("{what} may not contain {}", shown(bad)),
        ));
    }
    Ok(())
}

/// A character as an error message shows it: itself in quotes when it is a visible letter, digit
/// or ASCII symbol, its code point otherwise (`U+3164`), so the sender can tell what was refused.
fn shown(c: char) -> String {
    if (c.is_alphanumeric() && !is_invisible(c)) || c.is_ascii_graphic() || c == ' ' {
        format!("{c:?}")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rooms() {
        assert!(check_display_name("Ada Lovelace").is_ok());
        assert!(check_display_name("Zoë_1.o'neil").is_ok());
        for (bad, why) in [
            ("", "display name is empty"),
            (" ada", "display name starts or ends with a space"),
            ("<script>", "display name may not contain '<'"),
        ] {
            assert_eq!(check_display_name(bad).unwrap_err().message, why);
        }
        assert_eq!(
            check_display_name(&"a".repeat(33)).unwrap_err().message,
            "display name is 33 characters, the limit is 32"
        );
        // Invisible and terminal-control characters are not letters: names refuse them.
        for hostile in ["a\u{1b}[31mb", "evil\u{202e}gnp", "a\u{200b}b", "\u{200b}"] {
            assert_eq!(
                check_display_name(hostile).unwrap_err().code,
                RejectionCode::BadName,
                "{hostile:?}"
            );
        }
        assert!(check_room("ops-eu.1").is_ok());
        assert_eq!(check_room("a b").unwrap_err().code, RejectionCode::BadRoom);
        assert_eq!(
            check_room("é").unwrap_err().message,
            "room name may not contain 'é'"
        );
    }

    #[test]
    fn delta_wire_shape() {
        let d = PresenceDelta::Leave {
            id: "x".into(),
            instance: Some("i".into()),
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"op":"leave","id":"x","instance":"i"}"#
        );
        // A leave without its instance (older servers) still reads.
        assert_eq!(
            serde_json::from_str::<PresenceDelta>(r#"{"op":"leave","id":"x"}"#).unwrap(),
            PresenceDelta::Leave {
                id: "x".into(),
                instance: None
            }
        );
    }

    #[test]
    fn names_refuse_invisible_letters_and_mixed_scripts_readably() {
        // Hangul fillers are letters (`is_alphanumeric`) that render as nothing.
        for (name, code_point) in [
            ("\u{3164}", "U+3164"),
            ("ad\u{ffa0}a", "U+FFA0"),
            ("\u{115f}Ada", "U+115F"),
            ("Ada\u{1160}", "U+1160"),
        ] {
            assert_eq!(
                check_display_name(name).unwrap_err().message,
                format!("display name may not contain an invisible character ({code_point})"),
                "{name:?}"
            );
        }
        assert_eq!(
            check_display_name("p\u{430}ypal").unwrap_err().message,
            "display name mixes Latin and Cyrillic letters ('\u{430}' is Cyrillic); letters that \
             look alike in two scripts can impersonate another name, so write it in one script"
        );
        assert_eq!(
            check_display_name("\u{391}da").unwrap_err().code,
            RejectionCode::BadName
        );
        // Other refused characters are named by code point when they would not show.
        assert_eq!(
            check_display_name("a\u{2800}b").unwrap_err().message,
            "display name may not contain U+2800"
        );
        assert_eq!(
            check_display_name("a\u{1b}b").unwrap_err().message,
            "display name may not contain an invisible character (U+001B)"
        );
        for fine in ["Дмитрий", "東京タワー", "Tokyo 東京", "김민준", "Zoë 2"] {
            assert!(check_display_name(fine).is_ok(), "{fine}");
        }
    }
}
