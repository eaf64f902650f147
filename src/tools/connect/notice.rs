//! When to tell the user about a tool's config file: the pure decision behind the engine's
//! tool watch (`watch.rs`). A tool Redline connected that stops pointing at it (the user or
//! the tool rewrote the file), one that points at a Redline address that is not the running
//! one, one that presents a tool token Redline no longer accepts (rotated or revoked), and any
//! tool still holding a key a rotation replaced. Each notice names the tool, says what changed
//! and gives the command that fixes it (`redline connect TOOL ACCOUNT`).
//!
//! [`decide`] compares one tool's previous and current [`Observed`] state; [`Memory`] keeps
//! the previous states and believes a new state only once two observations in a row agree, so
//! a file caught half-written, or Redline's own `disconnect` caught between writing the file
//! and dropping its backup, never notifies.

use super::Tool;
use super::service::{Judged, StateCode, TokenSeen};
use serde::Serialize;
use std::collections::BTreeMap;

/// One tool's state as the watch saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub judged: Judged,
    /// The account Redline connected the tool to (it keeps a backup for `disconnect`), None
    /// when it did not.
    pub connected_to: Option<String>,
}

impl Observed {
    fn through_redline(&self) -> bool {
        self.judged.code == StateCode::Redline && self.judged.token != TokenSeen::Unknown
    }

    fn token_refused(&self) -> bool {
        self.judged.code == StateCode::Redline && self.judged.token == TokenSeen::Unknown
    }

    /// Connected by Redline, yet not going through it (or not through the running one).
    fn astray(&self) -> bool {
        self.connected_to.is_some() && !self.through_redline()
    }
}

/// What kind of problem a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A connected tool no longer points at Redline.
    LeftRedline,
    /// A connected tool points at a Redline address that is not the running one.
    Elsewhere,
    /// A tool presents a tool token Redline does not accept.
    TokenRefused,
    /// A tool still holds a key a rotation replaced.
    OldKey,
}

/// A notice about one tool, for the desktop's notifications, the event stream and the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolNotice {
    /// `openclaw`
    pub tool: &'static str,
    /// `OpenClaw`
    pub name: &'static str,
    pub kind: NoticeKind,
    /// The account the fix points the tool at.
    pub account: String,
    /// `~/.openclaw/openclaw.json`
    pub config_path: String,
    pub summary: String,
    pub body: String,
    /// `redline connect openclaw kimi-main`
    pub command: String,
}

/// The notice `tool`'s change from `previous` (None: first seen) to `current` calls for.
/// `config_path` names the file in messages.
pub fn decide(
    tool: Tool,
    config_path: &str,
    previous: Option<&Observed>,
    current: &Observed,
) -> Option<ToolNotice> {
    let was = |check: fn(&Observed) -> bool| previous.is_some_and(check);
    let same_code = |code| previous.is_some_and(|p| p.judged.code == code);
    let now = &current.judged;
    let name = tool.display_name();
    let (kind, account, summary, what) = if now.code == StateCode::DirectOldKey {
        if same_code(StateCode::DirectOldKey) {
            return None;
        }
        let account = now.account.clone()?;
        (
            NoticeKind::OldKey,
            account.clone(),
            format!("{name} still uses the old key of {account}"),
            format!(
                "{config_path} holds the key the last rotation of {account} replaced, so {name}'s requests will be refused once that key is revoked. Send it through Redline instead, and rotations need no change in it"
            ),
        )
    } else if current.token_refused() {
        if was(Observed::token_refused) {
            return None;
        }
        (
            NoticeKind::TokenRefused,
            now.account.clone()?,
            format!("{name}'s tool token no longer works"),
            format!(
                "{config_path} holds a tool token that was rotated or revoked, so Redline refuses {name}'s requests. Write its current token"
            ),
        )
    } else if now.code == StateCode::RedlineElsewhere && current.astray() {
        if same_code(StateCode::RedlineElsewhere) {
            return None;
        }
        let address = now.address.as_deref().unwrap_or("another address");
        (
            NoticeKind::Elsewhere,
            now.account.clone().or(current.connected_to.clone())?,
            format!("{name} points at a Redline that is not running"),
            format!(
                "{config_path} sends {name} to Redline on {address}, which is not where Redline runs now, so its requests fail. Point it at the running Redline"
            ),
        )
    } else if current.astray()
        // News once: when first seen astray, not again while it stays so.
        && let Some(before) = previous
        && !(before.astray() && before.judged.code == now.code)
    {
        let now_does = match now.code {
            StateCode::NotConfigured => {
                "no longer chooses an endpoint (Redline's settings are gone)".to_owned()
            }
            StateCode::Direct | StateCode::DirectCurrentKey => match &now.base_url {
                Some(url) => format!("sends {name} straight to {url}"),
                None => format!("sends {name} straight to the provider"),
            },
            // Unreadable: what the parser said, with the line and column.
            _ => format!("cannot be read ({})", now.summary),
        };
        (
            NoticeKind::LeftRedline,
            current.connected_to.clone()?,
            format!("{name} no longer goes through Redline"),
            format!(
                "{config_path} changed: it {now_does}, so Redline no longer sees (or queues) its requests. Point it back"
            ),
        )
    } else {
        return None;
    };
    let command = format!("redline connect {} {account}", tool.name());
    Some(ToolNotice {
        tool: tool.name(),
        name,
        kind,
        body: format!("{what}: `{command}`."),
        account,
        config_path: config_path.to_owned(),
        summary,
        command,
    })
}

