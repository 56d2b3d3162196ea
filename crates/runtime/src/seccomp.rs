//! Docker's default seccomp profile, and the machinery that renders a
//! Docker-format profile (with its capability-, architecture- and
//! kernel-conditional rules) into the OCI `linux.seccomp` for one container.
//!
//! The rendering follows moby's `profiles/seccomp` `setupSeccomp`: a rule is
//! dropped when an `excludes` condition matches (the architecture is listed,
//! *any* listed capability is in the container's set, the kernel is at least
//! the version) or an `includes` condition fails (the architecture is not
//! listed, *not all* listed capabilities are in the set, the kernel is older).
//!
//! The syscall lists and rule structure of [`DEFAULT_RULES`] are Docker's:
//! moby `profiles/seccomp/default.json` (github.com/moby/profiles v0.2.x),
//! Copyright The Moby Authors, Apache-2.0. They are restated here as Rust data
//! so that the daemon needs no file at run time.

use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// EPERM: what a syscall outside the profile returns (Docker's
/// `defaultErrnoRet`), so that programs see "operation not permitted".
const EPERM: u32 = 1;
/// ENOSYS: what `clone3` returns without CAP_SYS_ADMIN, so that glibc falls
/// back to `clone`, whose flags the profile can inspect (clone3 passes them in
/// memory, out of seccomp's reach).
const ENOSYS: u32 = 38;

/// A rule's action in our static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Allow,
    Errno(u32),
}

/// A comparison on a syscall argument in our static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Gt,
    MaskedEq,
}

#[derive(Debug, Clone, Copy)]
struct Arg {
    index: usize,
    value: u64,
    value_two: u64,
    op: Op,
}

/// A condition on the host architecture (Docker's names: amd64, x86, arm64,
/// s390x, ...), the container's capabilities and the kernel version.
#[derive(Debug, Clone, Copy)]
struct Filter {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u32, u32)>,
}

impl Filter {
    const NONE: Filter = Filter {
        caps: &[],
        arches: &[],
        min_kernel: None,
    };
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    names: &'static [&'static str],
    action: Act,
    args: &'static [Arg],
    includes: Filter,
    excludes: Filter,
    comment: &'static str,
}

