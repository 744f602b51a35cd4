//! The cron side: tokio-cron-scheduler fires the `[scheduler]` expressions (UTC cron jobs
//! only; its `_tz` and repeated jobs have open bugs) and each job calls a step function
//! with the daemon's clock.
//!
//! The library neither stops a run that outlasts its period nor waits for running jobs at
//! shutdown, so each job holds a lock while it runs: a tick that finds it held is skipped,
//! and `shutdown` takes every lock, which waits for the runs in flight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{sweep_absences, sweep_deadlines, sweep_reminders, sweep_reviews, Sweeper};
use crate::clock::SharedClock;
use crate::config::SchedulerSettings;
use crate::outbox::Deliverer;

type BoxedRun = Pin<Box<dyn Future<Output = ()> + Send>>;
type Step = Arc<dyn Fn() -> BoxedRun + Send + Sync>;

/// One job: its name for logs, its overlap guard and what it runs.
#[derive(Clone)]
struct Guarded {
    name: &'static str,
    running: Arc<Mutex<()>>,
    stop: CancellationToken,
    step: Step,
}

impl Guarded {
    fn new(name: &'static str, stop: &CancellationToken, step: Step) -> Self {
        Guarded {
            name,
            running: Arc::new(Mutex::new(())),
            stop: stop.clone(),
            step,
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
        (self.step)().await;
    }
}

/// The running cron jobs. Dropping it does not stop them; call [`Scheduler::shutdown`].
pub struct Scheduler {
    cron: JobScheduler,
    stop: CancellationToken,
    jobs: Vec<Guarded>,
    catch_up: JoinHandle<()>,
}

impl Scheduler {
    /// Registers the deadline, reminder and outbox jobs and starts ticking. One deadline
    /// and one reminder sweep run at once, so a daemon that was down over a deadline or
    /// reminder slots catches up on start: once, since a sweep records what is due now.
    pub async fn start(
        sweeper: Sweeper,
        deliverer: Deliverer,
        clock: SharedClock,
        schedule: &SchedulerSettings,
    ) -> Result<Scheduler, JobSchedulerError> {
        let stop = sweeper.stop.clone();
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
        let outbox: Step = Arc::new(move || {
            let d = deliverer.clone();
            Box::pin(async move {
                if let Err(e) = d.drain_once().await {
                    warn!(error.message = %e, "outbox sweep failed; the next tick retries");
                }
            })
        });
        let jobs = vec![
            Guarded::new("deadline_sweep", &stop, deadlines),
            Guarded::new("reminder_sweep", &stop, reminders),
            Guarded::new("outbox_sweep", &stop, outbox),
        ];
        let cron = JobScheduler::new().await?;
        let exprs = [
            &schedule.sweep,
            &schedule.reminder_sweep,
            &schedule.outbox_sweep,
        ];
        for (job, expr) in jobs.iter().zip(exprs) {
            let job = job.clone();
            cron.add(Job::new_async(expr.as_str(), move |_, _| {
                Box::pin(job.clone().run())
            })?)
            .await?;
        }
        cron.start().await?;
        let catch_up = {
            let (deadlines, reminders) = (jobs[0].clone(), jobs[1].clone());
            tokio::spawn(async move {
                deadlines.run().await;
                reminders.run().await;
            })
        };
        info!(sweep = %schedule.sweep, reminder_sweep = %schedule.reminder_sweep, outbox_sweep = %schedule.outbox_sweep, "scheduler started (UTC cron)");
        Ok(Scheduler {
            cron,
            stop,
            jobs,
            catch_up,
        })
    }

    /// Stops ticking, tells running sweeps to take no more work, and waits for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Err(e) = self.cron.shutdown().await {
            warn!(error.message = %e, "the cron scheduler did not stop cleanly");
        }
        let _ = self.catch_up.await;
        for job in &self.jobs {
            let _ = job.running.lock().await;
        }
        info!("scheduler stopped");
    }
}
