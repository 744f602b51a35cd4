//! Seed data and timing knobs for an [`Emulator`](super::Emulator).
//!
//! Defaults reuse the identities of `tests/fixtures/slack` so recorded payloads look
//! like the fixtures (team `T07QCRB2H1N`, app `A07R1CAPRQ2`, bot user `U07R1D8BOT9`).

use std::time::Duration;

/// A workspace member the emulator knows about (`users.info`, interaction payloads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedUser {
    pub id: String,
    /// Legacy handle, sent as `user_name` / `user.username`.
    pub name: String,
    pub real_name: String,
    pub tz: String,
}

/// A public or private channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedChannel {
    pub id: String,
    pub name: String,
    /// When false, posting answers `not_in_channel`, as for a bot without `chat:write.public`.
    pub bot_is_member: bool,
}

/// A user group (`S…`) and its members, for `usergroups.users.list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedUsergroup {
    pub id: String,
    pub members: Vec<String>,
}

/// Everything an emulator starts with. Build it with the `with_*` methods.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub team_id: String,
    pub team_domain: String,
    pub team_name: String,
    pub app_id: String,
    pub bot_user_id: String,
    pub bot_id: String,
    pub bot_name: String,
    pub bot_token: String,
    pub app_token: String,
    pub users: Vec<SeedUser>,
    pub channels: Vec<SeedChannel>,
    pub usergroups: Vec<SeedUsergroup>,
    /// How long the emulator waits for an ack (Slack: 3 s). Driver calls wait this long.
    pub ack_timeout: Duration,
    /// How long a minted `trigger_id` stays usable (Slack: 3 s).
    pub trigger_ttl: Duration,
    /// How often an un-acked `events_api` envelope is redelivered (Slack: 3).
    pub max_event_retries: u32,
    /// Sockets allowed at once (Slack: 10); the next one gets `too_many_websockets`.
    pub max_sockets: usize,
    /// Lifetime of a `apps.connections.open` ticket before the upgrade must happen.
    pub ticket_ttl: Duration,
    /// The bot token's granted scopes: sent back in `x-oauth-scopes` on every bot-token
    /// call, and a method needing none of them answers `missing_scope`, as Slack does.
    /// Defaults to [`DEFAULT_BOT_SCOPES`].
    pub bot_scopes: Vec<String>,
}

/// Every bot scope a method or event of the emulator needs, plus `commands`: a token with these
/// may call everything the emulator serves.
pub const DEFAULT_BOT_SCOPES: &[&str] = &[
    "commands",
    "chat:write",
    "im:write",
    "usergroups:read",
    "users:read",
    "channels:read",
    "groups:read",
    "files:write",
    // Message events (`message.channels`, `message.groups`) are sent only with these.
    "channels:history",
    "groups:history",
];

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            team_id: "T07QCRB2H1N".into(),
            team_domain: "acme-infra".into(),
            team_name: "Acme Infra".into(),
            app_id: "A07R1CAPRQ2".into(),
            bot_user_id: "U07R1D8BOT9".into(),
            bot_id: "B07R1CBOT42".into(),
            bot_name: "capacity_bot".into(),
            bot_token: "xoxb-7812345678901-emulator-bot-token".into(),
            app_token: "xapp-1-A07R1CAPRQ2-emulator-app-token".into(),
            users: Vec::new(),
            channels: Vec::new(),
            usergroups: Vec::new(),
            ack_timeout: Duration::from_secs(3),
            trigger_ttl: Duration::from_secs(3),
            max_event_retries: 3,
            max_sockets: 10,
            ticket_ttl: Duration::from_secs(30),
            bot_scopes: DEFAULT_BOT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl EmulatorConfig {
    /// Adds a user; `name` is the handle (`dana.kim`), `real_name` the display name.
    pub fn with_user(mut self, id: &str, name: &str, real_name: &str) -> Self {
        self.users.push(SeedUser {
            id: id.into(),
            name: name.into(),
            real_name: real_name.into(),
            tz: "Europe/London".into(),
        });
        self
    }

    /// Adds a user group with its members.
    pub fn with_usergroup<I, S>(mut self, id: &str, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.usergroups.push(SeedUsergroup {
            id: id.into(),
            members: members.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Adds a channel; `bot_is_member` decides between success and `not_in_channel`.
    pub fn with_channel(mut self, id: &str, name: &str, bot_is_member: bool) -> Self {
        self.channels.push(SeedChannel {
            id: id.into(),
            name: name.into(),
            bot_is_member,
        });
        self
    }

    pub fn with_team(mut self, id: &str, domain: &str) -> Self {
        self.team_id = id.into();
        self.team_domain = domain.into();
        self
    }

    pub fn with_app_id(mut self, app_id: &str) -> Self {
        self.app_id = app_id.into();
        self
    }

    pub fn with_bot(mut self, user_id: &str, bot_id: &str, name: &str) -> Self {
        self.bot_user_id = user_id.into();
        self.bot_id = bot_id.into();
        self.bot_name = name.into();
        self
    }

    pub fn with_tokens(mut self, bot_token: &str, app_token: &str) -> Self {
        self.bot_token = bot_token.into();
        self.app_token = app_token.into();
        self
    }

    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    pub fn with_trigger_ttl(mut self, ttl: Duration) -> Self {
        self.trigger_ttl = ttl;
        self
    }

    pub fn with_max_event_retries(mut self, retries: u32) -> Self {
        self.max_event_retries = retries;
        self
    }

    /// The bot token's granted scopes (replacing the defaults).
    pub fn with_bot_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bot_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_max_sockets(mut self, max: usize) -> Self {
        self.max_sockets = max;
        self
    }

    pub(crate) fn user(&self, id: &str) -> Option<&SeedUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn channel(&self, id: &str) -> Option<&SeedChannel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub(crate) fn usergroup(&self, id: &str) -> Option<&SeedUsergroup> {
        self.usergroups.iter().find(|g| g.id == id)
    }
}
