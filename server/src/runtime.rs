//! The process's runtimes: the main one (built in `main.rs`) runs the connections, and each
//! [`Cluster`](crate::Cluster) adds a one-thread [`DeliveryRuntime`] for its Redis connections
//! and history readers.
//!
//! Why a thread of its own: under load the main runtime's run queues hold the writer task of every
//! connection (a `send` each), and a task woken there waits its turn behind them. A broadcast
//! crossed three such wake-ups between the sender's handler and the receivers' queues (the
//! `XADD` leaving on the Redis connection, its entry arriving on the reader's connection, the
//! reader delivering it). Under load that queueing was most of gridcast's latency gap to the bare
//! peer (figures in `docs/benchmarks.md`, "delivery runtime"). The price is a park and a wake-up
//! of this thread per message at low load. The fan-out itself went back to the main runtime, one
//! task per batch (`crate::hub`'s reader): woken from here, every receiver's writer was scheduled
//! from outside its runtime.

use std::{cell::Cell, future::Future, time::Duration, time::Instant};

use tikv_jemalloc_ctl::{Access, AsName};
use tokio::{
    runtime::{Builder, Handle, Runtime},
    task::JoinError,
};

/// How often at most a runtime thread hands its allocator cache back.
const CACHE_RELEASE_EVERY: Duration = Duration::from_secs(1);

/// For `on_thread_park` of a runtime: each time one of its threads goes idle, at most once per
/// `CACHE_RELEASE_EVERY`, hands the thread's jemalloc cache of freed blocks back to the
/// allocator. A thread that goes quiet after a connect storm never allocates again to trigger the
/// cache's own trimming, and the blocks it holds keep whole pages in use after a connect storm
/// (measured with `scripts/memory.sh`: `docs/benchmarks.md`, "memory"). Harmless where jemalloc
/// is not the global allocator (tests).
pub fn release_thread_cache() {
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if LAST
        .get()
        .is_some_and(|last| now - last < CACHE_RELEASE_EVERY)
    {
        return;
    }
    LAST.set(Some(now));
    // Disabling a thread's cache flushes it; enabling it again starts an empty one.
    let key = b"thread.tcache.enabled\0".name();
    let _ = key.write(false).and_then(|()| key.write(true));
}

/// One thread running a cluster's Redis connections and history readers (see the module docs).
/// Dropping it stops the thread without waiting for its tasks.
#[derive(Debug)]
pub(crate) struct DeliveryRuntime {
    runtime: Option<Runtime>,
}

impl DeliveryRuntime {
    /// Starts the thread.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gridcast-delivery")
            .enable_all()
            .on_thread_park(release_thread_cache)
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Where to spawn onto it.
    pub(crate) fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("the runtime is only taken when dropped")
            .handle()
    }

    /// Runs `task` there and waits for it from wherever the caller runs (e.g. to open a Redis
    /// connection, whose tasks then live there too). Fails only if `task` panics.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, JoinError> {
        self.handle().spawn(task).await
    }
}

impl Drop for DeliveryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks stop, which is not allowed inside another
        // runtime (where a cluster is stopped); its tasks hold nothing that needs waiting for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_delivery_thread_and_it_can_be_dropped_inside_a_runtime() {
        let delivery = DeliveryRuntime::start().unwrap();
        let name = delivery
            .run(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("gridcast-delivery"));
        // A task that never ends does not hold up the drop.
        delivery.handle().spawn(std::future::pending::<()>());
        drop(delivery);
    }
}
