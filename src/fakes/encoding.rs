//! Compressed answers, as a provider behind a CDN sends them when the client's
//! `Accept-Encoding` allows: the coding the server prefers among those offered, and a stream
//! flushed after every write so each SSE event reaches the client at once.

use crate::proxy::Coding;
use std::io::Write;

/// The server's choice for a request's `Accept-Encoding`: zstd, then br, gzip, deflate, as
/// CDNs prefer them; a coding offered with `q=0` is refused, `*` stands for any.
pub fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    let offered: Vec<(String, f32)> = accept_encoding
        .unwrap_or_default()
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!name.is_empty()).then_some((name, q))
        })
        .collect();
    let quality = |name: &str| {
        offered
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| offered.iter().find(|(n, _)| n == "*"))
            .map(|(_, q)| *q)
    };
    [
        ("zstd", Coding::Zstd),
        ("br", Coding::Brotli),
        ("gzip", Coding::Gzip),
        ("deflate", Coding::Deflate),
    ]
    .into_iter()
    .filter_map(|(name, coding)| Some((quality(name)?, coding)))
    .filter(|(q, _)| *q > 0.0)
    // The highest quality wins; among equals, the first in the server's order.
    .fold(
        None,
        |best: Option<(f32, Coding)>, (q, coding)| match best {
            Some((best_q, _)) if best_q >= q => best,
            _ => Some((q, coding)),
        },
    )
    .map(|(_, coding)| coding)
}

/// The `Content-Encoding` token of a coding.
pub fn token(coding: Coding) -> &'static str {
    match coding {
        Coding::Gzip => "gzip",
        Coding::Deflate => "deflate",
        Coding::Brotli => "br",
        Coding::Zstd => "zstd",
    }
}

/// A compressor fed piece by piece: each piece comes back as the bytes to send for it, flushed.
pub enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// HTTP's `deflate` is zlib-wrapped (RFC 9110).
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    pub fn new(coding: Coding) -> Encoder {
        let level = flate2::Compression::default();
        match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), level)),
            Coding::Deflate => Encoder::Deflate(flate2::write::ZlibEncoder::new(Vec::new(), level)),
            // Quality 5 and a 4 MiB window, as web servers configure it.
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                5,
                22,
            ))),
            Coding::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), 3).expect("a zstd context"),
            ),
        }
    }

    /// The bytes that carry `piece`, flushed so the receiver can decode them at once.
    pub fn piece(&mut self, piece: &[u8]) -> Vec<u8> {
        fn out(writer: &mut (impl Write + ?Sized), piece: &[u8]) {
            writer.write_all(piece).expect("compressing into memory");
            writer.flush().expect("compressing into memory");
        }
        match self {
            Encoder::Gzip(e) => {
                out(e, piece);
                std::mem::take(e.get_mut())
            }
            Encoder::Deflate(e) => {
                out(e, piece);
                std::mem::take(e.get_mut())
            }
            Encoder::Brotli(e) => {
                out(e.as_mut(), piece);
                std::mem::take(e.get_mut())
            }
            Encoder::Zstd(e) => {
                out(e, piece);
                std::mem::take(e.get_mut())
            }
        }
    }

    /// What ends the stream (trailer, checksum, last block).
    pub fn finish(self) -> Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.finish().expect("compressing into memory"),
            Encoder::Deflate(e) => e.finish().expect("compressing into memory"),
            Encoder::Brotli(e) => e.into_inner(),
            Encoder::Zstd(e) => e.finish().expect("compressing into memory"),
        }
    }
}

/// `pieces` as a server streaming them sends them: one flushed write each, the end of the
/// stream with the last.
pub fn encode_pieces(coding: Coding, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::new(coding);
    let mut wire: Vec<Vec<u8>> = pieces.iter().map(|p| encoder.piece(p)).collect();
    let end = encoder.finish();
    match wire.last_mut() {
        Some(last) => last.extend(end),
        None => wire.push(end),
    }
    wire
}

/// A whole body compressed at once.
pub fn encode(coding: Coding, body: &[u8]) -> Vec<u8> {
    encode_pieces(coding, &[body]).concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_preference_among_what_the_client_accepts() {
        let cases = [
            (None, None),
            (Some(""), None),
            (Some("identity"), None),
            (Some("gzip, deflate"), Some(Coding::Gzip)),
            (Some("gzip, deflate, br, zstd"), Some(Coding::Zstd)),
            (Some("gzip, deflate, br"), Some(Coding::Brotli)),
            (Some("deflate"), Some(Coding::Deflate)),
            (Some("zstd;q=0, br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip)),
            (Some("*"), Some(Coding::Zstd)),
            (Some("*, zstd;q=0"), Some(Coding::Brotli)),
            (Some("GZIP"), Some(Coding::Gzip)),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate(header), expected, "{header:?}");
        }
    }
}
