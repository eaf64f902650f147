//! `shared.redis_url`: where the shared limits live. The password it may hold is never shown:
//! the value prints, serialises (`config show`, `GET /api/v1/settings`) and debugs with the
//! password replaced by `***`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    text: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    password: Option<String>,
    pub db: u32,
}

impl RedisUrl {
    /// `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS.
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|_| {
            format!(
                "{} is not a URL; expected redis://HOST[:PORT][/DB] or rediss://…",
                mask(text)
            )
        })?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => {
                return Err(format!(
                    "the scheme must be redis:// or rediss:// (TLS), not {other}://"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL names no host: redis://HOST[:PORT]")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let db = match url.path().trim_matches('/') {
            "" => 0,
            n => n
                .parse()
                .map_err(|_| format!("the path must be a database number, not /{n}"))?,
        };
        let decode = |s: &str| {
            percent_decode(s).ok_or("the user name or password is not valid percent-encoding")
        };
        let username = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        Ok(RedisUrl {
            text: text.to_owned(),
            tls,
            host,
            port: url.port().unwrap_or(6379),
            username,
            password,
            db,
        })
    }

    /// For connecting only; never print it.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The URL as written, the password masked.
    pub fn masked(&self) -> String {
        mask(&self.text)
    }
}

/// `text` with whatever stands between `user:` and `@` after a `://` replaced by `***`.
pub fn mask(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let rest = &text[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &text[..start], &rest[..colon], &rest[at..]),
        None => text.to_owned(),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.masked())
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// An empty text is no URL: the setting is off.
pub fn deserialize_optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<RedisUrl>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    RedisUrl::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_their_defaults() {
        let url = RedisUrl::parse("redis://localhost").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.db, url.tls),
            ("localhost", 6379, 0, false)
        );
        assert_eq!(url.password(), None);
        let url = RedisUrl::parse("rediss://team:p%40ss@redis.example:6380/2").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.db, url.tls),
            ("redis.example", 6380, 2, true)
        );
        assert_eq!(url.username.as_deref(), Some("team"));
        assert_eq!(url.password(), Some("p@ss"));
        let url = RedisUrl::parse("redis://:secret@[::1]:7000").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.username.clone()),
            ("::1", 7000, None)
        );
        for bad in ["http://x", "redis://", "redis://h/x", "nonsense"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_shows() {
        const SECRET: &str = "hunter2-very-secret";
        let text = format!("redis://team:{SECRET}@redis.example:6380/1");
        let url = RedisUrl::parse(&text).unwrap();
        let shown = [
            url.masked(),
            url.to_string(),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ];
        for shown in shown {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains("team:***@redis.example:6380/1"), "{shown}");
        }
        let refused = RedisUrl::parse(&format!("redis://u:{SECRET}@h/notadb")).unwrap_err();
        assert!(!refused.contains(SECRET), "{refused}");
        let refused = RedisUrl::parse(&format!("redis://u:{SECRET}@")).unwrap_err();
        assert!(!refused.contains(SECRET), "{refused}");
        assert_eq!(mask("redis://:pw@h"), "redis://:***@h");
        assert_eq!(mask("redis://h:6379"), "redis://h:6379");
        assert_eq!(mask("redis://user@h"), "redis://user@h");
    }
}