/// Docker's `archMap`: the native architecture and the sub-architectures a
/// process may also use (an amd64 container can run i386 and x32 binaries).
const ARCH_MAP: &[(Arch, &[Arch])] = &[
    (
        Arch::ScmpArchX86_64,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (
        Arch::ScmpArchMips64,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
    ),
    (
        Arch::ScmpArchMips64n32,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
    ),
    (
        Arch::ScmpArchMipsel64,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    ),
    (
        Arch::ScmpArchMipsel64n32,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
    ),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
    (Arch::ScmpArchRiscv64, &[]),
    (Arch::ScmpArchLoongarch64, &[]),
];

/// CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET | CLONE_NEWCGROUP: without CAP_SYS_ADMIN, `clone` is allowed
/// only when none of these flags is set (no new namespaces).
const CLONE_NS_FLAGS: u64 = 0x7e02_0000;

// Docker's socket rules rely on AF_ALG (38) and AF_VSOCK (40) being two apart:
// every family below AF_ALG, the one between (39, AF_NFC), and every family
// above AF_VSOCK is allowed.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// Docker's default profile rules (moby profiles/seccomp/default.json,
/// Apache-2.0), in Docker's order.
#[rustfmt::skip]
const DEFAULT_RULES: &[Rule] = &[
    Rule {
        names: &[
            "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
            "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
            "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
            "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close",
            "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
            "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
            "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
            "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
            "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
            "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
            "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
            "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
            "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
            "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
            "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
            "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp",
            "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
            "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
            "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
            "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
            "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
            "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
            "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
            "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
            "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat",
            "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
            "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
            "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
            "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
            "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
            "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
            "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
            "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
            "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect",
            "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
            "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
            "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
            "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
            "removexattr", "removexattrat", "rename", "renameat", "renameat2",
            "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction",
            "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
            "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
            "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
            "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
            "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
            "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
            "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
            "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
            "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
            "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
            "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
            "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address",
            "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt",
            "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
            "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
            "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
            "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
            "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
            "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
            "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
            "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
            "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
            "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "process_vm_readv", "process_vm_writev", "ptrace",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &[], min_kernel: Some((4, 8)) },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "socket",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: AF_ALG, value_two: 0, op: Op::Lt }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "socket",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: AF_ALG + 1, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "socket",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: AF_VSOCK, value_two: 0, op: Op::Gt }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "personality",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: 0, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "personality",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: 8, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "personality",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: 0x20000, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "personality",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: 0x20008, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "personality",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: 0xffffffff, value_two: 0, op: Op::Eq }],
        includes: Filter::NONE,
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "sync_file_range2", "swapcontext",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["ppc64le"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
            "cacheflush", "set_tls",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["arm", "arm64"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "arch_prctl",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["amd64", "x32"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "modify_ldt",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["amd64", "x32", "x86"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["s390", "s390x"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "riscv_flush_icache",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &[], arches: &["riscv64"], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "open_by_handle_at",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_DAC_READ_SEARCH"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
            "fspick", "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules",
            "lsm_set_self_attr", "mount", "mount_setattr", "move_mount", "open_tree",
            "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
            "setns", "syslog", "umount", "umount2", "unshare",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_ADMIN"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "clone",
        ],
        action: Act::Allow,
        args: &[Arg { index: 0, value: CLONE_NS_FLAGS, value_two: 0, op: Op::MaskedEq }],
        includes: Filter::NONE,
        excludes: Filter { caps: &["CAP_SYS_ADMIN"], arches: &["s390", "s390x"], min_kernel: None },
        comment: "",
    },
    Rule {
        names: &[
            "clone",
        ],
        action: Act::Allow,
        args: &[Arg { index: 1, value: CLONE_NS_FLAGS, value_two: 0, op: Op::MaskedEq }],
        includes: Filter { caps: &[], arches: &["s390", "s390x"], min_kernel: None },
        excludes: Filter { caps: &["CAP_SYS_ADMIN"], arches: &[], min_kernel: None },
        comment: "s390 parameter ordering for clone is different",
    },
    Rule {
        names: &[
            "clone3",
        ],
        action: Act::Errno(ENOSYS),
        args: &[],
        includes: Filter::NONE,
        excludes: Filter { caps: &["CAP_SYS_ADMIN"], arches: &[], min_kernel: None },
        comment: "",
    },
    Rule {
        names: &[
            "reboot",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_BOOT"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "chroot",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_CHROOT"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "delete_module", "init_module", "finit_module",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_MODULE"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "acct",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_PACCT"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
            "ptrace",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_PTRACE"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "iopl", "ioperm",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_RAWIO"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "settimeofday", "stime", "clock_settime", "clock_settime64",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_TIME"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "vhangup",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_TTY_CONFIG"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYS_NICE"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "syslog",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_SYSLOG"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "bpf",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_BPF"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
    Rule {
        names: &[
            "perf_event_open",
        ],
        action: Act::Allow,
        args: &[],
        includes: Filter { caps: &["CAP_PERFMON"], arches: &[], min_kernel: None },
        excludes: Filter::NONE,
        comment: "",
    },
];

/// A Docker-format seccomp profile (`docker run --security-opt seccomp=...`
/// sends the file's JSON): an OCI `LinuxSeccomp` plus `archMap` and rules
/// with `includes`/`excludes` conditions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Arch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMapEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<ProfileSyscall>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Vec<Arch>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSyscall {
    /// Deprecated single-name form, still accepted by Docker.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ProfileArg>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<ProfileFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<ProfileFilter>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileArg {
    pub index: usize,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: LinuxSeccompOperator,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// `"<kernel>.<major>"`, e.g. `"4.8"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl From<&Filter> for Option<ProfileFilter> {
    fn from(f: &Filter) -> Self {
        if f.caps.is_empty() && f.arches.is_empty() && f.min_kernel.is_none() {
            return None;
        }
        Some(ProfileFilter {
            caps: f.caps.iter().map(|s| s.to_string()).collect(),
            arches: f.arches.iter().map(|s| s.to_string()).collect(),
            min_kernel: f.min_kernel.map(|(k, m)| format!("{k}.{m}")),
        })
    }
}

impl From<&Rule> for ProfileSyscall {
    fn from(r: &Rule) -> Self {
        let (action, errno_ret) = match r.action {
            Act::Allow => (LinuxSeccompAction::ScmpActAllow, None),
            Act::Errno(e) => (LinuxSeccompAction::ScmpActErrno, Some(e)),
        };
        ProfileSyscall {
            name: String::new(),
            names: r.names.iter().map(|s| s.to_string()).collect(),
            action,
            errno_ret,
            args: r
                .args
                .iter()
                .map(|a| ProfileArg {
                    index: a.index,
                    value: a.value,
                    value_two: a.value_two,
                    op: match a.op {
                        Op::Eq => LinuxSeccompOperator::ScmpCmpEq,
                        Op::Lt => LinuxSeccompOperator::ScmpCmpLt,
                        Op::Gt => LinuxSeccompOperator::ScmpCmpGt,
                        Op::MaskedEq => LinuxSeccompOperator::ScmpCmpMaskedEq,
                    },
                })
                .collect(),
            comment: r.comment.to_string(),
            includes: (&r.includes).into(),
            excludes: (&r.excludes).into(),
        }
    }
}

impl Profile {
    /// Docker's default profile, unrendered (what `docker info` calls
    /// "builtin"; `moby profiles/seccomp.DefaultProfile()`).
    pub fn docker_default() -> Profile {
        Profile {
            default_action: Some(LinuxSeccompAction::ScmpActErrno),
            default_errno_ret: Some(EPERM),
            architectures: Vec::new(),
            arch_map: ARCH_MAP
                .iter()
                .map(|(a, subs)| ArchMapEntry {
                    architecture: *a,
                    sub_architectures: subs.to_vec(),
                })
                .collect(),
            flags: Vec::new(),
            listener_path: None,
            listener_metadata: None,
            syscalls: DEFAULT_RULES.iter().map(ProfileSyscall::from).collect(),
        }
    }
}

/// Docker's name for the architecture this binary runs on (Go's GOARCH
/// mapped through moby's `goToNative`).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loongarch64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "mips64" if cfg!(target_endian = "little") => "mipsel64",
        "mips64" => "mips64",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        other => other,
    }
}

/// The libseccomp architecture for a Docker architecture name (moby's
/// `nativeToSeccomp`).
fn seccomp_arch(native: &str) -> Option<Arch> {
    Some(match native {
        "x86" => Arch::ScmpArchX86,
        "amd64" => Arch::ScmpArchX86_64,
        "arm" => Arch::ScmpArchArm,
        "arm64" => Arch::ScmpArchAarch64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        "mips64" => Arch::ScmpArchMips64,
        "mips64n32" => Arch::ScmpArchMips64n32,
        "mipsel64" => Arch::ScmpArchMipsel64,
        "mips3l64n32" => Arch::ScmpArchMipsel64n32,
        "mipsle" => Arch::ScmpArchMipsel,
        "ppc" => Arch::ScmpArchPpc,
        "ppc64" => Arch::ScmpArchPpc64,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "s390" => Arch::ScmpArchS390,
        "s390x" => Arch::ScmpArchS390x,
        "riscv64" => Arch::ScmpArchRiscv64,
        _ => return None,
    })
}

/// The running kernel's `(version, major revision)`, e.g. (6, 1) for
/// "6.1.0-13-amd64"; minor revisions and suffixes are ignored, as moby does.
pub fn kernel_version() -> (u32, u32) {
    static KV: OnceLock<(u32, u32)> = OnceLock::new();
    *KV.get_or_init(|| {
        let uname = rustix::system::uname();
        parse_kernel_release(&uname.release().to_string_lossy()).unwrap_or((0, 0))
    })
}

fn parse_kernel_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let k = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    Some((k, m))
}

fn parse_min_kernel(v: &str) -> Result<Option<(u32, u32)>, Error> {
    if v.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::invalid(format!(
            "invalid kernel version: {v:?}, expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    let k: u8 = k.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if k == 0 && m == 0 {
        return Err(bad());
    }
    Ok(Some((u32::from(k), u32::from(m))))
}

/// Docker's default profile rendered for a container whose capability
/// (bounding) set is `caps`, on this host's architecture and kernel.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    render(
        &Profile::docker_default(),
        caps,
        native_arch(),
        kernel_version(),
    )
    .expect("docker's default seccomp profile is well-formed")
    .expect("docker's default seccomp profile is not empty")
}

/// Loads a Docker-format profile (the JSON `docker run --security-opt
/// seccomp=FILE` sends) and renders it for `caps` on this host. `None` means
/// the profile disables seccomp (no default action and no rules).
pub fn load_profile(json: &str, caps: &[String]) -> Result<Option<LinuxSeccomp>, Error> {
    let profile: Profile = serde_json::from_str(json).map_err(|e| {
        Error::with_source(
            crate::ErrorKind::InvalidArgument,
            "decoding seccomp profile failed",
            e,
        )
    })?;
    render(&profile, caps, native_arch(), kernel_version())
}

/// Renders `profile` for a container with capability set `caps` on
/// architecture `arch` (Docker's name, e.g. "amd64") and kernel `kernel`
/// (moby `setupSeccomp`).
pub fn render(
    profile: &Profile,
    caps: &[String],
    arch: &str,
    kernel: (u32, u32),
) -> Result<Option<LinuxSeccomp>, Error> {
    if profile.default_action.is_none() && profile.syscalls.is_empty() {
        return Ok(None);
    }
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(Error::invalid(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
        ));
    }
    let mut arches = profile.architectures.clone();
    if let Some(native) = seccomp_arch(arch)
        && let Some(entry) = profile.arch_map.iter().find(|a| a.architecture == native)
    {
        arches.push(entry.architecture);
        arches.extend(entry.sub_architectures.iter().copied());
    }

    let has_cap = |c: &String| caps.iter().any(|x| x == c);
    let mut syscalls = Vec::new();
    for call in &profile.syscalls {
        let names = if call.name.is_empty() {
            call.names.clone()
        } else {
            if !call.names.is_empty() {
                return Err(Error::invalid(
                    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
                ));
            }
            vec![call.name.clone()]
        };
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().any(|a| a == arch) {
                continue;
            }
            if ex.caps.iter().any(has_cap) {
                continue;
            }
            if let Some(mk) = parse_min_kernel(ex.min_kernel.as_deref().unwrap_or(""))?
                && kernel >= mk
            {
                continue;
            }
        }
        if let Some(inc) = &call.includes {
            if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
                continue;
            }
            if !inc.caps.iter().all(has_cap) {
                continue;
            }
            if let Some(mk) = parse_min_kernel(inc.min_kernel.as_deref().unwrap_or(""))?
                && kernel < mk
            {
                continue;
            }
        }
        let mut sc = LinuxSyscall::default();
        sc.set_names(names);
        sc.set_action(call.action);
        sc.set_errno_ret(call.errno_ret);
        if !call.args.is_empty() {
            let args = call
                .args
                .iter()
                .map(|a| {
                    let mut b = LinuxSeccompArgBuilder::default()
                        .index(a.index)
                        .value(a.value)
                        .op(a.op);
                    // Go's omitempty: a zero valueTwo is not emitted.
                    if a.value_two != 0 {
                        b = b.value_two(a.value_two);
                    }
                    b.build().map_err(|e| {
                        Error::with_source(crate::ErrorKind::Internal, "build seccomp argument", e)
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            sc.set_args(Some(args));
        }
        syscalls.push(sc);
    }

    let mut out = LinuxSeccomp::default();
    out.set_default_action(
        profile
            .default_action
            .unwrap_or(LinuxSeccompAction::ScmpActAllow),
    );
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures((!arches.is_empty()).then_some(arches));
    out.set_flags((!profile.flags.is_empty()).then(|| profile.flags.clone()));
    out.set_listener_path(profile.listener_path.as_ref().map(Into::into));
    out.set_listener_metadata(profile.listener_metadata.clone());
    out.set_syscalls(Some(syscalls));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{ALL_CAPS, DEFAULT_CAPS};

    fn caps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rendered(caps: &[String], arch: &str, kernel: (u32, u32)) -> LinuxSeccomp {
        render(&Profile::docker_default(), caps, arch, kernel)
            .unwrap()
            .unwrap()
    }

    fn rules_for<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn matches_dockers_embedded_json() {
        // The JSON Docker ships is the serialisation of the same rules; check
        // a few structural facts of ours against it.
        let p = Profile::docker_default();
        assert_eq!(p.syscalls.len(), 33);
        assert_eq!(p.syscalls[0].names.len(), 361);
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(j["defaultErrnoRet"], 1);
        assert_eq!(j["archMap"][0]["architecture"], "SCMP_ARCH_X86_64");
        assert_eq!(
            j["archMap"][0]["subArchitectures"],
            serde_json::json!(["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert_eq!(j["syscalls"][1]["includes"]["minKernel"], "4.8");
        // The rendered JSON round-trips through the Profile type.
        let back: Profile = serde_json::from_value(j).unwrap();
        assert_eq!(back.syscalls.len(), 33);
    }

    #[test]
    fn default_caps_on_amd64() {
        let p = rendered(&caps(&DEFAULT_CAPS), "amd64", (6, 1));
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        // Without CAP_SYS_ADMIN: clone only without namespace flags, clone3
        // answers ENOSYS, no unshare/mount/setns.
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        let arg = &clone[0].args().as_ref().unwrap()[0];
        assert_eq!(arg.index(), 0);
        assert_eq!(arg.value(), 0x7e020000);
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        for n in [
            "unshare",
            "mount",
            "setns",
            "keyctl",
            "add_key",
            "bpf",
            "ptrace_no",
        ] {
            assert!(rules_for(&p, n).is_empty(), "{n} must not be allowed");
        }
        // CAP_SYS_CHROOT is in Docker's default set; ptrace is allowed on
        // kernels >= 4.8; arch_prctl and modify_ldt on amd64.
        for n in ["chroot", "ptrace", "arch_prctl", "modify_ldt"] {
            assert_eq!(rules_for(&p, n).len(), 1, "{n}");
        }
        assert_eq!(rules_for(&p, "personality").len(), 5);
        let socket = rules_for(&p, "socket");
        assert_eq!(socket.len(), 3);
        let vals: Vec<(u64, LinuxSeccompOperator)> = socket
            .iter()
            .map(|s| {
                let a = &s.args().as_ref().unwrap()[0];
                (a.value(), a.op())
            })
            .collect();
        assert_eq!(
            vals,
            vec![
                (38, LinuxSeccompOperator::ScmpCmpLt),
                (39, LinuxSeccompOperator::ScmpCmpEq),
                (40, LinuxSeccompOperator::ScmpCmpGt)
            ]
        );
        // No s390 clone rule, no arm syscalls.
        assert!(rules_for(&p, "s390_runtime_instr").is_empty());
        assert!(rules_for(&p, "set_tls").is_empty());
    }

    #[test]
    fn old_kernel_drops_ptrace() {
        let p = rendered(&caps(&DEFAULT_CAPS), "amd64", (4, 4));
        assert!(rules_for(&p, "ptrace").is_empty());
    }

    #[test]
    fn sys_admin_unlocks_namespaces() {
        let mut c = caps(&DEFAULT_CAPS);
        c.push("CAP_SYS_ADMIN".into());
        let p = rendered(&c, "amd64", (6, 1));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args().is_none());
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActAllow);
        for n in ["unshare", "mount", "setns", "bpf", "perf_event_open"] {
            assert_eq!(rules_for(&p, n).len(), 1, "{n}");
        }
    }

    #[test]
    fn all_caps_allow_gated_syscalls() {
        let p = rendered(&caps(&ALL_CAPS), "amd64", (6, 1));
        for n in [
            "reboot",
            "init_module",
            "acct",
            "kcmp",
            "iopl",
            "settimeofday",
            "vhangup",
            "mbind",
            "syslog",
            "open_by_handle_at",
        ] {
            assert!(!rules_for(&p, n).is_empty(), "{n}");
        }
        let q = rendered(&caps(&DEFAULT_CAPS), "amd64", (6, 1));
        for n in [
            "reboot",
            "init_module",
            "acct",
            "kcmp",
            "iopl",
            "settimeofday",
            "vhangup",
            "mbind",
            "syslog",
            "open_by_handle_at",
        ] {
            assert!(rules_for(&q, n).is_empty(), "{n}");
        }
    }

    #[test]
    fn s390x_gets_its_clone_rule() {
        let p = rendered(&caps(&DEFAULT_CAPS), "s390x", (6, 1));
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().unwrap()[0].index(), 1);
        assert_eq!(
            p.architectures().clone().unwrap(),
            vec![Arch::ScmpArchS390x, Arch::ScmpArchS390]
        );
    }

    #[test]
    fn serialises_as_runc_expects() {
        let p = rendered(&caps(&DEFAULT_CAPS), "amd64", (6, 1));
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(j["defaultErrnoRet"], 1);
        assert_eq!(
            j["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let calls = j["syscalls"].as_array().unwrap();
        assert_eq!(calls[0]["action"], "SCMP_ACT_ALLOW");
        assert!(calls[0].get("args").is_none());
        assert!(calls[0].get("errnoRet").is_none());
        let clone = calls
            .iter()
            .find(|c| c["names"] == serde_json::json!(["clone"]))
            .unwrap();
        assert_eq!(
            clone["args"],
            serde_json::json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let clone3 = calls
            .iter()
            .find(|c| c["names"] == serde_json::json!(["clone3"]))
            .unwrap();
        assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3["errnoRet"], 38);
        // And it deserialises back as an OCI seccomp object.
        let back: LinuxSeccomp = serde_json::from_value(j).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn custom_profiles() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "3.0"}}
            ]
        }"#;
        let p = load_profile(json, &caps(&DEFAULT_CAPS)).unwrap().unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        let calls = p.syscalls().clone().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].names(), &vec!["mkdir".to_string()]);
        assert_eq!(calls[0].errno_ret(), Some(13));

        assert!(load_profile("{}", &[]).unwrap().is_none());
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}]}"#;
        assert!(load_profile(both, &[]).is_err());
        let e = load_profile("{not json", &[]).unwrap_err();
        assert!(e.to_string().starts_with("decoding seccomp profile failed"));
        let bad_kernel = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}"#;
        assert!(load_profile(bad_kernel, &[]).is_err());
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_kernel_release("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_release("garbage"), None);
    }
}
