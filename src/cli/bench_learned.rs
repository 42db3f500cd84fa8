//! What `tessera bench` adds beside the heuristics' table: each scenario's reference (the
//! best heuristic on each seed in hindsight: a reference, not a bound) and, with `--models DIR`,
//! the learned policies (DIR/<scenario name>.mpk) on the same held-out seeds with common random
//! numbers, paired against the best heuristic, with what their training cost.

use std::fmt::Write as _;
use std::path::Path;
use tessera_engine::metrics::reward::REWARD;
use tessera_engine::metrics::stats::mean_ci;
use tessera_policies::learned::PolicyFile;

/// Index of the holding cost among the leaderboard figures.
pub const HOLDING: usize = 4;

/// Per seed, the figures of one (scenario, policy) cell.
pub type SeedRows = Vec<[f64; 6]>;

/// One learned policy evaluated on a scenario.
pub struct LearnedRow {
    pub scenario: usize,
    pub file: String,
    pub policy: PolicyFile,
    pub rows: SeedRows,
}

/// The first policy with the largest (or, `lowest`, smallest) mean of figure `k` over seeds:
/// the leaderboard's ★ rule.
fn best_policy(row: &[SeedRows], k: usize, lowest: bool) -> usize {
    let mean_of = |p: usize| row[p].iter().map(|r| r[k]).sum::<f64>() / row[p].len().max(1) as f64;
    let mut best = 0;
    for p in 1..row.len() {
        let (m, b) = (mean_of(p), mean_of(best));
        if (!lowest && m > b) || (lowest && m < b) || !b.is_finite() && m.is_finite() {
            best = p;
        }
    }
    best
}

/// The policy file for scenario `name` in `dir`, if there is one.
pub fn model_path(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    let p = dir.join(format!("{name}.mpk"));
    p.is_file().then_some(p)
}

fn mean_hw(xs: &[f64]) -> (f64, f64) {
    if xs.len() < 2 || !xs.iter().all(|x| x.is_finite()) {
        let m = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        return (m, f64::NAN);
    }
    mean_ci(xs, 0.95)
}

fn pm(m: f64, h: f64, digits: usize) -> String {
    if h.is_finite() { format!("{m:.digits$} ± {h:.digits$}") } else { format!("{m:.digits$} ± n/a") }
}

/// The hindsight reference of one scenario: mean over seeds of the best heuristic's reward on
/// that seed.
pub fn hindsight(cells: &[SeedRows]) -> (f64, f64) {
    let n = cells.first().map_or(0, |c| c.len());
    let per_seed: Vec<f64> = (0..n).map(|r| cells.iter().map(|c| c[r][REWARD]).filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max)).collect();
    mean_hw(&per_seed)
}

