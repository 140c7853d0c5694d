//! Mixed-script names: whether a display name's letters come from one writing system.
//!
//! Letters of two scripts that look alike let one name pass for another: `pаypal` with a Cyrillic
//! `а`, `Ada` with a Greek `Α`. Unicode's answer (UTS #39, section 5.2, "highly restrictive") is
//! to accept a name only when all its characters can be written in one script, or in Han with
//! Hiragana and Katakana (Japanese), with Hangul (Korean) or with Bopomofo (Chinese), each of
//! those also with Latin. Characters of every script (digits, spaces, punctuation) go with any.
//! The scripts come from the `unicode-script` crate (the Unicode `Script_Extensions` property,
//! so a character used by several scripts, like the Japanese long-vowel mark, goes with each).
//!
//! Not covered: a name written entirely in another script that looks like a Latin one (`раура1`,
//! all Cyrillic), which only a confusables table could catch.

use unicode_script::{Script, ScriptExtension, UnicodeScript};

/// The writing systems every character seen so far can belong to.
#[derive(Debug, Clone, Copy)]
struct Writing {
    scripts: ScriptExtension,
    japanese: bool,
    korean: bool,
    chinese: bool,
}

impl Writing {
    /// Before any character: every writing system.
    fn any() -> Self {
        Self {
            scripts: Script::Common.into(),
            japanese: true,
            korean: true,
            chinese: true,
        }
    }

    fn of(c: char) -> Self {
        let scripts = c.script_extension();
        if scripts.is_common() || scripts.is_inherited() {
            return Self::any();
        }
        let has = |script| scripts.contains_script(script);
        let han = has(Script::Han);
        Self {
            scripts,
            japanese: han || has(Script::Hiragana) || has(Script::Katakana),
            korean: han || has(Script::Hangul),
            chinese: han || has(Script::Bopomofo),
        }
    }

    fn and(self, other: Self) -> Self {
        Self {
            scripts: self.scripts.intersection(other.scripts),
            japanese: self.japanese && other.japanese,
            korean: self.korean && other.korean,
            chinese: self.chinese && other.chinese,
        }
    }

    fn is_cjk(self) -> bool {
        self.japanese || self.korean || self.chinese
    }

    fn is_empty(self) -> bool {
        self.scripts.is_empty() && !self.is_cjk()
    }
}

/// Two scripts a name mixes: the first it is written in, and the one of `odd`, the first
/// character that does not go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clash {
    pub(crate) first: &'static str,
    pub(crate) second: &'static str,
    pub(crate) odd: char,
}

/// Where `name` mixes scripts, or `None` when it is in one writing system (see the module doc).
pub(crate) fn clash(name: &str) -> Option<Clash> {
    let mut all = Writing::any();
    let mut without_latin = Writing::any();
    let mut first = None;
    for c in name.chars() {
        let writing = Writing::of(c);
        if first.is_none() && !writing.scripts.is_common() {
            first = Some(c.script());
        }
        all = all.and(writing);
        if !writing.scripts.contains_script(Script::Latin) {
            without_latin = without_latin.and(writing);
        }
        // Latin goes with one CJK writing system, nothing else with anything.
        let latin_and_cjk = !without_latin.is_empty() && without_latin.is_cjk();
        if all.is_empty() && !latin_and_cjk {
            return Some(Clash {
                first: first.unwrap_or(Script::Common).full_name(),
                second: c.script().full_name(),
                odd: c,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writing_system_passes() {
        for name in [
            "Ada Lovelace",
            "Zoë_1.o'neil",
            "Дмитрий",
            "Αλέξανδρος",
            "محمد",
            "東京タワー",
            "ひらがなカタカナ漢字",
            "김민준",
            "金민준",
            "ㄅㄆㄇ中文",
            "Tokyo 東京",
            "Seoul 서울",
            "ASCII 123",
            "42",
            "ニコニコー",
        ] {
            assert_eq!(clash(name), None, "{name}");
        }
    }

    #[test]
    fn lookalikes_of_another_script_are_found() {
        // Cyrillic а (U+0430) among Latin letters.
        assert_eq!(
            clash("p\u{430}ypal"),
            Some(Clash {
                first: "Latin",
                second: "Cyrillic",
                odd: '\u{430}'
            })
        );
        // Greek capital alpha before Latin.
        assert_eq!(
            clash("\u{391}da"),
            Some(Clash {
                first: "Greek",
                second: "Latin",
                odd: 'd'
            })
        );
        for mixed in [
            "admin\u{441}",      // Cyrillic es
            "Ж and z",           // Cyrillic then Latin
            "東京Ж",             // Han then Cyrillic
            "abc東京Ж",          // Latin and Han, then Cyrillic
            "ひらがな한글",      // Japanese and Korean
            "x\u{6f0}",          // Latin with an Arabic-Indic digit
            "\u{13a0}\u{13a1}a", // Cherokee then Latin
        ] {
            assert!(clash(mixed).is_some(), "{mixed}");
        }
    }
}
