//! Replicated `strata run` on an etcd state: campaign, stand by while another controller
//! leads, and take the loop over from the stored state once this one leads.

use super::*;

/// Why `leading` no longer leads, once it does not; never without a leadership.
pub(super) async fn lost(leading: &mut Option<&mut Leading>) -> String {
    match leading {
        Some(l) => l.lost().await,
        None => std::future::pending().await,
    }
}

/// Whether an apply was refused because this controller no longer leads.
pub(super) fn deposed(e: &ApplyError) -> bool {
    matches!(e, ApplyError::Store(StoreError::Deposed(..)))
}

/// One of several controllers of a network on etcd: it campaigns, stands by while another
/// leads, and while it leads takes the loop over from the stored state and runs it.
pub(super) struct Replica<'a> {
    pub(super) args: &'a Args,
    pub(super) candidate: Candidate,
    pub(super) network: &'a str,
    /// The election lease's TTL asked for, seconds.
    pub(super) ttl: i64,
    /// The terms this controller led.
    pub(super) terms: Vec<u64>,
}

/// What happened while standing by.
enum Standby {
    Won(Result<Leading, StoreError>),
    Leader(Option<String>),
    Interrupted,
}

impl Replica<'_> {
    pub(super) async fn lead_or_stand_by(
        &mut self,
        c: &mut Controller,
        agents: &Agents,
        screen: &mut Screen,
        limit: u64,
        seen: &mut u64,
        interrupt: &mut Interrupt,
    ) -> Stop {
        c.note(format!(
            "campaigning to lead `{}` as {} (election lease TTL {} s)",
            self.network,
            self.candidate.holder(),
            self.ttl
        ));
        loop {
            screen.log(c);
            let mut leading = match self.stand_by(c, screen, interrupt).await {
                Some(l) => l,
                None => return Stop::Interrupted,
            };
            let term = leading.leadership.term;
            self.terms.push(term);
            c.metrics.record_leadership(true, term);
            c.note(format!("became leader (term {term})"));
            screen.log(c);
            let mut telemetry = subscribe(agents, Duration::from_millis(200));
            let stop = match self.take_over(c, &mut leading, screen, interrupt).await {
                Some(stop) => stop,
                None => {
                    watch_loop(
                        c,
                        &mut telemetry,
                        screen,
                        Limits { limit, watch: true },
                        seen,
                        interrupt,
                        Some(&mut leading),
                    )
                    .await
                }
            };
            c.metrics.record_leadership(false, term);
            match stop {
                Stop::Lost(why) => {
                    c.note(format!("lost leadership (term {term}): {why}; standing by"));
                }
                other => {
                    leading.resign().await;
                    c.note(format!("resigned leadership (term {term})"));
                    screen.log(c);
                    return other;
                }
            }
        }
    }

    /// Campaigns until this controller leads (`None`: interrupted first), saying who leads
    /// meanwhile.
    async fn stand_by(
        &self,
        c: &mut Controller,
        screen: &mut Screen,
        interrupt: &mut Interrupt,
    ) -> Option<Leading> {
        let mut campaign = self.candidate.campaign();
        let mut observer = Some(self.candidate.observe());
        loop {
            let event = tokio::select! {
                won = campaign.won() => Standby::Won(won),
                leader = async {
                    match observer.as_mut() {
                        Some(o) => o.next().await,
                        None => std::future::pending().await,
                    }
                } => Standby::Leader(leader),
                _ = interrupt.wait() => Standby::Interrupted,
            };
            match event {
                Standby::Won(Ok(leading)) => return Some(leading),
                Standby::Won(Err(e)) => {
                    c.note(format!("{e}; campaigning again in 1 s"));
                    screen.log(c);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = interrupt.wait() => return None,
                    }
                    campaign = self.candidate.campaign();
                }
                Standby::Leader(Some(holder)) => {
                    if holder != self.candidate.holder() {
                        c.note(format!("standing by: {holder} leads"));
                        screen.log(c);
                    }
                }
                Standby::Leader(None) => observer = None,
                // Dropping the campaign withdraws it.
                Standby::Interrupted => return None,
            }
        }
    }

    /// Takes the loop over from the stored state and applies what this controller's plan
    /// says (nothing when the network runs it already), again every second until that goes
    /// through; `None` once it has, or why leading or watching ended first.
    async fn take_over(
        &self,
        c: &mut Controller,
        leading: &mut Leading,
        screen: &mut Screen,
        interrupt: &mut Interrupt,
    ) -> Option<Stop> {
        loop {
            if let Some(why) = leading.check() {
                return Some(Stop::Lost(why));
            }
            let attempt = async {
                let stored = c.store.load()?;
                if c.resume(stored.as_ref()) {
                    c.note(format!(
                        "resuming on generation {} as the previous leader left it (re-planned around a failure); back to the plan once nothing is down",
                        c.generation
                    ));
                }
                c.apply().await
            };
            let applied = tokio::select! {
                r = attempt => r,
                why = leading.lost() => return Some(Stop::Lost(why)),
                _ = interrupt.wait() => return Some(Stop::Interrupted),
            };
            match applied {
                Ok(report) => {
                    // Forcing is for the first apply; the rest are fenced as usual.
                    c.options.force_generation = false;
                    screen.log(c);
                    self.args.print_applied(&report);
                    return None;
                }
                Err(e) if deposed(&e) => return Some(Stop::Lost(e.to_string())),
                Err(e) => {
                    c.note(format!("could not take over: {e}; trying again in 1 s"));
                    screen.log(c);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        why = leading.lost() => return Some(Stop::Lost(why)),
                        _ = interrupt.wait() => return Some(Stop::Interrupted),
                    }
                }
            }
        }
    }
}
