//! Virtual time as a study tool relies on it: determinism, calibration to the reference's
//! measurements, and the stall behaviour of round-robin versus least-loaded routing.

mod common;

use common::{figures, Figures as Summary};
use infergate_sim::virtual_time::{run, VirtualLoad, VirtualRun};
use infergate_sim::{RouterKind, SimConfig, Stall};

fn trial(profile: &str, concurrency: u32, seed: u64) -> (VirtualRun, Summary) {
    let mut cfg = SimConfig::for_profile(profile).unwrap();
    cfg.seed = seed;
    let r = run(&cfg, &VirtualLoad::aicr(concurrency)).unwrap();
    let s = figures(&r.records, cfg.workers);
    (r, s)
}

#[test]
fn same_seed_gives_identical_records_and_another_seed_does_not() {
    let mut cfg = SimConfig::for_profile("h100x8")
        .unwrap()
        .with_gpus_free(2)
        .unwrap();
    cfg.seed = 42;
    cfg.router = RouterKind::Random;
    cfg.behaviours.faults.drop = 0.05;
    cfg.behaviours.faults.error_429 = 0.05;
    let load = VirtualLoad::aicr(64);
    let a = run(&cfg, &load).unwrap();
    let b = run(&cfg, &load).unwrap();
    assert_eq!(a.records, b.records);
    assert!(
        a.records.iter().any(|r| !r.is_success()),
        "faults show up in records"
    );
    cfg.seed = 43;
    let c = run(&cfg, &load).unwrap();
    assert_ne!(a.records, c.records);
}

/// A calibrated operating point: profile, concurrency, throughput band (tok/s) and TTFT p99
/// band (ms), from reference §4.2 / §6.
type Band = (&'static str, u32, (f64, f64), (f64, f64));

const BANDS: [Band; 4] = [
    ("h100x8", 2048, (108e3, 140e3), (500.0, 1000.0)),
    ("h100x8", 1024, (70e3, 140e3), (292.0, 533.0)),
    ("rtx-pro-6000x8", 2048, (59e3, 75e3), (400.0, 540.0)),
    ("gb200x4", 1024, (60e3, 72e3), (1000.0, 1400.0)),
];

#[test]
fn each_profile_lands_in_its_calibrated_band() {
    for (profile, c, (t_lo, t_hi), (p_lo, p_hi)) in BANDS {
        for seed in [1, 2] {
            let (_, s) = trial(profile, c, seed);
            assert!(
                (t_lo..=t_hi).contains(&s.throughput),
                "{profile}@{c} seed {seed}: {:.0} tok/s outside {t_lo}..{t_hi}",
                s.throughput
            );
            assert!(
                (p_lo..=p_hi).contains(&s.ttft_p99_ms),
                "{profile}@{c} seed {seed}: TTFT p99 {:.0} ms outside {p_lo}..{p_hi}",
                s.ttft_p99_ms
            );
            assert_eq!(s.failed, 0);
        }
    }
}

fn stalled(router: RouterKind) -> (VirtualRun, Summary) {
    let mut cfg = SimConfig::for_profile("h100x8").unwrap();
    cfg.seed = 5;
    cfg.router = router;
    cfg.behaviours.stall = Some(Stall {
        worker: 2,
        factor: 5.0,
        start_ns: 0,
        duration_ns: u64::MAX,
    });
    let r = run(&cfg, &VirtualLoad::aicr(2048)).unwrap();
    let s = figures(&r.records, cfg.workers);
    (r, s)
}

#[test]
fn round_robin_keeps_feeding_a_stalled_worker_and_least_loaded_starves_it() {
    let (rr, rr_s) = stalled(RouterKind::RoundRobin);
    let (ll, ll_s) = stalled(RouterKind::LeastLoaded);
    let share = |s: &Summary| s.served[2] as f64 / s.requests as f64;
    eprintln!(
        "round-robin: share {:.3}, peak running {} waiting {}, p99 {:.0} ms, {:.0} tok/s",
        share(&rr_s),
        rr.workers[2].peak_running,
        rr.workers[2].peak_waiting,
        rr_s.ttft_p99_ms,
        rr_s.throughput
    );
    eprintln!(
        "least-loaded: share {:.3}, peak running {} waiting {}, p99 {:.0} ms, {:.0} tok/s",
        share(&ll_s),
        ll.workers[2].peak_running,
        ll.workers[2].peak_waiting,
        ll_s.ttft_p99_ms,
        ll_s.throughput
    );
    // Round-robin: the stalled worker gets its full 1/8 share, its batch fills to
    // max_num_seqs with a queue behind it, and the tail explodes (reference §6.4 4.2: 9–45 s).
    assert!((share(&rr_s) - 0.125).abs() < 0.01);
    assert_eq!(rr.workers[2].peak_running, 1024);
    assert!(rr.workers[2].peak_waiting > 0);
    assert!((9_000.0..=45_000.0).contains(&rr_s.ttft_p99_ms));
    let others = rr.workers.iter().enumerate().filter(|(w, _)| *w != 2);
    assert!(others.clone().all(|(_, r)| r.peak_running < 1024));
    // Least-loaded: the stalled worker is starved of new work (it still takes its share of the
    // profile phase's opening burst, when every worker is equally idle), so the tail stays an
    // order of magnitude lower and throughput stays high.
    assert!(share(&ll_s) < 0.06, "share {}", share(&ll_s));
    assert!(ll.workers[2].peak_running < 1024 && ll.workers[2].peak_waiting == 0);
    assert!(ll_s.ttft_p99_ms < rr_s.ttft_p99_ms / 5.0);
    assert!(ll_s.throughput > 2.0 * rr_s.throughput);
}
