//! Pictograms: five words (with emoji) derived from a device fingerprint, for a person to compare
//! what two screens show. 30 bits of the fingerprint select five of 64 words.

/// The 64 pictogram words and their emoji, indexed by a 6-bit value. Fixed forever: changing an entry
/// changes what every enrolled device shows.
pub const WORDS: [(&str, &str); 64] = [
    ("apple", "\u{1f34e}"),           // 0: 🍎
    ("banana", "\u{1f34c}"),          // 1: 🍌
    ("grapes", "\u{1f347}"),          // 2: 🍇
    ("orange", "\u{1f34a}"),          // 3: 🍊
    ("lemon", "\u{1f34b}"),           // 4: 🍋
    ("cherry", "\u{1f352}"),          // 5: 🍒
    ("strawberry", "\u{1f353}"),      // 6: 🍓
    ("kiwi", "\u{1f95d}"),            // 7: 🥝
    ("carrot", "\u{1f955}"),          // 8: 🥕
    ("corn", "\u{1f33d}"),            // 9: 🌽
    ("broccoli", "\u{1f966}"),        // 10: 🥦
    ("mushroom", "\u{1f344}"),        // 11: 🍄
    ("pepper", "\u{1f336}\u{fe0f}"),  // 12: 🌶️
    ("avocado", "\u{1f951}"),         // 13: 🥑
    ("onion", "\u{1f9c5}"),           // 14: 🧅
    ("peanut", "\u{1f95c}"),          // 15: 🥜
    ("pizza", "\u{1f355}"),           // 16: 🍕
    ("burger", "\u{1f354}"),          // 17: 🍔
    ("taco", "\u{1f32e}"),            // 18: 🌮
    ("donut", "\u{1f369}"),           // 19: 🍩
    ("cookie", "\u{1f36a}"),          // 20: 🍪
    ("cake", "\u{1f382}"),            // 21: 🎂
    ("cupcake", "\u{1f9c1}"),         // 22: 🧁
    ("popcorn", "\u{1f37f}"),         // 23: 🍿
    ("car", "\u{1f697}"),             // 24: 🚗
    ("taxi", "\u{1f695}"),            // 25: 🚕
    ("bus", "\u{1f68c}"),             // 26: 🚌
    ("rocket", "\u{1f680}"),          // 27: 🚀
    ("plane", "\u{2708}\u{fe0f}"),    // 28: ✈️
    ("helicopter", "\u{1f681}"),      // 29: 🚁
    ("sailboat", "\u{26f5}"),         // 30: ⛵
    ("bicycle", "\u{1f6b2}"),         // 31: 🚲
    ("dog", "\u{1f436}"),             // 32: 🐶
    ("cat", "\u{1f431}"),             // 33: 🐱
    ("fish", "\u{1f41f}"),            // 34: 🐟
    ("butterfly", "\u{1f98b}"),       // 35: 🦋
    ("bee", "\u{1f41d}"),             // 36: 🐝
    ("fox", "\u{1f98a}"),             // 37: 🦊
    ("lion", "\u{1f981}"),            // 38: 🦁
    ("elephant", "\u{1f418}"),        // 39: 🐘
    ("tree", "\u{1f333}"),            // 40: 🌳
    ("sunflower", "\u{1f33b}"),       // 41: 🌻
    ("cactus", "\u{1f335}"),          // 42: 🌵
    ("clover", "\u{1f340}"),          // 43: 🍀
    ("blossom", "\u{1f338}"),         // 44: 🌸
    ("rainbow", "\u{1f308}"),         // 45: 🌈
    ("star", "\u{2b50}"),             // 46: ⭐
    ("moon", "\u{1f319}"),            // 47: 🌙
    ("house", "\u{1f3e0}"),           // 48: 🏠
    ("mountain", "\u{26f0}\u{fe0f}"), // 49: ⛰️
    ("peak", "\u{1f3d4}\u{fe0f}"),    // 50: 🏔️
    ("volcano", "\u{1f30b}"),         // 51: 🌋
    ("island", "\u{1f3dd}\u{fe0f}"),  // 52: 🏝️
    ("moai", "\u{1f5ff}"),            // 53: 🗿
    ("tent", "\u{26fa}"),             // 54: ⛺
    ("castle", "\u{1f3f0}"),          // 55: 🏰
    ("key", "\u{1f511}"),             // 56: 🔑
    ("bell", "\u{1f514}"),            // 57: 🔔
    ("books", "\u{1f4da}"),           // 58: 📚
    ("guitar", "\u{1f3b8}"),          // 59: 🎸
    ("anchor", "\u{2693}"),           // 60: ⚓
    ("crown", "\u{1f451}"),           // 61: 👑
    ("diamond", "\u{1f48e}"),         // 62: 💎
    ("fire", "\u{1f525}"),            // 63: 🔥
];

