//! Display names that say who a client is (issue 20, part 6): invisible letters and letters of
//! two scripts that look alike are refused with a reason the sender can read; names in one
//! writing system, any of them, are taken.

use gridcast_shared::{RejectionCode, event};
use serde_json::json;

use crate::{
    presence::{member, op, refusal},
    support::{client, instances, redis},
};

#[tokio::test]
async fn invisible_and_mixed_script_names_are_refused_readably() {
    let redis = redis().await;
    let cluster = instances(&redis, 1).await;
    let mut probe = client(&cluster[0]).await;
    for (name, says) in [
        // Hangul fillers: letters to Unicode, blank on screen.
        ("\u{3164}", "invisible character (U+3164)"),
        ("Ada\u{ffa0}", "invisible character (U+FFA0)"),
        ("\u{115f}\u{115f}", "invisible character (U+115F)"),
        // A Cyrillic "а" in a Latin name.
        ("p\u{430}ypal", "mixes Latin and Cyrillic letters"),
        // A Greek capital alpha before Latin letters.
        ("\u{391}da", "mixes Greek and Latin letters"),
    ] {
        let (code, message) =
            refusal(op(&mut probe, event::SET_NAME, json!({ "name": name })).await);
        assert_eq!(code, RejectionCode::BadName, "{name:?}");
        assert!(message.contains(says), "{name:?}: {message}");
        assert!(message.is_ascii() || !message.contains(name), "{message}");
    }
    for name in [
        "Ada Lovelace",
        "Дмитрий",
        "東京タワー",
        "Tokyo 東京",
        "김민준",
    ] {
        let me = member(op(&mut probe, event::SET_NAME, json!({ "name": name })).await);
        assert_eq!(me.name, name);
    }
}
