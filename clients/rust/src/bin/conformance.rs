//! mopps-conformance in Rust: the request sequence of clients/python/mopps/conformance.py, printing
//! the same bytes (see clients/README.md).
//!
//!   mopps-conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N
//!   mopps-conformance --format-float32 < values      (one value per line: the float rule alone)
//!
//! Optional: --timeout-ms T, --server-key K (CURVE), --bench-select R (see conformance.py).
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mopps::{
    format_float32, Client, MoppsError, Options, PoolConfig, SelectOptions, Strategy, Trials,
};

fn code_of<T>(r: Result<T, MoppsError>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.code_name(),
    }
}

/// R timed Selects of `batch` from `prompts` client-given candidates: the median round trip in µs.
fn bench_select(
    client: &mut Client,
    pool: &str,
    seed: u64,
    prompts: u64,
    batch: u32,
    reps: usize,
) -> Result<f64, MoppsError> {
    client.create_pool(
        pool,
        &PoolConfig {
            seed: Some(seed),
            ..Default::default()
        },
    )?;
    let ids: Vec<u64> = (0..prompts).collect();
    let warm = (reps / 10).max(1);
    let mut times = Vec::with_capacity(reps + warm);
    for _ in 0..reps + warm {
        let start = Instant::now();
        client.select(
            pool,
            batch,
            &SelectOptions {
                candidates: &ids,
                ..Default::default()
            },
        )?;
        times.push(start.elapsed().as_nanos() as u64);
    }
    times[warm..].sort_unstable();
    Ok(times[warm + reps / 2] as f64 / 1000.0)
}

fn run(flags: &HashMap<String, String>) -> Result<String, MoppsError> {
    let number = |f: &str| -> u64 { flags.get(f).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let pool = flags["--pool"].as_str();
    let (seed, prompts, batch, steps) = (
        number("--seed"),
        number("--prompts"),
        number("--batch") as u32,
        number("--steps"),
    );
    let mut options = Options::new(&flags["--endpoint"]);
    if flags.contains_key("--timeout-ms") {
        options.timeout = Duration::from_millis(number("--timeout-ms"));
    }
    options.server_key = flags.get("--server-key").cloned();
    let mut client = Client::connect(options)?;
    if flags.contains_key("--bench-select") {
        let p50 = bench_select(
            &mut client,
            pool,
            seed,
            prompts,
            batch,
            number("--bench-select") as usize,
        )?;
        return Ok(format!("select p50 us: {:.1}\n", p50));
    }
    let config = PoolConfig {
        prior_alpha: Some(1.0),
        prior_beta: Some(1.0),
        decay: Some(0.5),
        strategy: Strategy::TopK,
        seed: Some(seed),
        ..Default::default()
    };
    client.create_pool(pool, &config)?;
    let ids: Vec<u64> = (0..prompts).collect();
    client.register(pool, &ids, None)?;
    let mut out = String::new();
    for t in 0..steps {
        let chosen = client.select(
            pool,
            batch,
            &SelectOptions {
                candidate_count: 8 * batch,
                ..Default::default()
            },
        )?;
        out += &format!("step {}:", t);
        for id in &chosen.ids {
            out += &format!(" {}", id);
        }
        out += "\n";
        let successes: Vec<f64> = chosen
            .ids
            .iter()
            .map(|&id| ((7 * id + t) % 9) as f64)
            .collect();
        let trials = vec![8u32; chosen.ids.len()];
        client.update(pool, &chosen.ids, &successes, Trials::PerId(&trials), None)?;
    }
    let shown = &ids[..ids.len().min(5)];
    let p = client.get(pool, shown)?;
    for i in 0..p.ids.len() {
        out += &format!(
            "posterior {}: {} {}\n",
            p.ids[i],
            format_float32(p.alpha[i] as f32),
            format_float32(p.beta[i] as f32)
        );
    }
    out += &format!(
        "invalid batch_size 0: {}\n",
        code_of(client.select(
            pool,
            0,
            &SelectOptions {
                candidate_count: 8,
                ..Default::default()
            }
        ))
    );
    out += &format!(
        "invalid successes 9 of 8: {}\n",
        code_of(client.update(pool, &[0], &[9.0], Trials::PerId(&[8]), None))
    );
    out += &format!(
        "invalid unknown pool: {}\n",
        code_of(client.get(&format!("{}-missing", pool), &[0]))
    );
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && args[1] == "--format-float32" {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let v: f32 = line.trim().parse().unwrap_or(f32::NAN);
            let _ = writeln!(out, "{}", format_float32(v));
        }
        return ExitCode::SUCCESS;
    }
    let flags: HashMap<String, String> = args[1..]
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    let required = [
        "--endpoint",
        "--pool",
        "--seed",
        "--prompts",
        "--batch",
        "--steps",
    ];
    let optional = ["--timeout-ms", "--server-key", "--bench-select"];
    if args.len() & 1 == 0
        || !required.iter().all(|f| flags.contains_key(*f))
        || !flags
            .keys()
            .all(|f| required.contains(&f.as_str()) || optional.contains(&f.as_str()))
    {
        eprintln!(
            "usage: {} --endpoint E --pool P --seed S --prompts K --batch B --steps N",
            args[0]
        );
        return ExitCode::from(64);
    }
    match run(&flags) {
        Ok(out) => {
            print!("{}", out);
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mopps-conformance: {}", e);
            ExitCode::from(1)
        }
    }
}
