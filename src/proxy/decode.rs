//! Undoing an answer's `Content-Encoding` for counting only: the client gets the provider's
//! bytes exactly as sent, while a copy is decoded chunk by chunk, as it passes, for the token
//! tap. Nearly every tool asks for `gzip, deflate, br, zstd` (docs/providers.md, "Tools
//! pointed at a provider"), so without this a compressed answer would never be counted.
//!
//! Memory stays bounded whatever the provider sends: each decoder writes its output through a
//! small fixed buffer straight into the reader (whose own buffers are bounded), never into a
//! growing one, and a decompression bomb is cut off after [`DECODED_BUDGET`] bytes. What each
//! coding keeps besides: gzip and deflate a 32 KiB window, brotli its ring buffer (at most the
//! 16 MiB window the stream declares), zstd at most an 8 MiB window ([`ZSTD_WINDOW_LOG_MAX`],
//! the most RFC 9659 asks HTTP clients to accept; a frame declaring more is not decoded).

use super::token_tap::BoundedCopy;
use http::{HeaderMap, header};
use std::io::{self, Write};

/// Most decoded bytes examined per answer. Far more than any answer (a 100,000-token stream is
/// some 30 MB of SSE), so only a bomb reaches it; past it the answer goes uncounted.
pub const DECODED_BUDGET: u64 = 256 * 1024 * 1024;
/// The largest zstd window decoded: 2^23 = 8 MiB.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// Each decoder's output buffer: decoded bytes reach the reader in pieces of at most this.
const OUTPUT_BUFFER: usize = 16 * 1024;

/// A content coding Redline can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped (RFC 1950), or raw deflate as some servers send it.
    Deflate,
    Brotli,
    Zstd,
}

/// Why an answer's coding cannot be undone: unknown, or several codings stacked.
#[derive(Debug, PartialEq, Eq)]
pub struct Undecodable;

/// The answer's coding from its `Content-Encoding` headers: `Ok(None)` when there is none (or
/// only `identity`).
pub fn content_coding(headers: &HeaderMap) -> Result<Option<Coding>, Undecodable> {
    let mut found = None;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = value.to_str().map_err(|_| Undecodable)?;
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let coding = match token.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                _ => return Err(Undecodable),
            };
            if found.replace(coding).is_some() {
                return Err(Undecodable);
            }
        }
    }
    Ok(found)
}

/// Where decoded bytes go.
pub trait Sink {
    fn feed(&mut self, decoded: &[u8]);
    /// The reader has all it needs (a bounded copy that is full): decoding can stop.
    fn has_enough(&self) -> bool {
        false
    }
}

/// Decodes chunks as they come and feeds the result to a [`Sink`]. After a corrupt stream, a
/// frame it will not decode, or the budget spent, it stops and ignores what follows; the sink
/// keeps what it was given.
pub struct Decoder<S: Sink> {
    inner: Inner<S>,
    stopped: bool,
}

enum Inner<S: Sink> {
    Gzip(flate2::write::MultiGzDecoder<Budget<S>>),
    /// `deflate` whose first two bytes have not yet said zlib or raw.
    DeflateStart {
        sink: Option<Budget<S>>,
        first: Option<u8>,
    },
    Zlib(flate2::write::ZlibDecoder<Budget<S>>),
    RawDeflate(flate2::write::DeflateDecoder<Budget<S>>),
    /// Boxed: brotli's state is some 3.6 KB, the others' a few hundred bytes.
    Brotli(Box<brotli_decompressor::DecompressorWriter<Budget<S>>>),
    Zstd(Zstd<Budget<S>>),
    /// No decoder could be made (libzstd out of memory): nothing is decoded.
    Off(Budget<S>),
}

impl<S: Sink> Decoder<S> {
    pub fn new(coding: Coding, sink: S) -> Decoder<S> {
        Decoder::with_budget(coding, sink, DECODED_BUDGET)
    }

