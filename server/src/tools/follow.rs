//! A client that stays with a cluster: when its instance stops answering it retries briefly, then
//! moves to another live instance (asking the cluster's registry which), and catches up from the
//! last offset it saw with its session token, as the recipe of docs/protocol.md does for the official client.
//!
//! Works against any Socket.IO server with the plain contract: a server that knows nothing of
//! offsets simply replays nothing, and the caller sees what was lost.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use gridcast_shared::{
    InstanceList, MessageMeta, Welcome, event, message::Draining, presence::Routed,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::probe::{Incoming, Probe, ProbeError, SharedTap};

/// Attempts on the same instance before moving on.
const RETRIES: u32 = 2;

/// Pause before the first retry; doubled for the next.
const RETRY_DELAY: Duration = Duration::from_millis(200);

/// How long the follower keeps looking for a live instance before it gives up.
const GIVE_UP: Duration = Duration::from_secs(30);

/// What happened, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// An event from the server.
    Event {
        /// Event name.
        event: String,
        /// Its arguments.
        args: Vec<Value>,
        /// When it was read.
        at: Instant,
    },
    /// The connection to `url` was lost.
    Lost {
        /// The instance.
        url: String,
        /// Why.
        reason: String,
        /// When it was noticed.
        at: Instant,
    },
    /// Connected again, to `to` (the same instance or another).
    Moved {
        /// The instance it lost.
        from: String,
        /// The instance it is connected to now.
        to: String,
        /// When.
        at: Instant,
    },
}

type SendFn = Box<dyn Fn(String) -> Result<(), ProbeError> + Send + Sync>;

/// A reconnecting, failing-over client on the default namespace.
pub struct Follower {
    urls: Vec<String>,
    current: usize,
    probe: Probe,
    offset: Option<String>,
    session: Option<String>,
    send: Arc<Mutex<SendFn>>,
    pending: Vec<Update>,
    /// The instances a draining server named: go there next, without retrying it.
    drained_to: Option<Vec<String>>,
    /// Looks at every frame first, on every connection; it keeps the offset when there is one.
    tap: Option<SharedTap>,
    /// The local address every connection leaves from (none: the system's choice).
    local: Option<IpAddr>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("url", &self.urls[self.current])
            .field("offset", &self.offset())
            .finish()
    }
}

/// The offset in a broadcast's metadata, if it has one.
pub(crate) fn offset_of(event: &str, args: &[Value]) -> Option<String> {
    let meta: MessageMeta = match event {
        event::MESSAGE => MessageMeta::deserialize(args.get(1)?).ok()?,
        event::ROOM_MESSAGE | event::DIRECT => Routed::deserialize(args.first()?).ok()?.meta,
        _ => return None,
    };
    meta.offset.map(|o| o.to_string())
}

impl Follower {
    /// Connects to `urls[start]`; `urls` are the instances it may move to (refreshed from the
    /// registry of any reachable one when it moves).
    pub async fn connect(urls: Vec<String>, start: usize) -> Result<Self, ProbeError> {
        Self::connect_tapped(urls, start, None, None).await
    }

    /// [`connect`](Self::connect) with a [`Tap`](super::probe::Tap) on every connection it
    /// makes. The tap sees each frame before anything else does, so the follower asks it
    /// ([`Tap::offset`](super::probe::Tap::offset)) for the offset to resume from instead of
    /// tracking one itself. Every connection it makes leaves from `local` if given (a load
    /// generator spreads its clients over several loopback addresses when ports run short).
    pub(crate) async fn connect_tapped(
        urls: Vec<String>,
        start: usize,
        tap: Option<SharedTap>,
        local: Option<IpAddr>,
    ) -> Result<Self, ProbeError> {
        let current = start % urls.len().max(1);
        let mut probe = Probe::connect_tapped(&urls[current], None, tap.clone(), local).await?;
        probe.ignore(event::PRESENCE);
        let send = Arc::new(Mutex::new(Box::new(probe.sender()) as SendFn));
        Ok(Self {
            urls,
            current,
            probe,
            offset: None,
            session: None,
            send,
            pending: Vec::new(),
            drained_to: None,
            tap,
            local,
        })
    }

    /// The instance it is connected to (or was, while it moves).
    fn url(&self) -> &str {
        &self.urls[self.current]
    }

    /// The last offset seen.
    fn offset(&self) -> Option<String> {
        match &self.tap {
            Some(tap) => tap.lock().unwrap_or_else(|p| p.into_inner()).offset(),
            None => self.offset.clone(),
        }
    }

    /// A function that emits `message` with a text through whichever connection is current.
    pub fn sender(&self) -> impl Fn(String) -> Result<(), ProbeError> + Send + Sync + use<> {
        let send = self.send.clone();
        move |text| (send.lock().unwrap_or_else(|p| p.into_inner()))(text)
    }