/// What the watch remembers of each tool between observations.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    tools: BTreeMap<Tool, Remembered>,
}

#[derive(Clone, Debug)]
struct Remembered {
    /// The state believed (seen twice in a row, or first seen).
    believed: Observed,
    /// A different state seen once, waiting for a second look.
    pending: Option<Observed>,
}

impl Memory {
    /// Follows one observation of `tool`: the notice, if the change calls for one.
    pub fn observe(
        &mut self,
        tool: Tool,
        config_path: &str,
        current: Observed,
    ) -> Option<ToolNotice> {
        let Some(remembered) = self.tools.get_mut(&tool) else {
            let notice = decide(tool, config_path, None, &current);
            self.tools.insert(
                tool,
                Remembered {
                    believed: current,
                    pending: None,
                },
            );
            return notice;
        };
        if current == remembered.believed {
            remembered.pending = None;
            return None;
        }
        if remembered.pending.as_ref() != Some(&current) {
            remembered.pending = Some(current);
            return None;
        }
        let notice = decide(tool, config_path, Some(&remembered.believed), &current);
        remembered.believed = current;
        remembered.pending = None;
        notice
    }

    /// Whether a change waits for a second look (the watch looks again even if no file
    /// changed).
    pub fn settling(&self) -> bool {
        self.tools.values().any(|r| r.pending.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "~/.openclaw/openclaw.json";

    fn observed(code: StateCode, token: TokenSeen, connected: bool) -> Observed {
        let connected_to = connected.then(|| "kimi-main".to_owned());
        let redline = matches!(code, StateCode::Redline | StateCode::RedlineElsewhere);
        Observed {
            judged: Judged {
                code,
                summary: "…".into(),
                account: (code != StateCode::NotConfigured).then(|| "kimi-main".into()),
                base_url: (!redline).then(|| "https://api.kimi.com/coding/".into()),
                key: None,
                address: redline.then(|| "127.0.0.1:4290".into()),
                token_tool: (token == TokenSeen::Known).then(|| "openclaw".into()),
                token,
            },
            connected_to,
        }
    }

    fn through() -> Observed {
        observed(StateCode::Redline, TokenSeen::Known, true)
    }

    fn direct() -> Observed {
        let mut o = observed(StateCode::Direct, TokenSeen::None, true);
        o.judged.account = None;
        o
    }

    fn kind(notice: Option<ToolNotice>) -> Option<NoticeKind> {
        notice.map(|n| n.kind)
    }

    #[test]
    fn a_connected_tool_that_stops_pointing_at_redline_is_named_with_the_fix() {
        let notice = decide(Tool::OpenClaw, PATH, Some(&through()), &direct()).unwrap();
        assert_eq!(notice.kind, NoticeKind::LeftRedline);
        assert_eq!(notice.summary, "OpenClaw no longer goes through Redline");
        assert_eq!(
            notice.body,
            "~/.openclaw/openclaw.json changed: it sends OpenClaw straight to \
             https://api.kimi.com/coding/, so Redline no longer sees (or queues) its requests. \
             Point it back: `redline connect openclaw kimi-main`."
        );
        assert_eq!(notice.command, "redline connect openclaw kimi-main");
        let gone = observed(StateCode::NotConfigured, TokenSeen::None, true);
        let notice = decide(Tool::OpenClaw, PATH, Some(&through()), &gone).unwrap();
        assert!(
            notice.body.contains("Redline's settings are gone"),
            "{}",
            notice.body
        );
        let broken = observed(StateCode::Unreadable, TokenSeen::None, true);
        assert_eq!(
            kind(decide(Tool::OpenClaw, PATH, Some(&through()), &broken)),
            Some(NoticeKind::LeftRedline)
        );
    }

    #[test]
    fn a_tool_changed_right_after_connect_is_named_with_the_account_redline_connected() {
        // The watch never saw it through Redline: it went from "not configured" (before
        // connect) straight to direct, while Redline keeps the backup of its connect.
        let before = observed(StateCode::NotConfigured, TokenSeen::None, false);
        let notice = decide(Tool::OpenClaw, PATH, Some(&before), &direct()).unwrap();
        assert_eq!(notice.kind, NoticeKind::LeftRedline);
        assert_eq!(notice.command, "redline connect openclaw kimi-main");
        // Once named, staying so is no news; another way astray is.
        assert_eq!(
            decide(Tool::OpenClaw, PATH, Some(&direct()), &direct()),
            None
        );
        let gone = observed(StateCode::NotConfigured, TokenSeen::None, true);
        assert!(decide(Tool::OpenClaw, PATH, Some(&direct()), &gone).is_some());
    }

    #[test]
    fn a_tool_redline_did_not_connect_or_that_was_never_through_it_is_left_alone() {
        // Disconnected by Redline: no backup any more, so not "connected".
        let mut restored = direct();
        restored.connected_to = None;
        assert_eq!(
            decide(Tool::OpenClaw, PATH, Some(&through()), &restored),
            None
        );
        // First seen direct: nothing changed that Redline saw change.
        assert_eq!(decide(Tool::OpenClaw, PATH, None, &direct()), None);
        assert_eq!(decide(Tool::OpenClaw, PATH, None, &through()), None);
        let current_key = observed(StateCode::DirectCurrentKey, TokenSeen::None, false);
        assert_eq!(decide(Tool::OpenClaw, PATH, None, &current_key), None);
    }

    #[test]
    fn an_old_key_and_a_refused_token_are_named_once_even_when_first_seen() {
        let old = observed(StateCode::DirectOldKey, TokenSeen::None, false);
        let notice = decide(Tool::ClaudeCode, "~/.claude/settings.json", None, &old).unwrap();
        assert_eq!(notice.kind, NoticeKind::OldKey);
        assert_eq!(
            notice.summary,
            "Claude Code still uses the old key of kimi-main"
        );
        assert!(
            notice
                .body
                .ends_with("`redline connect claude-code kimi-main`."),
            "{}",
            notice.body
        );
        assert_eq!(decide(Tool::ClaudeCode, PATH, Some(&old), &old), None);

        let refused = observed(StateCode::Redline, TokenSeen::Unknown, true);
        let notice = decide(Tool::OpenClaw, PATH, Some(&through()), &refused).unwrap();
        assert_eq!(notice.kind, NoticeKind::TokenRefused);
        assert_eq!(notice.summary, "OpenClaw's tool token no longer works");
        assert!(
            notice.body.contains("rotated or revoked"),
            "{}",
            notice.body
        );
        assert_eq!(decide(Tool::OpenClaw, PATH, Some(&refused), &refused), None);
        // Fixed: back through Redline, nothing to say.
        assert_eq!(
            decide(Tool::OpenClaw, PATH, Some(&refused), &through()),
            None
        );
    }

    #[test]
    fn a_connected_tool_on_another_redline_address_is_named() {
        let elsewhere = observed(StateCode::RedlineElsewhere, TokenSeen::Known, true);
        let notice = decide(Tool::OpenClaw, PATH, None, &elsewhere).unwrap();
        assert_eq!(notice.kind, NoticeKind::Elsewhere);
        assert!(
            notice.body.contains("Redline on 127.0.0.1:4290"),
            "{}",
            notice.body
        );
        assert_eq!(
            decide(Tool::OpenClaw, PATH, Some(&elsewhere), &elsewhere),
            None
        );
        let mut not_ours = elsewhere.clone();
        not_ours.connected_to = None;
        assert_eq!(decide(Tool::OpenClaw, PATH, None, &not_ours), None);
    }

    #[test]
    fn memory_believes_a_change_seen_twice_in_a_row() {
        let mut memory = Memory::default();
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, through()), None);
        assert!(!memory.settling());
        // Seen once: not yet.
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, direct()), None);
        assert!(memory.settling());
        // Seen again: news, once.
        assert_eq!(
            kind(memory.observe(Tool::OpenClaw, PATH, direct())),
            Some(NoticeKind::LeftRedline)
        );
        assert!(!memory.settling());
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, direct()), None);
    }

    #[test]
    fn a_passing_state_and_redlines_own_disconnect_never_notify() {
        let mut memory = Memory::default();
        memory.observe(Tool::OpenClaw, PATH, through());
        // A half-written file, then the finished one.
        let broken = observed(StateCode::Unreadable, TokenSeen::None, true);
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, broken), None);
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, through()), None);
        assert!(!memory.settling());
        // `disconnect` caught between restoring the file and dropping its backup.
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, direct()), None);
        let mut restored = direct();
        restored.connected_to = None;
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, restored.clone()), None);
        assert_eq!(memory.observe(Tool::OpenClaw, PATH, restored), None);
    }
}