    /// A decoder that stops after `budget` decoded bytes.
    pub fn with_budget(coding: Coding, sink: S, budget: u64) -> Decoder<S> {
        let sink = Budget { sink, left: budget };
        let (inner, stopped) = match coding {
            Coding::Gzip => (Inner::Gzip(flate2::write::MultiGzDecoder::new(sink)), false),
            Coding::Deflate => (
                Inner::DeflateStart {
                    sink: Some(sink),
                    first: None,
                },
                false,
            ),
            Coding::Brotli => (
                Inner::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                    sink,
                    OUTPUT_BUFFER,
                ))),
                false,
            ),
            Coding::Zstd => match Zstd::new(sink) {
                Ok(zstd) => (Inner::Zstd(zstd), false),
                Err(sink) => (Inner::Off(sink), true),
            },
        };
        Decoder { inner, stopped }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.stopped || chunk.is_empty() {
            return;
        }
        if self.sink().has_enough() || self.write(chunk).is_err() {
            self.stopped = true;
        }
    }

    /// Whether decoding gave up (corrupt input, the budget spent, or the reader had enough).
    #[cfg(test)]
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    pub fn sink(&self) -> &S {
        match &self.inner {
            Inner::Gzip(d) => &d.get_ref().sink,
            Inner::DeflateStart { sink, .. } => &sink.as_ref().expect("a sink until decided").sink,
            Inner::Zlib(d) => &d.get_ref().sink,
            Inner::RawDeflate(d) => &d.get_ref().sink,
            Inner::Brotli(d) => &d.get_ref().sink,
            Inner::Zstd(d) => &d.out.sink,
            Inner::Off(sink) => &sink.sink,
        }
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        // flate2's writers hold a call's output until the next call: flushing hands it on now,
        // so that an event is read as soon as its bytes have passed.
        match &mut self.inner {
            Inner::Gzip(d) => d.write_all(chunk).and_then(|()| d.flush()),
            Inner::Zlib(d) => d.write_all(chunk).and_then(|()| d.flush()),
            Inner::RawDeflate(d) => d.write_all(chunk).and_then(|()| d.flush()),
            Inner::Brotli(d) => d.write_all(chunk),
            Inner::Zstd(d) => d.write_all(chunk),
            Inner::Off(_) => Err(io::Error::other("no decoder")),
            Inner::DeflateStart { sink, first } => {
                let (zlib, rest) = match (*first, chunk) {
                    (None, [only]) => {
                        *first = Some(*only);
                        return Ok(());
                    }
                    (None, [a, b, ..]) => (is_zlib_header(*a, *b), chunk),
                    (Some(a), [b, ..]) => (is_zlib_header(a, *b), chunk),
                    (_, []) => return Ok(()),
                };
                let held = first.take();
                let sink = sink.take().expect("a sink until decided");
                self.inner = if zlib {
                    Inner::Zlib(flate2::write::ZlibDecoder::new(sink))
                } else {
                    Inner::RawDeflate(flate2::write::DeflateDecoder::new(sink))
                };
                if let Some(byte) = held {
                    self.write(&[byte])?;
                }
                self.write(rest)
            }
        }
    }
}

/// A zlib header: compression method 8 (deflate), a window of at most 32 KiB, and the check
/// bits that make the first two bytes a multiple of 31 (RFC 1950), as browsers test it.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// The first `limit` decoded bytes of a body that begins with `wire` (its bytes as sent):
/// `wire` itself without a coding, nothing in a coding Redline cannot undo.
pub fn decoded(headers: &HeaderMap, wire: &[u8], limit: usize) -> Vec<u8> {
    match content_coding(headers) {
        Ok(None) => wire[..wire.len().min(limit)].to_vec(),
        Ok(Some(coding)) => {
            let mut decoder = Decoder::new(coding, BoundedCopy::new(limit));
            decoder.feed(wire);
            decoder.sink().bytes().to_vec()
        }
        Err(Undecodable) => Vec::new(),
    }
}

impl Sink for BoundedCopy {
    fn feed(&mut self, decoded: &[u8]) {
        BoundedCopy::feed(self, decoded);
    }

    fn has_enough(&self) -> bool {
        self.overflowed()
    }
}

/// Passes decoded bytes to the sink until the budget is spent, then refuses more.
struct Budget<S> {
    sink: S,
    left: u64,
}

