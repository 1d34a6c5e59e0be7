//! Phone validity: `phonenumber::is_valid` against
//! [`hilos_server::domain::phone_validity::is_valid`], on one thread and on
//! two at once.
//!
//! ```text
//! cargo bench -p hilos-server --bench phone
//! ```
//!
//! Each case parses and validates the same 20 000 numbers (half Monterrey,
//! half Mexico City, as the load benchmark's numbers are once canonicalisation
//! has folded them), five times, and prints the median time per number and
//! the median wall-clock throughput; with two threads, each thread validates
//! the whole list.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use hilos_server::domain::phone_validity;
use phonenumber::PhoneNumber;

const NUMBERS: usize = 20_000;
const ROUNDS: usize = 5;

fn numbers() -> Vec<String> {
    (0..NUMBERS)
        .map(|i| match i % 2 {
            0 => format!("+5281{:04}{:04}", i / 10_000 + 1000, i % 10_000),
            _ => format!("+5255{:04}{:04}", i / 10_000 + 2000, i % 10_000),
        })
        .collect()
}

/// Parses and validates every number; returns how many were valid.
fn validate(numbers: &[String], is_valid: fn(&PhoneNumber) -> bool) -> usize {
    numbers
        .iter()
        .filter(|text| {
            let number = phonenumber::parse(None, black_box(text.as_str())).expect("parses");
            is_valid(&number)
        })
        .count()
}

/// Median wall-clock time of `threads` threads validating the list at once.
fn time(numbers: &[String], threads: usize, is_valid: fn(&PhoneNumber) -> bool) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            thread::scope(|scope| {
                let runs: Vec<_> = (0..threads)
                    .map(|_| scope.spawn(|| validate(numbers, is_valid)))
                    .collect();
                for run in runs {
                    assert_eq!(run.join().expect("no panic"), numbers.len());
                }
            });
            start.elapsed()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}

fn main() {
    let numbers = numbers();
    let library: fn(&PhoneNumber) -> bool = phonenumber::is_valid;
    let own: fn(&PhoneNumber) -> bool = phone_validity::is_valid;
    // Compile both sets of patterns before timing.
    validate(&numbers[..10], library);
    validate(&numbers[..10], own);

    println!("parse + validity, {NUMBERS} numbers, median of {ROUNDS} rounds");
    println!("| validity | threads | µs per number per thread | numbers/s |");
    println!("| --- | ---: | ---: | ---: |");
    for threads in [1, 2] {
        let mut per_number = Vec::new();
        for (name, check) in [
            ("phonenumber::is_valid", library),
            ("phone_validity::is_valid", own),
        ] {
            let wall = time(&numbers, threads, check);
            let micros = wall.as_secs_f64() * 1e6 / NUMBERS as f64;
            let rate = (threads * NUMBERS) as f64 / wall.as_secs_f64();
            println!("| {name} | {threads} | {micros:.2} | {rate:.0} |");
            per_number.push(micros);
        }
        println!(
            "| own ÷ library, {threads} thread(s) | | {:.2} | |",
            per_number[1] / per_number[0]
        );
    }
}
