//! The cron side: tokio-cron-scheduler fires the `[scheduler]` expressions (UTC cron jobs
//! only; its `_tz` and repeated jobs have open bugs) and each job calls a step function
//! with the daemon's clock. The deadline job also ends absences and records the weekly
//! digest's slot; the reminder job also sends break-glass review reminders.
//!
//! The library neither stops a run that outlasts its period nor waits for running jobs at
//! shutdown, so each job holds a lock while it runs: a tick that finds it held is skipped,
//! and `shutdown` takes every lock, which waits for the runs in flight.
//!
//! Nor does it say when a job panics (its runs are tasks of its own), so each run catches
//! its panic and hands it to the scheduler's supervised task, which ends with it: a sweep
//! that panics is a bug, and the daemon stops rather than run on without its timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    sweep_absences, sweep_deadlines, sweep_digest, sweep_owners, sweep_reminders, sweep_reviews,
    Sweeper,
};
use crate::clock::SharedClock;
use crate::config::SchedulerSettings;
use crate::outbox::Deliverer;
use crate::supervise::panic_message;

type BoxedRun = Pin<Box<dyn Future<Output = ()> + Send>>;
type Step = Arc<dyn Fn() -> BoxedRun + Send + Sync>;

/// One job: its name for logs, its overlap guard and what it runs.
#[derive(Clone)]
struct Guarded {
    name: &'static str,
    running: Arc<Mutex<()>>,
    stop: CancellationToken,
    step: Step,
    panics: mpsc::UnboundedSender<String>,
}

impl Guarded {
    fn new(
        name: &'static str,
        stop: &CancellationToken,
        panics: &mpsc::UnboundedSender<String>,
        step: Step,
    ) -> Self {
        Guarded {
            name,
            running: Arc::new(Mutex::new(())),
            stop: stop.clone(),
            step,
            panics: panics.clone(),
        }
    }

    /// Runs the step unless a run is still going or the daemon is stopping.
    async fn run(self) {
        let Ok(_running) = self.running.clone().try_lock_owned() else {
            debug!(
                job = self.name,
                "the previous run is still going; this tick is skipped"
            );
            return;
        };
        if self.stop.is_cancelled() {
            return;
        }
        if let Err(panic) = std::panic::AssertUnwindSafe((self.step)())
            .catch_unwind()
            .await
        {
            let why = format!("{} panicked: {}", self.name, panic_message(&*panic));
            let _ = self.panics.send(why);
        }
    }
}

/// The running cron jobs. Dropping it does not stop them; call [`Scheduler::shutdown`].
pub struct Scheduler {
    cron: JobScheduler,
    stop: CancellationToken,
    jobs: Vec<Guarded>,
    /// The supervised task: runs the catch-up, then lasts until shutdown or a job's panic.
    task: JoinHandle<()>,
}

impl Scheduler {
    /// Registers the deadline, reminder, outbox and owner jobs and starts ticking. One deadline
    /// and one reminder sweep run at once, so a daemon that was down over a deadline,
    /// reminder slots or the digest's slot catches up on start: once, since a sweep records
    /// what is due now.
    pub async fn start(
        sweeper: Sweeper,
        deliverer: Deliverer,
        clock: SharedClock,
        schedule: &SchedulerSettings,
    ) -> Result<Scheduler, JobSchedulerError> {
        let stop = sweeper.stop.clone();
        let supervisor = sweeper.state.supervisor.clone();
        let deadlines: Step = {
            let (s, clock) = (sweeper.clone(), clock.clone());
            Arc::new(move || {
                let (s, clock) = (s.clone(), clock.clone());
                Box::pin(async move {
                    if let Err(e) = sweep_deadlines(&s, clock.now()).await {
                        warn!(error.message = %e, "deadline sweep failed; the next tick retries");
                    }
                    if let Err(e) = sweep_absences(&s, clock.now()).await {
                        warn!(error.message = %e, "absence sweep failed; the next tick retries");
                    }
                    if let Err(e) = sweep_digest(&s, clock.now()).await {
                        warn!(error.message = %e, "digest sweep failed; the next tick retries");
                    }
                })
            })
        };
        let reminders: Step = {
            let (s, clock) = (sweeper.clone(), clock.clone());
            Arc::new(move || {
                let (s, clock) = (s.clone(), clock.clone());
                Box::pin(async move {
                    if let Err(e) = sweep_reminders(&s, clock.now()).await {
                        warn!(error.message = %e, "reminder sweep failed; the next tick retries");
                    }
                    if let Err(e) = sweep_reviews(&s, clock.now()).await {
                        warn!(error.message = %e, "review sweep failed; the next tick retries");
                    }
                })
            })
        };
        let owners: Step = {
            let (s, clock) = (sweeper.clone(), clock.clone());
            Arc::new(move || {
                let (s, clock) = (s.clone(), clock.clone());
                Box::pin(async move {
                    if let Err(e) = sweep_owners(&s, clock.now()).await {
                        warn!(error.message = %e, "owner sweep failed; the next tick retries");
                    }
                })
            })
        };
        let outbox: Step = Arc::new(move || {
            let d = deliverer.clone();
            Box::pin(async move {
                if let Err(e) = d.drain_once().await {
                    warn!(error.message = %e, "outbox sweep failed; the next tick retries");
                }
            })
        });
        let (panicked, mut panics) = mpsc::unbounded_channel();
        let jobs = vec![
            Guarded::new("deadline_sweep", &stop, &panicked, deadlines),
            Guarded::new("reminder_sweep", &stop, &panicked, reminders),
            Guarded::new("outbox_sweep", &stop, &panicked, outbox),
            Guarded::new("owner_sweep", &stop, &panicked, owners),
        ];
        let cron = JobScheduler::new().await?;
        let exprs = [
            &schedule.sweep,
            &schedule.reminder_sweep,
            &schedule.outbox_sweep,
            &schedule.owner_sweep,
        ];
        for (job, expr) in jobs.iter().zip(exprs) {
            let job = job.clone();
            cron.add(Job::new_async(expr.as_str(), move |_, _| {
                Box::pin(job.clone().run())
            })?)
            .await?;
        }
        cron.start().await?;
        let task = {
            let (deadlines, reminders) = (jobs[0].clone(), jobs[1].clone());
            let stop = stop.clone();
            supervisor.spawn("scheduler", async move {
                deadlines.run().await;
                reminders.run().await;
                tokio::select! {
                    _ = stop.cancelled() => Ok(()),
                    Some(why) = panics.recv() => Err(why),
                }
            })
        };
        info!(sweep = %schedule.sweep, reminder_sweep = %schedule.reminder_sweep, outbox_sweep = %schedule.outbox_sweep, owner_sweep = %schedule.owner_sweep, "scheduler started (UTC cron)");
        Ok(Scheduler {
            cron,
            stop,
            jobs,
            task,
        })
    }

    /// Stops ticking, tells running sweeps to take no more work, and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Err(e) = self.cron.shutdown().await {
            warn!(error.message = %e, "the cron scheduler did not stop cleanly");
        }
        let _ = self.task.await;
        for job in &self.jobs {
            let _ = job.running.lock().await;
        }
        info!("scheduler stopped");
    }
}
