//! Calibration table of the built-in profiles in virtual time: for each profile and operating
//! point, many seeds of AICR's closed-loop 128/128 run; prints throughput and TTFT p99 ranges
//! and the CPU time per trial. Used to fill docs/sim.md.
//!
//! `cargo run --release -p infergate-sim --example calibrate -- [trials] [profile...]`

use infergate_sim::virtual_time::{run, VirtualLoad};
use infergate_sim::{Profile, SimConfig};
use infergate_stats::{Summary, SummaryOptions};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let trials: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let wanted: Vec<String> = args.collect();
    println!("| profile | concurrency | trials | tok/s min–median–max | TTFT p99 ms min–median–max | TTFT p50 ms median | CPU ms/trial |");
    println!("|---|---|---|---|---|---|---|");
    for p in Profile::all() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == p.name) {
            continue;
        }
        for per_gpu in [128u32, 256] {
            let c = per_gpu * p.gpus;
            let mut tput = Vec::new();
            let mut p99 = Vec::new();
            let mut p50 = Vec::new();
            let t0 = Instant::now();
            for seed in 0..trials {
                let mut cfg = SimConfig::new(p.clone());
                cfg.seed = seed;
                let r = run(&cfg, &VirtualLoad::aicr(c)).expect("valid");
                let opts = SummaryOptions {
                    confidence: None,
                    ..SummaryOptions::default()
                };
                let s = Summary::from_records(&r.records, &opts);
                let ttft = s.time_to_first_token.expect("successful requests");
                tput.push(s.output_token_throughput.unwrap_or(0.0));
                p99.push(ttft.p99);
                p50.push(ttft.p50);
            }
            let cpu = t0.elapsed().as_secs_f64() * 1e3 / trials as f64;
            let mmm = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[0], v[v.len() / 2], v[v.len() - 1])
            };
            let (t_lo, t_md, t_hi) = mmm(&mut tput);
            let (p_lo, p_md, p_hi) = mmm(&mut p99);
            let (_, m50, _) = mmm(&mut p50);
            println!(
                "| {} | {c} | {trials} | {:.0}k – {:.0}k – {:.0}k | {p_lo:.0} – {p_md:.0} – {p_hi:.0} | {m50:.0} | {cpu:.0} |",
                p.name,
                t_lo / 1e3,
                t_md / 1e3,
                t_hi / 1e3
            );
        }
    }
}
