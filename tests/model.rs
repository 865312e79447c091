//! Property test: random operation sequences through the C ABI give the
//! same answers as `std::collections::HashMap`.

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(i64, i64),
    Get(i64),
    Remove(i64),
    Add(i64, i64),
    Clear,
    /// Iterate a snapshot and compare it with the model.
    Iterate,
    /// Replace the map by its clone (and free the original).
    Clone,
    /// Replace the map by export + import.
    Reimport,
}

fn op() -> impl Strategy<Value = Op> {
    // A small key space makes collisions, overwrites and removals of
    // present keys common; key 0 and extreme keys take the side paths.
    let key = prop_oneof![
        0i64..64,
        Just(0i64),
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>()
    ];
    prop_oneof![
        8 => (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => key.clone().prop_map(Op::Get),
        4 => key.clone().prop_map(Op::Remove),
        2 => (key, -1000i64..1000).prop_map(|(k, d)| Op::Add(k, d)),
        1 => Just(Op::Iterate),
        1 => Just(Op::Clear),
        1 => Just(Op::Clone),
        1 => Just(Op::Reimport),
    ]
}

fn contents(m: fm_handle) -> Vec<(i64, i64)> {
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    let mut all = drain_ii(it);
    ok(fm_iter_free(it));
    all.sort_unstable();
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn int_map_matches_hashmap(ops in prop::collection::vec(op(), 1..300)) {
        let _l = leakcheck();
        let mut m = new_map(FM_INT, FM_INT);
        let mut model: HashMap<i64, i64> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => prop_assert_eq!(put_ii(m, k, v), model.insert(k, v).is_some()),
                Op::Get(k) => prop_assert_eq!(get_ii(m, k), model.get(&k).copied()),
                Op::Remove(k) => {
                    let mut removed = false;
                    ok(unsafe { fm_remove_i64(m, k, &mut removed) });
                    prop_assert_eq!(removed, model.remove(&k).is_some());
                }
                Op::Add(k, d) => {
                    let base = model.get(&k).copied().unwrap_or(0);
                    let mut new = 0;
                    let st = unsafe { fm_add_i64_i64(m, k, d, &mut new) };
                    match base.checked_add(d) {
                        Some(sum) => {
                            prop_assert_eq!(st, FM_OK);
                            prop_assert_eq!(new, sum);
                            model.insert(k, sum);
                        }
                        None => prop_assert_eq!(st, FM_OVERFLOW),
                    }
                }
                Op::Clear => {
                    ok(fm_map_clear(m));
                    model.clear();
                }
                Op::Iterate => {
                    let mut expect: Vec<_> = model.iter().map(|(&k, &v)| (k, v)).collect();
                    expect.sort_unstable();
                    prop_assert_eq!(contents(m), expect);
                }
                Op::Clone => {
                    let mut c = 0;
                    ok(unsafe { fm_map_clone(m, &mut c) });
                    // Writing the original must not show in the clone.
                    put_ii(m, 12345, 1);
                    ok(fm_map_free(m));
                    m = c;
                }
                Op::Reimport => {
                    let (mut view, mut p, mut n) = (0, std::ptr::null(), 0);
                    ok(unsafe { fm_export(m, &mut view, &mut p, &mut n) });
                    let mut c = 0;
                    ok(unsafe { fm_import(p, n, &mut c) });
                    ok(fm_view_release(view));
                    ok(fm_map_free(m));
                    m = c;
                }
            }
            prop_assert_eq!(len(m), model.len());
        }
        ok(fm_map_free(m));
    }

    #[test]
    fn bytes_map_matches_hashmap(ops in prop::collection::vec(
        (0u8..3, prop::collection::vec(0u8..4, 0..4), prop::collection::vec(any::<u8>(), 0..40)), 1..300)) {
        let _l = leakcheck();
        let m = new_map(FM_BYTES, FM_BYTES);
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for (kind, k, v) in ops {
            match kind {
                0 => {
                    ok(put_bb(m, &k, &v));
                    model.insert(k, v);
                }
                1 => prop_assert_eq!(get_bb(m, &k), model.get(&k).cloned()),
                _ => {
                    let mut removed = false;
                    ok(unsafe { fm_remove_buf(m, k.as_ptr(), k.len(), &mut removed) });
                    prop_assert_eq!(removed, model.remove(&k).is_some());
                }
            }
        }
        prop_assert_eq!(len(m), model.len());
        for (k, v) in &model {
            prop_assert_eq!(get_bb(m, k), Some(v.clone()));
        }
        ok(fm_map_free(m));
    }
}
