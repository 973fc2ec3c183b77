//! PEP 503 project pages in HTML, as PyPI, devpi, Artifactory, Nexus, bandersnatch and plain
//! file servers write them: every `<a href=…>` is a file, with `data-requires-python`,
//! `data-yanked` and a `#sha256=` fragment as PEP 503 and PEP 592 describe.
//!
//! The reader is a small tolerant tokenizer, not an HTML parser: it finds start tags, reads
//! their attributes (quoted, unquoted or bare) and the text of anchors, honours `<base href>`,
//! skips comments, scripts and styles, and ignores every other kind of markup.

use std::collections::BTreeSet;

use url::Url;

use super::{DistFile, listing};

/// The files an HTML project page lists, with URLs resolved against `page_url` (or the
/// page's `<base href>`). Links to folders (`../`), links other than http(s) and links
/// without `href` are skipped.
#[cfg(test)]
pub(crate) fn parse(html: &str, page_url: &Url) -> Vec<DistFile> {
    parse_listing(html, page_url).files
}

/// What an HTML page says besides its files.
pub(crate) struct Listed {
    pub files: Vec<DistFile>,
    /// PyPI's `<!--SERIAL n-->` comment.
    pub serial: Option<u64>,
    /// The files whose anchors carry `data-core-metadata` (or `data-dist-info-metadata`).
    pub core_metadata: BTreeSet<String>,
}

/// Like [`parse`], with the page's serial and which files have PEP 658 metadata.
pub(crate) fn parse_listing(html: &str, page_url: &Url) -> Listed {
    let mut base = page_url.clone();
    let mut listed = Listed {
        files: Vec::new(),
        serial: None,
        core_metadata: BTreeSet::new(),
    };
    let mut pos = 0;
    while let Some(offset) = html[pos..].find('<') {
        let at = pos + offset;
        let rest = &html[at..];
        pos = if rest.starts_with("<!--") {
            let end = skip_past(html, at + 4, "-->");
            let comment = html[at + 4..end].trim_end_matches("-->");
            listed.serial = listed.serial.or(listing::html_comment_serial(comment));
            end
        } else if rest.starts_with("<!") || rest.starts_with("<?") || rest.starts_with("</") {
            skip_past(html, at + 2, ">")
        } else {
            match read_tag(html, at + 1) {
                Some(tag) => handle_tag(html, tag, &mut base, &mut listed),
                None => at + 1,
            }
        };
    }
    listed
}

/// Attribute names (lower-cased) and their values as written (`None` when bare).
type Attributes = Vec<(String, Option<String>)>;

/// A start tag: its lower-cased name, its attributes, and where its `>` ends.
struct Tag {
    name: String,
    attributes: Attributes,
    end: usize,
}

impl Tag {
    /// The decoded value of attribute `name` (`Some("")` for a bare attribute).
    fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_deref().map(decode_entities).unwrap_or_default())
    }
}

/// Acts on one start tag and tells where reading goes on.
fn handle_tag(html: &str, tag: Tag, base: &mut Url, listed: &mut Listed) -> usize {
    match tag.name.as_str() {
        "base" => {
            if let Some(url) = tag
                .attribute("href")
                .and_then(|href| base.join(href.trim()).ok())
            {
                *base = url;
            }
            tag.end
        }
        "a" => {
            let (text, next) = anchor_text(html, tag.end);
            if let Some(file) = dist_file(&tag, &text, base) {
                let metadata = ["data-core-metadata", "data-dist-info-metadata"]
                    .iter()
                    .filter_map(|name| tag.attribute(name))
                    .any(|value| listing::html_says_metadata(&value));
                if metadata {
                    listed.core_metadata.insert(file.filename.clone());
                }
                listed.files.push(file);
            }
            next
        }
        "script" | "style" => skip_past_ignoring_case(html, tag.end, &format!("</{}", tag.name)),
        _ => tag.end,
    }
}

