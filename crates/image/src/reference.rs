//! Image references with Docker's normalisation, after
//! `github.com/distribution/reference` (regexp.go, reference.go,
//! normalize.go). The grammar is implemented by hand; the comments name the
//! regexp each function stands for.

use std::fmt;

use berth_content::Digest;

use crate::{Error, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

const ERR_FORMAT: &str = "invalid reference format";

/// A named image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let alnum_run = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && is_lower_alnum(b[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !alnum_run(&mut i) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !alnum_run(&mut i) {
            return false;
        }
    }
    true
}

/// `pathComponent(?:/pathComponent)*`
fn is_remote_name(s: &str) -> bool {
    !s.is_empty() && s.split('/').all(is_path_component)
}

/// `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `host(?::[0-9]+)?` where host is a domain name or `[ipv6]`.
fn is_domain(s: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        return after.is_empty() || after.strip_prefix(':').is_some_and(port_ok);
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && !port_ok(p)
    {
        return false;
    }
    !host.is_empty() && host.split('.').all(is_domain_component)
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
fn is_digest_pattern(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Go's `digest.Parse`, restricted to the algorithm we store.
fn parse_digest(s: &str) -> Result<Digest> {
    let (alg, hex) = s.split_once(':').unwrap_or((s, ""));
    if alg != "sha256" {
        return Err(Error::invalid("unsupported digest algorithm"));
    }
    if hex.len() != 64 {
        return Err(Error::invalid("invalid checksum digest length"));
    }
    s.parse::<Digest>()
        .map_err(|_| Error::invalid("invalid checksum digest format"))
}

struct Split<'a> {
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// `^(name)(?::(tag))?(?:@(digest))?$` with name `(?:(domain)/)?(remoteName)`.
/// The domain is taken whenever it can be, as the greedy Go regexp does.
fn split(s: &str) -> Option<Split<'_>> {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => {
            if !is_digest_pattern(d) {
                return None;
            }
            (l, Some(d))
        }
        None => (s, None),
    };
    // A tag never contains '/' or ':', and a name holds ':' only in its
    // domain (before the first '/'): so the tag, if any, follows the last ':'
    // when no '/' comes after it.
    let (name, tag) = match left.rfind(':') {
        Some(i) if !left[i + 1..].contains('/') => (&left[..i], Some(&left[i + 1..])),
        _ => (left, None),
    };
    if let Some(t) = tag
        && !is_tag(t)
    {
        return None;
    }
    if let Some((d, rest)) = name.split_once('/')
        && is_domain(d)
        && is_remote_name(rest)
    {
        return Some(Split {
            domain: Some(d),
            path: rest,
            tag,
            digest,
        });
    }
    if is_remote_name(name) {
        return Some(Split {
            domain: None,
            path: name,
            tag,
            digest,
        });
    }
    None
}

/// Go's `reference.Parse`.
fn parse_any(s: &str) -> Result<Reference> {
    if s.is_empty() {
        return Err(Error::invalid(
            "repository name must have at least one component",
        ));
    }
    let Some(sp) = split(s) else {
        let lower = s.to_ascii_lowercase();
        if lower != s && split(&lower).is_some() {
            return Err(Error::invalid("repository name must be lowercase"));
        }
        return Err(Error::invalid(ERR_FORMAT));
    };
    if sp.path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(Error::invalid(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )));
    }
    let digest = sp.digest.map(parse_digest).transpose()?;
    Ok(Reference {
        domain: sp.domain.unwrap_or("").to_string(),
        path: sp.path.to_string(),
        tag: sp.tag.map(str::to_string),
        digest,
    })
}

/// Docker's `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, mut remote) = match name.split_once('/') {
        None => (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        ),
        Some((d, r)) => {
            // Order matters: index.docker.io also contains a '.'.
            if d == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN.to_string(), r.to_string())
            } else if d == "localhost" || d.contains(['.', ':']) || d.to_ascii_lowercase() != d {
                (d.to_string(), r.to_string())
            } else {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            }
        }
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