/// The pictogram of a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pictogram {
    /// The five emoji, in order.
    pub emojis: [String; 5],
    /// The five words, in order.
    pub words: [&'static str; 5],
    /// The five words joined by single spaces.
    pub speakable: String,
}

/// The pictogram of `fingerprint` (32 bytes): the first four bytes as a big-endian `u32` `v`, and the
/// words at indices `(v >> 26) & 63`, `(v >> 20) & 63`, `(v >> 14) & 63`, `(v >> 8) & 63`, `(v >> 2) & 63`.
pub fn pictogram(fingerprint: &[u8; 32]) -> Pictogram {
    let v = u32::from_be_bytes([
        fingerprint[0],
        fingerprint[1],
        fingerprint[2],
        fingerprint[3],
    ]);
    let indices = [26, 20, 14, 8, 2].map(|shift| ((v >> shift) & 63) as usize);
    let words = indices.map(|index| WORDS[index].0);
    Pictogram {
        emojis: indices.map(|index| WORDS[index].1.to_owned()),
        words,
        speakable: words.join(" "),
    }
}

/// The pictogram of a fingerprint in its text form (64 lower-case hex digits).
pub fn pictogram_of_hex(fingerprint: &str) -> Result<Pictogram, crate::DeviceError> {
    crate::parse_fingerprint(fingerprint).map(|bytes| pictogram(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example() {
        let fingerprint = format!("a1b2c3d4{}", "0".repeat(56));
        let pictogram = pictogram_of_hex(&fingerprint).unwrap();
        assert_eq!(pictogram.speakable, "tree rocket mushroom orange moai");
        assert_eq!(
            pictogram.words,
            ["tree", "rocket", "mushroom", "orange", "moai"]
        );
        assert_eq!(
            pictogram.emojis.concat(),
            "\u{1f333}\u{1f680}\u{1f344}\u{1f34a}\u{1f5ff}"
        );
    }

    #[test]
    fn table_is_64_distinct_entries() {
        let mut words: Vec<&str> = WORDS.iter().map(|(word, _)| *word).collect();
        let mut emojis: Vec<&str> = WORDS.iter().map(|(_, emoji)| *emoji).collect();
        words.sort_unstable();
        words.dedup();
        emojis.sort_unstable();
        emojis.dedup();
        assert_eq!((words.len(), emojis.len()), (64, 64));
        assert!(
            WORDS
                .iter()
                .all(|(word, _)| word.bytes().all(|b| b.is_ascii_lowercase()))
        );
    }

    #[test]
    fn every_index_is_reachable_and_bits_are_the_documented_ones() {
        // All ones in the 30 used bits selects the last word five times; the 2 unused low bits of byte 3
        // and bytes 4.. change nothing.
        let mut fingerprint = [0u8; 32];
        fingerprint[..4].copy_from_slice(&0xffff_fffcu32.to_be_bytes());
        assert_eq!(
            pictogram(&fingerprint).speakable,
            "fire fire fire fire fire"
        );
        fingerprint[3] |= 0x03;
        fingerprint[4..].fill(0xff);
        assert_eq!(
            pictogram(&fingerprint).speakable,
            "fire fire fire fire fire"
        );
        assert_eq!(
            pictogram(&[0u8; 32]).speakable,
            "apple apple apple apple apple"
        );
    }
}