    /// The next update, waiting at most `wait` for the server; reconnects (and says so) when the
    /// connection is lost. Fails only with a timeout, or when no instance answered for 30 s.
    pub async fn next(&mut self, wait: Duration) -> Result<Update, ProbeError> {
        self.update(Some(wait)).await
    }

    /// [`next`](Self::next) with no timer per update: for a caller that bounds the wait once for
    /// many updates (the load generator); fails only when no instance answered for 30 s.
    pub(crate) async fn recv(&mut self) -> Result<Update, ProbeError> {
        self.update(None).await
    }

    async fn update(&mut self, wait: Option<Duration>) -> Result<Update, ProbeError> {
        if !self.pending.is_empty() {
            return Ok(self.pending.remove(0));
        }
        let incoming = match wait {
            Some(wait) => self.probe.next(wait).await?,
            None => self.probe.recv().await?,
        };
        match incoming {
            Incoming::Event { event, args, at } => {
                // With a tap, the tap keeps the offset (it may have taken the broadcasts).
                if self.tap.is_none()
                    && let Some(offset) = offset_of(&event, &args)
                {
                    self.offset = Some(offset);
                }
                if event == event::WELCOME
                    && let Some(welcome) = args.first().and_then(|w| Welcome::deserialize(w).ok())
                {
                    self.session = Some(welcome.session);
                }
                if event == event::DRAINING
                    && let Some(draining) = args.first().and_then(|d| Draining::deserialize(d).ok())
                {
                    self.drained_to = Some(draining.instances);
                }
                Ok(Update::Event { event, args, at })
            }
            Incoming::Closed(reason) => {
                let from = self.url().to_owned();
                let lost = Update::Lost {
                    url: from.clone(),
                    reason,
                    at: Instant::now(),
                };
                self.reconnect().await?;
                self.pending.push(Update::Moved {
                    from,
                    to: self.url().to_owned(),
                    at: Instant::now(),
                });
                Ok(lost)
            }
        }
    }

    fn auth(&self) -> Value {
        let mut auth = json!({});
        if let Some(offset) = self.offset() {
            auth["offset"] = json!(offset);
        }
        if let Some(session) = &self.session {
            auth["session"] = json!(session);
        }
        auth
    }

    async fn reconnect(&mut self) -> Result<(), ProbeError> {
        let deadline = Instant::now() + GIVE_UP;
        if let Some(instances) = self.drained_to.take() {
            // The server said where to go: there, at once.
            let current = self.urls[self.current].clone();
            for url in instances {
                if !self.urls.contains(&url) {
                    self.urls.push(url.clone());
                }
                let i = self.urls.iter().position(|u| *u == url).unwrap_or(0);
                if url != current && self.try_url(i).await {
                    return Ok(());
                }
            }
        }
        let mut delay = RETRY_DELAY;
        // Briefly, the same instance: it may only have dropped this connection.
        for _ in 0..RETRIES {
            tokio::time::sleep(delay).await;
            delay *= 2;
            if self.try_url(self.current).await {
                return Ok(());
            }
        }
        // Then the others, as the registry lists them now.
        loop {
            self.refresh_urls().await;
            for step in 1..=self.urls.len() {
                let i = (self.current + step) % self.urls.len();
                if self.try_url(i).await {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(ProbeError::Connect {
                    url: self.urls.join(","),
                    reason: format!("no instance answered for {GIVE_UP:?}"),
                });
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }

    async fn try_url(&mut self, i: usize) -> bool {
        let tap = self.tap.clone();
        let Ok(mut probe) =
            Probe::connect_tapped(&self.urls[i], Some(self.auth()), tap, self.local).await
        else {
            return false;
        };
        probe.ignore(event::PRESENCE);
        *self.send.lock().unwrap_or_else(|p| p.into_inner()) = Box::new(probe.sender());
        self.probe = probe;
        self.current = i;
        true
    }

    /// Asks the instances' registry (`GET /instances` of the first that answers) which are live.
    async fn refresh_urls(&mut self) {
        for url in self.urls.clone() {
            if url == self.urls[self.current] {
                continue;
            }
            if let Some(list) = instance_list(&url).await {
                let current = self.urls[self.current].clone();
                let mut urls = list.instances;
                if !urls.contains(&current) {
                    urls.push(current.clone());
                }
                self.current = urls.iter().position(|u| *u == current).unwrap_or(0);
                self.urls = urls;
                return;
            }
        }
    }
}

/// `GET {base}/instances`, if it answers within a second with a gridcast instance list.
async fn instance_list(base: &str) -> Option<InstanceList> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = base.strip_prefix("http://")?;
    let host = rest.split('/').next()?;
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
        let request =
            format!("GET /instances HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let response = String::from_utf8(response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        serde_json::from_str(body).ok()
    };
    tokio::time::timeout(Duration::from_secs(1), fetch)
        .await
        .ok()
        .flatten()
}
