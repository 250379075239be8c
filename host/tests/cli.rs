//! End-to-end tests of the `nsbg-host` binary on the shared photo set.
//!
//! The photos are found in `$NSBG_SHARED/data/photos` or `<repo>/../shared/data/photos`.

use std::path::{Path, PathBuf};

mod common;

use common::{assert_clean_failure, run, text};

/// A 256×256 RGB photo of the validation split.
fn val_photo() -> PathBuf {
    common::photos().join("val/skimage__chelsea__full.png")
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("host", name)
}

#[test]
fn bands_writes_png_of_input_size() {
    let dir = temp_dir("bands");
    let out_png = dir.join("nested/bands.png");
    let out = run(&[
        "bands",
        val_photo().to_str().unwrap(),
        "--levels",
        "3",
        "--out",
        out_png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("wrote"),
        "stdout: {}",
        text(&out.stdout)
    );
    let img = image::open(&out_png).expect("output is not a readable image");
    assert_eq!((img.width(), img.height()), (256, 256));
    let rgb = &img.to_rgb8();
    // Low band (top-left 32×32 after 3 levels) spans the full range; details sit around mid-grey.
    let low = || (0..32).flat_map(|y| (0..32).flat_map(move |x| rgb.get_pixel(x, y).0));
    assert!(low().any(|v| v == 0), "low band minimum is not 0");
    assert!(low().any(|v| v == 255), "low band maximum is not 255");
    let br: f64 = (128..256)
        .flat_map(|y| (128..256).map(move |x| (x, y)))
        .map(|(x, y)| f64::from(rgb.get_pixel(x, y).0[0]))
        .sum::<f64>()
        / (128.0 * 128.0);
    assert!(
        (br - 127.5).abs() < 20.0,
        "level-1 BR band mean {br} is not near mid-grey"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bands_reads_jpeg_and_periodization() {
    let dir = temp_dir("jpeg");
    let jpg = dir.join("photo.jpg");
    image::open(val_photo())
        .unwrap()
        .to_rgb8()
        .save(&jpg)
        .unwrap();
    let out_png = dir.join("b.png");
    let out = run(&[
        "bands",
        jpg.to_str().unwrap(),
        "--mode",
        "periodization",
        "--out",
        out_png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let img = image::open(&out_png).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    let _ = std::fs::remove_dir_all(&dir);
}

fn roundtrip_json(levels: &str, photo: &Path, dir: &Path) -> serde_json::Value {
    let json = dir.join("rt.json");
    let out = run(&[
        "roundtrip",
        photo.to_str().unwrap(),
        "--levels",
        levels,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for mode in ["symmetric", "periodization", "zero", "reversible53"] {
        assert!(stdout.contains(mode), "table lacks {mode}: {stdout}");
    }
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn find<'a>(v: &'a serde_json::Value, mode: &str, dtype: &str) -> &'a serde_json::Value {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["mode"] == mode && r["dtype"] == dtype)
        .unwrap_or_else(|| panic!("no row {mode}/{dtype} in {v}"))
}

#[test]
fn roundtrip_errors_below_thresholds() {
    let dir = temp_dir("roundtrip");
    let v = roundtrip_json("3", &val_photo(), &dir);
    assert_eq!(v["results"].as_array().unwrap().len(), 7);
    for mode in ["symmetric", "periodization"] {
        let f32_row = find(&v, mode, "f32");
        assert_eq!(f32_row["applicable"], true);
        assert!(
            f32_row["max_abs_error"].as_f64().unwrap() < 1e-5,
            "{f32_row}"
        );
        let f64_row = find(&v, mode, "f64");
        assert!(
            f64_row["max_abs_error"].as_f64().unwrap() < 1e-13,
            "{f64_row}"
        );
    }
    // Zero mode loses information at the borders by design (the paper's transform), but not much.
    for dtype in ["f32", "f64"] {
        let z = find(&v, "zero", dtype);
        let mse = z["mse"].as_f64().unwrap();
        assert!(mse > 1e-6 && mse < 1e-2, "{z}");
    }
    let r = find(&v, "reversible53", "i32");
    assert_eq!(r["max_abs_error"].as_f64(), Some(0.0));
    assert_eq!(r["exact"], true);
    assert!(r["psnr_db"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn roundtrip_odd_size_lists_na() {
    let dir = temp_dir("odd");
    let odd = dir.join("odd.png");
    image::open(val_photo())
        .unwrap()
        .crop_imm(0, 0, 101, 67)
        .to_rgb8()
        .save(&odd)
        .unwrap();
    let v = roundtrip_json("2", &odd, &dir);
    for dtype in ["f32", "f64"] {
        assert!(
            find(&v, "symmetric", dtype)["max_abs_error"]
                .as_f64()
                .unwrap()
                < 1e-5
        );
        for mode in ["periodization", "zero"] {
            let row = find(&v, mode, dtype);
            assert_eq!(row["applicable"], false, "{row}");
            assert!(row["reason"].as_str().unwrap().contains("even"), "{row}");
        }
    }
    assert_eq!(
        find(&v, "reversible53", "i32")["max_abs_error"].as_f64(),
        Some(0.0)
    );
    // The same image in periodization via `bands` is a clean error.
    let out = run(&[
        "bands",
        odd.to_str().unwrap(),
        "--mode",
        "periodization",
        "--out",
        dir.join("x.png").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, &["101x67", "even"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sample` without arguments generates with the shipped generator and decoder: 16 images + a grid.
#[test]
fn sample_generates_images_with_the_shipped_weights() {
    let dir = temp_dir("sample");
    let out = run(&["sample", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("built-in weights/nsbg-generator-small.safetensors"),
        "stdout: {}",
        text(&out.stdout)
    );
    let grid = image::open(dir.join("grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (4 * 256 + 6, 4 * 256 + 6));
    for i in 0..16 {
        let img = image::open(dir.join(format!("sample-{i:04}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
    }
    assert!(dir.join("samples.safetensors").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = temp_dir("bad");
    let out_png = dir.join("o.png");
    let o = out_png.to_str().unwrap();
    let photo = val_photo();
    let p = photo.to_str().unwrap();

    let missing = dir.join("does-not-exist.png");
    assert_clean_failure(
        &run(&["bands", missing.to_str().unwrap(), "--out", o]),
        &["does-not-exist.png", "cannot read"],
    );
    assert_clean_failure(
        &run(&["roundtrip", missing.to_str().unwrap()]),
        &["does-not-exist.png"],
    );

    let fake = dir.join("text.png");
    std::fs::write(&fake, "this is not an image\n").unwrap();
    assert_clean_failure(
        &run(&["bands", fake.to_str().unwrap(), "--out", o]),
        &["text.png", "not a readable png or jpeg"],
    );
    assert_clean_failure(
        &run(&["roundtrip", fake.to_str().unwrap()]),
        &["not a readable png or jpeg"],
    );

    // A truncated PNG (valid signature, cut-off data).
    let cut = dir.join("cut.png");
    let bytes = std::fs::read(&photo).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    assert_clean_failure(
        &run(&["bands", cut.to_str().unwrap(), "--out", o]),
        &["cut.png"],
    );

    assert_clean_failure(
        &run(&["bands", p, "--levels", "0", "--out", o]),
        &["levels"],
    );
    assert_clean_failure(&run(&["roundtrip", p, "--levels", "0"]), &["levels"]);
    // 256 = 2^8: level 9 would work on a 1×1 block.
    assert_clean_failure(
        &run(&["bands", p, "--levels", "9", "--out", o]),
        &["level 9", "at most 8 levels"],
    );
    assert_clean_failure(&run(&["roundtrip", p, "--levels", "9"]), &["level 9"]);
    assert_clean_failure(&run(&["bands", p, "--mode", "haar", "--out", o]), &["haar"]);
    assert!(!out_png.exists(), "a failed run wrote {o}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `export --generator`: wrong sources fail with the reason, no panic.
#[test]
fn export_generator_errors_are_clean() {
    let dir = temp_dir("export-generator");
    let out = dir.join("g.safetensors");
    let out_s = out.to_str().unwrap();
    let missing = dir.join("no-such-run");
    let o = run(&[
        "export",
        "--generator",
        missing.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert_clean_failure(&o, &["sampler run folder"]);
    let decoder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/nsbg-small.safetensors");
    let o = run(&[
        "export",
        "--generator",
        decoder.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert_clean_failure(&o, &["not a generator"]);
    let o = run(&[
        "export",
        "--generator",
        missing.to_str().unwrap(),
        "--best",
        "--out",
        out_s,
    ]);
    assert_clean_failure(&o, &["--best"]);
    let o = run(&["export", "--no-ema", "--out", out_s]);
    assert_clean_failure(&o, &["--generator"]);
    assert!(!out.exists(), "a failed export left a file");
    let _ = std::fs::remove_dir_all(&dir);
}
