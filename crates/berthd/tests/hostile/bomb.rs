//! Decompression bombs, generated lazily: a small compressed stream that
//! expands to tens of GiB of zeros. The gzip, xz and zstd streams are each
//! a single real stream (one gzip member, one xz stream, one zstd frame)
//! assembled from precomputed pieces; bzip2 is a run of concatenated
//! streams (as pbzip2 writes them). The client spends no CPU and sends only
//! what the server reads; a counter says how many decompressed bytes were
//! handed out. `None` sends the bytes themselves.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// A piece of the decompressed stream.
#[derive(Clone, Debug)]
pub enum Seg {
    Bytes(Vec<u8>),
    /// Zeros; a multiple of 64 MiB.
    Zeros(u64),
}

const ZCHUNK: u64 = 64 << 20;

/// Shared progress of a bomb being sent.
#[derive(Default)]
pub struct Progress {
    /// Decompressed bytes represented by what has been handed out.
    pub represented: AtomicU64,
    /// Compressed bytes handed out.
    pub compressed: AtomicU64,
    /// The generator stopped at the cap (the server never stopped us).
    pub capped: AtomicBool,
    /// Set by a watchdog to stop sending at once.
    pub abort: AtomicBool,
}

pub struct Bomb {
    codec: Codec,
    segs: std::vec::IntoIter<Seg>,
    pending_zeros: u64,
    started: bool,
    cap: u64,
    pub progress: Arc<Progress>,
    zero_piece: Vec<u8>,
    zero_piece_len: u64,
    stream_head: Vec<u8>,
}

impl Bomb {
    pub fn new(codec: Codec, segs: Vec<Seg>, cap: u64) -> Bomb {
        let (stream_head, zero_piece, zero_piece_len) = match codec {
            Codec::Gzip => {
                // One deflate block run for 1 MiB of zeros, ending with a
                // sync flush so pieces concatenate at byte boundaries; it
                // starts with a literal and then copies at distance 1, so it
                // decodes the same after any history. 64 of them per piece.
                let one = deflate_sync(&vec![0u8; 1 << 20]);
                (
                    vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff],
                    one.repeat(64),
                    ZCHUNK,
                )
            }
            Codec::Zstd => {
                // Frame header: no content size, window 128 KiB; RLE blocks
                // of 128 KiB each (4 bytes apiece).
                let mut head = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
                head.shrink_to_fit();
                let block = zstd_block_header(false, 1, 128 << 10);
                let mut one = block.to_vec();
                one.push(0);
                (head, one.repeat((ZCHUNK / (128 << 10)) as usize), ZCHUNK)
            }
            Codec::Xz => {
                let (head, block) = xz_block(&vec![0u8; ZCHUNK as usize]);
                (head, block, ZCHUNK)
            }
            Codec::Bzip2 => (
                Vec::new(),
                bzip2_stream(&vec![0u8; ZCHUNK as usize]),
                ZCHUNK,
            ),
            Codec::None => (Vec::new(), vec![0u8; 8 << 20], 8 << 20),
        };
        Bomb {
            codec,
            segs: segs.into_iter(),
            pending_zeros: 0,
            started: false,
            cap,
            progress: Arc::new(Progress::default()),
            zero_piece,
            zero_piece_len,
            stream_head,
        }
    }

    fn encode_bytes(&self, b: &[u8]) -> Vec<u8> {
        match self.codec {
            Codec::Gzip => deflate_sync(b),
            Codec::Zstd => {
                let mut out = Vec::new();
                for c in b.chunks(128 << 10) {
                    out.extend_from_slice(&zstd_block_header(false, 0, c.len() as u32));
                    out.extend_from_slice(c);
                }
                out
            }
            Codec::Xz => xz_block(b).1,
            Codec::Bzip2 => bzip2_stream(b),
            Codec::None => b.to_vec(),
        }
    }
}

