//! SVG plots of an evaluation (plotters' SVG backend; text is left to the SVG viewer, so no
//! fonts are needed): parity plot with marginal histograms, absolute-error histogram,
//! per-group errors, confusion matrix.

use plotters::prelude::*;

/// A plot failed to draw (plotters' error, as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw plot '{plot}': {message}")]
pub struct PlotError {
    /// Which plot.
    pub plot: &'static str,
    /// plotters' message.
    pub message: String,
}

fn err<E: std::fmt::Display>(plot: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError { plot, message: e.to_string() }
}

const TRAIN_COLOR: RGBColor = RGBColor(150, 150, 150);
const TEST_COLOR: RGBColor = RGBColor(31, 119, 180);
const BAR_COLOR: RGBColor = RGBColor(255, 127, 14);

/// `bins` equal-width bins over `[lo, hi]`: `(left, right, count)`.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64, usize)> {
    let bins = bins.max(1);
    let w = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - lo) / w).floor().max(0.0) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts.into_iter().enumerate().map(|(i, c)| (lo + i as f64 * w, lo + (i + 1) as f64 * w, c)).collect()
}

fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    if m > 0.0 {
        m * 1.05
    } else {
        1.0
    }
}

/// Parity plot (predicted vs true Em) of train (grey) and test (blue) hops, with the
/// distributions of true and predicted test barriers as histograms above and to the right.
pub fn parity(train: &[(f64, f64)], test: &[(f64, f64)], title: &str) -> Result<String, PlotError> {
    let e = err("parity");
    let max = axis_max(train.iter().chain(test.iter()).flat_map(|&(a, b)| [a, b]));
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (760, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let (top, rest) = root.split_vertically(150);
        let (main, right) = rest.split_horizontally(610);
        let (top_hist, _) = top.split_horizontally(610);
        let bins = 30;
        let true_h = histogram(&test.iter().map(|p| p.0).collect::<Vec<_>>(), 0.0, max, bins);
        let pred_h = histogram(&test.iter().map(|p| p.1).collect::<Vec<_>>(), 0.0, max, bins);
        let hmax = true_h.iter().chain(pred_h.iter()).map(|b| b.2).max().unwrap_or(1).max(1) as f64;

        let mut c = ChartBuilder::on(&top_hist)
            .margin_left(10)
            .margin_right(10)
            .margin_top(10)
            .caption(title, ("sans-serif", 18))
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max, 0.0..hmax)
            .map_err(&e)?;
        c.configure_mesh().disable_mesh().x_labels(0).y_labels(3).y_desc("test hops").draw().map_err(&e)?;
        c.draw_series(true_h.iter().map(|&(a, b, n)| Rectangle::new([(a, 0.0), (b, n as f64)], TEST_COLOR.mix(0.6).filled()))).map_err(&e)?;

        let mut c = ChartBuilder::on(&right)
            .margin_top(10)
            .margin_right(10)
            .x_label_area_size(50)
            .build_cartesian_2d(0.0..hmax, 0.0..max)
            .map_err(&e)?;
        c.configure_mesh().disable_mesh().y_labels(0).x_labels(3).draw().map_err(&e)?;
        c.draw_series(pred_h.iter().map(|&(a, b, n)| Rectangle::new([(0.0, a), (n as f64, b)], TEST_COLOR.mix(0.6).filled()))).map_err(&e)?;

        let mut c = ChartBuilder::on(&main)
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max, 0.0..max)
            .map_err(&e)?;
        c.configure_mesh().x_desc("DFT Em (eV)").y_desc("predicted Em (eV)").draw().map_err(&e)?;
        c.draw_series(LineSeries::new(vec![(0.0, 0.0), (max, max)], BLACK.stroke_width(1))).map_err(&e)?;
        c.draw_series(train.iter().map(|&(x, y)| Circle::new((x, y), 2, TRAIN_COLOR.mix(0.7).filled())))
            .map_err(&e)?
            .label(format!("train ({})", train.len()))
            .legend(|(x, y)| Circle::new((x, y), 4, TRAIN_COLOR.filled()));
        c.draw_series(test.iter().map(|&(x, y)| Circle::new((x, y), 4, TEST_COLOR.filled())))
            .map_err(&e)?
            .label(format!("test ({})", test.len()))
            .legend(|(x, y)| Circle::new((x, y), 4, TEST_COLOR.filled()));
        c.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(buf)
}

