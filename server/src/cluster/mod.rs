//! Starting and stopping the instances of one process. `layer`: the Socket.IO layer of an
//! instance, with every limit socketioxide and engineioxide put on a connection.

mod layer;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use gridcast_shared::{
    InstanceInfo, event,
    message::{Draining, RedisLinkStatus},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    accept::{self, ConnLimits},
    admin::{self, Access, Admin},
    api::{Api, key::ApiKey},
    auth::Auth,
    cli::ServeConfig,
    drops::{self, Drops},
    error::Error,
    http::app,
    hub::{Hub, HubLimits},
    instance::{Instance, Settings},
    limit::{
        report::{self, Configured},
        sessions::SessionGate,
    },
    origin::AllowedOrigins,
    presence_batch,
    redis::{
        self, PrivateRedis,
        adapter::{self, Io},
        history::{self, History},
    },
    runtime::DeliveryRuntime,
    socket,
    warnings::{self, Warnings},
};

/// The publish API's key, from `--api-key` or `--api-key-file` (not both); `None`: the API is
/// disabled.
fn api_key(config: &ServeConfig) -> Result<Option<ApiKey>, Error> {
    let text = match (&config.api_key, &config.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(
                "give the API key either with --api-key or with --api-key-file, not both".into(),
            ));
        }
        (Some(key), None) => key.expose().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the API key file {}: {e}",
                path.display()
            ))
        })?,
        (None, None) => return Ok(None),
    };
    ApiKey::new(&text).map(Some).map_err(Error::Config)
}

/// The longest a graceful shutdown may take (draining connections takes up to 5 s of it).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

/// How long a stopping instance tries to write what its outbox holds.
const OUTBOX_FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// The running instances of this process, and the private Redis when there is one.
#[derive(Debug)]
pub struct Cluster {
    instances: Vec<Running>,
    private_redis: Option<PrivateRedis>,
    /// Runs the Redis connections and the history readers; stopped last.
    delivery: DeliveryRuntime,
}

#[derive(Debug)]
struct Running {
    instance: Arc<Instance>,
    io: Io,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    /// The summary log lines' tasks.
    reports: Vec<JoinHandle<()>>,
    hub_tasks: Vec<JoinHandle<()>>,
}

