//! Markup written as text, for the parts of the page that are drawn whole from a value (a grid
//! result, a live card, a window of member rows, one message): one `inner_html` per part costs
//! the bundle far less than a view per cell, and those parts have nothing to keep between two
//! drawings. Every text that comes from outside goes through [`escape`].

use std::fmt::Write;

/// The first 8 characters of a public id, as the UI shows ids.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// `text` safe inside HTML text and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `<tag class="class">text</tag>` with `text` escaped.
pub fn push(html: &mut String, tag: &str, class: &str, text: &str) {
    let _ = write!(html, "<{tag} class=\"{class}\">{}</{tag}>", escape(text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_inert() {
        assert_eq!(
            escape("<img src=x onerror=\"a('b')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
        let mut html = String::new();
        push(&mut html, "span", "text", "<b>");
        assert_eq!(html, "<span class=\"text\">&lt;b&gt;</span>");
    }
}
