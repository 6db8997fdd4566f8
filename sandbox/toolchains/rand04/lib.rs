//! The part of rand 0.4's interface that programs written against it call: `thread_rng()`,
//! `random::<T>()`, and the `Rng` trait's `gen`, `gen_range(low, high)` (two arguments, the
//! high end excluded), `gen_weighted_bool`, `choose`, `shuffle` and friends.
//!
//! Debian packages rand 0.8, whose `gen_range` takes a range instead; this crate stands in
//! for 0.4 so such programs compile unchanged. The generator is xorshift64*, seeded per
//! thread from /dev/urandom (the clock when that cannot be read): fine for tests that draw
//! random inputs, not for cryptography.

use std::cell::Cell;
use std::io::Read;

/// A source of random numbers; everything else is built on `next_u64`.
pub trait Rng {
    fn next_u64(&mut self) -> u64;

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, 1).
    fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A random value of any type that implements `Rand`.
    fn gen<T: Rand>(&mut self) -> T
    where
        Self: Sized,
    {
        T::rand(self)
    }

    /// An endless iterator of random values.
    fn gen_iter<T: Rand>(&mut self) -> Generator<'_, T, Self>
    where
        Self: Sized,
    {
        Generator { rng: self, _marker: std::marker::PhantomData }
    }

    /// Uniform in [low, high); panics when low >= high, as rand 0.4 does.
    fn gen_range<T: PartialOrd + SampleRange>(&mut self, low: T, high: T) -> T
    where
        Self: Sized,
    {
        assert!(low < high, "Rng.gen_range called with low >= high");
        T::sample_range(self, low, high)
    }

    /// True with probability 1/n.
    fn gen_weighted_bool(&mut self, n: u32) -> bool
    where
        Self: Sized,
    {
        n <= 1 || self.gen_range(0, n) == 0
    }

    /// An endless iterator of random ASCII letters and digits.
    fn gen_ascii_chars(&mut self) -> AsciiGenerator<'_, Self>
    where
        Self: Sized,
    {
        AsciiGenerator { rng: self }
    }

    fn choose<'a, T>(&mut self, values: &'a [T]) -> Option<&'a T>
    where
        Self: Sized,
    {
        if values.is_empty() {
            None
        } else {
            Some(&values[self.gen_range(0, values.len())])
        }
    }

    fn choose_mut<'a, T>(&mut self, values: &'a mut [T]) -> Option<&'a mut T>
    where
        Self: Sized,
    {
        if values.is_empty() {
            None
        } else {
            let index = self.gen_range(0, values.len());
            Some(&mut values[index])
        }
    }

    /// Fisher-Yates, in place.
    fn shuffle<T>(&mut self, values: &mut [T])
    where
        Self: Sized,
    {
        let mut i = values.len();
        while i >= 2 {
            let j = self.gen_range(0, i);
            i -= 1;
            values.swap(i, j);
        }
    }
}

/// Types a `Rng` can produce with `gen`.
pub trait Rand: Sized {
    fn rand<R: Rng>(rng: &mut R) -> Self;
}

/// Types `gen_range` can draw from.
pub trait SampleRange: Sized {
    fn sample_range<R: Rng>(rng: &mut R, low: Self, high: Self) -> Self;
}

pub mod distributions {
    pub mod range {
        pub use crate::SampleRange;
    }
}

/// Uniform in [0, n), n > 0, by rejection (no modulo bias).
fn below<R: Rng + ?Sized>(rng: &mut R, n: u128) -> u128 {
    let limit = (u128::MAX / n) * n;
    loop {
        let x = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
        if x < limit {
            return x % n;
        }
    }
}

macro_rules! integers {
    ($($t:ty => $u:ty),* $(,)?) => {$(
        impl Rand for $t {
            fn rand<R: Rng>(rng: &mut R) -> $t {
                (((rng.next_u64() as u128) << 64) | rng.next_u64() as u128) as $t
            }
        }
        impl SampleRange for $t {
            fn sample_range<R: Rng>(rng: &mut R, low: $t, high: $t) -> $t {
                let span = high.wrapping_sub(low) as $u as u128;
                low.wrapping_add(below(rng, span) as $u as $t)
            }
        }
    )*};
}

integers!(
    u8 => u8, u16 => u16, u32 => u32, u64 => u64, u128 => u128, usize => usize,
    i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128, isize => usize,
);

impl Rand for f64 {
    fn rand<R: Rng>(rng: &mut R) -> f64 {
        rng.next_f64()
    }
}

impl Rand for f32 {
    fn rand<R: Rng>(rng: &mut R) -> f32 {
        rng.next_f32()
    }
}

