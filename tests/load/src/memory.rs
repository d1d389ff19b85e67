//! The in-process memory row `timer-memory` (opt-in: `--only timer-memory`, `--claims N`): what N live approval
//! requests expiring a day away cost the approval timers, tracked as the engine tracks them
//! (`ApprovalTimers`), apart from the HTTP daemon and the store (`VmRSS` of this process before and after).
//! The daemon's whole cost per pending claim is the `pending-100k` row.

use std::sync::Arc;
use std::time::Duration;

use sigild::actors::approval::{ApprovalTimers, FireFn};
use sigild::ids::ApprovalId;
use sigild::store::now_ms;

use crate::Options;

pub(crate) fn run(options: &Options, wanted: &dyn Fn(&str) -> bool) {
    let only = options.only.is_some();
    if only && wanted("timer-memory") {
        timer_memory(options.claims as usize);
    }
}

/// Resident memory of this process in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn report(what: &str, count: usize, before: u64, after: u64) {
    println!(
        "{what}: {count} live, RSS {before} KiB -> {after} KiB, {} bytes each",
        after.saturating_sub(before) * 1024 / count.max(1) as u64
    );
}

/// `timer-memory`, on an actix system of its own (two arbiters, as the daemon's pool).
fn timer_memory(count: usize) {
    std::thread::spawn(move || {
        let system = actix_rt::System::with_tokio_rt(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
        });
        system.block_on(async move {
            let arbiters: Vec<actix::Arbiter> = (0..2).map(|_| actix::Arbiter::new()).collect();
            let fire: FireFn = Arc::new(|_| Box::pin(async { true }));
            let timers = ApprovalTimers::new(
                arbiters.iter().map(|a| a.handle()).collect(),
                tokio::runtime::Handle::current(),
                fire,
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = rss_kib();
            let far = now_ms() + 86_400_000;
            for index in 0..count {
                timers.track(ApprovalId::new(format!("cl_{index:024x}")), far);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            report("timer-memory", count, before, rss_kib());
            timers.stop_all();
            for arbiter in arbiters {
                arbiter.stop();
            }
        });
    })
    .join()
    .expect("timer-memory thread");
}
