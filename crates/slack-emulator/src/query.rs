//! Reading what happened, and waiting for it. Every `wait_*` sleeps on the state-change
//! signal under a deadline; none polls.

use std::time::Duration;

use super::error::EmulatorError;
use super::log::LogEntry;
use super::records::{Call, Delivery, Ephemeral, Message, UploadedFile, View};
use super::Emulator;

impl Emulator {
    /// Top-level messages of a channel, oldest first (thread replies: [`Emulator::thread`]).
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        self.shared.read(|st| {
            st.messages()
                .iter()
                .filter(|m| m.channel == channel && !m.is_thread_reply())
                .cloned()
                .collect()
        })
    }

    /// Every message in every channel, in posting order.
    pub fn all_messages(&self) -> Vec<Message> {
        self.shared.read(|st| st.messages().to_vec())
    }

    /// The current version of one message.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Message> {
        self.shared.read(|st| st.message(channel, ts).cloned())
    }

    /// The replies in the thread under `thread_ts`, oldest first (not the parent).
    pub fn thread(&self, channel: &str, thread_ts: &str) -> Vec<Message> {
        self.shared.read(|st| {
            st.messages()
                .iter()
                .filter(|m| m.channel == channel && m.is_thread_reply())
                .filter(|m| m.thread_ts.as_deref() == Some(thread_ts))
                .cloned()
                .collect()
        })
    }

    /// Ephemeral messages shown to `user`, oldest first.
    pub fn ephemerals(&self, user: &str) -> Vec<Ephemeral> {
        self.shared.read(|st| {
            st.ephemerals
                .iter()
                .filter(|e| e.user == user)
                .cloned()
                .collect()
        })
    }

    /// The bot's DM channel with `user`, once `conversations.open` (or a post) created it.
    pub fn dm_channel(&self, user: &str) -> Option<String> {
        self.shared.read(|st| st.dms.get(user).cloned())
    }

    /// Every message in the bot's DM with `user` (threads included), oldest first.
    pub fn dms(&self, user: &str) -> Vec<Message> {
        self.shared.read(|st| match st.dms.get(user) {
            Some(dm) => st
                .messages()
                .iter()
                .filter(|m| &m.channel == dm)
                .cloned()
                .collect(),
            None => Vec::new(),
        })
    }

    /// Every modal ever shown to `user`, oldest first.
    pub fn views(&self, user: &str) -> Vec<View> {
        self.shared.read(|st| {
            st.views
                .iter()
                .filter(|v| v.user == user)
                .cloned()
                .collect()
        })
    }

    pub fn view(&self, id: &str) -> Option<View> {
        self.shared.read(|st| st.view(id).cloned())
    }

    /// The modal `user` currently sees (top of their stack).
    pub fn open_view(&self, user: &str) -> Option<View> {
        self.shared.read(|st| {
            let top = st.stacks.get(user)?.last()?;
            st.view(top).cloned()
        })
    }

    /// `user`'s Home tab as last published (`views.publish`), if ever.
    pub fn home(&self, user: &str) -> Option<View> {
        self.shared.read(|st| st.homes.get(user).cloned())
    }

    /// Waits for `user`'s Home to be published and match `matches`.
    pub async fn wait_for_home(
        &self,
        user: &str,
        mut matches: impl FnMut(&View) -> bool,
        within: Duration,
    ) -> Result<View, EmulatorError> {
        let what = format!("a matching Home for {user}");
        self.shared
            .wait_for(&what, within, |st| {
                st.homes.get(user).filter(|v| matches(v)).cloned()
            })
            .await
    }

    /// How many times `user`'s Home was published successfully.
    pub fn home_publishes(&self, user: &str) -> usize {
        self.shared.read(|st| {
            st.calls
                .iter()
                .filter(|c| c.method == "views.publish" && c.ok() && c.params["user_id"] == user)
                .count()
        })
    }

    /// Every call of a Web API method (`"response_url"` for hook posts), oldest first.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.shared.read(|st| {
            st.calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.shared.read(|st| st.calls.clone())
    }

    /// Every envelope sent, with when it was sent and when (if) its ack came.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.read(|st| st.deliveries.clone())
    }

    /// Frames from clients that acked nothing we sent.
    pub fn stray_frames(&self) -> Vec<String> {
        self.shared.read(|st| st.stray_frames.clone())
    }

    /// Sockets that received `hello` and are still open.
    pub fn connected_sockets(&self) -> usize {
        self.shared.read(super::state::State::connected_sockets)
    }

    /// How many sockets ever received `hello` (reconnects included).
    pub fn hellos_sent(&self) -> usize {
        self.shared.read(|st| st.hellos_sent)
    }

    /// The whole story so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.read(|st| st.log.clone())
    }

    /// `text` with `@U…` mentions of seeded users (and the bot) shown as `@name`, for
    /// printing log entries and rendered messages to people.
    pub fn with_names(&self, text: &str) -> String {
        let cfg = &self.shared.config;
        let names = cfg
            .users
            .iter()
            .map(|u| (u.id.as_str(), u.name.as_str()))
            .chain([(cfg.bot_user_id.as_str(), cfg.bot_name.as_str())]);
        names.fold(text.to_owned(), |out, (id, name)| {
            out.replace(&format!("@{id}"), &format!("@{name}"))
        })
    }

    /// Entries from position `seq` on (pass the last seen `seq + 1` to continue).
    pub fn log_since(&self, seq: usize) -> Vec<LogEntry> {
        self.shared.read(|st| {
            st.log
                .get(seq..)
                .map(<[LogEntry]>::to_vec)
                .unwrap_or_default()
        })
    }

    /// Waits until at least `n` sockets are connected (hello sent).
    pub async fn wait_connected(&self, n: usize, within: Duration) -> Result<(), EmulatorError> {
        let what = format!("{n} connected socket(s)");
        self.shared
            .wait_for(&what, within, |st| {
                (st.connected_sockets() >= n).then_some(())
            })
            .await
    }

    /// Waits until `n` sockets in total ever received `hello`: after a `disconnect` or a
    /// dropped socket, `wait_for_hellos(previous + 1, ..)` waits for the reconnect.
    pub async fn wait_for_hellos(&self, n: usize, within: Duration) -> Result<(), EmulatorError> {
        let what = format!("{n} hello(s) sent in total");
        self.shared
            .wait_for(&what, within, |st| (st.hellos_sent >= n).then_some(()))
            .await
    }

    /// Waits for `user` to have a modal open and returns the top one.
    pub async fn wait_for_view(&self, user: &str, within: Duration) -> Result<View, EmulatorError> {
        let what = format!("a modal open for {user}");
        self.shared
            .wait_for(&what, within, |st| {
                let top = st.stacks.get(user)?.last()?;
                st.view(top).cloned()
            })
            .await
    }

    /// Waits for any modal (open or not) matching `matches`.
    pub async fn wait_for_view_where(
        &self,
        mut matches: impl FnMut(&View) -> bool,
        within: Duration,
    ) -> Result<View, EmulatorError> {
        self.shared
            .wait_for("a matching modal", within, |st| {
                st.views.iter().find(|v| matches(v)).cloned()
            })
            .await
    }

    /// Waits for the first message (current version, posting order) matching `matches`.
    pub async fn wait_for_message(
        &self,
        mut matches: impl FnMut(&Message) -> bool,
        within: Duration,
    ) -> Result<Message, EmulatorError> {
        self.shared
            .wait_for("a matching message", within, |st| {
                st.messages().iter().find(|m| matches(m)).cloned()
            })
            .await
    }

    /// Waits for the first message in the bot's DM with `user` matching `matches`.
    pub async fn wait_for_dm(
        &self,
        user: &str,
        mut matches: impl FnMut(&Message) -> bool,
        within: Duration,
    ) -> Result<Message, EmulatorError> {
        let what = format!("a matching DM to {user}");
        self.shared
            .wait_for(&what, within, |st| {
                let dm = st.dms.get(user)?;
                st.messages()
                    .iter()
                    .find(|m| &m.channel == dm && matches(m))
                    .cloned()
            })
            .await
    }

    /// Waits for the first ephemeral message matching `matches`.
    pub async fn wait_for_ephemeral(
        &self,
        mut matches: impl FnMut(&Ephemeral) -> bool,
        within: Duration,
    ) -> Result<Ephemeral, EmulatorError> {
        self.shared
            .wait_for("a matching ephemeral", within, |st| {
                st.ephemerals.iter().find(|e| matches(e)).cloned()
            })
            .await
    }

    /// Waits for the first log entry matching `matches`.
    pub async fn wait_for_log(
        &self,
        mut matches: impl FnMut(&LogEntry) -> bool,
        within: Duration,
    ) -> Result<LogEntry, EmulatorError> {
        self.shared
            .wait_for("a matching log entry", within, |st| {
                st.log.iter().find(|e| matches(e)).cloned()
            })
            .await
    }

    /// Files shared through `files.completeUploadExternal`, oldest first.
    pub fn files(&self) -> Vec<UploadedFile> {
        self.shared.read(|st| st.files.clone())
    }

    /// Waits until at least `n` files were shared; returns them all.
    pub async fn wait_for_files(
        &self,
        n: usize,
        within: Duration,
    ) -> Result<Vec<UploadedFile>, EmulatorError> {
        let what = format!("{n} shared file(s)");
        self.shared
            .wait_for(&what, within, |st| {
                (st.files.len() >= n).then(|| st.files.clone())
            })
            .await
    }

    /// Waits until `method` was called at least `n` times; returns all its calls.
    pub async fn wait_for_calls(
        &self,
        method: &str,
        n: usize,
        within: Duration,
    ) -> Result<Vec<Call>, EmulatorError> {
        let what = format!("{n} call(s) of {method}");
        self.shared
            .wait_for(&what, within, |st| {
                let calls: Vec<Call> = st
                    .calls
                    .iter()
                    .filter(|c| c.method == method)
                    .cloned()
                    .collect();
                (calls.len() >= n).then_some(calls)
            })
            .await
    }
}