/// Histogram of absolute errors (eV) of the test hops.
pub fn error_histogram(abs_errors: &[f64], title: &str) -> Result<String, PlotError> {
    let e = err("error histogram");
    let max = axis_max(abs_errors.iter().copied());
    let h = histogram(abs_errors, 0.0, max, 25);
    let ymax = h.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut c = ChartBuilder::on(&root)
            .margin(15)
            .caption(title, ("sans-serif", 18))
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..max, 0.0..ymax)
            .map_err(&e)?;
        c.configure_mesh().disable_x_mesh().x_desc("|predicted - DFT| (eV)").y_desc("test hops").draw().map_err(&e)?;
        c.draw_series(h.iter().map(|&(a, b, n)| Rectangle::new([(a, 0.0), (b, n as f64)], BAR_COLOR.mix(0.8).filled()))).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(buf)
}

/// Horizontal bars: test MAE per group, labelled `name (n)`.
pub fn group_errors(rows: &[(String, usize, f64)], title: &str) -> Result<String, PlotError> {
    let e = err("group errors");
    let n = rows.len().max(1);
    let max = axis_max(rows.iter().map(|r| r.2)) * 1.6;
    let height = (90 + 26 * n) as u32;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut c = ChartBuilder::on(&root)
            .margin(15)
            .caption(title, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(10)
            .build_cartesian_2d(0.0..max, -0.6..(n as f64 - 0.4))
            .map_err(&e)?;
        c.configure_mesh().disable_y_mesh().y_labels(0).x_desc("test MAE (eV)").draw().map_err(&e)?;
        let y = |i: usize| (n - 1 - i) as f64;
        c.draw_series(rows.iter().enumerate().map(|(i, r)| Rectangle::new([(0.0, y(i) - 0.38), (r.2, y(i) + 0.38)], BAR_COLOR.mix(0.8).filled()))).map_err(&e)?;
        c.draw_series(rows.iter().enumerate().map(|(i, r)| {
            Text::new(format!("{} (n={}) {:.3}", r.0, r.1, r.2), (r.2 + max * 0.01, y(i) + 0.2), ("sans-serif", 13).into_font())
        }))
        .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(buf)
}

/// 2x2 confusion matrix `[[tp, fn], [fp, tn]]` (rows true good/bad, columns predicted).
pub fn confusion(m: [[usize; 2]; 2], threshold: f64, title: &str) -> Result<String, PlotError> {
    let e = err("confusion matrix");
    let total = (m[0][0] + m[0][1] + m[1][0] + m[1][1]).max(1) as f64;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (520, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut c = ChartBuilder::on(&root)
            .margin(20)
            .caption(title, ("sans-serif", 18))
            .x_label_area_size(50)
            .y_label_area_size(20)
            .build_cartesian_2d(0.0..2.0, 0.0..2.0)
            .map_err(&e)?;
        c.configure_mesh().disable_mesh().x_labels(0).y_labels(0).x_desc(format!("predicted (threshold {threshold} eV)")).draw().map_err(&e)?;
        let names = ["good", "bad"];
        for (ti, row) in m.iter().enumerate() {
            for (pi, &count) in row.iter().enumerate() {
                let (x0, y0) = (pi as f64, 1.0 - ti as f64);
                let share = count as f64 / total;
                let color = if ti == pi { RGBColor(44, 160, 44) } else { RGBColor(214, 39, 40) };
                c.draw_series(std::iter::once(Rectangle::new([(x0, y0), (x0 + 1.0, y0 + 1.0)], color.mix(0.15 + 0.75 * share).filled()))).map_err(&e)?;
                c.draw_series(std::iter::once(Rectangle::new([(x0, y0), (x0 + 1.0, y0 + 1.0)], BLACK.stroke_width(1)))).map_err(&e)?;
                let label = format!("true {} / pred {}: {count}", names[ti], names[pi]);
                c.draw_series(std::iter::once(Text::new(label, (x0 + 0.08, y0 + 0.52), ("sans-serif", 15).into_font()))).map_err(&e)?;
            }
        }
        root.present().map_err(&e)?;
    }
    Ok(buf)
}
