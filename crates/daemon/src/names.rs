//! Container names: Docker's validation rule and its style of generated
//! names ("adjective_surname").

/// moby's `restrictedNamePattern`: `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

// Our own word lists (not moby's), in the same spirit: harmless adjectives
// and the names of people from the history of computing and mathematics.
const LEFT: &[&str] = &[
    "agile", "amazing", "bold", "brave", "bright", "busy", "calm", "careful", "charming", "clever",
    "cool", "curious", "daring", "dazzling", "eager", "elegant", "epic", "fervent", "fond",
    "friendly", "gallant", "gentle", "happy", "hopeful", "jolly", "keen", "kind", "lucid", "merry",
    "modest", "nimble", "noble", "patient", "peaceful", "plucky", "polite", "quiet", "quirky",
    "relaxed", "serene", "sharp", "steady", "sunny", "swift", "tender", "tidy", "upbeat",
    "vibrant", "vivid", "witty", "zealous",
];
const RIGHT: &[&str] = &[
    "allen",
    "babbage",
    "backus",
    "bell",
    "boole",
    "cantor",
    "cerf",
    "church",
    "codd",
    "conway",
    "dijkstra",
    "euclid",
    "euler",
    "fermat",
    "gauss",
    "hamming",
    "hilbert",
    "hopper",
    "huffman",
    "kahan",
    "karp",
    "knuth",
    "kowalski",
    "lamport",
    "leibniz",
    "liskov",
    "lovelace",
    "mccarthy",
    "minsky",
    "napier",
    "noether",
    "pascal",
    "perlman",
    "postel",
    "ramanujan",
    "ritchie",
    "shannon",
    "shamir",
    "stallman",
    "sutherland",
    "tarjan",
    "thompson",
    "torvalds",
    "turing",
    "vonneumann",
    "wirth",
    "yao",
];

pub fn random_name(attempt: u32) -> String {
    let l = LEFT[rand::random_range(0..LEFT.len())];
    let r = RIGHT[rand::random_range(0..RIGHT.len())];
    if attempt == 0 {
        format!("{l}_{r}")
    } else {
        format!("{l}_{r}{}", rand::random_range(0..10))
    }
}

/// A new container or anonymous volume id: 64 hex characters, like Docker's.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("web"));
        assert!(valid_name("a1_b.c-d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_web"));
        assert!(!valid_name("web/x"));
        assert!(!valid_name("we b"));
        for i in 0..50 {
            assert!(valid_name(&random_name(i % 3)));
        }
        let id = random_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
