//! The SVG charts, one file each: RPS per fixed-load cell over CPU per request
//! ([`rps`]), and p99 against offered rate from the capacity searches ([`capacity`]). Here
//! what they share: the servers' colours and the error of a failed drawing. Text is SVG
//! `<text>`, so no font is needed.

mod capacity;
mod rps;

use plotters::prelude::*;

use super::ReportError;

pub use self::capacity::render_capacity_svg;
pub use self::rps::render_svg;
#[cfg(test)]
pub use self::rps::{BOUND_LEGEND, CPU_CAPTION};

/// The first colours, one per server in column order: Okabe–Ito, readable by
/// colour-blind readers. Servers past them get derived hues ([`server_color`]).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x99, 0x99, 0x33),
];

/// The colour of the server in column `i`: the palette, then hues a golden angle apart,
/// so that a longer server list never runs out of colours nor repeats a neighbour's.
pub fn server_color(i: usize) -> RGBColor {
    if let Some(c) = PALETTE.get(i) {
        return *c;
    }
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let hue = (0.1 + GOLDEN * (i - PALETTE.len()) as f64).fract();
    let RGBAColor(r, g, b, _) = HSLColor(hue, 0.65, 0.42).to_rgba();
    RGBColor(r, g, b)
}

/// A drawing plotters could not make, as the report's error.
pub(super) fn chart_err(e: &dyn std::fmt::Display) -> ReportError {
    ReportError::Chart(e.to_string())
}
