//! [`Admin`]: what the `/admin` handlers and the Admin UI's tasks of one instance share (the
//! instance, the access rules, the session store, the bus and the queue of commands to apply
//! here), in socketioxide's state.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{Notify, mpsc};

use super::{
    auth::Access,
    bus::{Command, Message},
    feed::AdminFeed,
};
use crate::{
    clock::now_ms,
    instance::Instance,
    limit::{address::Address, bucket::Buckets},
    redis::{LinkError, admin_sessions::AdminSessions, bus::Bus},
};

/// Commands an instance queues to apply at most (each is small; an Admin UI sends one per click).
const QUEUED_COMMANDS: usize = 1024;

/// How long after an Admin UI connected its instances describe their sockets to it: after it got
/// its socket list, which the description completes.
const DESCRIBE_AFTER_MS: u64 = 1000;

/// One instance's Admin UI side.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) instance: Arc<Instance>,
    pub(crate) access: Arc<Access>,
    pub(crate) sessions: AdminSessions,
    bus: Bus,
    local: mpsc::Sender<Command>,
    /// Woken when the feed turns on, so that the stats go out at once.
    pub(crate) wake: Notify,
    /// When (ms) this instance's sockets are to be described to the Admin UIs (0: not due).
    describe_at: AtomicU64,
    /// Password logins each address may still try ([`super::auth::LOGIN_RATE`]).
    pub(crate) login_tries: Buckets<Address>,
}

/// The receiving end of an instance's command queue, for its applying task.
#[derive(Debug)]
pub(crate) struct Commands(pub(crate) mpsc::Receiver<Command>);

impl Admin {
    /// The Admin UI side of `instance`, its bus under the cluster's key `prefix`.
    pub(crate) fn new(
        instance: Arc<Instance>,
        access: Arc<Access>,
        prefix: &str,
    ) -> (Arc<Self>, Commands) {
        let (local, commands) = mpsc::channel(QUEUED_COMMANDS);
        let link = instance.link().clone();
        let admin = Arc::new(Self {
            sessions: AdminSessions::new(link.clone(), prefix),
            bus: Bus::new(link, prefix, "admin"),
            instance,
            access,
            local,
            wake: Notify::new(),
            describe_at: AtomicU64::new(0),
            login_tries: Buckets::new(Some(super::auth::LOGIN_RATE)),
        });
        (admin, Commands(commands))
    }

    /// This instance's feed.
    pub(crate) fn feed(&self) -> &AdminFeed {
        self.instance.admin()
    }

    /// The bus the instances' Admin UI sides talk on.
    pub(crate) fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Tells every instance (this one through the bus too).
    pub(crate) async fn tell(&self, message: Message) -> Result<(), LinkError> {
        let payload = message.encode(&self.instance.info.id);
        self.bus.publish(payload).await
    }

    /// Has `command` applied on every instance: told to the others, queued here. Fails when the
    /// others could not be told (it is applied here all the same).
    pub(crate) async fn submit(&self, command: Command) -> Result<(), LinkError> {
        let told = self.tell(Message::Command(command.clone())).await;
        self.queue(command);
        told
    }

    /// Queues `command` to be applied on this instance.
    pub(crate) fn queue(&self, command: Command) {
        match self.local.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(instance = %self.instance.info.id, "admin command dropped: {QUEUED_COMMANDS} already queued");
            }
            // The instance is stopping.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// An Admin UI just connected: describe this instance's sockets to the Admin UIs soon.
    pub(crate) fn describe_soon(&self) {
        self.describe_at
            .store(now_ms() + DESCRIBE_AFTER_MS, Ordering::Relaxed);
    }

    /// Whether this instance's sockets are to be described now (once).
    pub(crate) fn describe_due(&self) -> bool {
        let at = self.describe_at.load(Ordering::Relaxed);
        at != 0
            && now_ms() >= at
            && self
                .describe_at
                .compare_exchange(at, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
