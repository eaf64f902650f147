//! Secrets in memory: a type that never prints its contents and wipes itself when dropped.

use std::fmt;
use zeroize::Zeroizing;

/// Longest secret Redline accepts. Real API keys are a few hundred bytes at most; anything
/// longer is a paste of the wrong thing.
pub const MAX_SECRET_LEN: usize = 8 * 1024;

/// An API key or token. `Debug` and `Display` print `<redacted>`; the only way to the text is
/// [`Secret::expose`], so every use of the raw value is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps text as a secret after trimming surrounding whitespace (a pasted key usually
    /// carries a trailing newline). Refuses empty, oversized and multi-line input with a
    /// message that never quotes the input.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(SecretError::Empty);
        }
        if trimmed.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong(trimmed.len()));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SecretError::InnerWhitespace);
        }
        Ok(Secret(Zeroizing::new(trimmed.to_owned())))
    }

    /// The raw secret. Call it only where the secret leaves for the keyring or a provider.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, compared without stopping at the first difference,
    /// so the time taken does not tell how much of a guess was right. (The length may show;
    /// every local token has the same length.)
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        if candidate.len() != secret.len() {
            return false;
        }
        let difference = candidate
            .iter()
            .zip(secret)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(difference) == 0
    }

    /// A masked fingerprint safe to show and store, such as `sk-…a1b2`: a well-known prefix
    /// (`sk-`, `sk-ant-`, `sk-or-`) and the last four characters of a long key; less of a
    /// short one.
    pub fn fingerprint(&self) -> String {
        let text: &str = &self.0;
        let chars: Vec<char> = text.chars().collect();
        let tail_len = match chars.len() {
            0..=7 => 0,
            8..=15 => 2,
            _ => 4,
        };
        let tail: String = chars[chars.len() - tail_len..].iter().collect();
        let prefix = if chars.len() >= 16 {
            known_prefix(text)
        } else {
            ""
        };
        format!("{prefix}…{tail}")
    }
}

/// The vendor prefix of a key: up to two short lowercase segments ending in `-` or `_`
/// (`sk-`, `sk-ant-`, `sk-kimi-`, `gsk_`), never more than eight characters.
/// `text` (a message from outside: a provider's error body) with every word shaped like a key
/// or token replaced by its fingerprint (`sk-kimi-…1111`): providers quote the key they refused
/// (`Invalid API key provided: Bearer sk-…`), and such messages reach the status, the events,
/// notifications and the config file's last test message.
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=') {
            word.push(c);
            continue;
        }
        // A full stop after a key ends the sentence, not the key.
        let key = word.trim_end_matches('.');
        if looks_like_a_key(key) {
            out.push_str(&Secret(key.to_owned().into()).fingerprint());
            out.push_str(&word[key.len()..]);
        } else {
            out.push_str(&word);
        }
        word.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Long, and mixing letters and digits: API keys, Redline's tokens, JWTs. (Request ids and
/// UUIDs match too; masking them loses little.)
fn looks_like_a_key(word: &str) -> bool {
    word.len() >= 20
        && word.bytes().any(|b| b.is_ascii_digit())
        && word.bytes().any(|b| b.is_ascii_alphabetic())
}

fn known_prefix(text: &str) -> &str {
    let mut end = 0;
    for _ in 0..2 {
        let rest = &text[end..];
        let segment = rest
            .find(['-', '_'])
            .filter(|&i| i > 0 && i <= 4 && rest[..i].bytes().all(|b| b.is_ascii_lowercase()));
        match segment {
            Some(i) => end += i + 1,
            None => break,
        }
    }
    &text[..end.min(8)]
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the key is empty: pipe it on standard input, e.g. `redline keys add ID --provider P < key.txt`"
    )]
    Empty,
    #[error(
        "the key is {0} bytes long, more than any API key ({MAX_SECRET_LEN} at most): check what was piped in"
    )]
    TooLong(usize),
    #[error("the key contains spaces or line breaks inside it: paste exactly one key")]
    InnerWhitespace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = Secret::parse("sk-live-0123456789abcdef").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(<redacted>))");
    }

    #[test]
    fn matches_compares_fully() {
        let secret = Secret::parse("abc").unwrap();
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abd"));
        assert!(!secret.matches(b"abcd"));
        assert!(!secret.matches(b"ab"));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn parse_trims_and_validates() {
        assert_eq!(Secret::parse("  sk-abc\n").unwrap().expose(), "sk-abc");
        assert_eq!(Secret::parse(" \n").unwrap_err(), SecretError::Empty);
        assert_eq!(
            Secret::parse("sk-a b").unwrap_err(),
            SecretError::InnerWhitespace
        );
        assert_eq!(
            Secret::parse("one\ntwo").unwrap_err(),
            SecretError::InnerWhitespace
        );
        let huge = "x".repeat(MAX_SECRET_LEN + 1);
        assert_eq!(
            Secret::parse(&huge).unwrap_err(),
            SecretError::TooLong(MAX_SECRET_LEN + 1)
        );
    }

    #[test]
    fn keys_quoted_in_a_message_are_cut_to_their_fingerprint() {
        let cases = [
            (
                "Invalid API key provided: Bearer sk-kimi-0123456789abcdefZZ99.",
                "Invalid API key provided: Bearer sk-kimi-…ZZ99.",
            ),
            (
                "{\"error\":\"bad key 'sk-ant-api03-Zyxwvutsrqponmlkjihg9f8e'\"}",
                "{\"error\":\"bad key 'sk-ant-…9f8e'\"}",
            ),
            (
                "token rl_3f9a0c1d2e4b5a6978877665544332211 refused",
                "token rl_…2211 refused",
            ),
            (
                "We're receiving too many requests at the moment (limit 30, https://api.kimi.com/coding/v1)",
                "We're receiving too many requests at the moment (limit 30, https://api.kimi.com/coding/v1)",
            ),
            ("", ""),
        ];
        for (message, redacted) in cases {
            assert_eq!(redact_keys(message), redacted);
        }
    }

    #[test]
    fn fingerprints_keep_vendor_prefix_and_last_four() {
        let fp = |s: &str| Secret::parse(s).unwrap().fingerprint();
        assert_eq!(fp("sk-proj-Abcdefghijklmnopqrstuvwxa1b2"), "sk-proj-…a1b2");
        assert_eq!(fp("sk-ant-api03-Zyxwvutsrqponmlkjihg9f8e"), "sk-ant-…9f8e");
        assert_eq!(fp("sk-kimi-0123456789abcdefZZ99"), "sk-kimi-…ZZ99");
        assert_eq!(fp("0123456789abcdef0123"), "…0123");
        assert_eq!(fp("short-key12"), "…12");
        assert_eq!(fp("tiny"), "…");
    }

    #[test]
    fn fingerprint_never_reveals_more_than_four_trailing_characters() {
        let secret = "sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let fp = Secret::parse(secret).unwrap().fingerprint();
        assert!(
            fp.chars().filter(|c| c.is_ascii_alphanumeric()).count() <= 6,
            "{fp}"
        );
    }
}
