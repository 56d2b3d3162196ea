//! Go's `os.FileMode` bits, which `PathStat.mode` carries (docker cp).
//!
//! Go keeps the file type in the high bits instead of Unix's `S_IFMT`
//! field; the Docker CLI decides "directory or not" from these bits, so a
//! raw `st_mode` on the wire would break `docker cp`.

/// Go `fs.ModeDir`.
pub const MODE_DIR: u32 = 1 << 31;
/// Go `fs.ModeAppend` (Plan 9; never set on Linux).
pub const MODE_APPEND: u32 = 1 << 30;
/// Go `fs.ModeExclusive` (Plan 9; never set on Linux).
pub const MODE_EXCLUSIVE: u32 = 1 << 29;
/// Go `fs.ModeTemporary` (Plan 9; never set on Linux).
pub const MODE_TEMPORARY: u32 = 1 << 28;
pub const MODE_SYMLINK: u32 = 1 << 27;
/// Block or character device.
pub const MODE_DEVICE: u32 = 1 << 26;
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
pub const MODE_SOCKET: u32 = 1 << 24;
pub const MODE_SETUID: u32 = 1 << 23;
pub const MODE_SETGID: u32 = 1 << 22;
/// Set together with [`MODE_DEVICE`] for character devices.
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
pub const MODE_STICKY: u32 = 1 << 20;
/// A file of unknown type (Go sets it on some systems, not Linux `os.Stat`).
pub const MODE_IRREGULAR: u32 = 1 << 19;
/// Go `fs.ModeType`: all the type bits.
pub const MODE_TYPE: u32 = MODE_DIR
    | MODE_SYMLINK
    | MODE_NAMED_PIPE
    | MODE_SOCKET
    | MODE_DEVICE
    | MODE_CHAR_DEVICE
    | MODE_IRREGULAR;
/// Go `fs.ModePerm`.
pub const MODE_PERM: u32 = 0o777;

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// A Unix `st_mode` as Go's `os.Stat` reports it on Linux
/// (`fillFileStatFromSys`): permission bits, one type bit (two for
/// character devices), setuid/setgid/sticky. An unknown `S_IFMT` value
/// gets no type bit, as in Go.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & MODE_PERM;
    mode |= match st_mode & S_IFMT {
        S_IFBLK => MODE_DEVICE,
        S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        S_IFDIR => MODE_DIR,
        S_IFIFO => MODE_NAMED_PIPE,
        S_IFLNK => MODE_SYMLINK,
        S_IFSOCK => MODE_SOCKET,
        _ => 0,
    };
    if st_mode & S_ISGID != 0 {
        mode |= MODE_SETGID;
    }
    if st_mode & S_ISUID != 0 {
        mode |= MODE_SETUID;
    }
    if st_mode & S_ISVTX != 0 {
        mode |= MODE_STICKY;
    }
    mode
}

/// The inverse of [`go_file_mode`]: a Unix `st_mode` with its `S_IFMT`
/// type. A mode without type bits is a regular file; [`MODE_IRREGULAR`]
/// and the Plan 9 bits have no Unix equivalent and give no type.
pub fn unix_mode_from_go(go: u32) -> u32 {
    let mut mode = go & MODE_PERM;
    mode |= if go & MODE_DIR != 0 {
        S_IFDIR
    } else if go & MODE_SYMLINK != 0 {
        S_IFLNK
    } else if go & MODE_DEVICE != 0 {
        if go & MODE_CHAR_DEVICE != 0 {
            S_IFCHR
        } else {
            S_IFBLK
        }
    } else if go & MODE_NAMED_PIPE != 0 {
        S_IFIFO
    } else if go & MODE_SOCKET != 0 {
        S_IFSOCK
    } else if go & MODE_IRREGULAR != 0 {
        0
    } else {
        S_IFREG
    };
    if go & MODE_SETUID != 0 {
        mode |= S_ISUID;
    }
    if go & MODE_SETGID != 0 {
        mode |= S_ISGID;
    }
    if go & MODE_STICKY != 0 {
        mode |= S_ISVTX;
    }
    mode
}

/// Go's `FileMode.String()` (`drwxr-xr-x`, `Lrwxrwxrwx`, `-rwsr-xr-x` is
/// written `urwxr-xr-x`), handy in logs and tests.
pub fn go_file_mode_string(mode: u32) -> String {
    const TYPE_CHARS: &[u8] = b"dalTLDpSugct?";
    let mut s = String::new();
    for (i, c) in TYPE_CHARS.iter().enumerate() {
        if mode & (1 << (31 - i)) != 0 {
            s.push(*c as char);
        }
    }
    if s.is_empty() {
        s.push('-');
    }
    const RWX: &[u8] = b"rwxrwxrwx";
    for (i, c) in RWX.iter().enumerate() {
        s.push(if mode & (1 << (8 - i)) != 0 {
            *c as char
        } else {
            '-'
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn st_mode_to_go_table() {
        // (st_mode, what Go's os.Stat reports, its String())
        let table: &[(u32, u32, &str)] = &[
            (0o100644, 0o644, "-rw-r--r--"),
            (0o100755, 0o755, "-rwxr-xr-x"),
            (0o040755, (1 << 31) | 0o755, "drwxr-xr-x"),
            (0o041777, (1 << 31) | (1 << 20) | 0o777, "dtrwxrwxrwx"),
            (0o120777, (1 << 27) | 0o777, "Lrwxrwxrwx"),
            (0o060660, (1 << 26) | 0o660, "Drw-rw----"),
            (0o020666, (1 << 26) | (1 << 21) | 0o666, "Dcrw-rw-rw-"),
            (0o010644, (1 << 25) | 0o644, "prw-r--r--"),
            (0o140755, (1 << 24) | 0o755, "Srwxr-xr-x"),
            (0o104755, (1 << 23) | 0o755, "urwxr-xr-x"),
            (0o102755, (1 << 22) | 0o755, "grwxr-xr-x"),
            (0o106755, (1 << 23) | (1 << 22) | 0o755, "ugrwxr-xr-x"),
            (0o100000, 0, "----------"),
        ];
        for &(st, go, s) in table {
            assert_eq!(go_file_mode(st), go, "st_mode {st:o}");
            assert_eq!(go_file_mode_string(go), s, "st_mode {st:o}");
            assert_eq!(unix_mode_from_go(go), st, "go mode {go:#x}");
        }
        // Go's Dir bit value as docker cp sees it for a 0755 directory
        assert_eq!(go_file_mode(0o040755), 2_147_484_141);
    }

    #[test]
    fn odd_inputs() {
        // an S_IFMT value Linux never produces: no type bit, like Go
        assert_eq!(go_file_mode(0o170644), 0o644);
        assert_eq!(unix_mode_from_go(MODE_IRREGULAR | 0o600), 0o600);
        // Plan 9 bits are dropped
        assert_eq!(
            unix_mode_from_go(MODE_APPEND | MODE_EXCLUSIVE | MODE_TEMPORARY | 0o644),
            0o100644
        );
        assert_eq!(MODE_TYPE & MODE_PERM, 0);
    }
}
