//! Writes the seed corpus of the `import` target: real `fm_export` output of
//! maps of all 12 schemas (empty, one entry, edge keys and values, a few
//! hundred entries), each behind the target's mode byte (docs/fuzzing.md).
//!
//! `cargo run --example seeds -- corpus/import` (from fuzz/); then minimise
//! with `cargo fuzz cmin import`.

use ferrymap_fuzz::*;

fn put(h: fm_handle, kk: u32, vk: u32, k: &Key, v: &Val) {
    let (kp, kl) = match k {
        Key::Bytes(b) => (b.as_ptr(), b.len()),
        Key::Int(_) => (std::ptr::null(), 0),
    };
    let ki = if let Key::Int(i) = k { *i } else { 0 };
    let s = unsafe {
        match (kk, v) {
            (INT, Val::Int(i)) => fm_insert_i64_i64(h, ki, *i, std::ptr::null_mut()),
            (INT, Val::Float(f)) => {
                fm_insert_i64_f64(h, ki, f64::from_bits(*f), std::ptr::null_mut())
            }
            (INT, Val::Bytes(b)) => {
                fm_insert_i64_buf(h, ki, b.as_ptr(), b.len(), std::ptr::null_mut())
            }
            (_, Val::Int(i)) => fm_insert_buf_i64(h, kp, kl, *i, std::ptr::null_mut()),
            (_, Val::Float(f)) => {
                fm_insert_buf_f64(h, kp, kl, f64::from_bits(*f), std::ptr::null_mut())
            }
            (_, Val::Bytes(b)) => {
                fm_insert_buf_buf(h, kp, kl, b.as_ptr(), b.len(), std::ptr::null_mut())
            }
        }
    };
    let _ = vk;
    check_status(s, FM_OK, "seed insert");
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: seeds DIR");
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    let mut written = 0;
    for kk in [INT, STR, BYTES] {
        for vk in [INT, FLOAT, STR, BYTES] {
            for (size, n) in [("empty", 0usize), ("one", 1), ("edges", 12), ("many", 300)] {
                let mut h = 0;
                check_status(unsafe { fm_map_new(kk, vk, 0, &mut h) }, FM_OK, "seed map");
                let mut model = Model::new();
                for i in 0..n {
                    let sel = if size == "edges" {
                        (i * 4 + 2) as u8
                    } else {
                        (i % 48 * 4) as u8
                    };
                    let raw = format!("key number {i}").into_bytes();
                    let k = if kk == INT {
                        Key::Int(if size == "many" {
                            i as i64 * 7919
                        } else {
                            int_of(sel, 0)
                        })
                    } else if size == "many" {
                        Key::Bytes(raw.clone())
                    } else {
                        Key::Bytes(bytes_of(sel, &raw))
                    };
                    if matches!(&k, Key::Bytes(b) if !storable(kk, b)) {
                        continue;
                    }
                    let v = match vk {
                        INT => Val::Int(int_of(sel, i as i64)),
                        FLOAT => Val::Float(float_of(sel, i as i64)),
                        _ => {
                            let b = bytes_of(sel, &raw);
                            Val::Bytes(if storable(vk, &b) { b } else { raw.clone() })
                        }
                    };
                    put(h, kk, vk, &k, &v);
                    model.insert(k, v);
                }
                let bytes = export_checked(h, &model, "seed export");
                check_status(fm_map_free(h), FM_OK, "seed free");
                let mut file = vec![(written % 2) as u8];
                file.extend_from_slice(&bytes);
                let path = format!("{dir}/seed-k{kk}-v{vk}-{size}");
                std::fs::write(&path, file).expect("write a seed");
                written += 1;
            }
        }
    }
    println!("{written} seeds in {dir}");
}
