//! `report.html`: the Markdown report as one self-contained page. Figures are inlined as
//! base64 `data:` URIs and links to local files become plain text, so the page can be
//! mailed or opened anywhere without the `figures/` folder.

use std::path::Path;

use base64::Engine as _;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

const CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f4f4f4; padding: 0.05em 0.3em; border-radius: 3px; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; }
pre code { background: none; padding: 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
blockquote { border-left: 4px solid #e0a000; margin-left: 0; padding-left: 1em; color: #555; }
";

/// MIME type of a figure, by extension.
fn mime(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "svg" => Some("image/svg+xml"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        _ => None,
    }
}

/// `data:` URI of the figure at `base/rel`.
fn data_uri(base: &Path, rel: &str) -> Result<String, String> {
    let path = base.join(rel);
    let mime = mime(&path).ok_or_else(|| format!("{rel}: not a PNG, SVG or JPEG figure"))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(format!("data:{mime};base64,{b64}"))
}

/// A link the page can follow on its own: an anchor in the page or a web address.
fn is_self_contained(url: &str) -> bool {
    url.starts_with('#')
        || url.starts_with("https://")
        || url.starts_with("http://")
        || url.starts_with("mailto:")
}

/// Renders `md` (whose image paths are relative to `base`) as a complete HTML page.
/// Returns the page and one warning per figure that could not be inlined (it is left out).
pub fn page(md: &str, base: &Path, title: &str) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    // For each open link: whether its start tag was kept (local file links are dropped,
    // their text stays).
    let mut links: Vec<bool> = Vec::new();
    let mut skip_image = 0usize;
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(md, opts).filter_map(|ev| match ev {
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            if skip_image > 0 {
                skip_image += 1;
                return None;
            }
            match data_uri(base, &dest_url) {
                Ok(uri) => Some(Event::Start(Tag::Image {
                    link_type,
                    dest_url: CowStr::from(uri),
                    title,
                    id,
                })),
                Err(msg) => {
                    warnings.push(format!("report.html: figure left out: {msg}"));
                    skip_image = 1;
                    None
                }
            }
        }
        Event::End(TagEnd::Image) if skip_image > 0 => {
            skip_image -= 1;
            None
        }
        // The alt text of a left-out image is dropped with it.
        _ if skip_image > 0 => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let keep = is_self_contained(&dest_url);
            links.push(keep);
            keep.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => links.pop().unwrap_or(true).then_some(ev),
        other => Some(other),
    });
    let mut body = String::new();
    html::push_html(&mut body, events);
    let title = html_escape(title);
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    );
    (page, warnings)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
