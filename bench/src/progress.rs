//! The progress line as each cell starts: "-> [7/40] CELL: WHAT (about 6 min left)". The
//! time left is each phase's cells to go times its mean cell so far; before a phase's
//! first cell, a table cell's warm-up and window plus a second, and a search of
//! [`SEARCH_STEPS_GUESS`] steps with their settling.

use std::time::Duration;

use crate::plan::{Cell, Kind, Settings};

/// Steps a search is guessed to take before one has run.
const SEARCH_STEPS_GUESS: f64 = 12.0;
/// What a search step costs beyond its warm-up and window (the settling between steps).
const STEP_OVERHEAD_S: f64 = 0.3;

/// Counts and timings of the cells so far.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    announced: usize,
    per_kind: [PhaseClock; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct PhaseClock {
    cells: usize,
    seen: usize,
    timed_s: f64,
    timed: usize,
    guess_s: f64,
}

impl PhaseClock {
    fn per_cell(&self) -> f64 {
        if self.timed > 0 { self.timed_s / self.timed as f64 } else { self.guess_s }
    }
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::Table => 0,
        Kind::Capacity => 1,
    }
}

impl Progress {
    /// For the run of `settings`, whose cells are `cells`.
    pub fn new(settings: &Settings, cells: &[Cell]) -> Self {
        let count = |k| cells.iter().filter(|c| c.kind == k).count();
        let table_guess = f64::from(settings.warmup_s + settings.duration_s + 1);
        let search_guess =
            settings.capacity.map_or(0.0, |c| SEARCH_STEPS_GUESS * (c.warmup_s + c.window_s + STEP_OVERHEAD_S));
        Self {
            total: cells.len(),
            announced: 0,
            per_kind: [
                PhaseClock { cells: count(Kind::Table), guess_s: table_guess, ..PhaseClock::default() },
                PhaseClock { cells: count(Kind::Capacity), guess_s: search_guess, ..PhaseClock::default() },
            ],
        }
    }

    /// The line for `cell` as it starts (a skipped one too): the time left counts it.
    pub fn announce(&mut self, cell: &Cell, what: &str) -> String {
        self.announced += 1;
        self.per_kind[index(cell.kind)].seen += 1;
        let left: f64 =
            self.per_kind.iter().map(|p| (p.cells + 1).saturating_sub(p.seen).min(p.cells) as f64 * p.per_cell()).sum();
        // Of the phase under way, this cell is still to do; of a phase not begun, all.
        format!("-> [{}/{}] {}: {what} (about {} left)", self.announced, self.total, cell.name, human(left))
    }

    /// A measured cell took `took`.
    pub fn done(&mut self, cell: &Cell, took: Duration) {
        let p = &mut self.per_kind[index(cell.kind)];
        p.timed_s += took.as_secs_f64();
        p.timed += 1;
    }
}

/// "6 min" from 90 s on, else "40 s".
fn human(s: f64) -> String {
    if s >= 90.0 { format!("{:.0} min", s / 60.0) } else { format!("{s:.0} s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_shown_in_seconds_then_minutes() {
        assert_eq!(human(40.4), "40 s");
        assert_eq!(human(89.0), "89 s");
        assert_eq!(human(360.0), "6 min");
    }
}
