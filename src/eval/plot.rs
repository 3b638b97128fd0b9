//! SVG plots of precision–recall curves (no plotting dependency: a few lines of SVG).

use super::metrics::PrPoint;

const W: f64 = 480.0;
const H: f64 = 360.0;
const M: f64 = 48.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG document with one polyline per named curve (recall on x, precision on y).
pub fn pr_curve_svg(title: &str, curves: &[(String, Vec<PrPoint>)]) -> String {
    let x = |r: f64| M + r.clamp(0.0, 1.0) * (W - 2.0 * M);
    let y = |p: f64| H - M - p.clamp(0.0, 1.0) * (H - 2.0 * M);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n\
         <line x1=\"{M}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{M}\" y1=\"{M}\" x2=\"{M}\" y2=\"{}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">recall</text>\n\
         <text x=\"14\" y=\"{}\" font-size=\"12\" transform=\"rotate(-90 14 {})\">precision</text>\n",
        W / 2.0,
        escape(title),
        H - M,
        W - M,
        H - M,
        H - M,
        W / 2.0,
        H - 12.0,
        H / 2.0,
        H / 2.0
    );
    for t in 0..=4 {
        let v = t as f64 / 4.0;
        s += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{v}</text>\n",
            x(v),
            H - M + 14.0,
            M - 4.0,
            y(v) + 3.0
        );
    }
    for (i, (name, pts)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.2},{:.2}", x(p.recall), y(p.precision)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>\n",
            points.join(" "),
            W - M - 120.0,
            M + 14.0 * (i as f64 + 1.0),
            escape(name)
        );
    }
    s + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_one_polyline_per_curve_and_maps_corners() {
        let pts = vec![
            PrPoint {
                radius: 0,
                precision: 1.0,
                recall: 0.0,
            },
            PrPoint {
                radius: 1,
                precision: 0.0,
                recall: 1.0,
            },
        ];
        let svg = pr_curve_svg("a<b", &[("x".into(), pts.clone()), ("y".into(), pts)]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a&lt;b"));
        // (recall 0, precision 1) is the top-left corner of the plot area.
        assert!(svg.contains(&format!("{:.2},{:.2} {:.2},{:.2}", M, M, W - M, H - M)));
    }
}
