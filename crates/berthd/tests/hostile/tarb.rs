//! Hand-written tar streams: every header is built byte by byte, so names
//! a well-behaved writer refuses (`../x`, `/etc/x`), hostile link targets,
//! absurd sizes and broken checksums can all be expressed.

/// How the 12-byte size field is written.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    /// Octal, as ustar writes it (up to 8 GiB - 1).
    Octal(u64),
    /// GNU base-256: 0x80 then the value big-endian (any u64).
    Base256(u64),
    /// The field verbatim (e.g. a negative base-256 number).
    Raw([u8; 12]),
}

impl Size {
    pub fn value(self) -> u64 {
        match self {
            Size::Octal(n) | Size::Base256(n) => n,
            Size::Raw(_) => 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Hdr<'a> {
    pub name: &'a [u8],
    pub kind: u8,
    pub mode: u32,
    pub size: Size,
    pub link: &'a [u8],
    pub dev: (u32, u32),
    pub uid: u32,
    pub gid: u32,
    /// Corrupt the checksum on purpose.
    pub bad_checksum: bool,
}

impl<'a> Hdr<'a> {
    pub fn new(name: &'a str, kind: u8) -> Self {
        Hdr {
            name: name.as_bytes(),
            kind,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            size: Size::Octal(0),
            link: b"",
            dev: (0, 0),
            uid: 0,
            gid: 0,
            bad_checksum: false,
        }
    }

    pub fn encode(&self) -> [u8; 512] {
        let mut h = [0u8; 512];
        assert!(self.name.len() <= 100, "name too long for a raw header");
        assert!(self.link.len() <= 100, "link too long for a raw header");
        h[..self.name.len()].copy_from_slice(self.name);
        octal(&mut h[100..108], self.mode as u64);
        octal(&mut h[108..116], self.uid as u64);
        octal(&mut h[116..124], self.gid as u64);
        match self.size {
            Size::Octal(n) => octal(&mut h[124..136], n),
            Size::Base256(n) => {
                h[124] = 0x80;
                h[128..136].copy_from_slice(&n.to_be_bytes());
            }
            Size::Raw(r) => h[124..136].copy_from_slice(&r),
        }
        octal(&mut h[136..148], 1_700_000_000);
        h[156] = self.kind;
        h[157..157 + self.link.len()].copy_from_slice(self.link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        octal(&mut h[329..337], self.dev.0 as u64);
        octal(&mut h[337..345], self.dev.1 as u64);
        h[148..156].fill(b' ');
        let mut sum: u32 = h.iter().map(|&b| b as u32).sum();
        if self.bad_checksum {
            sum += 1;
        }
        let cs = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(cs.as_bytes());
        h
    }
}

/// `width - 1` octal digits and a NUL.
fn octal(field: &mut [u8], n: u64) {
    let s = format!("{n:0w$o}", w = field.len() - 1);
    assert!(s.len() < field.len(), "{n} does not fit in octal");
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// One PAX record: "<len> key=value\n", the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut n = body + 1;
    while n != body + n.to_string().len() {
        n = body + n.to_string().len();
    }
    let mut r = format!("{n} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

#[derive(Default, Clone)]
pub struct TarB {
    pub out: Vec<u8>,
}

impl TarB {
    pub fn new() -> Self {
        TarB::default()
    }
    pub fn header(mut self, h: Hdr) -> Self {
        self.out.extend_from_slice(&h.encode());
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.out.extend_from_slice(d);
        pad(&mut self.out);
        self
    }
    pub fn raw(mut self, d: &[u8]) -> Self {
        self.out.extend_from_slice(d);
        self
    }
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        let mut h = Hdr::new(name, b'0');
        h.size = Size::Octal(data.len() as u64);
        self.header(h).data(data)
    }
    pub fn dir(self, name: &str) -> Self {
        self.header(Hdr::new(name, b'5'))
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        let mut h = Hdr::new(name, b'2');
        h.mode = 0o777;
        h.link = target.as_bytes();
        self.header(h)
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        let mut h = Hdr::new(name, b'1');
        h.link = target.as_bytes();
        self.header(h)
    }
    pub fn chardev(self, name: &str, major: u32, minor: u32) -> Self {
        let mut h = Hdr::new(name, b'3');
        h.mode = 0o666;
        h.dev = (major, minor);
        self.header(h)
    }
    pub fn fifo(self, name: &str) -> Self {
        self.header(Hdr::new(name, b'6'))
    }
    /// A PAX extended header ('x') applying to the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let mut h = Hdr::new("./PaxHeaders/x", b'x');
        h.size = Size::Octal(data.len() as u64);
        self.header(h).data(&data)
    }
    /// A GNU long name ('L') or long link ('K') for the next entry.
    pub fn gnu_long(self, kind: u8, value: &str) -> Self {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        let mut h = Hdr::new("././@LongLink", kind);
        h.size = Size::Octal(data.len() as u64);
        self.header(h).data(&data)
    }
    /// Adds the end-of-archive marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 1024]);
        self.out
    }
    /// The stream as is, without an end marker.
    pub fn unfinished(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        for v in [0usize, 1, 5, 90, 95, 96, 97, 990, 995, 9990] {
            let r = pax_record("path", &vec![b'a'; v]);
            let (n, _) = std::str::from_utf8(&r).unwrap().split_once(' ').unwrap();
            assert_eq!(n.parse::<usize>().unwrap(), r.len(), "{v}");
        }
    }
}
