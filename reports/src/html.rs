//! Self-contained HTML reports: one file with the charts as inline SVG, the font embedded, no
//! script and no link to anything outside it; readable on a phone (the charts scale to the
//! screen) and printable. Each chart's plotted values ride along as JSON in its figure's
//! `data-values` attribute, and every chart is also written as SVG and PNG in `charts/` beside
//! the HTML. Nothing in a report depends on the time or the machine: same inputs, same bytes.

use crate::chart::{Chart, FONT_TTF};
use anyhow::{Context, Result};
use base64::Engine as _;
use std::fmt::Write as _;
use std::path::Path;

/// A piece of a report section.
pub enum Block {
    Chart(Chart),
    /// A table: headers, then rows of cells (text, escaped when written).
    Table { headers: Vec<String>, rows: Vec<Vec<String>> },
    /// A paragraph of text (escaped when written).
    Text(String),
}

/// A titled section.
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// A whole report.
pub struct Page {
    pub title: String,
    /// Lines under the title: what was run (scenario, seeds, replications).
    pub subtitle: Vec<String>,
    pub sections: Vec<Section>,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body{font-family:"Tessera Sans",sans-serif;margin:0 auto;max-width:900px;padding:12px 16px 40px;color:#222;line-height:1.45}
h1{font-size:1.5em;margin:.6em 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}
p.sub{margin:.1em 0;color:#555}
figure.chart{margin:1em 0;page-break-inside:avoid;break-inside:avoid}
figure.chart svg{width:100%;height:auto;display:block}
svg text{font-family:"Tessera Sans",sans-serif}
.table{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}
th,td{border-bottom:1px solid #e4e4e4;padding:3px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}
@media print{body{max-width:none;padding:0}h2{page-break-after:avoid}}
"#;

impl Page {
    /// The HTML text, with every chart rendered.
    pub fn html(&self) -> Result<(String, Vec<(String, crate::chart::Rendered)>)> {
        let mut rendered = Vec::new();
        let mut h = String::new();
        let font = base64::engine::general_purpose::STANDARD.encode(FONT_TTF);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>@font-face{{font-family:\"Tessera Sans\";src:url(data:font/ttf;base64,{font}) format(\"truetype\")}}{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for s in &self.subtitle {
            let _ = writeln!(h, "<p class=\"sub\">{}</p>", escape(s));
        }
        for sec in &self.sections {
            let _ = writeln!(h, "<section>\n<h2>{}</h2>", escape(&sec.heading));
            for b in &sec.blocks {
                match b {
                    Block::Text(t) => {
                        let _ = writeln!(h, "<p>{}</p>", escape(t));
                    }
                    Block::Table { headers, rows } => {
                        h.push_str("<div class=\"table\"><table>\n<tr>");
                        for c in headers {
                            let _ = write!(h, "<th>{}</th>", escape(c));
                        }
                        h.push_str("</tr>\n");
                        for r in rows {
                            h.push_str("<tr>");
                            for c in r {
                                let _ = write!(h, "<td>{}</td>", escape(c));
                            }
                            h.push_str("</tr>\n");
                        }
                        h.push_str("</table></div>\n");
                    }
                    Block::Chart(c) => {
                        let r = c.render().map_err(anyhow::Error::msg)?;
                        let data = serde_json::to_string(&c.plot)?;
                        let svg = r.svg.replacen("<svg ", &format!("<svg id=\"svg-{}\" role=\"img\" aria-label=\"{}\" ", c.id, escape(&c.title)), 1);
                        let _ = write!(h, "<figure class=\"chart\" id=\"chart-{}\" data-values=\"{}\">\n{}\n</figure>\n", c.id, escape(&data), svg.trim_end());
                        rendered.push((c.id.clone(), r));
                    }
                }
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        Ok((h, rendered))
    }

    /// Writes DIR/NAME (the HTML) and DIR/charts/<id>.svg and .png, after removing the charts
    /// of an earlier report there.
    pub fn write(&self, dir: &Path, name: &str) -> Result<()> {
        let (html, charts) = self.html()?;
        remove(dir, name);
        let cdir = dir.join("charts");
        std::fs::create_dir_all(&cdir).with_context(|| format!("cannot create {}", cdir.display()))?;
        for (id, r) in &charts {
            let svg = cdir.join(format!("{id}.svg"));
            std::fs::write(&svg, &r.svg).with_context(|| format!("cannot write {}", svg.display()))?;
            let png = cdir.join(format!("{id}.png"));
            std::fs::write(&png, &r.png).with_context(|| format!("cannot write {}", png.display()))?;
        }
        let path = dir.join(name);
        std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Removes DIR/NAME and the SVG and PNG files in DIR/charts/ (an earlier report's), leaving
/// anything else there alone.
pub fn remove(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
    if let Ok(entries) = std::fs::read_dir(dir.join("charts")) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "svg" || x == "png") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir.join("charts")); // only when empty
}

/// A number for a table cell: 4 significant digits, no exponent for everyday sizes.
pub fn cell(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1e4 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// "value ± half" for a table cell.
pub fn cell_ci(v: f64, half: f64) -> String {
    if half.is_finite() {
        format!("{} ± {}", cell(v), cell(half))
    } else {
        cell(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::{Bar, Plot};

    #[test]
    fn a_page_is_self_contained_and_carries_its_values() {
        let page = Page {
            title: "A <test> & report".into(),
            subtitle: vec!["seed 1".into()],
            sections: vec![Section {
                heading: "Pools".into(),
                blocks: vec![
                    Block::Chart(Chart { id: "util".into(), title: "Utilisation".into(), x_label: "share".into(), y_label: String::new(), plot: Plot::Bars { bars: vec![Bar { label: "crowd".into(), value: 0.75, half_width: Some(0.01) }] }, marker: None }),
                    Block::Table { headers: vec!["pool".into(), "wage".into()], rows: vec![vec!["crowd".into(), cell_ci(12.5, 0.25)]] },
                ],
            }],
        };
        let (html, charts) = page.html().unwrap();
        assert!(html.contains("<title>A &lt;test&gt; &amp; report</title>"));
        assert!(html.contains("data-values=\"{&quot;kind&quot;:&quot;bars&quot;,&quot;bars&quot;:[{&quot;label&quot;:&quot;crowd&quot;,&quot;value&quot;:0.75,&quot;half_width&quot;:0.01}]}\""));
        assert!(html.contains("<svg id=\"svg-util\""));
        assert!(html.contains("12.500 ± 0.2500"));
        assert!(!html.contains("http://") || html.matches("http://").all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\"")));
        assert!(!html.contains("<script"), "no script");
        assert!(!html.contains("src=\"http") && !html.contains("href="), "no link out");
        assert_eq!(charts.len(), 1);
        assert_eq!(page.html().unwrap().0, html, "same bytes");
    }
}
