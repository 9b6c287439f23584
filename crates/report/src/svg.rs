//! Inline SVG charts: axes with readable ticks (linear or log), lines, markers and bands.
//!
//! Colours are CSS classes defined by the page's stylesheet, so every chart follows the light or
//! dark colour scheme. Coordinates are written with one decimal to keep large charts small.

use crate::fmt::{compact, esc};
use std::fmt::Write;

/// Left, right, top and bottom margins of the plotting area, px.
const MARGIN: (f64, f64, f64, f64) = (64.0, 20.0, 14.0, 42.0);

/// Maps data values onto pixels along one axis.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    px_lo: f64,
    px_hi: f64,
}

impl Scale {
    fn new(lo: f64, hi: f64, log: bool, px_lo: f64, px_hi: f64) -> Scale {
        let (lo, hi) = if log {
            (lo.max(1e-12).log10(), hi.max(lo.max(1e-12) * 10.0).log10())
        } else if hi > lo {
            (lo, hi)
        } else {
            (lo, lo + 1.0)
        };
        Scale {
            lo,
            hi,
            log,
            px_lo,
            px_hi,
        }
    }

    /// Pixel position of data value `v` (clamped to the axis).
    pub fn px(&self, v: f64) -> f64 {
        let v = if self.log { v.max(1e-12).log10() } else { v };
        let f = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.px_lo + f * (self.px_hi - self.px_lo)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (self.lo.floor() as i32, self.hi.ceil() as i32);
            let mults: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let mut out = Vec::new();
            for e in a..=b {
                for m in mults {
                    let v = m * 10f64.powi(e);
                    let l = v.log10();
                    if l >= self.lo - 1e-9 && l <= self.hi + 1e-9 {
                        out.push(v);
                    }
                }
            }
            out
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let mut v = (self.lo / step).ceil() * step;
            let mut out = Vec::new();
            while v <= self.hi + step * 1e-9 && out.len() < 20 {
                out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
                v += step;
            }
            out
        }
    }
}

/// 1, 2 or 5 × 10^k, the smallest at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// A linear axis range around data in `[min, max]` that lands on tick steps: from 0 when the
/// data start below half their maximum, else zoomed to the data (narrow distributions such as
/// ITL would otherwise be a vertical line).
pub fn nice_range(min: f64, max: f64) -> (f64, f64) {
    if !(min.is_finite() && max.is_finite()) || max <= 0.0 || min < 0.5 * max || max <= min {
        return (0.0, nice_max(max));
    }
    let step = nice_step((max - min) / 5.0);
    ((min / step).floor() * step, (max / step).ceil() * step)
}

/// Upper axis bound that leaves a little headroom above `max` and lands on a tick step.
pub fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let step = nice_step(max / 5.0);
    ((max * 1.05) / step).ceil() * step
}

/// Axis description for [`Plot::new`].
#[derive(Debug, Clone)]
pub struct Axis {
    /// Smallest value shown.
    pub lo: f64,
    /// Largest value shown.
    pub hi: f64,
    /// Logarithmic scale.
    pub log: bool,
    /// Axis title (with unit).
    pub label: String,
}

impl Axis {
    /// A linear axis.
    pub fn linear(lo: f64, hi: f64, label: &str) -> Axis {
        Axis {
            lo,
            hi,
            log: false,
            label: label.to_owned(),
        }
    }

    /// A logarithmic axis (values ≤ 0 are clamped to `lo`).
    pub fn log(lo: f64, hi: f64, label: &str) -> Axis {
        Axis {
            lo,
            hi,
            log: true,
            label: label.to_owned(),
        }
    }
}

/// One chart being drawn.
pub struct Plot {
    w: f64,
    h: f64,
    /// Horizontal scale.
    pub x: Scale,
    /// Vertical scale.
    pub y: Scale,
    body: String,
    title: String,
    /// Labelled vertical markers drawn so far (each label goes one row lower).
    marks: usize,
}

impl Plot {
    /// A `w`×`h` chart with axes, grid and tick labels. `title` is the accessible name.
    pub fn new(w: f64, h: f64, x: &Axis, y: &Axis, title: &str) -> Plot {
        let (ml, mr, mt, mb) = MARGIN;
        let xs = Scale::new(x.lo, x.hi, x.log, ml, w - mr);
        let ys = Scale::new(y.lo, y.hi, y.log, h - mb, mt);
        let mut p = Plot {
            w,
            h,
            x: xs,
            y: ys,
            body: String::new(),
            title: title.to_owned(),
            marks: 0,
        };
        let b = &mut p.body;
        for t in xs.ticks() {
            let px = xs.px(t);
            let _ = write!(
                b,
                r#"<line class="grid" x1="{px:.1}" x2="{px:.1}" y1="{mt:.1}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                h - mb,
                h - mb + 15.0,
                esc(&compact(t))
            );
        }
        for t in ys.ticks() {
            let py = ys.px(t);
            let _ = write!(
                b,
                r#"<line class="grid" x1="{ml:.1}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                w - mr,
                ml - 6.0,
                py + 4.0,
                esc(&compact(t))
            );
        }
        let _ = write!(
            b,
            r#"<rect class="frame" x="{ml:.1}" y="{mt:.1}" width="{:.1}" height="{:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            w - ml - mr,
            h - mt - mb,
            (ml + w - mr) / 2.0,
            h - 6.0,
            esc(&x.label),
            (mt + h - mb) / 2.0,
            esc(&y.label)
        );
        p
    }

