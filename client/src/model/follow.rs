//! Following the newest message: the list scrolls with new messages only while the reader is at
//! the bottom; scrolled up, it holds still and counts what arrived below.
//!
//! Invariant: the page never moves a reader who scrolled up; the count of new messages is what
//! arrived since they left the bottom, and is zero at the bottom.

/// How close to the bottom (px) still counts as at the bottom (a fractional scroll position, a
/// line being laid out).
pub const BOTTOM_SLACK_PX: f64 = 40.0;

/// Whether a list scrolled to `top`, `height` tall with content `content` tall, shows its end.
pub fn at_bottom(top: f64, height: f64, content: f64) -> bool {
    content - top - height <= BOTTOM_SLACK_PX
}

/// The pill's words for `n` messages below the reader (`None` when there are none).
pub fn pill(n: u64) -> Option<String> {
    match n {
        0 => None,
        1 => Some("1 new message ↓".to_owned()),
        n => Some(format!("{n} new messages ↓")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bottom_has_some_slack_and_the_pill_counts() {
        assert!(at_bottom(700.0, 300.0, 1000.0));
        assert!(at_bottom(665.0, 300.0, 1000.0));
        assert!(!at_bottom(600.0, 300.0, 1000.0));
        assert!(
            at_bottom(0.0, 300.0, 200.0),
            "a short list is always at its end"
        );
        assert_eq!(pill(0), None);
        assert_eq!(pill(1).unwrap(), "1 new message ↓");
        assert_eq!(pill(17).unwrap(), "17 new messages ↓");
    }
}
