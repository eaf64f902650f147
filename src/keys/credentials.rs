//! Redline's credentials inside a running engine: the tool tokens, the admin credential, the
//! dashboard's session secret and one-time sign-in codes, held in memory so that checking a
//! request is a constant-time compare against a small set, never a keyring call.
//!
//! The set follows the keyring without a restart: every change made with `redline token`
//! (`keys/token.rs`) rewrites a stamp file, which [`Credentials::follow`] checks every
//! [`FOLLOW_EVERY`]; and a request presenting an unknown `rl_` token makes the proxy check the
//! stamp at once ([`Credentials::reload_if_changed`]), so a token made a moment ago works on
//! its first request. The keyring itself is read only when the stamp changed.
//!
//! An engine that starts while the keyring is locked or not running runs on a stand-in admin
//! credential and no tool tokens ([`Credentials::load_or_wait`], `keys/stand_in.rs`) and takes
//! the keyring's set by itself once the keyring answers.

use crate::error::Error;
use crate::keys::secret::Secret;
use crate::keys::stand_in;
use crate::keys::token::{
    ADMIN_PREFIX, DEFAULT_TOOL, TOKEN_PREFIX, TokenStore, generate_admin, generate_with,
};
use crate::keys::vault::{VaultError, off_runtime};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The dashboard's session cookie. Its value is the session secret, never a credential.
pub const SESSION_COOKIE: &str = "redline_session";
/// How often a running engine looks at the stamp file for changes made by `redline token`.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long a sign-in code from `redline dashboard` may be used (once).
pub const SIGN_IN_CODE_LIFETIME: Duration = Duration::from_secs(120);
/// Most sign-in codes waiting to be used; the oldest goes first.
const MAX_SIGN_IN_CODES: usize = 16;
const SIGN_IN_PREFIX: &str = "rl_signin_";
const SESSION_PREFIX: &str = "rl_session_";

/// What a request presented, as far as Redline is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presented {
    /// A tool token, with its tool's name: opens the proxy routes only.
    Tool(Arc<str>),
    /// The admin credential: the JSON API, /metrics and the dashboard; never the proxy.
    Admin,
    /// The dashboard's session secret: valid only as the session cookie.
    Session,
    /// A one-time sign-in code: valid only at `POST /api/v1/session`.
    SignInCode,
    /// Shaped like a Redline credential (`rl_…`) but none of this engine's: revoked, rotated,
    /// or another install's.
    UnknownRedline,
    /// Anything else (a provider's own key).
    Other,
}

struct Known {
    tools: Vec<(Arc<str>, Secret)>,
    admin: Secret,
    /// The stand-in admin credential this engine ran on before the keyring answered: still
    /// the admin's until the admin credential changes, so a window or a script that took it
    /// keeps working.
    stand_in: Option<Secret>,
    /// Random per engine start, and new whenever the admin credential changes (a session made
    /// with a leaked credential ends with it); the dashboard's cookie carries it.
    session: Secret,
}

pub struct Credentials {
    known: RwLock<Arc<Known>>,
    sign_in_codes: Mutex<Vec<(Secret, Instant)>>,
    /// Where to re-read them from; `None` for the demo and in-process tests.
    store: Option<TokenStore>,
    /// The stamp file's value when the set was last read.
    stamp: Mutex<Option<String>>,
    reloading: tokio::sync::Mutex<()>,
    /// Why the keyring could not be read, while the engine waits for it on a stand-in admin
    /// credential and no tool tokens.
    waiting: Mutex<Option<VaultError>>,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        if let Some(path) = self.store.as_ref().and_then(TokenStore::stand_in_path) {
            stand_in::remove(path, &self.known().admin);
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// A credential from a header value: the bare value, or what follows `Bearer ` (any case).
pub fn bare(value: &[u8]) -> &[u8] {
    let value = value.trim_ascii();
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
        _ => value,
    }
}

impl Credentials {
    /// A set that lives in memory only (the demo, tests): `tools` by name, and the admin
    /// credential.
    pub fn in_memory(tools: &[(&str, Secret)], admin: Secret) -> Arc<Credentials> {
        Arc::new(Credentials::new(
            tools
                .iter()
                .map(|(name, token)| (Arc::from(*name), token.clone()))
                .collect(),
            admin,
            None,
            None,
        ))
    }

