//! Container ids (64 hex digits from the kernel's random source) and Docker-style
//! `adjective_surname` names.

use std::io::Read;

/// Whether `s` has the form of a full id: 64 lowercase hex digits.
pub fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// A new 64-hex-digit id whose first 12 digits are not all numeric (Docker avoids those,
/// since a short id must not parse as a number).
pub fn new_id() -> String {
    loop {
        let mut b = [0u8; 32];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut b);
        }
        let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
        if !id[..12].bytes().all(|c| c.is_ascii_digit()) {
            return id;
        }
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring", "adoring", "affectionate", "amazing", "awesome", "blissful", "bold", "brave", "busy", "charming",
    "clever", "compassionate", "competent", "condescending", "confident", "cool", "cranky", "dazzling", "determined",
    "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "epic", "exciting", "festive",
    "focused", "friendly", "funny", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "hungry",
    "infallible", "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
    "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective",
    "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed",
    "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "sweet", "tender", "thirsty",
    "trusting", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful",
    "zealous", "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "bhabha",
    "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar",
    "clarke", "curie", "darwin", "davinci", "dijkstra", "easley", "einstein", "elion", "engelbart", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton",
    "hawking", "heisenberg", "hermann", "hertz", "hodgkin", "hopper", "hypatia", "jackson", "jennings", "johnson",
    "kalam", "keller", "kepler", "khorana", "knuth", "kowalevski", "lamarr", "lamport", "leakey", "lovelace",
    "lumiere", "mayer", "mccarthy", "mclean", "meitner", "mendel", "mirzakhani", "montalcini", "moore", "morse",
    "napier", "newton", "nobel", "noether", "panini", "pascal", "pasteur", "payne", "perlman", "pike", "poincare",
    "ramanujan", "ritchie", "rosalind", "saha", "sammet", "shannon", "shockley", "sinoussi", "stonebraker", "swanson",
    "tesla", "thompson", "torvalds", "turing", "varahamihira", "villani", "wescoff", "wiles", "williams", "wilson",
    "wing", "wozniak", "wright", "yalow", "yonath",
];

/// A random `adjective_surname`, with a digit appended on `retry` as Docker does.
pub fn random_name(retry: u32) -> String {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let r = u32::from_le_bytes(b) as usize;
    let name = format!("{}_{}", ADJECTIVES[r % ADJECTIVES.len()], SURNAMES[(r / ADJECTIVES.len()) % SURNAMES.len()]);
    if retry > 0 {
        format!("{name}{}", (r >> 16) % 10)
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = super::new_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, super::new_id());
        assert!(super::random_name(0).contains('_'));
    }
}
