//! Docker's multiplexed stream framing (`application/vnd.docker.multiplexed-stream`),
//! used by attach, logs and exec without a TTY.
//!
//! Each frame is an 8-byte header — the stream byte, three zero bytes, the
//! payload length as a big-endian `u32` — followed by the payload.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// The largest payload one frame can carry.
pub const MAX_FRAME_LEN: usize = u32::MAX as usize;

/// Which stream a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StdType {
    /// Never sent by dockerd; clients print it as stdout.
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// A daemon-side error; the Go client returns its payload as an error.
    Systemerr = 3,
}

impl TryFrom<u8> for StdType {
    type Error = DecodeError;

    fn try_from(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(StdType::Stdin),
            1 => Ok(StdType::Stdout),
            2 => Ok(StdType::Stderr),
            3 => Ok(StdType::Systemerr),
            other => Err(DecodeError::UnknownStream(other)),
        }
    }
}

/// A frame header for `len` payload bytes on `stream`.
pub fn encode_header(stream: StdType, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// `data` framed for `stream`: one frame, or several when `data` is longer
/// than a frame can say. Empty data gives no frame at all, because a
/// zero-length frame carries nothing a client could use.
pub fn frame(stream: StdType, data: &[u8]) -> Bytes {
    frame_with_max(stream, data, MAX_FRAME_LEN)
}

fn frame_with_max(stream: StdType, data: &[u8], max: usize) -> Bytes {
    let n_frames = data.len().div_ceil(max);
    let mut out = BytesMut::with_capacity(data.len() + n_frames * HEADER_LEN);
    for chunk in data.chunks(max) {
        let len = u32::try_from(chunk.len()).expect("chunks are at most MAX_FRAME_LEN long");
        out.extend_from_slice(&encode_header(stream, len));
        out.extend_from_slice(chunk);
    }
    out.freeze()
}

/// A decoded frame, or a piece of one (see [`Decoder::next_chunk`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub stream: StdType,
    pub data: Bytes,
}

/// The stream is not Docker framing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Same text as Go's `stdcopy.StdCopy`.
    #[error("unrecognized stream: {0}")]
    UnknownStream(u8),
    /// The input ended inside a frame.
    #[error("multiplexed stream ended inside a frame ({0} bytes missing)")]
    Truncated(usize),
}

impl DecodeError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }
}