impl SampleRange for f64 {
    fn sample_range<R: Rng>(rng: &mut R, low: f64, high: f64) -> f64 {
        low + (high - low) * rng.next_f64()
    }
}

impl SampleRange for f32 {
    fn sample_range<R: Rng>(rng: &mut R, low: f32, high: f32) -> f32 {
        low + (high - low) * rng.next_f32()
    }
}

impl Rand for bool {
    fn rand<R: Rng>(rng: &mut R) -> bool {
        rng.next_u32() & 1 == 1
    }
}

impl Rand for char {
    /// Any Unicode scalar value, as rand 0.4 gives.
    fn rand<R: Rng>(rng: &mut R) -> char {
        loop {
            if let Some(c) = char::from_u32(rng.next_u32() & 0x1F_FFFF) {
                return c;
            }
        }
    }
}

impl<T: Rand> Rand for Option<T> {
    fn rand<R: Rng>(rng: &mut R) -> Option<T> {
        if rng.gen::<bool>() {
            Some(rng.gen())
        } else {
            None
        }
    }
}

impl Rand for () {
    fn rand<R: Rng>(_: &mut R) {}
}

macro_rules! tuples {
    ($(($($name:ident),+)),* $(,)?) => {$(
        impl<$($name: Rand),+> Rand for ($($name,)+) {
            fn rand<R: Rng>(rng: &mut R) -> Self {
                ($(rng.gen::<$name>(),)+)
            }
        }
    )*};
}

tuples!((A), (A, B), (A, B, C), (A, B, C, D), (A, B, C, D, E));

pub struct Generator<'a, T, R: 'a> {
    rng: &'a mut R,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<'a, T: Rand, R: Rng> Iterator for Generator<'a, T, R> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        Some(self.rng.gen())
    }
}

pub struct AsciiGenerator<'a, R: 'a> {
    rng: &'a mut R,
}

impl<'a, R: Rng> Iterator for AsciiGenerator<'a, R> {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        Some(CHARS[self.rng.gen_range(0, CHARS.len())] as char)
    }
}

/// xorshift64*: one word of state, never zero.
#[derive(Clone, Debug)]
pub struct XorShiftRng {
    state: u64,
}

impl XorShiftRng {
    pub fn new_unseeded() -> XorShiftRng {
        XorShiftRng { state: 0x9E37_79B9_7F4A_7C15 }
    }

    pub fn from_seed(seed: u64) -> XorShiftRng {
        XorShiftRng { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }
}

fn xorshift(state: u64) -> (u64, u64) {
    let mut x = state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    (x, x.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

impl Rng for XorShiftRng {
    fn next_u64(&mut self) -> u64 {
        let (state, out) = xorshift(self.state);
        self.state = state;
        out
    }
}

/// Also what rand 0.4 calls its default generator.
pub type StdRng = XorShiftRng;

fn fresh_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        if file.read_exact(&mut bytes).is_ok() {
            return u64::from_le_bytes(bytes) | 1;
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ (&bytes as *const _ as u64).rotate_left(32)) | 1
}

thread_local! {
    static THREAD_STATE: Cell<u64> = Cell::new(fresh_seed());
}

/// A handle on this thread's generator (seeded once per thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadRng;

impl Rng for ThreadRng {
    fn next_u64(&mut self) -> u64 {
        THREAD_STATE.with(|cell| {
            let (state, out) = xorshift(cell.get());
            cell.set(state);
            out
        })
    }
}

pub fn thread_rng() -> ThreadRng {
    ThreadRng
}

/// A generator of its own, seeded like the thread's.
pub fn weak_rng() -> XorShiftRng {
    XorShiftRng::from_seed(fresh_seed())
}

pub fn random<T: Rand>() -> T {
    thread_rng().gen()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_and_cover() {
        let mut rng = thread_rng();
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v: i32 = rng.gen_range(-2, 3);
            assert!((-2..3).contains(&v));
            seen[(v + 2) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        for _ in 0..1000 {
            let c: u8 = rng.gen_range(b'a', b'z' + 1);
            assert!(c.is_ascii_lowercase());
            let f = rng.gen_range(1.5f64, 2.5);
            assert!((1.5..2.5).contains(&f));
            assert!((0.0..1.0).contains(&rng.gen::<f64>()));
        }
        assert_eq!(rng.gen_range(i64::MIN, i64::MIN + 1), i64::MIN);
        let _ = rng.gen_range(i128::MIN, i128::MAX);
    }

    #[test]
    fn shuffle_keeps_the_elements() {
        let mut values: Vec<u32> = (0..50).collect();
        thread_rng().shuffle(&mut values);
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert!(thread_rng().choose::<u32>(&[]).is_none());
        let _: (u8, bool, char) = random();
    }
}