    /// This install's set from the keyring, making the admin credential and the default tool
    /// token when there are none yet, and following later changes.
    pub async fn load(store: TokenStore) -> Result<Arc<Credentials>, Error> {
        let reading = store.clone();
        let (stamp, tools, admin) = off_runtime(move || {
            // The stamp before the tokens: a change in between is seen at the next check.
            let stamp = reading.stamp();
            let admin = reading.admin()?;
            reading.default_tool_token()?;
            Ok::<_, Error>((stamp, reading.tool_tokens()?, admin))
        })
        .await?;
        let tools = tools
            .into_iter()
            .map(|(name, token)| (Arc::from(name.as_str()), token))
            .collect();
        Ok(Arc::new(Credentials::new(tools, admin, Some(store), stamp)))
    }

    /// [`Credentials::load`], or, while the keyring is locked or not running, a set that
    /// waits for it: no tool tokens (the proxy says the keyring is unavailable) and a stand-in
    /// admin credential, written for this user's `redline` commands (`keys/stand_in.rs`).
    /// [`Credentials::follow`] takes the keyring's set once it answers. Looking at the keyring
    /// never prompts for an unlock.
    pub async fn load_or_wait(store: TokenStore) -> Result<Arc<Credentials>, Error> {
        let probing = store.clone();
        let down = match off_runtime(move || probing.vault().probe()).await {
            Err(down) => down,
            Ok(()) => match Credentials::load(store.clone()).await {
                Err(Error::Keyring(err)) if err.is_keyring_down() => err,
                loaded => return loaded,
            },
        };
        let admin = generate_admin();
        if let Some(path) = store.stand_in_path() {
            let writing = (path.to_path_buf(), admin.clone());
            let written = off_runtime(move || stand_in::publish(&writing.0, &writing.1)).await;
            if let Err(err) = written {
                eprintln!(
                    "redline: cannot write {} ({err}); `redline status` and `redline dashboard` cannot reach this Redline until the keyring answers",
                    path.display()
                );
            }
        }
        let waiting = Credentials::new(Vec::new(), admin, Some(store), None);
        *waiting.waiting() = Some(down);
        Ok(Arc::new(waiting))
    }