/// Incremental decoder: [`feed`](Decoder::feed) bytes as they arrive, in
/// any split, then pull frames.
///
/// [`next_frame`](Decoder::next_frame) returns whole frames (it buffers a
/// frame until its last byte arrives); [`next_chunk`](Decoder::next_chunk)
/// hands payload out as soon as it arrives, so memory stays bounded by what
/// was fed even for a frame of gigabytes. Both can be used on one decoder.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
    /// A frame whose header is consumed and whose payload is partly handed
    /// out: its stream and how many payload bytes are still to come.
    current: Option<(StdType, usize)>,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &self.buf.len())
            .field("current", &self.current)
            .finish()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes fed but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Call at end of input: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let missing = match self.current {
            Some((_, remaining)) => remaining.saturating_sub(self.buf.len()),
            None if self.buf.is_empty() => 0,
            None if self.buf.len() < HEADER_LEN => HEADER_LEN - self.buf.len(),
            None => {
                let len = self.peek_len();
                (HEADER_LEN + len).saturating_sub(self.buf.len())
            }
        };
        match missing {
            0 => Ok(()),
            n => Err(DecodeError::Truncated(n)),
        }
    }

    fn peek_len(&self) -> usize {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize
    }

    /// The next whole frame, `None` until enough bytes have been fed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some((stream, remaining)) = self.current {
            if self.buf.len() < remaining {
                return Ok(None);
            }
            self.current = None;
            let data = self.buf.split_to(remaining).freeze();
            return Ok(Some(Frame { stream, data }));
        }
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream = StdType::try_from(self.buf[0])?;
        let len = self.peek_len();
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let data = self.buf.split_to(len).freeze();
        Ok(Some(Frame { stream, data }))
    }

    /// The next piece of payload, whatever frame it belongs to; `None` until
    /// more bytes are fed. Pieces are never empty, so zero-length frames are
    /// skipped.
    pub fn next_chunk(&mut self) -> Result<Option<Frame>, DecodeError> {
        loop {
            let (stream, remaining) = match self.current {
                Some(c) => c,
                None => {
                    if self.buf.len() < HEADER_LEN {
                        return Ok(None);
                    }
                    let stream = StdType::try_from(self.buf[0])?;
                    let len = self.peek_len();
                    self.buf.advance(HEADER_LEN);
                    if len == 0 {
                        continue;
                    }
                    (stream, len)
                }
            };
            if self.buf.is_empty() {
                self.current = Some((stream, remaining));
                return Ok(None);
            }
            let n = remaining.min(self.buf.len());
            let data = self.buf.split_to(n).freeze();
            self.current = (n < remaining).then_some((stream, remaining - n));
            return Ok(Some(Frame { stream, data }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&frame(StdType::Stdout, b"hello\n"));
        v.extend_from_slice(&encode_header(StdType::Stdout, 0));
        v.extend_from_slice(&frame(StdType::Stderr, b"oops: something went wrong\n"));
        v.extend_from_slice(&frame(StdType::Systemerr, b"x"));
        v
    }

    fn want() -> Vec<(StdType, Vec<u8>)> {
        vec![
            (StdType::Stdout, b"hello\n".to_vec()),
            (StdType::Stdout, Vec::new()),
            (StdType::Stderr, b"oops: something went wrong\n".to_vec()),
            (StdType::Systemerr, b"x".to_vec()),
        ]
    }

    #[test]
    fn header_layout() {
        assert_eq!(
            encode_header(StdType::Stderr, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
        assert_eq!(
            &frame(StdType::Stdout, b"ab")[..],
            &[1, 0, 0, 0, 0, 0, 0, 2, b'a', b'b']
        );
        assert!(frame(StdType::Stdout, b"").is_empty());
    }

    #[test]
    fn whole_frames_across_every_split() {
        let input = sample();
        for split in 0..=input.len() {
            for step in [1, 3, 7, input.len()] {
                let mut d = Decoder::new();
                let mut got = Vec::new();
                let (a, b) = input.split_at(split);
                for part in a.chunks(step.max(1)).chain(b.chunks(step.max(1))) {
                    d.feed(part);
                    while let Some(f) = d.next_frame().unwrap() {
                        got.push((f.stream, f.data.to_vec()));
                    }
                }
                assert_eq!(got, want(), "split {split} step {step}");
                assert_eq!(d.buffered(), 0);
                d.finish().unwrap();
            }
        }
    }

    #[test]
    fn chunks_stream_payload_and_reassemble() {
        let input = sample();
        let mut d = Decoder::new();
        let mut got: Vec<(StdType, Vec<u8>)> = Vec::new();
        for b in &input {
            d.feed(std::slice::from_ref(b));
            while let Some(f) = d.next_chunk().unwrap() {
                assert!(!f.data.is_empty());
                // byte-at-a-time feeding must yield byte-sized chunks: nothing
                // waits for the end of its frame
                assert_eq!(f.data.len(), 1);
                match got.last_mut() {
                    Some((s, v)) if *s == f.stream => v.extend_from_slice(&f.data),
                    _ => got.push((f.stream, f.data.to_vec())),
                }
            }
        }
        let mut w = want();
        w.retain(|(_, v)| !v.is_empty());
        assert_eq!(got, w);
        d.finish().unwrap();
    }

    #[test]
    fn mixing_chunk_and_frame() {
        let mut d = Decoder::new();
        let f = frame(StdType::Stdout, b"abcdef");
        d.feed(&f[..10]);
        assert_eq!(
            d.next_chunk().unwrap().unwrap().data,
            Bytes::from_static(b"ab")
        );
        assert_eq!(d.next_frame().unwrap(), None);
        d.feed(&f[10..]);
        let rest = d.next_frame().unwrap().unwrap();
        assert_eq!(
            (rest.stream, &rest.data[..]),
            (StdType::Stdout, &b"cdef"[..])
        );
    }

    #[test]
    fn errors() {
        let mut d = Decoder::new();
        d.feed(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        let e = d.next_frame().unwrap_err();
        assert_eq!(e.to_string(), "unrecognized stream: 9");
        assert_eq!(d.next_chunk().unwrap_err(), DecodeError::UnknownStream(9));

        let mut d = Decoder::new();
        let f = frame(StdType::Stdout, b"hello");
        d.feed(&f[..7]);
        assert_eq!(d.next_frame().unwrap(), None);
        // inside the header, only the header's missing bytes are known
        assert_eq!(d.finish(), Err(DecodeError::Truncated(1)));
        d.feed(&f[7..10]);
        assert_eq!(d.finish(), Err(DecodeError::Truncated(3)));
        assert_eq!(
            d.next_chunk().unwrap().unwrap().data,
            Bytes::from_static(b"he")
        );
        assert_eq!(d.finish(), Err(DecodeError::Truncated(3)));
        d.feed(&f[10..]);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn oversized_payload_is_split() {
        let data: Vec<u8> = (0..10u8).collect();
        let out = frame_with_max(StdType::Stderr, &data, 4);
        assert_eq!(out.len(), 10 + 3 * HEADER_LEN);
        let mut d = Decoder::new();
        d.feed(&out);
        let mut lens = Vec::new();
        let mut all = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            assert_eq!(f.stream, StdType::Stderr);
            lens.push(f.data.len());
            all.extend_from_slice(&f.data);
        }
        assert_eq!(lens, vec![4, 4, 2]);
        assert_eq!(all, data);
    }
}
