//! Where a request lives outside the log: its root message in Slack, its Linear issue. Not
//! part of the fold (delivering the outbox writes them), but the renderer needs them.

/// A Slack message by channel and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
}

/// Where a request's root message lives, once the outbox has posted it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    pub permalink: Option<String>,
    pub linear_issue_id: Option<String>,
    pub linear_url: Option<String>,
}

impl Links {
    /// The root message, once both its channel and ts are stored.
    pub fn root(&self) -> Option<SlackMessage> {
        let (channel, ts) = (self.slack_channel.clone()?, self.slack_ts.clone()?);
        Some(SlackMessage { channel, ts })
    }
}
