//! Signing lanes: a few long-lived threads that run one key's blocking work (issue a token, sign, verify) from a
//! queue, instead of a task on the runtime's blocking pool for each request.
//!
//! Why: a signature is 15–25 µs of CPU with a software P-256 key, less than the hand-off to the blocking pool
//! costs on a loaded machine (a condition-variable wake of an idle pool thread, and its park again, per
//! request). A lane's threads stay awake while work is queued, so under load a request is picked up without
//! any wake-up, and an idle lane costs sleeping threads only.
//!
//! What stays the same: signing never runs on an async worker; a caller stops waiting at its deadline (the
//! callers wrap [`Lane::run`] in their own timeout); a panicking job costs its own request only. A hung KMS
//! call holds one lane thread: the lane belongs to one key (the local TSA's), so a hung key stalls only its own
//! requests, which are refused at their deadline, and a full queue is refused at once ([`LaneError::Full`])
//! rather than queued without bound. When the key is replaced (a reload), the old lane's threads finish what
//! they hold and end.

use std::panic::AssertUnwindSafe;

/// A job on a lane.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not run to an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneError {
    /// The queue is full: the lane's threads are all busy (or hung) and this many jobs wait already.
    #[error("the signing queue is full ({0} waiting)")]
    Full(usize),
    /// The job panicked (logged), or the lane ended before it ran.
    #[error("the signing job failed: {0}")]
    Failed(&'static str),
}

/// A fixed set of threads fed by one bounded queue. Dropping the lane closes the queue; its threads end after
/// the jobs already queued. Clones share the lane.
#[derive(Clone)]
pub struct Lane {
    sender: crossbeam_channel::Sender<Job>,
    capacity: usize,
}

impl Lane {
    /// A lane of `threads` threads named `name-N`, at most `queue` jobs waiting.
    pub fn new(name: &str, threads: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(queue);
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                            tracing::error!(
                                "a signing job panicked; its request fails, the lane goes on"
                            );
                        }
                    }
                })?;
        }
        Ok(Self {
            sender,
            capacity: queue,
        })
    }

    /// A lane with one thread per core.
    pub fn per_core(name: &str, queue: usize) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(name, cores, queue)
    }

    /// Queues `work` on the lane now, and returns the wait for its answer. Wrap the wait in a timeout: a hung
    /// job is waited for as long as the caller waits.
    pub fn run<T, F>(
        &self,
        work: F,
    ) -> impl std::future::Future<Output = Result<T, LaneError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have stopped waiting; the work is done regardless (a KMS call cannot be taken back).
            let _ = answer.send(work());
        });
        let queued = self.sender.try_send(job).map_err(|error| match error {
            crossbeam_channel::TrySendError::Full(_) => LaneError::Full(self.capacity),
            crossbeam_channel::TrySendError::Disconnected(_) => {
                LaneError::Failed("the lane has stopped")
            }
        });
        async move {
            queued?;
            answered
                .await
                .map_err(|_| LaneError::Failed("the job panicked"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn answers_survive_a_panic_and_a_hung_thread() {
        let lane = Lane::new("test-lane", 2, 2).unwrap();
        assert_eq!(lane.run(|| 6 * 7).await, Ok(42));
        let panicked = lane.run(|| -> u8 { panic!("job panics") }).await;
        assert_eq!(panicked, Err(LaneError::Failed("the job panicked")));
        // One thread hangs: the other still answers.
        let release = Arc::new(AtomicBool::new(false));
        let held = release.clone();
        let hung = lane.run(move || {
            while !held.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            "released"
        });
        let hung = tokio::spawn(hung);
        assert_eq!(lane.run(|| 1).await, Ok(1));
        release.store(true, Ordering::Release);
        assert_eq!(hung.await.unwrap(), Ok("released"));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let lane = Lane::new("test-full", 1, 1).unwrap();
        let (started, running) = std::sync::mpsc::channel();
        let release = Arc::new(AtomicBool::new(false));
        let held = release.clone();
        let first = tokio::spawn(lane.run(move || {
            started.send(()).unwrap();
            while !held.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
        running.recv().unwrap();
        // The thread is busy: one job may wait, the next is refused without waiting.
        let waiting = lane.run(|| 2);
        assert_eq!(lane.run(|| 3).await, Err(LaneError::Full(1)));
        release.store(true, Ordering::Release);
        first.await.unwrap().unwrap();
        assert_eq!(waiting.await, Ok(2));
    }
}