/// One file from an anchor, or `None` for anchors that name no file.
fn dist_file(tag: &Tag, text: &str, base: &Url) -> Option<DistFile> {
    let href = tag.attribute("href")?;
    let mut url = base.join(href.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.path().ends_with('/') {
        return None;
    }
    let sha256 = url.fragment().and_then(sha256_from_fragment);
    url.set_fragment(None);
    let filename = match text.trim() {
        "" => last_segment(&url)?,
        text => text.to_string(),
    };
    Some(DistFile {
        filename,
        url: url.into(),
        sha256,
        size: None,
        requires_python: tag
            .attribute("data-requires-python")
            .filter(|spec| !spec.trim().is_empty()),
        yanked: tag.attribute("data-yanked"),
        upload_time: None,
    })
}

/// The hex digest of a `#sha256=…` fragment (which may carry other `&`-separated parts).
fn sha256_from_fragment(fragment: &str) -> Option<String> {
    fragment
        .split('&')
        .filter_map(|part| part.split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("sha256"))
        .map(|(_, digest)| digest.to_ascii_lowercase())
        .filter(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The URL's last path segment, percent-decoded.
fn last_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let name = percent_decode(segment);
    (!name.is_empty()).then_some(name)
}

/// `%XX` escapes decoded; invalid escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escape) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text inside an anchor (inner tags dropped, entities decoded) and where it ends.
fn anchor_text(html: &str, start: usize) -> (String, usize) {
    let close = find_ignoring_case(html, start, "</a").unwrap_or(html.len());
    let inner = &html[start..close];
    let mut text = String::new();
    let mut rest = inner;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        rest = rest[open..]
            .find('>')
            .map_or("", |end| &rest[open + end + 1..]);
    }
    text.push_str(rest);
    (decode_entities(&text), close)
}

/// Reads the start tag whose name begins at `start` (just after `<`). `None` when no tag
/// name follows or the tag never ends, so the `<` is text.
fn read_tag(html: &str, start: usize) -> Option<Tag> {
    let bytes = html.as_bytes();
    let name_end = start
        + bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
    if name_end == start {
        return None;
    }
    let name = html[start..name_end].to_ascii_lowercase();
    let (attributes, end) = read_attributes(html, name_end)?;
    Some(Tag {
        name,
        attributes,
        end,
    })
}

/// Attributes from `pos` up to the tag's `>` and where it ends; names lower-cased, values
/// still encoded. `None` when the text ends before the `>`.
fn read_attributes(html: &str, mut pos: usize) -> Option<(Attributes, usize)> {
    let bytes = html.as_bytes();
    let mut attributes = Vec::new();
    loop {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            pos += 1;
        }
        match bytes.get(pos) {
            None => return None,
            Some(b'>') => return Some((attributes, pos + 1)),
            Some(_) => {}
        }
        let name_end = pos
            + bytes[pos..]
                .iter()
                .take_while(|&&b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>' | b'/'))
                .count()
                .max(1);
        let name = html[pos..name_end].to_ascii_lowercase();
        let (value, next) = read_value(html, name_end);
        attributes.push((name, value));
        pos = next;
    }
}

/// An attribute's value after its name ends at `pos`: `="…"`, `='…'`, `=bare` or nothing.
fn read_value(html: &str, pos: usize) -> (Option<String>, usize) {
    let bytes = html.as_bytes();
    let after_space = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let eq = after_space(pos);
    if bytes.get(eq) != Some(&b'=') {
        return (None, pos);
    }
    let start = after_space(eq + 1);
    match bytes.get(start) {
        Some(&quote @ (b'"' | b'\'')) => {
            let end = html[start + 1..]
                .find(quote as char)
                .map_or(html.len(), |offset| start + 1 + offset);
            (
                Some(html[start + 1..end].to_string()),
                (end + 1).min(html.len()),
            )
        }
        _ => {
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|&&b| !b.is_ascii_whitespace() && b != b'>')
                    .count();
            (Some(html[start..end].to_string()), end)
        }
    }
}

