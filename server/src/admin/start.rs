//! Starting an instance's Admin UI side: the namespace, then its three tasks (the bus listener,
//! the command applier, the stats ticker), which the cluster stops before the namespaces close.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{
    apply,
    context::{Admin, Commands},
    listen, namespace, stats,
};
use crate::{error::Error, redis::adapter::Io};

/// Registers `/admin` on `io` and starts the tasks of `admin`.
pub(crate) async fn start(
    admin: Arc<Admin>,
    commands: Commands,
    io: &Io,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let target = admin.instance.link().target().to_string();
    let failed = |what: &str, e: &dyn std::fmt::Display| Error::RedisConnect {
        target: target.clone(),
        reason: format!("{what} failed: {e}"),
    };
    namespace::register(io)
        .await
        .map_err(|e| failed("subscribing the adapter for /admin", &e))?;
    let messages = admin
        .bus()
        .subscribe()
        .await
        .map_err(|e| failed("subscribing the admin bus", &e))?;
    Ok(vec![
        tokio::spawn(listen::listen(admin.clone(), messages)),
        tokio::spawn(apply::run(admin.clone(), io.clone(), commands)),
        tokio::spawn(stats::run(admin, io.clone())),
    ])
}