/// The markdown section on learned policies, and its CSV.
pub fn learned_section(names: &[String], policies: &[String], cells: &[Vec<SeedRows>], learned: &[LearnedRow]) -> (String, String) {
    let mut md = String::from("## Learned policies\n\n");
    md.push_str(
        "Each learned policy was trained on its scenario's training seeds (disjoint from these held-out seeds) and runs greedy here, on the same seeds as the heuristics (common random numbers). \
         The difference is paired per seed against the heuristic with the best mean reward (and, for holding cost, against the heuristic with the lowest mean holding cost); \
         it is significant when its 95% interval excludes zero. Reference: the mean over seeds of the best heuristic's reward on that seed, chosen in hindsight (no single policy reaches it; not a bound on what a policy could reach).\n\n",
    );
    md.push_str("| scenario | learned reward | best heuristic (reward) | learned − best, paired | hindsight reference | learned holding cost [USD/h] | lowest-holding heuristic | learned − it, paired [USD/h] | objective | training: wall [s], decisions, episodes, seed, warm start, candidates |\n");
    md.push_str("|---|---:|---|---:|---:|---:|---|---:|---|---|\n");
    let mut csv = String::from("scenario,policy_file,objective,learned_reward,learned_reward_ci95,best_heuristic,best_reward,diff_reward,diff_reward_ci95,hindsight_reward,learned_holding,lowest_holding_heuristic,diff_holding,diff_holding_ci95,train_wall_s,train_decisions,train_episodes,train_seed,warm_start,candidates\n");
    for l in learned {
        let s = l.scenario;
        let row = &cells[s];
        let mean_of = |p: usize, k: usize| row[p].iter().map(|r| r[k]).sum::<f64>() / row[p].len().max(1) as f64;
        let best = best_policy(row, REWARD, false);
        let low = best_policy(row, HOLDING, true);
        let mine: Vec<f64> = l.rows.iter().map(|r| r[REWARD]).collect();
        let (lr, lh) = mean_hw(&mine);
        let (br, bh) = mean_hw(&row[best].iter().map(|r| r[REWARD]).collect::<Vec<_>>());
        let d: Vec<f64> = l.rows.iter().zip(&row[best]).map(|(a, b)| a[REWARD] - b[REWARD]).collect();
        let (dm, dh) = mean_hw(&d);
        let (hm, hh) = hindsight(row);
        let (lhold, lholdh) = mean_hw(&l.rows.iter().map(|r| r[HOLDING]).collect::<Vec<_>>());
        let dhold: Vec<f64> = l.rows.iter().zip(&row[low]).map(|(a, b)| a[HOLDING] - b[HOLDING]).collect();
        let (dhm, dhh) = mean_hw(&dhold);
        let t = &l.policy.training;
        let _ = writeln!(
            md,
            "| {} | {} | {} {} | {} | {} | {} | {} {} | {} | {} | {:.0} s, {}, {}, {}, {}, {} |",
            names[s],
            pm(lr, lh, 4),
            policies[best],
            pm(br, bh, 4),
            pm(dm, dh, 4),
            pm(hm, hh, 4),
            pm(lhold, lholdh, 2),
            policies[low],
            pm(mean_of(low, HOLDING), f64::NAN, 2).replace(" ± n/a", ""),
            pm(dhm, dhh, 2),
            t.objective,
            t.wall_s,
            t.env_steps,
            t.episodes,
            t.seed,
            t.warm_start.as_deref().unwrap_or("none"),
            l.policy.net.candidates.name()
        );
        let _ = writeln!(
            csv,
            "{},{},{},{lr},{lh},{},{br},{dm},{dh},{hm},{lhold},{},{dhm},{dhh},{},{},{},{},{},{}",
            names[s],
            l.file,
            t.objective,
            policies[best],
            policies[low],
            t.wall_s,
            t.env_steps,
            t.episodes,
            t.seed,
            t.warm_start.as_deref().unwrap_or(""),
            l.policy.net.candidates.name()
        );
    }
    md.push('\n');
    (md, csv)
}

/// Each scenario's reference: the best heuristic per seed in hindsight, beside the best single
/// heuristic.
pub fn references_section(names: &[String], policies: &[String], cells: &[Vec<SeedRows>]) -> String {
    let mut md = String::from("## References\n\n");
    md.push_str("Per scenario, the hindsight reference: on each seed the best heuristic's reward, chosen after the fact, averaged over the seeds. It is what a policy that always picked the right heuristic for the day would reach: a clearly optimistic reference for the heuristics, not a bound on what any policy could reach (no fluid bound is claimed for the composite reward). Where the optimal policy is known it is named (cmu-two-class: c-mu, optimal among non-idling non-preemptive policies for holding cost).\n\n");
    md.push_str("| scenario | best heuristic (mean reward) | hindsight reference |\n|---|---|---:|\n");
    for (s, row) in cells.iter().enumerate() {
        let mean_of = |p: usize| row[p].iter().map(|r| r[REWARD]).sum::<f64>() / row[p].len().max(1) as f64;
        let best = best_policy(row, REWARD, false);
        let (h, hh) = hindsight(row);
        let _ = writeln!(md, "| {} | {} {:.4} | {} |", names[s], policies[best], mean_of(best), pm(h, hh, 4));
    }
    md.push('\n');
    md
}