/// Decodes `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references;
/// anything else that starts with `&` is kept as written.
pub(crate) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match entity(rest) {
            Some((decoded, used)) => {
                out.push(decoded);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity at the start of `text` stands for, and its length with `;`.
fn entity(text: &str) -> Option<(char, usize)> {
    let semicolon = text.get(1..)?.find(';')? + 1;
    if semicolon > 12 {
        return None;
    }
    let name = &text[1..semicolon];
    let decoded = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => numeric_reference(name.strip_prefix('#')?)?,
    };
    Some((decoded, semicolon + 1))
}

/// `#65` or `#x41` (already without `#`) as a character.
fn numeric_reference(digits: &str) -> Option<char> {
    let code = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u32>().ok()?,
    };
    char::from_u32(code)
}

/// The index just past the next `needle` at or after `from`, or the end of `html`.
fn skip_past(html: &str, from: usize, needle: &str) -> usize {
    html.get(from..)
        .and_then(|rest| rest.find(needle))
        .map_or(html.len(), |offset| from + offset + needle.len())
}

/// Like [`skip_past`], matching ASCII case-insensitively.
fn skip_past_ignoring_case(html: &str, from: usize, needle: &str) -> usize {
    find_ignoring_case(html, from, needle).map_or(html.len(), |at| skip_past(html, at, ">"))
}

