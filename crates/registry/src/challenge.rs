//! `WWW-Authenticate` parsing (RFC 7235 §4.1, §2.1).
//!
//! ```text
//! WWW-Authenticate = 1#challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! ```
//!
//! One header may carry several challenges separated by commas, which are
//! also the separators between parameters; a new challenge starts where a
//! token is not followed by `=`. Quoted strings may contain commas, `=` and
//! backslash escapes. Scheme and parameter names are case-insensitive and
//! kept lower-case, as docker/distribution's `challenge.ResponseChallenges`
//! does.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-case: `basic`, `bearer`.
    pub scheme: String,
    /// Lower-case names; values unquoted and unescaped.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// All challenges of all `WWW-Authenticate` headers of a response.
pub fn from_headers(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse)
        .collect()
}

/// `tchar` of RFC 7230 §3.2.6.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Whitespace and empty list elements (`#rule` allows `, ,`).
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        // tchar is ASCII, so this slice is valid UTF-8.
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default()
    }

    /// A quoted-string after its opening quote; an unterminated one runs to
    /// the end of the header (lenient, like Go's parser).
    fn quoted(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// At a token68 (`abc+/==`) that fills the rest of this challenge?
    fn at_token68(&self) -> Option<usize> {
        let mut j = self.i;
        while self.s.get(j).copied().is_some_and(is_token68_char) {
            j += 1;
        }
        if j == self.i {
            return None;
        }
        while self.s.get(j) == Some(&b'=') {
            j += 1;
        }
        let end = j;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        match self.s.get(j) {
            None | Some(b',') => Some(end),
            _ => None,
        }
    }
}

/// Parses one header value. Malformed parts are skipped rather than failing
/// the whole header: a registry's odd challenge should not hide a good one.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut c = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        c.skip_ws_commas();
        if c.peek().is_none() {
            break;
        }
        let scheme = c.token().to_ascii_lowercase();
        if scheme.is_empty() {
            // Not a token: skip one byte and resynchronise.
            c.i += 1;
            continue;
        }
        let mut ch = Challenge {
            scheme,
            params: BTreeMap::new(),
        };
        c.skip_ws();
        if let Some(end) = c.at_token68() {
            // `Negotiate abc==`: no parameters; the value is not used.
            c.i = end;
            out.push(ch);
            continue;
        }
        // auth-params until a token that is not followed by "=".
        loop {
            let save = c.i;
            c.skip_ws_commas();
            let name = c.token().to_ascii_lowercase();
            c.skip_ws();
            if name.is_empty() || c.peek() != Some(b'=') {
                c.i = save;
                break;
            }
            c.i += 1; // '='
            c.skip_ws();
            let value = if c.peek() == Some(b'"') {
                c.i += 1;
                c.quoted()
            } else {
                c.token().to_string()
            };
            // RFC 7235: each parameter name appears once; keep the first.
            ch.params.entry(name).or_insert(value);
            c.skip_ws();
            match c.peek() {
                Some(b',') | None => {}
                // Garbage after a value: drop the rest of this challenge.
                Some(_) => {
                    while c.peek().is_some_and(|b| b != b',') {
                        c.i += 1;
                    }
                }
            }
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, Vec<(String, String)>)> {
        parse(s)
            .into_iter()
            .map(|c| {
                (
                    c.scheme,
                    c.params.into_iter().collect::<Vec<(String, String)>>(),
                )
            })
            .collect()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn docker_hub_bearer() {
        let got = p(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            got,
            vec![(
                "bearer".to_string(),
                kv(&[
                    ("realm", "https://auth.docker.io/token"),
                    ("scope", "repository:library/busybox:pull"),
                    ("service", "registry.docker.io"),
                ])
            )]
        );
    }

    #[test]
    fn basic_and_case() {
        assert_eq!(
            p(r#"Basic realm="basic-realm""#),
            vec![("basic".to_string(), kv(&[("realm", "basic-realm")]))]
        );
        assert_eq!(
            p(r#"BASIC Realm=x"#),
            vec![("basic".to_string(), kv(&[("realm", "x")]))]
        );
        assert_eq!(p("Basic"), vec![("basic".to_string(), vec![])]);
    }

    #[test]
    fn commas_and_escapes_inside_quotes() {
        let got = p(
            r#"Bearer realm="https://a/token",scope="repository:a:pull,push repository:b:pull",error_description="say \"hi\", then \\ go""#,
        );
        assert_eq!(
            got,
            vec![(
                "bearer".to_string(),
                kv(&[
                    ("error_description", r#"say "hi", then \ go"#),
                    ("realm", "https://a/token"),
                    ("scope", "repository:a:pull,push repository:b:pull"),
                ])
            )]
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let got =
            p(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#);
        assert_eq!(
            got,
            vec![
                (
                    "newauth".to_string(),
                    kv(&[
                        ("realm", "apps"),
                        ("title", r#"Login to "apps""#),
                        ("type", "1")
                    ])
                ),
                ("basic".to_string(), kv(&[("realm", "simple")])),
            ]
        );
    }

    #[test]
    fn whitespace_token68_and_junk() {
        assert_eq!(
            p(r#"  Bearer   realm = "r" ,  service = s ,, "#),
            vec![(
                "bearer".to_string(),
                kv(&[("realm", "r"), ("service", "s")])
            )]
        );
        assert_eq!(
            p("Negotiate abc+/==, Basic realm=x"),
            vec![
                ("negotiate".to_string(), vec![]),
                ("basic".to_string(), kv(&[("realm", "x")])),
            ]
        );
        assert_eq!(p(""), vec![]);
        assert_eq!(p(" , ,"), vec![]);
        // An unterminated quote runs to the end.
        assert_eq!(
            p(r#"Bearer realm="abc"#),
            vec![("bearer".to_string(), kv(&[("realm", "abc")]))]
        );
        // Garbage after a value is dropped up to the next comma.
        assert_eq!(
            p(r#"Bearer realm="a" junk, service="s""#),
            vec![(
                "bearer".to_string(),
                kv(&[("realm", "a"), ("service", "s")])
            )]
        );
        // Duplicate parameter: the first wins.
        assert_eq!(
            p(r#"Bearer realm="a",realm="b""#),
            vec![("bearer".to_string(), kv(&[("realm", "a")]))]
        );
    }

    #[test]
    fn several_headers() {
        let mut h = HeaderMap::new();
        h.append(WWW_AUTHENTICATE, "Basic realm=\"a\"".parse().unwrap());
        h.append(
            WWW_AUTHENTICATE,
            "Bearer realm=\"b\",service=\"c\"".parse().unwrap(),
        );
        let got = from_headers(&h);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].scheme, "basic");
        assert_eq!(got[1].param("service"), Some("c"));
    }
}
