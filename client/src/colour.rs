//! A stable colour per instance, so the same instance looks the same everywhere.

/// HSL hue in degrees for an instance base URL (FNV-1a hash, spread over the circle).
pub fn hue(url: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in url.trim_end_matches('/').bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // Golden-angle steps keep neighbouring ports apart.
    (h % 360).wrapping_mul(137) % 360
}

/// CSS custom property assignment for an instance colour, to put in a `style` attribute.
pub fn style(url: &str) -> String {
    format!("--hue: {}", hue(url))
}

/// The short label shown for an instance URL: `host:port` without the scheme.
pub fn label(url: &str) -> String {
    url.trim_end_matches('/')
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .to_owned()
}
