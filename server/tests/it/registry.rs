//! The live instance registry: an instance started later in another process appears in every
//! instance's `/instances`; a killed one disappears.

use std::time::{Duration, Instant};

use crate::support::{get, instances, redis, url};
use gridcast_server::free_port;
use gridcast_shared::{InstanceList, ListSource};

async fn list(base: &str) -> InstanceList {
    serde_json::from_str(&get(&format!("{base}/instances")).await).unwrap()
}

/// Polls `/instances` of `base` until `pred` holds (bounded).
async fn wait_list(base: &str, what: &str, pred: impl Fn(&InstanceList) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let l = list(base).await;
        if pred(&l) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: still {:?}",
            l.instances
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn instances_from_other_processes_come_and_go() {
    let redis = redis().await;
    let cluster = instances(&redis, 2).await;
    let (a, b) = (url(&cluster[0]), url(&cluster[1]));

    let both = wait_list(&a, "both in-process instances listed", |l| {
        l.instances == {
            let mut v = vec![a.clone(), b.clone()];
            v.sort();
            v
        }
    })
    .await;
    let l = list(&b).await;
    assert_eq!(l.source, ListSource::Registry);
    assert!(
        l.live
            .iter()
            .all(|i| !i.info.id.is_empty() && i.started_at > 0)
    );
    assert!(both < Duration::from_secs(3), "both listed after {both:?}");

    // A third instance, in a separate process, joins the same cluster.
    let port = free_port().unwrap();
    let third = format!("http://localhost:{port}");
    let mut child = crate::support::spawn_gridcast(port, &redis.url());
    for base in [&a, &b] {
        let took = wait_list(base, "third instance listed", |l| {
            l.instances.contains(&third)
        })
        .await;
        // Its first heartbeat, once it is up (a debug build starts in well under 10 s).
        assert!(
            took < Duration::from_secs(10),
            "third instance listed by {base} after {took:?}"
        );
    }
    assert_eq!(list(&third).await.instances.len(), 3);

    // Killed without a chance to deregister: it leaves when its heartbeat key expires.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for base in [&a, &b] {
        let took = wait_list(base, "killed instance gone", |l| {
            !l.instances.contains(&third)
        })
        .await;
        // Its heartbeat key's 3 s TTL, plus a read.
        assert!(
            took < Duration::from_secs(6),
            "killed instance gone from {base} after {took:?}"
        );
    }
}

#[tokio::test]
async fn a_gracefully_stopped_instance_leaves_the_registry_at_once() {
    let redis = redis().await;
    let mut cluster = instances(&redis, 2).await;
    let (a, b) = (url(&cluster[0]), url(&cluster[1]));
    wait_list(&a, "b listed", |l| l.instances.contains(&b)).await;
    cluster.pop().unwrap().stop().await;
    let l = list(&a).await;
    assert!(!l.instances.contains(&b), "{:?}", l.instances);
}