    /// A polyline through data points, drawn with CSS class `class`.
    pub fn line(&mut self, pts: &[(f64, f64)], class: &str) {
        if pts.is_empty() {
            return;
        }
        let _ = write!(self.body, r#"<path class="{class}" d=""#);
        for (i, &(x, y)) in pts.iter().enumerate() {
            let _ = write!(
                self.body,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                self.x.px(x),
                self.y.px(y)
            );
        }
        self.body.push_str("\"/>");
    }

    /// A step line (value held until the next point), for bucketed series.
    pub fn steps(&mut self, pts: &[(f64, f64)], width: f64, class: &str) {
        let mut flat = Vec::with_capacity(pts.len() * 2);
        for &(x, y) in pts {
            flat.push((x, y));
            flat.push((x + width, y));
        }
        self.line(&flat, class);
    }

    /// A vertical marker at data `x`, labelled at the top.
    pub fn vline(&mut self, x: f64, class: &str, label: &str) {
        let px = self.x.px(x);
        let (_, _, mt, mb) = MARGIN;
        let _ = write!(
            self.body,
            r#"<line class="{class}" x1="{px:.1}" x2="{px:.1}" y1="{mt:.1}" y2="{:.1}"/>"#,
            self.h - mb
        );
        if !label.is_empty() {
            // Labels near the right edge go to the left of their line; each label takes its own
            // row so close markers (p90, p99) do not overprint each other.
            let left = px > self.w * 0.75;
            let _ = write!(
                self.body,
                r#"<text class="mark" x="{:.1}" y="{:.1}" text-anchor="{}">{}</text>"#,
                if left { px - 3.0 } else { px + 3.0 },
                mt + 11.0 + 13.0 * self.marks as f64,
                if left { "end" } else { "start" },
                esc(label)
            );
            self.marks += 1;
        }
    }

    /// A horizontal marker at data `y`, labelled at the right.
    pub fn hline(&mut self, y: f64, class: &str, label: &str) {
        let py = self.y.px(y);
        let (ml, mr, _, _) = MARGIN;
        let _ = write!(
            self.body,
            r#"<line class="{class}" x1="{ml:.1}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}"/>"#,
            self.w - mr
        );
        if !label.is_empty() {
            let _ = write!(
                self.body,
                r#"<text class="mark" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                self.w - mr - 3.0,
                py - 4.0,
                esc(label)
            );
        }
    }

    /// A shaded band between data `x0` and `x1` over the full height, with a hover title.
    pub fn xband(&mut self, x0: f64, x1: f64, class: &str, title: &str) {
        let (a, b) = (self.x.px(x0), self.x.px(x1));
        let (_, _, mt, mb) = MARGIN;
        let _ = write!(
            self.body,
            r#"<rect class="{class}" x="{a:.1}" y="{mt:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            (b - a).max(1.0),
            self.h - mt - mb,
            esc(title)
        );
    }

    /// A dot at data (`x`, `y`) with a hover title.
    pub fn dot(&mut self, x: f64, y: f64, class: &str, title: &str) {
        let _ = write!(
            self.body,
            r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="4"><title>{}</title></circle>"#,
            self.x.px(x),
            self.y.px(y),
            esc(title)
        );
    }

    /// Append raw SVG (already escaped) to the chart body.
    pub fn raw(&mut self, svg: &str) {
        self.body.push_str(svg);
    }

    /// The finished `<svg>` element; it scales to its container's width.
    pub fn finish(self) -> String {
        format!(
            r#"<svg class="chart" viewBox="0 0 {:.0} {:.0}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">{}</svg>"#,
            self.w,
            self.h,
            esc(&self.title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        let s = Scale::new(0.0, 9300.0, false, 0.0, 100.0);
        assert_eq!(s.ticks(), vec![0.0, 2000.0, 4000.0, 6000.0, 8000.0]);
        let l = Scale::new(10.0, 5000.0, true, 0.0, 100.0);
        assert_eq!(l.ticks(), vec![10.0, 100.0, 1000.0]);
        assert_eq!(nice_max(9300.0), 10000.0);
    }
}
