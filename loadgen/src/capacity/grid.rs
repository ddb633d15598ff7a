//! The search's rates: one grid of them, and the bracket the steps' verdicts make on it.

use crate::cli::CapacityOpts;

/// The index of the latest run at each rate, in rate order, from the rates in the order run.
/// A rate run again is the same grid rate, computed the same way, so equal rates are equal
/// floats.
pub(super) fn latest_by_rate(rates: &[f64]) -> Vec<usize> {
    let mut latest: Vec<usize> = Vec::new();
    for (i, rate) in rates.iter().enumerate() {
        match latest.iter_mut().find(|j| rates[**j] == *rate) {
            Some(seen) => *seen = i,
            None => latest.push(i),
        }
    }
    latest.sort_by(|a, b| rates[*a].total_cmp(&rates[*b]));
    latest
}

/// The search's rates: `--start-rate` x r^k for whole k, r about 1 + `--precision`, so that
/// two searches of one server try the same rates and, where their verdicts agree, report
/// the same figure.
pub(super) struct Grid {
    base: f64,
    factor: f64,
    /// Grid steps between one rising rate and the next (`--factor`).
    pub(super) factor_steps: i64,
}

impl Grid {
    /// The grid whose step is nearest `--precision` with a whole number of steps making
    /// `--factor`, so that rising rates are exact powers of the factor.
    pub(super) fn new(opts: &CapacityOpts) -> Self {
        let factor_steps = (opts.factor.ln() / opts.precision.ln_1p()).round().max(1.0) as i64;
        Self { base: opts.start_rate, factor: opts.factor, factor_steps }
    }

    /// Grid steps in `rate / base`, fractional.
    fn steps(&self, rate: f64) -> f64 {
        (rate / self.base).ln() / self.factor.ln() * self.factor_steps as f64
    }

    pub(super) fn rate(&self, k: i64) -> f64 {
        self.base * self.factor.powf(k as f64 / self.factor_steps as f64)
    }

    /// The grid index of a rate the search ran (a grid rate, so rounding only absorbs
    /// floating-point error).
    pub(super) fn index(&self, rate: f64) -> i64 {
        self.steps(rate).round() as i64
    }

    /// The highest grid index whose rate is at most `rate`.
    pub(super) fn at_or_below(&self, rate: f64) -> i64 {
        (self.steps(rate) + 1e-9).floor() as i64
    }
}

/// The bracket from the steps' (rate, passed) in the order run, as step indices, each rate
/// judged by its latest run: the highest passing rate under the lowest failing one (`lo`;
/// none when no rate under it passes) and that failing rate (`hi`; none when none failed).
pub(super) fn bracket(verdicts: &[(f64, bool)]) -> (Option<usize>, Option<usize>) {
    let rates: Vec<f64> = verdicts.iter().map(|(rate, _)| *rate).collect();
    let latest = latest_by_rate(&rates);
    let hi = latest.iter().position(|&i| !verdicts[i].1);
    let lo = match hi {
        Some(h) => h.checked_sub(1).map(|j| latest[j]),
        None => latest.last().copied(),
    };
    (lo, hi.map(|h| latest[h]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(precision: f64, factor: f64) -> Grid {
        /// `loadgen capacity`'s options alone.
        #[derive(clap::Parser)]
        struct Capacity {
            #[command(flatten)]
            opts: CapacityOpts,
        }
        let args =
            ["capacity", "--precision", &precision.to_string(), "--factor", &factor.to_string(), "http://127.0.0.1:1/"];
        Grid::new(&<Capacity as clap::Parser>::parse_from(args).opts)
    }

    #[test]
    fn rates_are_on_a_grid_from_the_start_rate_with_a_whole_number_of_steps_per_factor() {
        let g = grid(0.05, 2.0);
        assert_eq!(g.factor_steps, 14, "1.05^14 = 1.98 is the nearest to 2");
        assert!((g.rate(0) - 100.0).abs() < 1e-9);
        assert!((g.rate(14) - 200.0).abs() < 1e-9, "14 steps of 2^(1/14) make the factor exactly");
        assert!((g.rate(1) / 100.0 - 1.0507).abs() < 1e-4, "{}", g.rate(1));
        for k in [-3, 0, 1, 29, 140] {
            assert_eq!(g.index(g.rate(k)), k);
            assert_eq!(g.at_or_below(g.rate(k)), k, "a grid rate is its own floor");
            assert_eq!(g.at_or_below(g.rate(k) * 1.04), k);
        }
        assert_eq!(grid(0.05, 1.01).factor_steps, 1, "at least one grid step per rise");
        let default = grid(0.0905, 2.0);
        assert_eq!(default.factor_steps, 8, "the default grid: 8 steps per doubling");
        assert!((default.rate(16) - 400.0).abs() < 1e-9, "{}", default.rate(16));
    }

    #[test]
    fn the_bracket_takes_each_rate_by_its_latest_run() {
        let g = grid(0.05, 2.0);
        let r = |k: i64| g.rate(k);
        // Light, rises, bisection: 28 failed, 21 passed, 24 failed, 22 passed, 23 failed.
        let mut v = vec![(r(0), true), (r(14), true), (r(28), false), (r(21), true), (r(24), false)];
        v.extend([(r(22), true), (r(23), false)]);
        assert_eq!(bracket(&v), (Some(5), Some(6)));
        // 22 fails when confirmed: the bracket moves down to 21..22.
        v.push((r(22), false));
        assert_eq!(bracket(&v), (Some(3), Some(7)));
        // 22 passes a third time and 23 passes when confirmed: 24 is the lowest failing.
        v.extend([(r(22), true), (r(23), true)]);
        assert_eq!(bracket(&v), (Some(9), Some(4)));
        // Nothing failed yet: no hi, lo the highest rate.
        assert_eq!(bracket(&v[..2]), (Some(1), None));
        // The lowest rate failed when run again: no lo.
        assert_eq!(bracket(&[(r(0), true), (r(14), false), (r(0), false)]), (None, Some(2)));
    }
}
