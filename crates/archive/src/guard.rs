//! A reader below tar-rs that watches the tar framing as it passes and
//! refuses header extensions (PAX records, GNU long names and long links)
//! larger than Go's `archive/tar` accepts (1 MiB). tar-rs reads such an
//! extension into memory whole, so without this a single header could
//! make the daemon allocate gigabytes (seen with a 1 GiB GNU long name).

use std::io::{self, Read};

/// Go's archive/tar `maxSpecialFileSize`.
pub const MAX_EXTENSION: u64 = 1 << 20;

pub struct HeaderGuard<R> {
    inner: R,
    header: Vec<u8>,
    /// Bytes of the current entry's data (with padding) still to pass.
    data_left: u64,
    /// The current entry is a PAX header whose records we keep, to learn a
    /// `size` override for the next entry.
    pax: Option<Vec<u8>>,
    pax_len: u64,
    next_size: Option<u64>,
}

impl<R: Read> HeaderGuard<R> {
    pub fn new(inner: R) -> Self {
        HeaderGuard {
            inner,
            header: Vec::with_capacity(512),
            data_left: 0,
            pax: None,
            pax_len: 0,
            next_size: None,
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.data_left > 0 {
                let n = (self.data_left.min(data.len() as u64)) as usize;
                if let Some(p) = self.pax.as_mut() {
                    let keep = (self.pax_len as usize).saturating_sub(p.len()).min(n);
                    p.extend_from_slice(&data[..keep]);
                }
                self.data_left -= n as u64;
                data = &data[n..];
                if self.data_left == 0
                    && let Some(p) = self.pax.take()
                {
                    self.next_size = pax_size(&p);
                }
                continue;
            }
            let n = (512 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() < 512 {
                continue;
            }
            let h = std::mem::replace(&mut self.header, Vec::with_capacity(512));
            if h.iter().all(|b| *b == 0) {
                continue;
            }
            let declared = parse_size(&h[124..136]);
            let typeflag = h[156];
            let size = match typeflag {
                b'x' | b'g' | b'L' | b'K' | b'X' => {
                    if declared > MAX_EXTENSION {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "archive/tar: header extension of {declared} bytes is larger than the {MAX_EXTENSION} allowed"
                            ),
                        ));
                    }
                    if typeflag == b'x' {
                        self.pax = Some(Vec::with_capacity(declared as usize));
                        self.pax_len = declared;
                    }
                    declared
                }
                // Entries that carry no data in tar-rs's reading as well.
                _ => self.next_size.take().unwrap_or(declared),
            };
            self.data_left = size.div_ceil(512).saturating_mul(512);
            if self.data_left == 0
                && let Some(p) = self.pax.take()
            {
                self.next_size = pax_size(&p);
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for HeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

/// A tar numeric field: octal, or base-256 when the high bit is set.
fn parse_size(f: &[u8]) -> u64 {
    if f[0] & 0x80 != 0 {
        let mut v: u64 = (f[0] & 0x7f) as u64;
        for b in &f[1..] {
            v = v.saturating_mul(256).saturating_add(*b as u64);
        }
        return v;
    }
    let mut v: u64 = 0;
    for b in f {
        match b {
            b'0'..=b'7' => v = v.saturating_mul(8).saturating_add((b - b'0') as u64),
            b' ' | 0 if v > 0 => break,
            _ => {}
        }
    }
    v
}

/// The `size` record of a PAX extended header ("NN size=123\n").
fn pax_size(records: &[u8]) -> Option<u64> {
    let mut rest = records;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len == 0 || len > rest.len() {
            return None;
        }
        let rec = &rest[sp + 1..len];
        if let Some(v) = rec.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            return std::str::from_utf8(v).ok()?.parse().ok();
        }
        rest = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, typeflag: u8, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let s = format!("{size:011o}\0");
        h[124..136].copy_from_slice(s.as_bytes());
        h[156] = typeflag;
        h
    }

    #[test]
    fn huge_long_name_is_refused_before_it_is_read() {
        let mut stream = header("././@LongLink", b'L', 1 << 30);
        stream.extend(std::iter::repeat_n(b'a', 4096));
        let mut g = HeaderGuard::new(&stream[..]);
        let mut buf = vec![0u8; 8192];
        let err = g.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn ordinary_archives_pass_and_pax_size_is_followed() {
        let mut b = tar::Builder::new(Vec::new());
        let data = vec![7u8; 3000];
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "a/".repeat(80) + "long-name", &data[..])
            .unwrap();
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("size", b"10".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(10);
        h.set_cksum();
        pax.append_data(&mut h, "p", &[1u8; 10][..]).unwrap();
        for bytes in [b.into_inner().unwrap(), pax.into_inner().unwrap()] {
            let mut out = Vec::new();
            HeaderGuard::new(&bytes[..]).read_to_end(&mut out).unwrap();
            assert_eq!(out, bytes);
            let mut a = tar::Archive::new(HeaderGuard::new(&bytes[..]));
            assert!(a.entries().unwrap().all(|e| e.is_ok()));
        }
    }
}
