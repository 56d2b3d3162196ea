//! Trees to compare: a host directory walked without following symlinks,
//! or a tar stream parsed here (no tar crate: the test must not share code
//! with what it tests). One line per entry, sorted by path:
//! `path type mode uid:gid details`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Times at or after this are "made during the test" and print as `recent`;
/// fixture times are fixed far before it, so they print as numbers.
const RECENT: i64 = 1_300_000_000;

fn render_time(t: i64) -> String {
    if t >= RECENT {
        "recent".into()
    } else {
        t.to_string()
    }
}

/// A host tree under `root` (excluding `root` itself), one line per entry.
pub fn host_tree(root: &Path) -> Vec<String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out.into_values().collect()
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let ft = md.file_type();
        let mut line = format!(
            "{rel} {} {:04o} {}:{}",
            kind_name(&ft),
            md.mode() & 0o7777,
            md.uid(),
            md.gid()
        );
        if ft.is_file() {
            let data = std::fs::read(&p).unwrap_or_default();
            write!(
                line,
                " size={} sha={} nlink={}",
                md.len(),
                short_sha(&data),
                md.nlink()
            )
            .unwrap();
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&p).unwrap_or_default();
            write!(line, " -> {}", t.display()).unwrap();
        } else if ft.is_char_device() || ft.is_block_device() {
            let r = md.rdev();
            write!(
                line,
                " dev={},{}",
                rustix::fs::major(r),
                rustix::fs::minor(r)
            )
            .unwrap();
        }
        write!(line, " t={}", render_time(md.mtime())).unwrap();
        out.insert(rel.clone(), line);
        if ft.is_dir() {
            walk(root, &p, out);
        }
    }
}

fn kind_name(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_char_device() {
        "chr"
    } else if ft.is_block_device() {
        "blk"
    } else if ft.is_socket() {
        "sock"
    } else {
        "?"
    }
}

/// One tar entry, as the stream carries it.
#[derive(Clone, Debug, Default)]
pub struct TarEntry {
    /// The name exactly as in the stream (PAX/GNU long names applied).
    pub name: String,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub size: u64,
    pub mtime: i64,
    pub linkname: String,
    pub devmajor: u64,
    pub devminor: u64,
    pub xattrs: Vec<String>,
    pub data: Vec<u8>,
}

impl TarEntry {
    pub fn kind(&self) -> &'static str {
        match self.typeflag {
            b'0' | 0 | b'7' => "file",
            b'1' => "hardlink",
            b'2' => "symlink",
            b'3' => "chr",
            b'4' => "blk",
            b'5' => "dir",
            b'6' => "fifo",
            _ => "?",
        }
    }
}

fn parse_octal(field: &[u8]) -> u64 {
    // GNU base-256 for large values.
    if let Some(&first) = field.first()
        && first & 0x80 != 0
    {
        let mut v: u64 = (first & 0x7f) as u64;
        for b in &field[1..] {
            v = (v << 8) | *b as u64;
        }
        return v;
    }
    let s: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Parses a tar stream (ustar, PAX, GNU long names). Errors say where.
pub fn parse_tar(mut data: &[u8]) -> Result<Vec<TarEntry>, String> {
    let mut entries = Vec::new();
    let mut pax: BTreeMap<String, String> = BTreeMap::new();
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    loop {
        if data.len() < 512 {
            if data.iter().all(|b| *b == 0) {
                return Ok(entries);
            }
            return Err(format!(
                "truncated tar header after {} entries",
                entries.len()
            ));
        }
        let h = &data[..512];
        if h.iter().all(|b| *b == 0) {
            return Ok(entries);
        }
        let stored: u64 = h[148..156]
            .iter()
            .take_while(|b| **b != 0 && **b != b' ')
            .fold(0, |a, b| a * 8 + (b.wrapping_sub(b'0')) as u64);
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    *b as u64
                }
            })
            .sum();
        if stored != sum {
            return Err(format!(
                "bad tar header checksum after {} entries",
                entries.len()
            ));
        }
        let typeflag = h[156];
        let mut size = parse_octal(&h[124..136]);
        if let Some(s) = pax.get("size") {
            size = s.parse().unwrap_or(size);
        }
        let padded = size.div_ceil(512) * 512;
        if data.len() < 512 + padded as usize {
            return Err(format!("truncated tar data for entry {}", cstr(&h[0..100])));
        }
        let body = &data[512..512 + size as usize];
        data = &data[512 + padded as usize..];
        match typeflag {
            b'x' => {
                pax.extend(parse_pax(body));
                continue;
            }
            b'g' => continue,
            b'L' => {
                long_name = Some(cstr(body));
                continue;
            }
            b'K' => {
                long_link = Some(cstr(body));
                continue;
            }
            _ => {}
        }
        let magic = &h[257..263];
        let mut name = cstr(&h[0..100]);
        if magic == b"ustar\0" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        let mut linkname = cstr(&h[157..257]);
        if let Some(l) = long_link.take() {
            linkname = l;
        }
        let mut e = TarEntry {
            name,
            typeflag,
            mode: parse_octal(&h[100..108]) as u32,
            uid: parse_octal(&h[108..116]),
            gid: parse_octal(&h[116..124]),
            size,
            mtime: parse_octal(&h[136..148]) as i64,
            linkname,
            uname: cstr(&h[265..297]),
            gname: cstr(&h[297..329]),
            devmajor: parse_octal(&h[329..337]),
            devminor: parse_octal(&h[337..345]),
            xattrs: Vec::new(),
            data: body.to_vec(),
        };
        for (k, v) in std::mem::take(&mut pax) {
            match k.as_str() {
                "path" => e.name = v,
                "linkpath" => e.linkname = v,
                "uid" => e.uid = v.parse().unwrap_or(e.uid),
                "gid" => e.gid = v.parse().unwrap_or(e.gid),
                "uname" => e.uname = v,
                "gname" => e.gname = v,
                "mtime" => {
                    e.mtime = v
                        .split('.')
                        .next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(e.mtime)
                }
                _ => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        e.xattrs.push(x.to_string());
                    }
                }
            }
        }
        entries.push(e);
    }
}