impl Iterator for Bomb {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        let p = &self.progress;
        if p.abort.load(Ordering::Relaxed) {
            return None;
        }
        if p.represented.load(Ordering::Relaxed) >= self.cap {
            p.capped.store(true, Ordering::Relaxed);
            return None;
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.extend_from_slice(&self.stream_head);
        }
        let represented;
        if self.pending_zeros > 0 {
            out.extend_from_slice(&self.zero_piece);
            self.pending_zeros -= self.zero_piece_len;
            represented = self.zero_piece_len;
        } else {
            match self.segs.next()? {
                Seg::Bytes(b) => {
                    out.extend(self.encode_bytes(&b));
                    represented = b.len() as u64;
                }
                Seg::Zeros(n) => {
                    assert_eq!(n % self.zero_piece_len, 0);
                    self.pending_zeros = n;
                    return self.next().map(|rest| [out, rest].concat());
                }
            }
        }
        p.represented.fetch_add(represented, Ordering::Relaxed);
        p.compressed.fetch_add(out.len() as u64, Ordering::Relaxed);
        Some(out)
    }
}

/// Raw deflate of `b` from a fresh compressor, ended by a sync flush (no
/// final block): a piece that can be followed by further pieces.
fn deflate_sync(b: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(b.len() / 500 + 1024);
    let mut input = b;
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(64 << 10);
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            return out;
        }
    }
}

fn zstd_block_header(last: bool, kind: u32, size: u32) -> [u8; 3] {
    let v = (size << 3) | (kind << 1) | last as u32;
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

fn bzip2_stream(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Compresses `b` as one xz stream and returns (stream header, the block).
fn xz_block(b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 0);
    e.write_all(b).unwrap();
    let s = e.finish().unwrap();
    let n = s.len();
    assert_eq!(&s[n - 2..], b"YZ");
    let backward = u32::from_le_bytes(s[n - 8..n - 4].try_into().unwrap());
    let index_size = (backward as usize + 1) * 4;
    let blocks_end = n - 12 - index_size;
    (s[..12].to_vec(), s[12..blocks_end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The generated streams decode, as one stream, to what they claim.
    #[test]
    fn bombs_decode_to_their_segments() {
        let segs = vec![
            Seg::Bytes(b"hello tar header".repeat(32)),
            Seg::Zeros(ZCHUNK),
            Seg::Bytes(b"second".to_vec()),
        ];
        let want_len = 16 * 32 + ZCHUNK + 6;
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Bzip2,
            Codec::Xz,
            Codec::Zstd,
        ] {
            let b = Bomb::new(codec, segs.clone(), u64::MAX);
            let progress = b.progress.clone();
            let mut comp: Vec<u8> = b.flatten().collect();
            // Finish each stream properly so a strict decoder reads it all.
            match codec {
                Codec::Gzip => comp.extend_from_slice(&[0x03, 0x00]), // empty final block
                Codec::Zstd => comp.extend_from_slice(&zstd_block_header(true, 0, 0)),
                Codec::Xz | Codec::Bzip2 | Codec::None => {}
            }
            assert!(
                codec == Codec::None || comp.len() < 200_000,
                "{codec:?} bomb not compact: {}",
                comp.len()
            );
            assert_eq!(progress.represented.load(Ordering::Relaxed), want_len);
            let mut r: Box<dyn Read> = match codec {
                Codec::None => Box::new(&comp[..]),
                Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(&comp[..])),
                Codec::Gzip => Box::new(flate2::read::DeflateDecoder::new(&comp[10..])),
                Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(&comp[..]).unwrap()),
                // No index: read until the decoder reports the missing one.
                Codec::Xz => Box::new(liblzma::read::XzDecoder::new(&comp[..])),
            };
            let mut got = Vec::new();
            let res = r.read_to_end(&mut got);
            if codec != Codec::Xz {
                res.unwrap();
            }
            assert_eq!(got.len() as u64, want_len, "{codec:?}");
            assert!(got.starts_with(b"hello tar header"));
            assert!(got.ends_with(b"second"));
            assert!(got[512..512 + ZCHUNK as usize].iter().all(|&b| b == 0));
        }
    }
}