/// Where the next `needle` (ASCII, any case) starts at or after `from`.
fn find_ignoring_case(html: &str, from: usize, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    html.as_bytes()
        .get(from..)?
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
        .map(|offset| from + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4e7b8a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a";

    fn page(url: &str) -> Url {
        Url::parse(url).unwrap()
    }

    /// (filename, url, sha256, requires-python, yanked) of every file on a page.
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );

    fn rows(html: &str, url: &str) -> Vec<Row> {
        parse(html, &page(url))
            .into_iter()
            .map(|f| (f.filename, f.url, f.sha256, f.requires_python, f.yanked))
            .collect()
    }

    fn row(
        name: &str,
        url: &str,
        sha: Option<&str>,
        rp: Option<&str>,
        yanked: Option<&str>,
    ) -> Row {
        (
            name.into(),
            url.into(),
            sha.map(Into::into),
            rp.map(Into::into),
            yanked.map(Into::into),
        )
    }

    #[test]
    fn a_listing_has_the_serial_and_the_files_with_metadata() {
        let html = r#"<html><body><!-- a comment -->
<a href="a-1-py3-none-any.whl" data-core-metadata="sha256=00">a-1-py3-none-any.whl</a>
<a href="a-2-py3-none-any.whl" data-dist-info-metadata>a-2-py3-none-any.whl</a>
<a href="a-3-py3-none-any.whl" data-core-metadata="false">a-3-py3-none-any.whl</a>
<a href="a-3.tar.gz">a-3.tar.gz</a>
</body></html>
<!--SERIAL 12345-->"#;
        let listed = parse_listing(html, &page("https://pypi.example.org/simple/a/"));
        assert_eq!(listed.files.len(), 4);
        assert_eq!(listed.serial, Some(12345));
        assert_eq!(
            listed.core_metadata.into_iter().collect::<Vec<_>>(),
            ["a-1-py3-none-any.whl", "a-2-py3-none-any.whl"]
        );
        let bare = parse_listing("<a href='x-1.tar.gz'>x-1.tar.gz</a>", &page("https://p/"));
        assert_eq!((bare.files.len(), bare.serial), (1, None));
    }

    #[test]
    fn reads_real_world_page_shapes() {
        let pypi = format!(
            r#"<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Links for markupsafe</title>
  </head>
  <body>
    <h1>Links for markupsafe</h1>
<a href="https://files.example.org/packages/ab/cd/markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl#sha256={SHA}" data-requires-python="&gt;=3.9" data-dist-info-metadata="sha256=00" data-core-metadata="sha256=00">markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl</a><br />
<a href="https://files.example.org/packages/ef/01/MarkupSafe-2.0.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.6" data-yanked="">MarkupSafe-2.0.0.tar.gz</a><br />
</body>
</html>
<!--SERIAL 12345-->"#
        );
        let devpi = format!(
            r#"<html><head><title>root/pypi: links for markupsafe</title></head><body>
<h1>root/pypi: links for markupsafe</h1>
<a href="../../+f/4e7/b8a9c0d1e2f3a/markupsafe-3.0.3.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.9">markupsafe-3.0.3.tar.gz</a><br/>
</body></html>"#
        );
        let artifactory = format!(
            "<html>\n<head><title>Links for markupsafe</title></head>\n<body>\n<h1>Links for markupsafe</h1>\n\
             <a href='../../packages/markupsafe-3.0.3-py3-none-any.whl#sha256={SHA}' data-requires-python='&gt;=3.9' data-yanked='broken &amp; replaced'  rel=\"internal\">markupsafe-3.0.3-py3-none-any.whl</a>\n\
             <a href=\"../\">../</a>\n</body>\n</html>"
        );
        let bandersnatch = format!(
            r#"<!DOCTYPE html><html><head><title>Links for markupsafe</title></head><body><h1>Links for markupsafe</h1>
<a href="../../packages/ab/cd/markupsafe-3.0.3-cp314-cp314t-win_amd64.whl#sha256={SHA}" data-requires-python="&gt;=3.9" data-dist-info-metadata="sha256=1">markupsafe-3.0.3-cp314-cp314t-win_amd64.whl</a><br/>
</body></html>"#
        );
        let cases: Vec<(&str, &str, Vec<Row>)> = vec![
            (
                &pypi,
                "https://pypi.example.org/simple/markupsafe/",
                vec![
                    row(
                        "markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                        "https://files.example.org/packages/ab/cd/markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                        Some(SHA),
                        Some(">=3.9"),
                        None,
                    ),
                    row(
                        "MarkupSafe-2.0.0.tar.gz",
                        "https://files.example.org/packages/ef/01/MarkupSafe-2.0.0.tar.gz",
                        Some(SHA),
                        Some(">=3.6"),
                        Some(""),
                    ),
                ],
            ),
            (
                &devpi,
                "https://devpi.example.org/root/pypi/+simple/markupsafe/",
                vec![row(
                    "markupsafe-3.0.3.tar.gz",
                    "https://devpi.example.org/root/pypi/+f/4e7/b8a9c0d1e2f3a/markupsafe-3.0.3.tar.gz",
                    Some(SHA),
                    Some(">=3.9"),
                    None,
                )],
            ),
            (
                &artifactory,
                "https://art.example.org/api/pypi/pypi-remote/simple/markupsafe/",
                vec![row(
                    "markupsafe-3.0.3-py3-none-any.whl",
                    "https://art.example.org/api/pypi/pypi-remote/packages/markupsafe-3.0.3-py3-none-any.whl",
                    Some(SHA),
                    Some(">=3.9"),
                    Some("broken & replaced"),
                )],
            ),
            (
                &bandersnatch,
                "http://mirror.local/simple/markupsafe/",
                vec![row(
                    "markupsafe-3.0.3-cp314-cp314t-win_amd64.whl",
                    "http://mirror.local/packages/ab/cd/markupsafe-3.0.3-cp314-cp314t-win_amd64.whl",
                    Some(SHA),
                    Some(">=3.9"),
                    None,
                )],
            ),
        ];
        for (html, url, want) in cases {
            assert_eq!(rows(html, url), want, "page at {url}");
        }
    }

    #[test]
    fn tolerates_odd_markup() {
        let base = "https://i.example/simple/p/";
        let cases: Vec<(String, Vec<Row>)> = vec![
            // Upper-case tags and attributes, unquoted values, bare data-yanked.
            (
                "<A HREF=p-1.whl DATA-YANKED>p-1.whl</A>".into(),
                vec![row("p-1.whl", "https://i.example/simple/p/p-1.whl", None, None, Some(""))],
            ),
            // Comments, scripts and styles hide anchors; stray `<` is text.
            (
                "<!-- <a href='no.whl'>no</a> --><script>var s = '<a href=\"no2.whl\">';</script>\
                 <style>a < b {}</style>1 < 2 <a href=\"p-2.whl\">p-2.whl</a>"
                    .into(),
                vec![row("p-2.whl", "https://i.example/simple/p/p-2.whl", None, None, None)],
            ),
            // Inner markup and whitespace around the text, entities in href and text.
            (
                "<a href=\"p-3.whl?a=1&amp;b=2#sha256=ZZ\">\n  <span>p&#45;3.whl</span>\n</a>".into(),
                vec![row("p-3.whl", "https://i.example/simple/p/p-3.whl?a=1&b=2", None, None, None)],
            ),
            // No text: the name comes from the URL, percent-decoded; `>` inside quotes.
            (
                "<a title='a > b' href='/files/p%2B1-4.whl'></a>".into(),
                vec![row("p+1-4.whl", "https://i.example/files/p%2B1-4.whl", None, None, None)],
            ),
            // Anchors without href, links to folders or elsewhere, an unterminated tag.
            (
                "<a name=top>top</a><a href=\"../\">up</a><a href=\"#\">here</a>\
                 <a href=\"javascript:void(0)\">js</a><a href=\"mailto:a@b\">mail</a><a href=\"x"
                    .into(),
                vec![],
            ),
            // `<base href>` moves where relative links point.
            (
                "<base href=\"https://cdn.example/pkgs/\"><a href=\"p-5.whl#sha256=AB\">p-5.whl</a>"
                    .into(),
                vec![row("p-5.whl", "https://cdn.example/pkgs/p-5.whl", None, None, None)],
            ),
            // Requires-python with every kind of entity; empty requires-python is none.
            (
                "<a href=\"p-6.whl\" data-requires-python=\"&gt;=3.8,&lt;4,!=3.9.*,&#x3E;=3.8.1,&#62;=3.8.2\">p-6.whl</a>\
                 <a href=\"p-7.whl\" data-requires-python=\"\">p-7.whl</a>"
                    .into(),
                vec![
                    row(
                        "p-6.whl",
                        "https://i.example/simple/p/p-6.whl",
                        None,
                        Some(">=3.8,<4,!=3.9.*,>=3.8.1,>=3.8.2"),
                        None,
                    ),
                    row("p-7.whl", "https://i.example/simple/p/p-7.whl", None, None, None),
                ],
            ),
        ];
        for (html, want) in cases {
            assert_eq!(rows(&html, base), want, "{html}");
        }
    }

    #[test]
    fn reads_sha256_from_fragments() {
        let upper = SHA.to_ascii_uppercase();
        let cases = [
            (format!("sha256={SHA}"), Some(SHA)),
            (format!("SHA256={upper}"), Some(SHA)),
            (format!("md5=00&sha256={SHA}"), Some(SHA)),
            ("md5=0123456789abcdef0123456789abcdef".to_string(), None),
            ("sha256=short".to_string(), None),
            (String::new(), None),
        ];
        for (fragment, want) in cases {
            assert_eq!(
                sha256_from_fragment(&fragment).as_deref(),
                want,
                "{fragment}"
            );
        }
    }

    #[test]
    fn decodes_entities() {
        let cases = [
            ("&lt;&gt;&amp;&quot;&apos;", "<>&\"'"),
            ("&#60;&#x3c;&#X3C;", "<<<"),
            ("a &unknown; b", "a &unknown; b"),
            ("AT&T", "AT&T"),
            ("&#xD800; &#99999999;", "&#xD800; &#99999999;"),
            ("&amp;lt;", "&lt;"),
            ("trailing &", "trailing &"),
            ("naïve &#233;", "naïve é"),
        ];
        for (text, want) in cases {
            assert_eq!(decode_entities(text), want, "{text}");
        }
    }
}
