//! Policy: the team's answers to the RFC's open questions, from config.

use serde::{Deserialize, Serialize};

use super::calendar::Calendar;

/// Recorded with every event, so the audit record shows the rules a decision was taken under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// At or above this estimated monthly cost a finance approver must also approve.
    pub finance_threshold_usd_month: i64,
    pub customer_confirmation_ttl_business_days: u32,
    pub activation_ttl_business_days: u32,
    pub allow_provisioning_before_confirmation: bool,
    pub escalate_after_reminders: u32,
    /// Longest `reminders_snoozed`, in business days. Policies recorded before the key
    /// existed read as the default.
    #[serde(default = "default_max_snooze")]
    pub max_snooze_business_days: u32,
    /// A request that has not moved for this many business days counts as stuck.
    #[serde(default = "default_stuck_after")]
    pub stuck_after_business_days: u32,
    pub calendar: Calendar,
}

fn default_max_snooze() -> u32 {
    3
}

fn default_stuck_after() -> u32 {
    3
}

impl Policy {
    /// Longest single `ttl_extended`, so a typo cannot park capacity for a year.
    pub const MAX_EXTENSION_DAYS: u32 = 60;

    pub fn finance_required(&self, est_monthly_cost_cents: i64) -> bool {
        est_monthly_cost_cents >= self.finance_threshold_usd_month.saturating_mul(100)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            finance_threshold_usd_month: 50_000,
            customer_confirmation_ttl_business_days: 5,
            activation_ttl_business_days: 10,
            allow_provisioning_before_confirmation: false,
            escalate_after_reminders: 3,
            max_snooze_business_days: default_max_snooze(),
            stuck_after_business_days: default_stuck_after(),
            calendar: Calendar::default(),
        }
    }
}
