//! Compression sniffing, as moby's `DetectCompression`: look at the first
//! bytes, pick a decoder, and hand back a reader that yields the whole
//! decompressed stream. Only the magic bytes are ever held back.

use std::io::{self, Cursor, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    /// The file-name extension Docker uses for this compression.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "tar.gz",
            Compression::Bzip2 => "tar.bz2",
            Compression::Xz => "tar.xz",
            Compression::Zstd => "tar.zst",
        }
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b, 0x08];
const BZIP2: &[u8] = &[0x42, 0x5a, 0x68];
const XZ: &[u8] = &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Longest magic above.
const PEEK: usize = 6;

/// Identifies the compression of a stream from its leading bytes.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(GZIP) {
        Compression::Gzip
    } else if head.starts_with(BZIP2) {
        Compression::Bzip2
    } else if head.starts_with(XZ) {
        Compression::Xz
    } else if head.starts_with(ZSTD) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The decoder `sniff_reader` picked: a `Read` of the decompressed bytes,
/// generic over the input so callers need neither `Send` nor `'static`.
pub enum Decoder<R: Read> {
    Plain(Joined<R>),
    Gzip(flate2::read::MultiGzDecoder<Joined<R>>),
    Bzip2(bzip2::read::MultiBzDecoder<Joined<R>>),
    Xz(liblzma::read::XzDecoder<Joined<R>>),
    Zstd(zstd::stream::read::Decoder<'static, io::BufReader<Joined<R>>>),
}

/// The sniffed magic bytes followed by the rest of the input.
pub type Joined<R> = io::Chain<Cursor<Vec<u8>>, R>;

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Bzip2(r) => r.read(buf),
            Decoder::Xz(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

/// Sniffs `r` and returns its compression and a reader of the decompressed
/// bytes. An empty or short stream is `None` (a tar reader will then report
/// it as truncated or empty).
pub fn sniff_reader<R: Read>(mut r: R) -> io::Result<(Compression, Decoder<R>)> {
    let mut head = [0u8; PEEK];
    let mut n = 0;
    while n < PEEK {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let comp = detect(&head[..n]);
    let joined = Cursor::new(head[..n].to_vec()).chain(r);
    let out = match comp {
        Compression::None => Decoder::Plain(joined),
        // Multi-member readers: `gzip -c a >> b` and pigz produce several
        // members, which Go's readers (and so Docker) accept as one stream.
        Compression::Gzip => Decoder::Gzip(flate2::read::MultiGzDecoder::new(joined)),
        Compression::Bzip2 => Decoder::Bzip2(bzip2::read::MultiBzDecoder::new(joined)),
        Compression::Xz => Decoder::Xz(liblzma::read::XzDecoder::new_multi_decoder(joined)),
        Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::new(joined)?),
    };
    Ok((comp, out))
}

/// `sniff_reader` boxed, for callers that move the reader across threads.
pub fn sniff<R: Read + Send + 'static>(r: R) -> io::Result<(Compression, Box<dyn Read + Send>)> {
    let (comp, d) = sniff_reader(r)?;
    Ok((comp, Box::new(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn payload() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn roundtrip(comp: Compression, compressed: Vec<u8>, want: &[u8]) {
        let (c, mut r) = sniff(Cursor::new(compressed)).unwrap();
        assert_eq!(c, comp);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn all_formats() {
        let data = payload();
        roundtrip(Compression::None, data.clone(), &data);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(Compression::Gzip, gz.finish().unwrap(), &data);

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        roundtrip(Compression::Bzip2, bz.finish().unwrap(), &data);

        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        roundtrip(Compression::Xz, xz.finish().unwrap(), &data);

        let z = zstd::stream::encode_all(Cursor::new(&data), 1).unwrap();
        roundtrip(Compression::Zstd, z, &data);
    }

    #[test]
    fn concatenated_gzip_members() {
        let mut all = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            all.extend(gz.finish().unwrap());
        }
        roundtrip(Compression::Gzip, all, b"hello world");
    }

    #[test]
    fn short_and_empty_streams() {
        roundtrip(Compression::None, Vec::new(), b"");
        roundtrip(Compression::None, vec![0x1f], &[0x1f]);
        roundtrip(Compression::None, b"abc".to_vec(), b"abc");
    }

    /// The sniffer must not read ahead more than the magic: a reader that
    /// fails after the first bytes must only fail when the caller reads on.
    #[test]
    fn does_not_buffer_whole_stream() {
        struct Limited {
            given: usize,
        }
        impl Read for Limited {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.given >= 6 {
                    return Err(io::Error::other("read past the magic"));
                }
                let n = buf.len().min(6 - self.given);
                buf[..n].fill(b'x');
                self.given += n;
                Ok(n)
            }
        }
        let (c, mut r) = sniff(Limited { given: 0 }).unwrap();
        assert_eq!(c, Compression::None);
        let mut six = [0u8; 6];
        r.read_exact(&mut six).unwrap();
        assert_eq!(&six, b"xxxxxx");
        assert!(r.read(&mut six).is_err());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let bad = vec![
            0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
        ];
        let (c, mut r) = sniff(Cursor::new(bad)).unwrap();
        assert_eq!(c, Compression::Gzip);
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