fn parse_pax(mut body: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let Some(sp) = body.iter().position(|b| *b == b' ') else {
            break;
        };
        let Ok(len) = String::from_utf8_lossy(&body[..sp]).parse::<usize>() else {
            break;
        };
        if len == 0 || len > body.len() {
            break;
        }
        let rec = String::from_utf8_lossy(&body[sp + 1..len - 1]).into_owned();
        if let Some((k, v)) = rec.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
        body = &body[len..];
    }
    out
}

/// A tar stream as lines, sorted by name; names are shown as the stream
/// has them (a directory's trailing `/` included).
pub fn tar_tree(entries: &[TarEntry]) -> Vec<String> {
    let mut lines: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            let mut line = format!(
                "{} {} {:04o} {}:{}",
                e.name,
                e.kind(),
                e.mode & 0o7777,
                e.uid,
                e.gid
            );
            if !e.uname.is_empty() || !e.gname.is_empty() {
                write!(line, " ({}:{})", e.uname, e.gname).unwrap();
            }
            match e.kind() {
                "file" => write!(line, " size={} sha={}", e.size, short_sha(&e.data)).unwrap(),
                "symlink" | "hardlink" => write!(line, " -> {}", e.linkname).unwrap(),
                "chr" | "blk" => write!(line, " dev={},{}", e.devmajor, e.devminor).unwrap(),
                _ => {}
            }
            write!(line, " t={}", render_time(e.mtime)).unwrap();
            if !e.xattrs.is_empty() {
                let mut x = e.xattrs.clone();
                x.sort();
                write!(line, " xattrs={}", x.join(",")).unwrap();
            }
            (e.name.clone(), line)
        })
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

/// The first 16 hex digits of the SHA-256 of `data`.
pub fn short_sha(data: &[u8]) -> String {
    sha256_hex(data)[..16].to_string()
}

/// SHA-256 (FIPS 180-4), small and slow, for test data.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// A line diff (LCS), `-` for the left (dockerd), `+` for the right
/// (berthd), with a little context; empty when equal.
pub fn line_diff(left: &str, right: &str) -> String {
    let a: Vec<&str> = left.lines().collect();
    let b: Vec<&str> = right.lines().collect();
    if a == b {
        return String::new();
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near: Vec<bool> = (0..ops.len())
        .map(|k| {
            let lo = k.saturating_sub(2);
            let hi = (k + 3).min(ops.len());
            ops[lo..hi].iter().any(|(c, _)| *c != ' ')
        })
        .collect();
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, l)) in ops.iter().enumerate() {
        if near[k] {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            writeln!(out, "{c} {l}").unwrap();
        } else {
            skipped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            super::sha256_hex(&long),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
