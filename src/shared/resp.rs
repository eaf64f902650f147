//! The Redis wire protocol (RESP2), as much of it as the shared limits use: commands out as
//! arrays of bulk strings, replies in. Pure: bytes in, values out.

/// One reply from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    /// The server refused the command (`-ERR ...`, `-NOSCRIPT ...`).
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(Some(bytes)) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(text) => Some(text.clone()),
            Reply::Bulk(Some(bytes)) => String::from_utf8(bytes.clone()).ok(),
            _ => None,
        }
    }

    /// The whole numbers of an array reply (`{1, 3}` from a script).
    pub fn ints(&self) -> Option<Vec<i64>> {
        match self {
            Reply::Array(Some(items)) => items.iter().map(Reply::as_int).collect(),
            _ => None,
        }
    }
}

/// `args` as a RESP array of bulk strings, appended to `out`.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The server broke the protocol; the connection cannot be trusted after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// Longest bulk string accepted (the scripts answer a few numbers).
const MAX_BULK: i64 = 16 << 20;

/// The first complete reply in `buf` and how many bytes it took; `None` while incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, Malformed> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: u8) -> Result<Option<(Reply, usize)>, Malformed> {
    if depth > 8 {
        return Err(Malformed("replies nested too deep"));
    }
    let Some(end) = line_end(buf, at) else {
        return Ok(None);
    };
    let line = &buf[at + 1..end];
    let next = end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || -> Result<i64, Malformed> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Malformed("a length or integer that is not a number"))
    };
    match buf.get(at) {
        Some(b'+') => Ok(Some((Reply::Status(text()), next))),
        Some(b'-') => Ok(Some((Reply::Error(text()), next))),
        Some(b':') => Ok(Some((Reply::Int(number()?), next))),
        Some(b'$') => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            if len > MAX_BULK {
                return Err(Malformed("a bulk string too long"));
            }
            let len = len as usize;
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            if &buf[next + len..next + len + 2] != b"\r\n" {
                return Err(Malformed("a bulk string without its CRLF"));
            }
            let bytes = buf[next..next + len].to_vec();
            Ok(Some((Reply::Bulk(Some(bytes)), next + len + 2)))
        }
        Some(b'*') => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if len > 1 << 20 {
                return Err(Malformed("an array too long"));
            }
            let mut items = Vec::with_capacity(len.min(64) as usize);
            let mut pos = next;
            for _ in 0..len {
                match parse_at(buf, pos, depth + 1)? {
                    Some((item, after)) => {
                        items.push(item);
                        pos = after;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), pos)))
        }
        Some(_) => Err(Malformed("an unknown reply type")),
        None => Ok(None),
    }
}

/// Where the CRLF ending the line that starts at `at` is.
fn line_end(buf: &[u8], at: usize) -> Option<usize> {
    buf.get(at..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &[b"EVALSHA", b"ab", b"0"]);
        assert_eq!(out, b"*3\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n");
    }

    #[test]
    fn replies_parse_whole_or_wait_for_more() {
        let cases: [(&[u8], Reply); 6] = [
            (b"+OK\r\n", Reply::Status("OK".into())),
            (b"-NOSCRIPT no\r\n", Reply::Error("NOSCRIPT no".into())),
            (b":-12\r\n", Reply::Int(-12)),
            (b"$3\r\na\r\n\r\n", Reply::Bulk(Some(b"a\r\n".to_vec()))),
            (b"$-1\r\n", Reply::Bulk(None)),
            (
                b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n",
                Reply::Array(Some(vec![
                    Reply::Int(1),
                    Reply::Array(Some(vec![Reply::Bulk(Some(b"x".to_vec()))])),
                ])),
            ),
        ];
        for (bytes, reply) in cases {
            assert_eq!(parse(bytes), Ok(Some((reply, bytes.len()))));
            // Every cut short of the end asks for more, never misreads.
            for cut in 0..bytes.len() {
                assert_eq!(parse(&bytes[..cut]), Ok(None), "{bytes:?} cut at {cut}");
            }
        }
        let two = b":1\r\n:2\r\n";
        assert_eq!(parse(two), Ok(Some((Reply::Int(1), 4))));
        assert_eq!(parse(&two[4..]), Ok(Some((Reply::Int(2), 4))));
    }

    #[test]
    fn a_broken_reply_is_refused() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert!(parse(b"$1\r\nab\r\n").is_err());
        assert_eq!(
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"7".to_vec()))])).ints(),
            Some(vec![1, 7])
        );
    }
}