/// Runs `config` until `shutdown` resolves, then stops gracefully.
pub async fn run(config: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let cluster = Cluster::start(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    // Each step is bounded; this bounds them all, whatever Redis or the clients do.
    if tokio::time::timeout(SHUTDOWN_LIMIT, cluster.stop())
        .await
        .is_err()
    {
        tracing::warn!("shutdown took longer than {SHUTDOWN_LIMIT:?}: exiting anyway");
    }
    Ok(())
}

impl Cluster {
    /// Starts one instance per configured port, and a private Redis when none is configured.
    pub async fn start(config: ServeConfig) -> Result<Self, Error> {
        if config.ports.is_empty() {
            return Err(Error::Config("no ports given".into()));
        }
        let chosen = (
            &config.redis_url,
            &config.redis_cluster[..],
            &config.redis_sentinel,
        );
        let (target, private_redis) = match chosen {
            (Some(_), [_, ..], _) | (Some(_), _, Some(_)) | (_, [_, ..], Some(_)) => {
                return Err(Error::Config(
                    "give one of a Redis URL, Redis Cluster seed URLs or Redis Sentinel, not \
                     several"
                        .into(),
                ));
            }
            (Some(url), [], None) => (redis::Target::Single(url.clone()), None),
            (None, [_, ..], None) => (redis::Target::Cluster(config.redis_cluster.clone()), None),
            (None, [], Some(spec)) => (
                redis::Target::sentinel(spec)
                    .map_err(|e| Error::Config(format!("--redis-sentinel {e}")))?,
                None,
            ),
            (None, [], None) => {
                let private = PrivateRedis::start(&config.redis_server).await?;
                tracing::info!(url = %private.url(), "no REDIS_URL configured: started a private redis-server (stopped on exit)");
                (redis::Target::Single(private.url()), Some(private))
            }
        };

        let mut listeners = Vec::with_capacity(config.ports.len());
        for &port in &config.ports {
            let addr = SocketAddr::new(config.bind, port);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let port = listener.local_addr().map_err(Error::Serve)?.port();
            listeners.push((listener, port));
        }
        let host = config.public_host();
        let own_urls: Vec<String> = listeners
            .iter()
            .map(|(_, port)| format!("http://{host}:{port}"))
            .collect();
        let listed = if config.instances.is_empty() {
            own_urls.clone()
        } else {
            config.instances.clone()
        };

        let auth = Arc::new(Auth::from_config(&config)?);
        if !auth.required() && !config.bind.is_loopback() {
            tracing::warn!(bind = %config.bind, "clients are not authenticated (--auth off) and this instance listens beyond loopback: anyone who reaches it may connect, take any name, join any room and message everyone; use --auth jwt");
        }
        // The Admin UI's password is hashed once for every instance.
        let access = Arc::new(Access::from_config(&config)?);
        if let (Access::On { .. }, Some(why)) = (&*access, admin::ui::problem(&config.admin_ui_dir))
        {
            tracing::warn!(dir = %config.admin_ui_dir.display(), "the Admin UI's page is not served at /admin/ (its namespace works): {why}");
        }
        let delivery = DeliveryRuntime::start().map_err(Error::Serve)?;
        let mut instances = Vec::with_capacity(listeners.len());
        for ((listener, port), url) in listeners.into_iter().zip(own_urls) {
            let info = InstanceInfo {
                id: format!("{:08x}", rand::random::<u32>()),
                url,
                port,
            };
            // Opened on the delivery runtime, so that the connections' tasks run there.
            let (link, history) = {
                let (to, timeout, prefix, length, age) = (
                    target.clone(),
                    config.publish_timeout,
                    config.redis_prefix.clone(),
                    history::capacity(config.history_length, config.history_bytes),
                    config.history_age,
                );
                delivery
                    .run(async move {
                        let link = redis::connect(&to, timeout, &prefix).await?;
                        let history = History::connect(link.clone(), &prefix, length, age).await?;
                        Ok::<_, Error>((link, history))
                    })
                    .await
                    .map_err(|e| Error::RedisConnect {
                        target: target.to_string(),
                        reason: format!("opening the connections failed: {e}"),
                    })??
            };
            let drops = Arc::new(Drops::default());
            let warnings = Arc::new(Warnings::new(&info.id));
            let hub = Hub::new(
                info.id.clone(),
                history,
                link.clone(),
                HubLimits {
                    publish_timeout: config.publish_timeout,
                    outbox: config.outbox_capacity,
                    replays: config.max_replays as usize,
                    replay_rate: config.replay_rate,
                },
                drops.clone(),
                warnings.clone(),
            );
            let instance = Arc::new(Instance::new(
                info,
                listed.clone(),
                link.clone(),
                hub,
                (drops.clone(), warnings),
                Settings {
                    prefix: config.redis_prefix.clone(),
                    rate: config.rate_limit.0,
                    address_rate: config.address_rate_limit.0,
                    session_ttl: config.session_ttl,
                    auth: auth.clone(),
                },
            ));
            let running = serve(
                instance,
                drops,
                listener,
                (&config, &access),
                delivery.handle(),
            )
            .await?;
            tracing::info!(
                instance = %running.instance.info.id,
                url = %running.instance.info.url,
                redis = %target,
                "instance listening"
            );
            instances.push(running);
        }
        Ok(Self {
            instances,
            private_redis,
            delivery,
        })
    }

    /// Base URLs of the instances, in port order of the configuration.
    pub fn urls(&self) -> Vec<String> {
        self.instances
            .iter()
            .map(|r| r.instance.info.url.clone())
            .collect()
    }

    /// The instances, to read their identity and health.
    pub fn instances(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.instances.iter().map(|r| &r.instance)
    }

    /// Drains and stops: leaves the registry, tells every client which other instances are live
    /// (`draining`), disconnects them cleanly, stops serving, closes Redis links and stops the
    /// private Redis.
    pub async fn stop(mut self) {
        for running in &self.instances {
            running.heartbeat.abort();
            if let Err(e) = running
                .instance
                .registry()
                .leave(&running.instance.info.id)
                .await
            {
                tracing::debug!(instance = %running.instance.info.id, "could not leave the registry: {e}");
            }
        }
        let own = self.urls();
        let others: Vec<String> = match self.instances.first() {
            Some(first) => first
                .instance
                .registry()
                .live()
                .await
                .map(|live| {
                    live.into_iter()
                        .map(|l| l.info.url)
                        .filter(|url| !own.contains(url))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let draining = Draining { instances: others };
        for running in &mut self.instances {
            // Nothing may emit once the namespace is closed (socketioxide panics): the reader,
            // the flusher and the presence batcher stop first, for good (awaited, not only
            // told), and what the outbox still holds is written if Redis takes it.
            for task in running.hub_tasks.drain(..) {
                task.abort();
                let _ = task.await;
            }
            running.instance.admin().stop();
            let left = running
                .instance
                .hub()
                .flush_outbox(OUTBOX_FLUSH_LIMIT)
                .await;
            if left > 0 {
                tracing::warn!(instance = %running.instance.info.id, left, "stopping with broadcasts Redis did not take: the other instances' clients miss them");
            }
            if let Err(e) = running.io.local().emit(event::DRAINING, &draining).await {
                tracing::debug!(instance = %running.instance.info.id, "draining notice not sent to all: {e}");
            }
            running.io.close().await;
            let _ = running.stop.send(true);
        }
        for running in self.instances {
            for task in &running.reports {
                task.abort();
            }
            if let Err(e) = running.task.await {
                tracing::warn!(instance = %running.instance.info.id, "server task failed: {e}");
            }
            running.instance.link().quit().await;
        }
        if let Some(mut redis) = self.private_redis {
            redis.stop().await;
            tracing::info!("private redis-server stopped");
        }
        // Last: the links above closed over it.
        drop(self.delivery);
    }
}

async fn serve(
    instance: Arc<Instance>,
    drops: Arc<Drops>,
    listener: TcpListener,
    (config, access): (&ServeConfig, &Arc<Access>),
    delivery: &tokio::runtime::Handle,
) -> Result<Running, Error> {
    let (admin, admin_commands) =
        Admin::new(instance.clone(), access.clone(), &config.redis_prefix);
    let link = instance.link().clone();
    let target = link.target().to_string();
    let adapter = adapter::state(link, &config.redis_prefix);
    let (layer, io) = layer::build(config, &instance, &admin, adapter);
    socket::register(&io)
        .await
        .map_err(|e| Error::RedisConnect {
            target: target.clone(),
            reason: format!("subscribing the adapter failed: {e}"),
        })?;

    let admin_tasks = admin::start(admin, admin_commands, &io).await?;
    let hub_tasks = instance
        .hub()
        .start(io.clone(), delivery)
        .await
        .map_err(|e| Error::RedisConnect {
            target: target.clone(),
            reason: format!("reading the history failed: {e}"),
        })?;
    drops.watch(io.config().server_id.to_string());
    let allowed = Arc::new(AllowedOrigins::new(
        &config.public_host(),
        &config.allowed_origins,
    ));
    let gate = Arc::new(SessionGate::new(
        config.max_connections_per_address,
        config.new_sessions_per_address.0,
        instance.refusals().clone(),
    ));
    let api = Arc::new(Api::new(api_key(config)?, config.api_rate_limit.0));
    let router = app(
        instance.clone(),
        io.clone(),
        layer,
        (&config.static_dir, &config.admin_ui_dir),
        allowed,
        gate,
        api,
    );
    let (stop, mut stopped) = watch::channel(false);
    let limits = ConnLimits {
        idle_timeout: config.idle_timeout,
        per_address: config.max_connections_per_address,
        report_every: config.report_interval,
        // As long as the heartbeat gives a silent client: ping interval plus timeout.
        write_stall: config.ping_interval + config.ping_timeout,
    };
    let task = tokio::spawn(accept::serve(
        listener,
        router,
        limits,
        instance.info.id.clone(),
        async move {
            let _ = stopped.wait_for(|&s| s).await;
        },
        Duration::from_secs(5),
    ));
    let heartbeat = tokio::spawn(
        instance
            .clone()
            .heartbeat(io.clone(), socket::local_sessions),
    );
    let reports = vec![
        tokio::spawn(drops::report(
            drops.clone(),
            instance.info.id.clone(),
            config.report_interval,
        )),
        tokio::spawn(report::report(
            instance.refusals().clone(),
            instance.info.id.clone(),
            config.report_interval,
            Configured {
                cap: config.max_connections_per_address,
                new_sessions: config.new_sessions_per_address.0,
                client: config.rate_limit.0,
                address: config.address_rate_limit.0,
            },
        )),
        tokio::spawn(instance.clone().report_unsent(config.report_interval)),
    ];
    let mut hub_tasks = hub_tasks;
    hub_tasks.extend(admin_tasks);
    hub_tasks.push(tokio::spawn(presence_batch::run(
        instance.presence_batch().clone(),
        io.clone(),
        instance.info.id.clone(),
        drops.clone(),
        instance.warnings().clone(),
    )));
    hub_tasks.push(tokio::spawn(instance.clone().remove_departed()));
    hub_tasks.push(tokio::spawn(tell_redis_link(
        instance.link().watch_status(),
        io.clone(),
        instance.info.id.clone(),
        drops.clone(),
    )));
    hub_tasks.push(tokio::spawn(warnings::report(
        instance.warnings().clone(),
        config.report_interval,
    )));
    Ok(Running {
        instance,
        io,
        stop,
        task,
        heartbeat,
        reports,
        hub_tasks,
    })
}

/// Tells the instance's own clients (`redis_link`) every time its Redis link goes down or comes
/// back, so that a page can say so without waiting for an ack. Local only: while the link is
/// down nothing could cross Redis anyway. A full client buffer is counted as a drop. Stopped
/// with the hub's tasks, before the namespace closes.
async fn tell_redis_link(
    mut changes: watch::Receiver<RedisLinkStatus>,
    io: Io,
    instance: String,
    drops: Arc<Drops>,
) {
    changes.mark_unchanged();
    while changes.changed().await.is_ok() {
        let status = *changes.borrow_and_update();
        if let Err(e) = io.local().emit(event::REDIS_LINK, &status).await {
            drops.count_error(&instance, true, e);
        }
    }
}
