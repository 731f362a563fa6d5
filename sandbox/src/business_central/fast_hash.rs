//! A fast non-cryptographic hasher for the schema's name lookups and the
//! store's indexes, which SipHash made a visible part of each request. It is
//! the Fx hash of rustc's `rustc-hash` crate (version 1): each 8-byte word is
//! folded in with a rotate, an xor and a multiply.
//!
//! NOTE: unlike SipHash, Fx is not keyed, so a client that sends many crafted
//! keys (document numbers, external document numbers) could make the index
//! buckets collide and slow the sandbox. That is acceptable for a local
//! stand-in that serves its own tests and benchmarks.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with `FxHasher`.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn fx_hash_separates_close_keys() {
        let build = BuildHasherDefault::<FxHasher>::default();
        let keys = ["", "a", "ab", "ab\0", "S-ORD101001", "S-ORD101002", "S-ORD101001 "];
        let hashes: Vec<u64> = keys.iter().map(|key| build.hash_one(key)).collect();
        for (position, hash) in hashes.iter().enumerate() {
            for (other, other_hash) in hashes.iter().enumerate().skip(position + 1) {
                assert_ne!(hash, other_hash, "{:?} and {:?} hash alike", keys[position], keys[other]);
            }
        }
    }

    #[test]
    fn fast_map_finds_inserted_keys() {
        let mut map: FastMap<String, usize> = FastMap::default();
        for index in 0..1000 {
            map.insert(format!("key-{index}"), index);
        }
        for index in 0..1000 {
            assert_eq!(map.get(&format!("key-{index}")), Some(&index));
        }
        assert_eq!(map.get("key-1000"), None);
    }
}
