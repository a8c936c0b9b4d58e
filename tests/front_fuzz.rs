//! The front end never panics: random text and mutated real specs compile to Ok or Err.

use proptest::prelude::*;

fn specs() -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir("specs")
        .expect("specs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    v.sort();
    v
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Swap(usize, usize),
}

/// Apply byte edits, then repair to valid UTF-8 (the API takes `&str`).
fn mutate(src: &str, edits: &[Edit]) -> String {
    let mut b = src.as_bytes().to_vec();
    for e in edits {
        if b.is_empty() {
            break;
        }
        match *e {
            Edit::Delete(i) => {
                b.remove(i % b.len());
            }
            Edit::Insert(i, c) => b.insert(i % (b.len() + 1), c),
            Edit::Swap(i, j) => {
                let n = b.len();
                b.swap(i % n, j % n)
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes drawn from the notation's own alphabet make deeper mutations likely.
    let byte = prop_oneof![
        Just(b'x'),
        Just(b'$'),
        Just(b'['),
        Just(b']'),
        Just(b'('),
        Just(b')'),
        Just(b'{'),
        Just(b'}'),
        Just(b'^'),
        Just(b'@'),
        Just(b'/'),
        Just(b'='),
        Just(b'\n'),
        Just(b'0'),
        Just(b'9'),
        Just(b'C'),
        Just(b'F'),
        Just(b','),
        Just(b':'),
        Just(b'-'),
        any::<u8>()
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_specs_never_panic(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..6)) {
        let all = specs();
        let src = mutate(&all[which % all.len()], &edits);
        let _ = archc::ir::compile("fuzz", &src);
    }

    #[test]
    fn random_text_never_panics(src in "[ -~×∈\n]{0,80}") {
        let _ = archc::ir::compile("fuzz", &src);
    }
}