    fn new(
        tools: Vec<(Arc<str>, Secret)>,
        admin: Secret,
        store: Option<TokenStore>,
        stamp: Option<String>,
    ) -> Credentials {
        Credentials {
            known: RwLock::new(Arc::new(Known {
                tools,
                admin,
                stand_in: None,
                session: generate_with(SESSION_PREFIX, 32),
            })),
            sign_in_codes: Mutex::new(Vec::new()),
            store,
            stamp: Mutex::new(stamp),
            reloading: tokio::sync::Mutex::new(()),
            waiting: Mutex::new(None),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Option<VaultError>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why this engine cannot read its keyring, while it waits for it: the tool tokens are
    /// not known yet and the admin credential is a stand-in.
    pub fn keyring_problem(&self) -> Option<VaultError> {
        self.waiting().clone()
    }

    fn known(&self) -> Arc<Known> {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `candidate` (a bare credential, see [`bare`]) is. Each comparison takes the same
    /// time however much of a guess is right.
    pub fn identify(&self, candidate: &[u8]) -> Presented {
        // Every credential Redline makes has this (public) prefix.
        if !candidate.starts_with(TOKEN_PREFIX.as_bytes()) {
            return Presented::Other;
        }
        let known = self.known();
        if let Some((name, _)) = known.tools.iter().find(|(_, t)| t.matches(candidate)) {
            return Presented::Tool(name.clone());
        }
        if known.admin.matches(candidate)
            || known
                .stand_in
                .as_ref()
                .is_some_and(|s| s.matches(candidate))
        {
            Presented::Admin
        } else if known.session.matches(candidate) {
            Presented::Session
        } else if self.live_codes().iter().any(|code| code.matches(candidate)) {
            Presented::SignInCode
        } else {
            Presented::UnknownRedline
        }
    }

    /// The name of the tool whose token `candidate` is (for telling tools apart in the
    /// traffic), or `None` when it is no tool token.
    pub fn tool_name(&self, candidate: &[u8]) -> Option<Arc<str>> {
        match self.identify(bare(candidate)) {
            Presented::Tool(name) => Some(name),
            _ => None,
        }
    }

    /// Whether a Redline credential appears anywhere in `value` (a header value on its way to
    /// a provider): one of this engine's, or anything shaped like one (a token made a moment
    /// ago that the engine has not read yet, a revoked one, another install's).
    pub fn appears_in(&self, value: &[u8]) -> bool {
        let prefix = TOKEN_PREFIX.as_bytes();
        if !value.windows(prefix.len()).any(|w| w == prefix) {
            return false;
        }
        if holds_redline_shaped(value) {
            return true;
        }
        let contains = |secret: &Secret| {
            let needle = secret.expose().as_bytes();
            value.windows(needle.len()).any(|w| w == needle)
        };
        let known = self.known();
        known.tools.iter().any(|(_, t)| contains(t))
            || contains(&known.admin)
            || known.stand_in.as_ref().is_some_and(contains)
            || contains(&known.session)
            || self.live_codes().iter().any(contains)
    }

    /// The dashboard's session secret, for its cookie.
    pub fn session_secret(&self) -> Secret {
        self.known().session.clone()
    }

    pub fn admin(&self) -> Secret {
        self.known().admin.clone()
    }

    /// A tool's token, when it has one (`default` is what `redline env` hands out).
    pub fn tool_token(&self, tool: &str) -> Option<Secret> {
        self.known()
            .tools
            .iter()
            .find(|(name, _)| &**name == tool)
            .map(|(_, token)| token.clone())
    }

    /// The default tool token.
    pub fn default_tool_token(&self) -> Option<Secret> {
        self.tool_token(DEFAULT_TOOL)
    }

    /// The names of the tools that have a token, sorted.
    pub fn tool_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<_> = self.known().tools.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    /// A one-time code that `POST /api/v1/session` trades for a session, once, within
    /// [`SIGN_IN_CODE_LIFETIME`]: what `redline dashboard` puts in the link it opens, so the
    /// admin credential never travels in a URL, a process argument or a browser's history.
    pub fn issue_sign_in_code(&self) -> Secret {
        let code = generate_with(SIGN_IN_PREFIX, 32);
        let mut codes = self.codes();
        prune(&mut codes);
        if codes.len() >= MAX_SIGN_IN_CODES {
            codes.remove(0);
        }
        codes.push((code.clone(), Instant::now()));
        code
    }

    /// Uses up the sign-in code `candidate`; `false` when it is none, expired or used.
    pub fn redeem_sign_in_code(&self, candidate: &[u8]) -> bool {
        let mut codes = self.codes();
        prune(&mut codes);
        match codes.iter().position(|(code, _)| code.matches(candidate)) {
            Some(index) => {
                codes.remove(index);
                true
            }
            None => false,
        }
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, Vec<(Secret, Instant)>> {
        self.sign_in_codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn live_codes(&self) -> Vec<Secret> {
        let mut codes = self.codes();
        prune(&mut codes);
        codes.iter().map(|(code, _)| code.clone()).collect()
    }

    /// Re-reads the keyring when the stamp file changed since the set was read; `true` when
    /// this call replaced the set. Concurrent callers wait for one read, and the ones that
    /// waited get `false` although the set is new: look again either way.
    pub async fn reload_if_changed(&self) -> Result<bool, Error> {
        let Some(store) = self.store.clone() else {
            return Ok(false);
        };
        // Waiting for the keyring: `follow` looks at it, on its own clock.
        if self.keyring_problem().is_some() {
            return Ok(false);
        }
        let _one_at_a_time = self.reloading.lock().await;
        let reading = store.clone();
        let stamp = off_runtime(move || reading.stamp()).await;
        if *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) == stamp {
            return Ok(false);
        }
        let (tools, admin) = off_runtime(move || {
            Ok::<_, Error>((store.tool_tokens()?, store.read_admin_in_keyring()?))
        })
        .await?;
        let tools = tools
            .into_iter()
            .map(|(name, token)| (Arc::from(name.as_str()), token))
            .collect();
        let known = self.known();
        let admin = admin.unwrap_or_else(|| known.admin.clone());
        let (session, stand_in) = if admin == known.admin {
            (known.session.clone(), known.stand_in.clone())
        } else {
            // Whatever the old credential opened ends with it.
            self.codes().clear();
            (generate_with(SESSION_PREFIX, 32), None)
        };
        *self.known.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Known {
            tools,
            admin,
            stand_in,
            session,
        });
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        Ok(true)
    }

    /// Once the keyring answers, its tool tokens and admin credential (made when missing)
    /// replace the stand-ins; `Ok(true)` when they did, `Ok(false)` when nothing was waiting.
    /// The stand-in admin credential stays valid (dashboard sessions too) until the admin
    /// credential changes, but its file goes.
    pub async fn take_keyring_set(&self) -> Result<bool, Error> {
        let Some(store) = self.store.clone() else {
            return Ok(false);
        };
        let _one_at_a_time = self.reloading.lock().await;
        // Checked under the lock: another caller may have taken the set meanwhile.
        if self.keyring_problem().is_none() {
            return Ok(false);
        }
        let reading = store.clone();
        let read = off_runtime(move || {
            // Never prompts: a locked keyring stays locked until the user unlocks it.
            reading.vault().probe()?;
            let stamp = reading.stamp();
            let admin = reading.admin_in_keyring()?;
            reading.default_tool_token()?;
            Ok::<_, Error>((stamp, reading.tool_tokens()?, admin))
        })
        .await;
        let (stamp, tools, admin) = match read {
            Ok(read) => read,
            Err(Error::Keyring(err)) if err.is_keyring_down() => {
                *self.waiting() = Some(err.clone());
                return Err(Error::Keyring(err));
            }
            Err(err) => return Err(err),
        };
        let known = self.known();
        if let Some(path) = store.stand_in_path() {
            stand_in::remove(path, &known.admin);
        }
        *self.known.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Known {
            tools: tools
                .into_iter()
                .map(|(name, token)| (Arc::from(name.as_str()), token))
                .collect(),
            admin,
            stand_in: Some(known.admin.clone()),
            session: known.session.clone(),
        });
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        *self.waiting() = None;
        Ok(true)
    }

    /// Follows `redline token`'s changes for as long as the engine runs: made, rotated and
    /// revoked tokens take effect within [`FOLLOW_EVERY`]; an engine waiting for its keyring
    /// takes the keyring's set as soon as it answers. A keyring that cannot be read is
    /// reported once, and the set in memory is kept.
    pub async fn follow(self: Arc<Self>) {
        let mut check = tokio::time::interval(FOLLOW_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = None;
        loop {
            check.tick().await;
            if self.keyring_problem().is_some() {
                match self.take_keyring_set().await {
                    Ok(true) => {
                        reported = None;
                        eprintln!(
                            "redline: the keyring answers: {} tool tokens and the admin credential loaded",
                            self.known().tools.len()
                        );
                    }
                    Ok(false) => {}
                    Err(err) => {
                        let message = match &err {
                            Error::Keyring(down) => down.waiting_message(),
                            _ => None,
                        }
                        .unwrap_or_else(|| err.to_string());
                        if reported.as_ref() != Some(&message) {
                            eprintln!(
                                "redline: waiting for the keyring (tool tokens are refused with 503 until then): {message}"
                            );
                            reported = Some(message);
                        }
                    }
                }
                continue;
            }
            match self.reload_if_changed().await {
                Ok(true) => {
                    reported = None;
                    eprintln!(
                        "redline: tokens reloaded ({} tool tokens)",
                        self.known().tools.len()
                    );
                }
                Ok(false) => {}
                Err(err) => {
                    let message = err.to_string();
                    if reported.as_ref() != Some(&message) {
                        eprintln!("redline: keeping the tokens in use: {message}");
                        reported = Some(message);
                    }
                }
            }
        }
    }
}

/// Whether `value` holds `rl_` (at its start or after a character that is no letter or digit),
/// then one of the kinds Redline makes (`admin_`, `session_`, `signin_`, or none), then at
/// least 32 hex digits: the shape of every credential Redline makes.
fn holds_redline_shaped(value: &[u8]) -> bool {
    let prefix = TOKEN_PREFIX.as_bytes();
    (0..value.len()).any(|at| {
        let starts =
            value[at..].starts_with(prefix) && (at == 0 || !value[at - 1].is_ascii_alphanumeric());
        if !starts {
            return false;
        }
        let mut rest = &value[at + prefix.len()..];
        for kind in [&b"admin_"[..], b"session_", b"signin_"] {
            if let Some(after) = rest.strip_prefix(kind) {
                rest = after;
                break;
            }
        }
        rest.iter().take_while(|b| b.is_ascii_hexdigit()).count() >= 32
    })
}

fn prune(codes: &mut Vec<(Secret, Instant)>) {
    codes.retain(|(_, made)| made.elapsed() < SIGN_IN_CODE_LIFETIME);
}

/// Whether `text` is shaped like the admin credential, whoever's it is.
pub fn is_admin_shaped(text: &[u8]) -> bool {
    text.starts_with(ADMIN_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::token::{generate_admin, generate_token};

    fn set() -> (Arc<Credentials>, Secret, Secret, Secret) {
        let (codex, other, admin) = (generate_token(), generate_token(), generate_admin());
        let creds = Credentials::in_memory(
            &[("codex", codex.clone()), ("default", other.clone())],
            admin.clone(),
        );
        (creds, codex, other, admin)
    }

    #[test]
    fn each_credential_is_told_apart() {
        let (creds, codex, other, admin) = set();
        let id = |s: &str| creds.identify(s.as_bytes());
        assert_eq!(id(codex.expose()), Presented::Tool("codex".into()));
        assert_eq!(id(other.expose()), Presented::Tool("default".into()));
        assert_eq!(id(admin.expose()), Presented::Admin);
        assert_eq!(id(creds.session_secret().expose()), Presented::Session);
        assert_eq!(id(generate_token().expose()), Presented::UnknownRedline);
        assert_eq!(id(generate_admin().expose()), Presented::UnknownRedline);
        assert_eq!(id("sk-kimi-realkey"), Presented::Other);
        assert_eq!(id(""), Presented::Other);
        assert_eq!(
            creds.tool_name(format!("Bearer {}", codex.expose()).as_bytes()),
            Some("codex".into())
        );
        assert_eq!(creds.tool_name(admin.expose().as_bytes()), None);
        assert_eq!(
            creds.tool_names(),
            vec![Arc::<str>::from("codex"), "default".into()]
        );
        assert_eq!(creds.default_tool_token(), Some(other));
        assert_ne!(
            Credentials::in_memory(&[], admin.clone()).session_secret(),
            creds.session_secret(),
            "a session secret per engine"
        );
    }

    #[test]
    fn bearer_schemes_are_stripped_in_any_case() {
        assert_eq!(bare(b"Bearer abc"), b"abc");
        assert_eq!(bare(b" bearer  abc "), b"abc");
        assert_eq!(bare(b"BEARER abc"), b"abc");
        assert_eq!(bare(b"abc"), b"abc");
        assert_eq!(bare(b"Basic abc"), b"Basic abc");
    }

    #[test]
    fn sign_in_codes_work_once() {
        let (creds, _, _, _) = set();
        let code = creds.issue_sign_in_code();
        assert_eq!(
            creds.identify(code.expose().as_bytes()),
            Presented::SignInCode
        );
        assert!(creds.appears_in(code.expose().as_bytes()));
        assert!(creds.redeem_sign_in_code(code.expose().as_bytes()));
        assert!(
            !creds.redeem_sign_in_code(code.expose().as_bytes()),
            "used up"
        );
        assert_eq!(
            creds.identify(code.expose().as_bytes()),
            Presented::UnknownRedline
        );
        let codes: Vec<Secret> = (0..MAX_SIGN_IN_CODES + 1)
            .map(|_| creds.issue_sign_in_code())
            .collect();
        assert!(
            !creds.redeem_sign_in_code(codes[0].expose().as_bytes()),
            "the oldest went"
        );
        assert!(creds.redeem_sign_in_code(codes[MAX_SIGN_IN_CODES].expose().as_bytes()));
    }

    #[test]
    fn credentials_are_found_inside_longer_values() {
        let (creds, codex, _, admin) = set();
        for value in [
            format!("redline_session={}", creds.session_secret().expose()),
            format!("x{}y", codex.expose()),
            format!("Token {}", admin.expose()),
        ] {
            assert!(creds.appears_in(value.as_bytes()), "{value}");
        }
        for value in [
            "sk-kimi-abc",
            "rl_",
            "application/json",
            &codex.expose()[..20],
        ] {
            assert!(!creds.appears_in(value.as_bytes()), "{value}");
        }
        // Shaped like one of Redline's, though not this engine's: a token made a moment ago,
        // a revoked one, another install's.
        for value in [
            generate_token().expose().to_owned(),
            format!("k={}", generate_admin().expose()),
            format!("Bearer rl_session_{}", "ab".repeat(16)),
        ] {
            assert!(creds.appears_in(value.as_bytes()), "{value}");
        }
        for value in [
            format!("curl_{}", "ab".repeat(16)),
            format!("rl_{}", "ab".repeat(15)),
            "rl_admin_short".to_owned(),
        ] {
            assert!(!creds.appears_in(value.as_bytes()), "{value}");
        }
    }
}