impl Reference {
    /// Parses and normalises as Docker does for image names given by users,
    /// adding `:latest` when neither tag nor digest is given
    /// (`ParseNormalizedNamed` + `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Self> {
        let mut r = Self::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// `ParseNormalizedNamed`: like [`Reference::parse`] without the default tag.
    pub fn parse_named(s: &str) -> Result<Self> {
        if is_hex64(s) {
            return Err(Error::invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote.to_ascii_lowercase() != remote {
            return Err(Error::invalid(format!(
                "{ERR_FORMAT}: repository name ({remote}) must be lowercase"
            )));
        }
        parse_any(&format!("{domain}/{remainder}"))
    }

    /// This reference with `tag` (the digest, if any, is kept).
    pub fn with_tag(&self, tag: &str) -> Result<Self> {
        if !is_tag(tag) {
            return Err(Error::invalid("invalid tag format"));
        }
        let mut r = self.clone();
        r.tag = Some(tag.to_string());
        Ok(r)
    }

    /// This reference without tag and digest.
    pub fn name_only(&self) -> Self {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// `TagNameOnly`: adds `:latest` to a bare name.
    pub fn tag_name_only(&self) -> Self {
        let mut r = self.clone();
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        r
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The name as users write it: `busybox`, `user/x`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX)
                && !rest.contains('/')
            {
                return rest.to_string();
            }
            return self.path.clone();
        }
        self.name()
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }

    /// `busybox:latest`, `localhost:5000/x:1`, `user/x@sha256:…`.
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        format!("{}{}", self.name(), self.suffix())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FF: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// distribution/reference's TestReferenceParse table, run through our
    /// equivalent of `Parse` (no normalisation).
    #[test]
    fn reference_parse_table() {
        struct Case {
            input: String,
            err: Option<&'static str>,
            repository: &'static str,
            domain: &'static str,
            tag: &'static str,
            digest: &'static str,
        }
        let ok = |input: &str,
                  repository: &'static str,
                  domain: &'static str,
                  tag: &'static str,
                  digest: &'static str| Case {
            input: input.to_string(),
            err: None,
            repository,
            domain,
            tag,
            digest,
        };
        let err = |input: &str, e: &'static str| Case {
            input: input.to_string(),
            err: Some(e),
            repository: "",
            domain: "",
            tag: "",
            digest: "",
        };
        let long_a = "a".repeat(255);
        let long_repo: &'static str = Box::leak(format!("example.com/{long_a}").into_boxed_str());
        let deep: &'static str = Box::leak(format!("{}a", "a/".repeat(127)).into_boxed_str());
        let cases = vec![
            ok("test_com", "test_com", "", "", ""),
            ok("test.com:tag", "test.com", "", "tag", ""),
            ok("test.com:5000", "test.com", "", "5000", ""),
            ok("test.com/repo:tag", "test.com/repo", "test.com", "tag", ""),
            ok("test:5000/repo", "test:5000/repo", "test:5000", "", ""),
            ok(
                "test:5000/repo:tag",
                "test:5000/repo",
                "test:5000",
                "tag",
                "",
            ),
            ok(
                &format!("test:5000/repo@{FF}"),
                "test:5000/repo",
                "test:5000",
                "",
                FF,
            ),
            ok(
                &format!("test:5000/repo:tag@{FF}"),
                "test:5000/repo",
                "test:5000",
                "tag",
                FF,
            ),
            err("", "repository name must have at least one component"),
            err(":justtag", ERR_FORMAT),
            err(&format!("@{FF}"), ERR_FORMAT),
            err(
                "repo@sha256:ffffffffffffffffffffffffffffffffff",
                "invalid checksum digest length",
            ),
            err(
                &format!("validname@invaliddigest:{}", "f".repeat(64)),
                "unsupported digest algorithm",
            ),
            err(
                &format!("validname@sha512:{}", "f".repeat(128)),
                "unsupported digest algorithm",
            ),
            err("Uppercase:tag", "repository name must be lowercase"),
            err(
                "test:5000/Uppercase/lowercase:tag",
                "repository name must be lowercase",
            ),
            ok("lowercase:Uppercase", "lowercase", "", "Uppercase", ""),
            err(
                &format!("domain/{}:tag", "a".repeat(256)),
                "repository name must not be more than 255 characters",
            ),
            ok(
                &format!("{deep}:tag-puts-this-over-max"),
                deep,
                "a",
                "tag-puts-this-over-max",
                "",
            ),
            err("aa/asdf$$^/aa", ERR_FORMAT),
            ok(
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com",
                "",
                "",
            ),
            ok(
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com",
                "some-long-tag",
                "",
            ),
            ok(
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io/test.example.com/my-app",
                "b.gcr.io",
                "test.example.com",
                "",
            ),
            ok(
                "xn--n3h.com/myimage:xn--n3h.com",
                "xn--n3h.com/myimage",
                "xn--n3h.com",
                "xn--n3h.com",
                "",
            ),
            ok(
                &format!("xn--7o8h.com/myimage:xn--7o8h.com@{FF}"),
                "xn--7o8h.com/myimage",
                "xn--7o8h.com",
                "xn--7o8h.com",
                FF,
            ),
            ok("foo_bar.com:8080", "foo_bar.com", "", "8080", ""),
            ok("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", ""),
            ok("192.168.1.1", "192.168.1.1", "", "", ""),
            ok("192.168.1.1:tag", "192.168.1.1", "", "tag", ""),
            ok("192.168.1.1:5000", "192.168.1.1", "", "5000", ""),
            ok(
                "192.168.1.1/repo",
                "192.168.1.1/repo",
                "192.168.1.1",
                "",
                "",
            ),
            ok(
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000",
                "",
                "",
            ),
            ok(
                "192.168.1.1:5000/repo:5050",
                "192.168.1.1:5000/repo",
                "192.168.1.1:5000",
                "5050",
                "",
            ),
            err("[2001:db8::1]", ERR_FORMAT),
            err("[2001:db8::1]:5000", ERR_FORMAT),
            err("[2001:db8::1]:tag", ERR_FORMAT),
            ok(
                "[2001:db8::1]/repo",
                "[2001:db8::1]/repo",
                "[2001:db8::1]",
                "",
                "",
            ),
            ok(
                "[2001:db8:1:2:3:4:5:6]/repo:tag",
                "[2001:db8:1:2:3:4:5:6]/repo",
                "[2001:db8:1:2:3:4:5:6]",
                "tag",
                "",
            ),
            ok(
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "",
                "",
            ),
            ok(
                "[2001:db8::1]:5000/repo:tag",
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "tag",
                "",
            ),
            ok(
                &format!("[2001:db8::1]:5000/repo@{FF}"),
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "",
                FF,
            ),
            ok(
                &format!("[2001:db8::1]:5000/repo:tag@{FF}"),
                "[2001:db8::1]:5000/repo",
                "[2001:db8::1]:5000",
                "tag",
                FF,
            ),
            ok(
                "[2001:db8::]:5000/repo",
                "[2001:db8::]:5000/repo",
                "[2001:db8::]:5000",
                "",
                "",
            ),
            ok("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", "", ""),
            err("[fe80::1%eth0]:5000/repo", ERR_FORMAT),
            err("[fe80::1%@invalidzone]:5000/repo", ERR_FORMAT),
            ok(
                &format!("example.com/{long_a}:tag"),
                long_repo,
                "example.com",
                "tag",
                "",
            ),
        ];
        for c in cases {
            let got = parse_any(&c.input);
            match (c.err, got) {
                (Some(want), Err(e)) => assert_eq!(e.to_string(), want, "{}", c.input),
                (Some(want), Ok(r)) => panic!("{}: parsed as {r:?}, want error {want}", c.input),
                (None, Err(e)) => panic!("{}: {e}", c.input),
                (None, Ok(r)) => {
                    assert_eq!(r.full(), c.input, "round trip");
                    assert_eq!(r.name(), c.repository, "{}", c.input);
                    assert_eq!(r.domain(), c.domain, "{}", c.input);
                    assert_eq!(r.tag().unwrap_or(""), c.tag, "{}", c.input);
                    assert_eq!(
                        r.digest().map(|d| d.to_string()).unwrap_or_default(),
                        c.digest,
                        "{}",
                        c.input
                    );
                }
            }
        }
    }

    /// TestValidateReferenceName and TestValidateRemoteName.
    #[test]
    fn normalized_name_validity() {
        let valid = [
            "docker/docker",
            "library/debian",
            "debian",
            "localhost/library/debian",
            "localhost/debian",
            "LOCALDOMAIN/library/debian",
            "LOCALDOMAIN/debian",
            "docker.io/docker/docker",
            "docker.io/library/debian",
            "docker.io/debian",
            "index.docker.io/docker/docker",
            "index.docker.io/library/debian",
            "index.docker.io/debian",
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "192.168.0.2:25000/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "Docker/docker",
            "DOCKER/docker",
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
        ];
        for n in valid {
            Reference::parse_named(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
        let long_ns = format!(
            "{}/docker",
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)
        );
        let invalid = [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            long_ns.as_str(),
        ];
        for n in invalid {
            assert!(Reference::parse_named(n).is_err(), "{n} should be invalid");
        }
    }

    /// TestParseRepositoryInfo: familiar, full, domain and path.
    #[test]
    fn repository_info() {
        let cases: &[(&str, &str, &str, &str, &[&str])] = &[
            // (remote name, familiar, full, domain, other spellings)
            ("fooo", "localhost/fooo", "localhost/fooo", "localhost", &[]),
            (
                "fooo/bar",
                "localhost/fooo/bar",
                "localhost/fooo/bar",
                "localhost",
                &[],
            ),
            (
                "fooo",
                "LOCALDOMAIN/fooo",
                "LOCALDOMAIN/fooo",
                "LOCALDOMAIN",
                &[],
            ),
            (
                "fooo/bar",
                "fooo/bar",
                "docker.io/fooo/bar",
                "docker.io",
                &["index.docker.io/fooo/bar"],
            ),
            (
                "library/ubuntu",
                "ubuntu",
                "docker.io/library/ubuntu",
                "docker.io",
                &["library/ubuntu"],
            ),
            (
                "nonlibrary/ubuntu",
                "nonlibrary/ubuntu",
                "docker.io/nonlibrary/ubuntu",
                "docker.io",
                &[],
            ),
            (
                "other/library",
                "other/library",
                "docker.io/other/library",
                "docker.io",
                &[],
            ),
            (
                "private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "127.0.0.1:8000",
                &[],
            ),
            (
                "privatebase",
                "example.com:8000/privatebase",
                "example.com:8000/privatebase",
                "example.com:8000",
                &[],
            ),
            (
                "library/ubuntu-12.04-base",
                "ubuntu-12.04-base",
                "docker.io/library/ubuntu-12.04-base",
                "docker.io",
                &["index.docker.io/library/ubuntu-12.04-base"],
            ),
            (
                "library/foo",
                "foo",
                "docker.io/library/foo",
                "docker.io",
                &["docker.io/foo"],
            ),
            (
                "library/foo/bar",
                "library/foo/bar",
                "docker.io/library/foo/bar",
                "docker.io",
                &[],
            ),
            (
                "store/foo/bar",
                "store/foo/bar",
                "docker.io/store/foo/bar",
                "docker.io",
                &[],
            ),
            ("bar", "Foo/bar", "Foo/bar", "Foo", &[]),
            ("bar", "FOO/bar", "FOO/bar", "FOO", &[]),
        ];
        for (remote, familiar, full, domain, others) in cases {
            for input in [*familiar, *full].iter().chain(others.iter()) {
                let r = Reference::parse_named(input).unwrap_or_else(|e| panic!("{input}: {e}"));
                assert_eq!(r.familiar_name(), *familiar, "{input}");
                assert_eq!(r.full(), *full, "{input}");
                assert_eq!(r.domain(), *domain, "{input}");
                assert_eq!(r.path(), *remote, "{input}");
            }
        }
    }

    #[test]
    fn docker_normalisation() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        let r = Reference::parse("user/x").unwrap();
        assert_eq!(r.full(), "docker.io/user/x:latest");
        assert_eq!(r.familiar(), "user/x:latest");
        let r = Reference::parse("localhost:5000/x:1").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("localhost:5000", "x", Some("1"))
        );
        assert_eq!(r.familiar(), "localhost:5000/x:1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("x@{d}")).unwrap();
        assert_eq!(r.tag(), None, "a digest reference gets no default tag");
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.familiar(), format!("x@{d}"));
        let r = Reference::parse(&format!("user/x:tag@{d}")).unwrap();
        assert_eq!(r.full(), format!("docker.io/user/x:tag@{d}"));
        assert_eq!(r.familiar(), format!("user/x:tag@{d}"));
        let named = Reference::parse_named("busybox").unwrap();
        assert_eq!(named.tag(), None);
        assert_eq!(named.full(), "docker.io/library/busybox");
        assert_eq!(named.with_tag("1.36").unwrap().familiar(), "busybox:1.36");
        assert!(named.with_tag("-bad").is_err());
        assert!(named.with_tag(&"t".repeat(129)).is_err());
        assert_eq!(
            "busybox".parse::<Reference>().unwrap(),
            Reference::parse("docker.io/library/busybox:latest").unwrap()
        );
        assert_eq!(
            Reference::parse(&format!("busybox:latest@{FF}"))
                .unwrap()
                .familiar(),
            format!("busybox:latest@{FF}")
        );
    }

    #[test]
    fn docker_error_messages() {
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        let e = Reference::parse("docker.io/User/x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (User/x) must be lowercase"
        );
        assert_eq!(
            Reference::parse("a b").unwrap_err().to_string(),
            "invalid reference format"
        );
        assert_eq!(
            Reference::parse("x:").unwrap_err().to_string(),
            "invalid reference format"
        );
        let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        assert_eq!(
            Reference::parse(hex).unwrap_err().to_string(),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
    }
}
