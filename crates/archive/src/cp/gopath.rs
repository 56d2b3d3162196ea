//! Go's lexical path functions (`path.Clean`, `filepath.Base`, `Split`,
//! `Join`) and moby's `PreserveTrailingDotOrSeparator`, on bytes, because
//! dockerd's names and messages are built with them and the docker CLI
//! rebases archives by those exact strings.

/// `path.Clean`: the shortest lexically equivalent path.
pub(crate) fn clean(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let mut out: Vec<&[u8]> = Vec::new();
    // Number of leading ".." a relative path keeps.
    let mut dotdot = 0usize;
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.len() > dotdot {
                    out.pop();
                } else if !rooted {
                    out.push(b"..");
                    dotdot += 1;
                }
            }
            c => out.push(c),
        }
    }
    let mut v = Vec::with_capacity(p.len());
    if rooted {
        v.push(b'/');
    }
    for (i, c) in out.iter().enumerate() {
        if i > 0 {
            v.push(b'/');
        }
        v.extend_from_slice(c);
    }
    if v.is_empty() {
        v.push(b'.');
    }
    v
}

/// `filepath.Join(a, b)` (Clean of the two joined by a slash, empty parts
/// ignored).
pub(crate) fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Vec::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => {
            let mut v = a.to_vec();
            v.push(b'/');
            v.extend_from_slice(b);
            clean(&v)
        }
    }
}

/// `filepath.Base`: the last element, trailing slashes removed; "." for an
/// empty path and "/" for a path of slashes.
pub(crate) fn base(p: &[u8]) -> &[u8] {
    if p.is_empty() {
        return b".";
    }
    let trimmed = {
        let mut end = p.len();
        while end > 0 && p[end - 1] == b'/' {
            end -= 1;
        }
        &p[..end]
    };
    if trimmed.is_empty() {
        return b"/";
    }
    match trimmed.iter().rposition(|b| *b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// `filepath.Split`: everything up to and including the last slash, and the
/// rest.
pub(crate) fn split(p: &[u8]) -> (&[u8], &[u8]) {
    match p.iter().rposition(|b| *b == b'/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => (&[], p),
    }
}

fn has_trailing_sep(p: &[u8]) -> bool {
    p.last() == Some(&b'/')
}

fn specifies_current_dir(p: &[u8]) -> bool {
    base(p) == b"."
}

/// moby's `PreserveTrailingDotOrSeparator`: re-appends the "/." or "/" that
/// cleaning removed from `original`, because they mean "the directory's
/// contents" and "must be a directory" to docker cp.
pub(crate) fn preserve_trailing(cleaned: &[u8], original: &[u8]) -> Vec<u8> {
    let mut out = cleaned.to_vec();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !has_trailing_sep(&out) {
            out.push(b'/');
        }
        out.push(b'.');
    }
    if !has_trailing_sep(&out) && has_trailing_sep(original) {
        out.push(b'/');
    }
    out
}

/// dockerd's `absPath` for a user path: `Join("/", path)` with its trailing
/// "/" or "/." preserved.
pub(crate) fn abs_path(path: &[u8]) -> Vec<u8> {
    let mut rooted = Vec::with_capacity(path.len() + 1);
    rooted.push(b'/');
    rooted.extend_from_slice(path);
    preserve_trailing(&clean(&rooted), path)
}

/// Go's `toASCII` for tar header fields: drops every non-ASCII character
/// (and NULs), as archive/tar does for best-effort V7 fields.
pub(crate) fn to_ascii(s: &[u8]) -> Vec<u8> {
    if s.iter().all(|b| *b < 0x80 && *b != 0) {
        return s.to_vec();
    }
    s.iter().copied().filter(|b| *b < 0x80 && *b != 0).collect()
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clean_matches_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("//a//b/", "/a/b"),
            ("a/../..", ".."),
            ("../../x", "../../x"),
            ("/../x", "/x"),
            ("a/./b/../c", "a/c"),
            ("./", "."),
            ("x/..", "."),
        ] {
            assert_eq!(s(clean(i.as_bytes())), o, "{i}");
        }
    }

    #[test]
    fn base_and_split_match_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("///", "/"),
            ("/etc/", "etc"),
            ("/etc/.", "."),
            ("a", "a"),
        ] {
            assert_eq!(base(i.as_bytes()), o.as_bytes(), "{i}");
        }
        assert_eq!(split(b"/etc/"), (&b"/etc/"[..], &b""[..]));
        assert_eq!(split(b"/etc/."), (&b"/etc/"[..], &b"."[..]));
        assert_eq!(split(b"x"), (&b""[..], &b"x"[..]));
    }

    #[test]
    fn abs_path_preserves_trailing_forms() {
        for (i, o) in [
            ("etc", "/etc"),
            ("/etc/", "/etc/"),
            ("/etc/.", "/etc/."),
            ("/etc//.", "/etc/."),
            (".", "/."),
            ("/", "/"),
            ("", "/."),
            ("../../etc/passwd", "/etc/passwd"),
            ("/a/../b/", "/b/"),
        ] {
            assert_eq!(s(abs_path(i.as_bytes())), o, "{i}");
        }
    }

    #[test]
    fn join_matches_go() {
        assert_eq!(s(join(b"/tmp", b"foo/")), "/tmp/foo");
        assert_eq!(s(join(b"/tmp", b"/etc")), "/tmp/etc");
        assert_eq!(s(join(b"/", b"../x")), "/x");
        assert_eq!(s(join(b"a/", b"")), "a");
    }
}
