//! A keyed permutation of digit strings (format-preserving): a Feistel network over the
//! two halves of the number, each round adding a pseudorandom number modulo the half's
//! range. Each round can be undone, so distinct digit strings of one length stay
//! distinct: a unique phone column stays unique without any bookkeeping.

use crate::key::Prf;

const ROUNDS: u8 = 8;
/// Digits permuted together; longer strings are permuted in pieces of this size, which
/// keeps each half below 10^18 and is still a permutation of the whole.
const PIECE: usize = 36;

/// The digits (ASCII `0`-`9`) of `digits`, permuted under `prf` in `domain`.
pub(crate) fn permute_digits(prf: &Prf, domain: &str, digits: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(digits.len());
    for (index, piece) in digits.chunks(PIECE).enumerate() {
        out.extend(permute_piece(prf, domain, index as u64, piece));
    }
    out
}

fn permute_piece(prf: &Prf, domain: &str, index: u64, digits: &[u8]) -> Vec<u8> {
    let n = digits.len();
    let (u, v) = (n / 2, n - n / 2);
    let (mod_a, mod_b) = (10u128.pow(u as u32), 10u128.pow(v as u32));
    let mut a = to_number(&digits[..u]);
    let mut b = to_number(&digits[u..]);
    let tweak = [index.to_le_bytes(), (n as u64).to_le_bytes()].concat();
    for round in 0..ROUNDS {
        let (this, other, modulus) = if round % 2 == 0 {
            (&mut a, b, mod_a)
        } else {
            (&mut b, a, mod_b)
        };
        let f = prf.number(domain, "digits", &[&tweak, &[round], &other.to_le_bytes()]);
        *this = (*this + u128::from(f) % modulus) % modulus;
    }
    let mut out = to_digits(a, u);
    out.extend(to_digits(b, v));
    out
}

fn to_number(digits: &[u8]) -> u128 {
    digits
        .iter()
        .fold(0u128, |acc, d| acc * 10 + u128::from(d - b'0'))
}

fn to_digits(mut number: u128, width: usize) -> Vec<u8> {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (number % 10) as u8;
        number /= 10;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MaskKey;
    use std::collections::HashSet;

    #[test]
    fn every_four_digit_string_maps_to_a_different_one() {
        let prf = Prf::new(&MaskKey::from_bytes(&[7; 32]).unwrap());
        let outputs: HashSet<Vec<u8>> = (0..10_000)
            .map(|i| permute_digits(&prf, "phone", format!("{i:04}").as_bytes()))
            .collect();
        assert_eq!(outputs.len(), 10_000);
        let odd: HashSet<Vec<u8>> = (0..1000)
            .map(|i| permute_digits(&prf, "phone", format!("{i:03}").as_bytes()))
            .collect();
        assert_eq!(odd.len(), 1000, "odd lengths too");
    }
}