impl<S: Sink> Write for Budget<S> {
    fn write(&mut self, decoded: &[u8]) -> io::Result<usize> {
        if self.left == 0 || self.sink.has_enough() {
            return Err(io::Error::other("enough decoded for counting"));
        }
        let take = decoded
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        self.sink.feed(&decoded[..take]);
        self.left -= take as u64;
        Ok(decoded.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// libzstd's streaming decoder, pushed to: every call hands on all it can decode from the
/// input so far, through a fixed buffer.
struct Zstd<W> {
    decoder: zstd::stream::raw::Decoder<'static>,
    out: W,
    buffer: Box<[u8]>,
    /// The last frame ended; the next input starts another.
    frame_done: bool,
}

impl<W: Write> Zstd<W> {
    fn new(out: W) -> Result<Zstd<W>, W> {
        use zstd::stream::raw::DParameter;
        let decoder = zstd::stream::raw::Decoder::new().and_then(|mut decoder| {
            decoder.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))?;
            Ok(decoder)
        });
        match decoder {
            Ok(decoder) => Ok(Zstd {
                decoder,
                out,
                buffer: vec![0; OUTPUT_BUFFER].into_boxed_slice(),
                frame_done: false,
            }),
            Err(_) => Err(out),
        }
    }

    fn write_all(&mut self, input: &[u8]) -> io::Result<()> {
        use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
        let mut input = InBuffer::around(input);
        loop {
            if self.frame_done && input.pos() < input.src.len() {
                self.decoder.reinit()?;
                self.frame_done = false;
            }
            let before = input.pos();
            let mut output = OutBuffer::around(&mut self.buffer[..]);
            let hint = self.decoder.run(&mut input, &mut output)?;
            let written = output.pos();
            self.frame_done = hint == 0;
            self.out.write_all(&self.buffer[..written])?;
            let input_left = input.pos() < input.src.len();
            // Done once the input is used up and the decoder had no more to give; a call
            // that neither read nor wrote would loop forever, so it ends the round too.
            if (!input_left && written < self.buffer.len())
                || (input.pos() == before && written == 0)
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps everything it is given, up to `limit`.
    #[derive(Default)]
    struct Collect {
        bytes: Vec<u8>,
        limit: Option<usize>,
        fed: u64,
    }

    impl Sink for Collect {
        fn feed(&mut self, decoded: &[u8]) {
            self.fed += decoded.len() as u64;
            let room = self.limit.unwrap_or(usize::MAX) - self.bytes.len();
            self.bytes
                .extend_from_slice(&decoded[..decoded.len().min(room)]);
        }
        fn has_enough(&self) -> bool {
            self.limit.is_some_and(|limit| self.bytes.len() >= limit)
        }
    }

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::CONTENT_ENCODING, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn codings_are_read_from_the_header() {
        type Case = (&'static [&'static str], Result<Option<Coding>, Undecodable>);
        let cases: [Case; 11] = [
            (&[], Ok(None)),
            (&["identity"], Ok(None)),
            (&["gzip"], Ok(Some(Coding::Gzip))),
            (&["X-GZIP"], Ok(Some(Coding::Gzip))),
            (&[" deflate "], Ok(Some(Coding::Deflate))),
            (&["br"], Ok(Some(Coding::Brotli))),
            (&["zstd"], Ok(Some(Coding::Zstd))),
            (&["identity, zstd"], Ok(Some(Coding::Zstd))),
            (&["gzip, br"], Err(Undecodable)),
            (&["gzip", "gzip"], Err(Undecodable)),
            (&["compress"], Err(Undecodable)),
        ];
        for (values, expected) in cases {
            assert_eq!(content_coding(&headers(values)), expected, "{values:?}");
        }
    }

    /// `pieces` compressed the way a server streaming them would: flushed after each.
    fn encode(coding: Coding, pieces: &[&[u8]]) -> Vec<u8> {
        crate::fakes::encode_pieces(coding, pieces).concat()
    }

    fn sample() -> Vec<u8> {
        (0..400)
            .map(|i| format!("data: {{\"n\":{i},\"text\":\"tok{i} \"}}\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn every_coding_decodes_with_chunk_boundaries_anywhere() {
        let text = sample();
        let pieces: Vec<&[u8]> = text.chunks(700).collect();
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let encoded = encode(coding, &pieces);
            for size in [1, 2, 3, 7, 64, 1000, encoded.len()] {
                let mut decoder = Decoder::new(coding, Collect::default());
                for chunk in encoded.chunks(size) {
                    decoder.feed(chunk);
                }
                assert!(!decoder.stopped(), "{coding:?} in pieces of {size}");
                assert!(
                    decoder.sink().bytes == text,
                    "{coding:?} in pieces of {size}: {} of {} bytes",
                    decoder.sink().bytes.len(),
                    text.len()
                );
            }
        }
    }

    #[test]
    fn each_flushed_piece_is_decoded_before_the_next_arrives() {
        let text = sample();
        let pieces: Vec<&[u8]> = text.chunks(500).collect();
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let encoded = crate::fakes::encode_pieces(coding, &pieces);
            let mut decoder = Decoder::new(coding, Collect::default());
            let mut expected = 0;
            for (piece, wire) in pieces.iter().zip(&encoded) {
                decoder.feed(wire);
                expected += piece.len();
                assert_eq!(decoder.sink().bytes.len(), expected, "{coding:?}");
            }
        }
    }

    #[test]
    fn raw_deflate_is_accepted_as_deflate_too() {
        let text = sample();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&text).unwrap();
        let raw = raw.finish().unwrap();
        for size in [1, 5, raw.len()] {
            let mut decoder = Decoder::new(Coding::Deflate, Collect::default());
            for chunk in raw.chunks(size) {
                decoder.feed(chunk);
            }
            assert!(decoder.sink().bytes == text, "pieces of {size}");
        }
    }

    #[test]
    fn concatenated_gzip_members_and_zstd_frames_decode_whole() {
        let (a, b) = (b"data: one\n\n".as_slice(), b"data: two\n\n".as_slice());
        for coding in [Coding::Gzip, Coding::Zstd] {
            let mut wire = encode(coding, &[a]);
            wire.extend(encode(coding, &[b]));
            let mut decoder = Decoder::new(coding, Collect::default());
            for chunk in wire.chunks(3) {
                decoder.feed(chunk);
            }
            assert_eq!(decoder.sink().bytes, [a, b].concat(), "{coding:?}");
        }
    }

    #[test]
    fn corrupt_input_stops_decoding_without_harm() {
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let mut decoder = Decoder::new(coding, Collect::default());
            decoder.feed(b"\xff\xfe this is not compressed at all, not even close \x00\x01");
            decoder.feed(b"more");
            assert!(decoder.stopped(), "{coding:?}");
            assert!(decoder.sink().bytes.len() < 100, "{coding:?}");
        }
    }

