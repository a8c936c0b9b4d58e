//! Downloads against a local HTTP server on 127.0.0.1: URL fallback past refused, missing,
//! corrupted and truncated sources; nothing left behind by a failed transfer; an
//! interrupted download resumes with only the files it still lacks.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use archc::data::source::{self, ManifestFile};

/// The bytes of file `name` as the official source has them.
fn content(name: &str) -> Vec<u8> {
    let seed = name.bytes().map(u32::from).sum::<u32>();
    (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Serves `/<kind>/<name>` until the test ends: `good` the right bytes, `bad` as many
/// wrong bytes, `short` a connection closed after half the announced length, anything
/// else 404. Returns the base URL and the log of requested paths.
fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = Vec::new();
            let mut byte = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                req.push(byte[0]);
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let mut parts = path.trim_start_matches('/').splitn(2, '/');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let good = content(name);
            let (status, body, announced) = match kind {
                "good" => ("200 OK", good.clone(), good.len()),
                "bad" => {
                    let mut b = good.clone();
                    b[1234] ^= 0xff;
                    ("200 OK", b, good.len())
                }
                "short" => ("200 OK", good[..good.len() / 2].to_vec(), good.len()),
                _ => ("404 Not Found", b"no such file".to_vec(), 12),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (base, log)
}

fn entry(name: &str, urls: Vec<String>) -> ManifestFile {
    let bytes = content(name);
    ManifestFile {
        name: name.into(),
        urls,
        size: bytes.len() as u64,
        md5: source::md5_hex(&bytes),
        uncompressed_size: None,
        uncompressed_md5: None,
        optional: false,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A URL on which nothing listens (a listener bound and dropped again).
fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/good/a.bin", l.local_addr().unwrap());
    drop(l);
    url
}

#[test]
fn fetch_falls_back_through_the_urls_until_one_verifies() {
    let (base, log) = serve();
    let dir = tempfile::tempdir().unwrap();
    let f = entry(
        "a.bin",
        vec![
            refused_url(),
            format!("{base}/missing/a.bin"),
            format!("{base}/bad/a.bin"),
            format!("{base}/short/a.bin"),
            format!("{base}/good/a.bin"),
            format!("{base}/good/never-asked.bin"),
        ],
    );
    let dest = dir.path().join("a.bin");
    source::fetch(&f, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content("a.bin"));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "/missing/a.bin",
            "/bad/a.bin",
            "/short/a.bin",
            "/good/a.bin"
        ]
    );
    // The failed transfers left no partial or temporary file.
    assert_eq!(names_in(dir.path()), ["a.bin"]);
}

#[test]
fn fetch_failing_everywhere_names_each_url_and_leaves_nothing() {
    let (base, _log) = serve();
    let dir = tempfile::tempdir().unwrap();
    let urls = vec![
        format!("{base}/missing/b.bin"),
        format!("{base}/bad/b.bin"),
        format!("{base}/short/b.bin"),
    ];
    let f = entry("b.bin", urls.clone());
    let dest = dir.path().join("b.bin");
    let err = source::fetch(&f, &dest).unwrap_err().to_string();
    assert!(err.contains("b.bin"), "{err}");
    assert!(err.contains("404"), "404 not reported: {err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains(&f.md5), "expected md5 not named: {err}");
    for url in &urls[1..] {
        assert!(err.contains(url.as_str()), "{url} not named: {err}");
    }
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn interrupted_download_resumes_with_the_files_it_lacks() {
    let (base, log) = serve();
    let dir = tempfile::tempdir().unwrap();
    let url = |n: &str| vec![format!("{base}/good/{n}")];
    let mut optional = entry("extra.bin", url("extra.bin"));
    optional.optional = true;
    let files = vec![
        entry("kept.bin", url("kept.bin")),
        entry("absent.bin", url("absent.bin")),
        entry("corrupt.bin", url("corrupt.bin")),
        entry("short.bin", url("short.bin")),
        optional,
    ];
    // A verified file from the earlier attempt, a corrupted one and a truncated one.
    std::fs::write(dir.path().join("kept.bin"), content("kept.bin")).unwrap();
    let mut bad = content("corrupt.bin");
    bad[0] ^= 1;
    std::fs::write(dir.path().join("corrupt.bin"), bad).unwrap();
    std::fs::write(dir.path().join("short.bin"), &content("short.bin")[..100]).unwrap();
    source::fetch_missing(&files, dir.path()).unwrap();
    for f in &files[..4] {
        let p = dir.path().join(&f.name);
        source::verify_file(&p, f.size, &f.md5).unwrap();
    }
    // Only the missing and bad files were asked for; the optional one was not.
    let mut asked = log.lock().unwrap().clone();
    asked.sort();
    assert_eq!(
        asked,
        ["/good/absent.bin", "/good/corrupt.bin", "/good/short.bin"]
    );
    assert_eq!(
        names_in(dir.path()),
        ["absent.bin", "corrupt.bin", "kept.bin", "short.bin"]
    );
    // Everything present: a second run asks for nothing.
    source::fetch_missing(&files, dir.path()).unwrap();
    assert_eq!(log.lock().unwrap().len(), 3);
}
