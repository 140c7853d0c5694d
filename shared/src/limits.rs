//! Limits every instance enforces. The client may pre-check them; the server never trusts it to.

/// Largest accepted message text, in UTF-8 bytes. Longer texts are rejected with
/// [`RejectionCode::TooLarge`](crate::RejectionCode::TooLarge).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Largest Engine.IO packet (polling) or WebSocket message an instance reads, in bytes. It is far above [`MAX_MESSAGE_BYTES`] so that
/// an oversized text still reaches the handler and gets a readable error; a packet above this is a
/// protocol violation and the transport is closed.
pub const MAX_PACKET_BYTES: u64 = 256 * 1024;

/// Messages a client may send in a burst before the rate limit applies.
pub const RATE_BURST: u32 = 50;

/// Messages per second a client may sustain after its burst.
pub const RATE_PER_SECOND: u32 = 20;

/// A rate limit: `per_second` sustained after a burst of `burst`. The server's per-client limit
/// (what [`Limits`] tells a client) is shared by the client's sockets and survives its
/// reconnects with its session token; the server has others a client cannot pre-check (per
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second that may be sustained.
    pub per_second: u32,
    /// Requests that may be sent at once before `per_second` applies.
    pub burst: u32,
}

impl Default for Rate {
    fn default() -> Self {
        Self {
            per_second: RATE_PER_SECOND,
            burst: RATE_BURST,
        }
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `20` (burst defaults to the larger of 50 and the rate) or `20,50`.
    fn from_str(text: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{t:?} is not a positive whole number"))
        };
        match text.split_once(',') {
            Some((rate, burst)) => Ok(Self {
                per_second: number(rate)?,
                burst: number(burst)?,
            }),
            None => {
                let per_second = number(text)?;
                Ok(Self {
                    per_second,
                    burst: per_second.max(RATE_BURST),
                })
            }
        }
    }
}

/// Bounded parameters a client learns in [`Welcome`](crate::Welcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// See [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// The server's burst ([`RATE_BURST`] by default); 0 when the rate limit is off.
    pub rate_burst: u32,
    /// The server's sustained rate ([`RATE_PER_SECOND`] by default); 0 when the rate limit is
    /// off.
    pub rate_per_second: u32,
}

impl Limits {
    /// The limits of a server with rate limit `rate` (`None`: off).
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            max_message_bytes: MAX_MESSAGE_BYTES,
            rate_burst: rate.map_or(0, |r| r.burst),
            rate_per_second: rate.map_or(0, |r| r.per_second),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(Some(Rate::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            "20,50".parse::<Rate>(),
            Ok(Rate {
                per_second: 20,
                burst: 50
            })
        );
        assert_eq!(
            "200".parse::<Rate>(),
            Ok(Rate {
                per_second: 200,
                burst: 200
            })
        );
        assert_eq!("5".parse::<Rate>().unwrap().burst, RATE_BURST);
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert!("10,".parse::<Rate>().is_err());
    }
}