    #[test]
    fn a_bomb_is_cut_off_at_the_budget() {
        // 16 MiB of zeros, a few KiB on the wire.
        let zeros = vec![0u8; 1024 * 1024];
        let pieces: Vec<&[u8]> = std::iter::repeat_n(zeros.as_slice(), 16).collect();
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            let wire = encode(coding, &pieces);
            assert!(wire.len() < 64 * 1024, "{coding:?}: {}", wire.len());
            let budget = 2 * 1024 * 1024;
            let mut decoder = Decoder::with_budget(coding, Collect::default(), budget);
            decoder.feed(&wire);
            assert!(decoder.stopped(), "{coding:?}");
            assert_eq!(decoder.sink().fed, budget, "{coding:?}");
        }
    }

    #[test]
    fn the_start_of_a_body_decoded_for_a_classifier() {
        let body = br#"{"error":{"message":"Rate limit reached"}}"#;
        let plain = HeaderMap::new();
        assert_eq!(decoded(&plain, body, 10), body[..10]);
        let wire = encode(Coding::Zstd, &[body]);
        assert_eq!(decoded(&headers(&["zstd"]), &wire, 1000), body);
        assert_eq!(decoded(&headers(&["zstd"]), &wire, 8), body[..8]);
        assert!(decoded(&headers(&["compress"]), &wire, 1000).is_empty());
    }

    #[test]
    fn a_reader_with_enough_stops_decoding() {
        let text = sample();
        let wire = encode(Coding::Gzip, &[&text]);
        let sink = Collect {
            limit: Some(100),
            ..Collect::default()
        };
        let mut decoder = Decoder::new(Coding::Gzip, sink);
        for chunk in wire.chunks(50) {
            decoder.feed(chunk);
        }
        assert!(decoder.stopped());
        assert_eq!(decoder.sink().bytes, text[..100]);
    }

    #[test]
    fn zstd_frames_wider_than_the_window_limit_are_not_decoded() {
        let text = sample();
        let mut encoder = zstd::stream::raw::Encoder::new(1).unwrap();
        encoder
            .set_parameter(zstd::stream::raw::CParameter::WindowLog(
                ZSTD_WINDOW_LOG_MAX + 1,
            ))
            .unwrap();
        let mut wide = zstd::stream::write::Encoder::with_encoder(Vec::new(), encoder);
        wide.write_all(&text).unwrap();
        let wide = wide.finish().unwrap();
        let mut decoder = Decoder::new(Coding::Zstd, Collect::default());
        decoder.feed(&wide);
        assert!(decoder.stopped());
    }
}
