//! Weight file format v1: round trips, one test per rejection rule (named after its `WeightError`
//! variant), robustness against truncation and random mutation, parameter counts of the paper models,
//! and a file built by hand the way an independent tool following design.md would write it.
#![cfg(feature = "alloc")]

use std::collections::BTreeMap;

use nsbg_core::wavelet::Extension;
use nsbg_core::weights::{
    parse, write, ConfigError, Dtype, ErrorCategory, Kind, ModelConfig, NamedTensor,
    PixelDecoderConfig, WaveletDecoderConfig, WeightError, MAX_CONFIG_LEN, MAX_HEADER_SIZE,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------------
// helpers

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

type Model = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The brief's tiny wavelet decoder: 64 → 256, width 16, tail width 8, depth 3.
fn tiny_wavelet() -> ModelConfig {
    ModelConfig::WaveletDecoder(WaveletDecoderConfig::uniform(
        64,
        2,
        16,
        8,
        3,
        Extension::Symmetric,
    ))
}

/// The smallest valid wavelet decoder (32 → 64, width 2, tail width 1, depth 1): a few KiB, so that
/// byte-by-byte tests stay fast.
fn micro_wavelet() -> ModelConfig {
    ModelConfig::WaveletDecoder(WaveletDecoderConfig::uniform(
        32,
        1,
        2,
        1,
        1,
        Extension::Periodization,
    ))
}

/// A small pixel decoder: 8 → 32, base 2, depth 2.
fn small_pixel() -> ModelConfig {
    ModelConfig::PixelDecoder(PixelDecoderConfig::uniform(8, 2, 2, 2))
}

/// Random values in [-1, 1) for every tensor; variances in [0.5, 1.5).
fn random_model(config: &ModelConfig, seed: u64) -> Model {
    let mut rng = XorShift(seed | 1);
    config
        .required_tensors()
        .into_iter()
        .map(|spec| {
            let n: usize = spec.shape.iter().product();
            let variance = spec.name.ends_with(".running_var");
            let data = (0..n)
                .map(|_| {
                    if variance {
                        1.0 + 0.5 * rng.unit()
                    } else {
                        rng.unit()
                    }
                })
                .collect();
            (spec.name, spec.shape, data)
        })
        .collect()
}

fn named(model: &Model) -> Vec<NamedTensor<'_>> {
    model
        .iter()
        .map(|(name, shape, data)| NamedTensor { name, shape, data })
        .collect()
}

fn extra_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "nsbg.trained_with".to_string(),
        "core/tests/weights.rs".to_string(),
    )])
}

fn write_model(config: &ModelConfig, dtype: Dtype, seed: u64) -> (Vec<u8>, Model) {
    let model = random_model(config, seed);
    let bytes = write(config, &extra_metadata(), &named(&model), dtype)
        .expect("writer accepts a valid model");
    (bytes, model)
}

fn micro_file() -> Vec<u8> {
    write_model(&micro_wavelet(), Dtype::F32, 7).0
}

/// Length prefix + header text + data.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Header JSON and data area of a file.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

/// The file with its header edited by `f`.
fn with_header(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, data) = split(bytes);
    f(&mut header);
    raw(&header.to_string(), &data)
}

/// The file with its `nsbg.config` edited by `f`.
fn with_config(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    with_header(bytes, |h| {
        let text = h["__metadata__"]["nsbg.config"]
            .as_str()
            .unwrap()
            .to_string();
        let mut config: Value = serde_json::from_str(&text).unwrap();
        f(&mut config);
        h["__metadata__"]["nsbg.config"] = Value::String(config.to_string());
    })
}

/// The file with `bytes` written over element `index` of tensor `name`.
fn with_element(file: &[u8], name: &str, index: usize, bytes: &[u8]) -> Vec<u8> {
    let (header, _) = split(file);
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let start = header[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let mut out = file.to_vec();
    let at = 8 + n + start + index * bytes.len();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

fn err(bytes: &[u8]) -> WeightError {
    parse(bytes).expect_err("file must be rejected")
}

/// Valid metadata (micro config) for hand-made headers whose tensors fail a layout check.
fn micro_metadata() -> Value {
    json!({
        "nsbg.format": "1",
        "nsbg.kind": "wavelet-decoder",
        "nsbg.config": micro_wavelet().to_json(),
    })
}

/// A header with valid metadata and the given tensor entries.
fn layout_file(tensors: Value, data: &[u8]) -> Vec<u8> {
    let mut header = tensors;
    header["__metadata__"] = micro_metadata();
    raw(&header.to_string(), data)
}

// ---------------------------------------------------------------------------------------------------
// round trips

fn check_round_trip(config: &ModelConfig, dtype: Dtype, rel: f32) {
    let (bytes, model) = write_model(config, dtype, 0x5eed);
    let file = parse(&bytes).expect("parser accepts what the writer wrote");
    assert_eq!(file.config(), config);
    assert_eq!(file.kind(), config.kind());
    assert_eq!(file.format_version(), 1);
    assert_eq!(file.parameter_count(), config.parameter_count());
    assert_eq!(file.metadata()["nsbg.format"], "1");
    assert_eq!(file.metadata()["nsbg.kind"], config.kind().name());
    assert_eq!(
        file.metadata()["nsbg.trained_with"],
        "core/tests/weights.rs"
    );
    assert_eq!(file.tensors().len(), model.len());
    for (name, shape, data) in &model {
        let view = file.tensor(name).expect("tensor present");
        assert_eq!(view.dtype(), dtype);
        assert_eq!(view.shape(), &shape[..]);
        let got = file.tensor_f32(name).unwrap();
        assert_eq!(got.len(), data.len());
        for (a, b) in data.iter().zip(&got) {
            // Relative rounding error of the format, plus half its smallest subnormal step.
            assert!(
                (a - b).abs() <= a.abs() * rel + 3e-8,
                "{name}: {a} stored as {b}"
            );
        }
    }
}

#[test]
fn round_trip_f32_is_exact() {
    check_round_trip(&tiny_wavelet(), Dtype::F32, 0.0);
}

#[test]
fn round_trip_f16_error_is_bounded() {
    check_round_trip(&tiny_wavelet(), Dtype::F16, 1.0 / 2048.0);
}

#[test]
fn round_trip_bf16_error_is_bounded() {
    check_round_trip(&tiny_wavelet(), Dtype::BF16, 1.0 / 256.0);
}

#[test]
fn round_trip_pixel_decoder() {
    for dtype in Dtype::ALL {
        let rel = match dtype {
            Dtype::F32 => 0.0,
            Dtype::F16 => 1.0 / 2048.0,
            Dtype::BF16 => 1.0 / 256.0,
        };
        check_round_trip(&small_pixel(), dtype, rel);
    }
}

#[test]
fn writer_output_is_sorted_contiguous_and_aligned() {
    let bytes = write_model(&tiny_wavelet(), Dtype::F16, 3).0;
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!((8 + n) % 8, 0, "data area starts 8-byte aligned");
    // Keys in file order: serde_json's preserve_order is off, so read the raw text positions.
    let text = core::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let (header, data) = split(&bytes);
    let mut names: Vec<&String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .collect();
    names.sort_by_key(|k| text.find(&format!("\"{k}\":")).unwrap());
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tensors are written sorted by name");
    let mut cursor = 0;
    for name in names {
        let offsets = &header[name.as_str()]["data_offsets"];
        assert_eq!(offsets[0].as_u64().unwrap(), cursor);
        cursor = offsets[1].as_u64().unwrap();
    }
    assert_eq!(cursor as usize, data.len());
}

#[test]
fn config_json_round_trips() {
    for config in [tiny_wavelet(), micro_wavelet(), small_pixel()] {
        let bytes = write_model(&config, Dtype::F32, 1).0;
        assert_eq!(parse(&bytes).unwrap().config(), &config);
    }
}

/// A file built by hand, as any tool following design.md would write it: its own tensor naming loops,
/// pretty JSON, `__metadata__` last, tensors stored in reverse order, extra metadata, no padding.
#[test]
fn accepts_file_from_independent_writer() {
    let mut tensors: Vec<(String, Vec<usize>)> = Vec::new();
    let mut double_conv = |block: &str, inp: usize, mid: usize, out: usize| {
        for (conv, o, i) in [(1, mid, inp), (2, out, mid)] {
            tensors.push((
                format!("level1.{block}.conv{conv}.weight"),
                vec![o, i, 3, 3],
            ));
            tensors.push((format!("level1.{block}.conv{conv}.bias"), vec![o]));
            for p in ["weight", "bias", "running_mean", "running_var"] {
                tensors.push((format!("level1.{block}.bn{conv}.{p}"), vec![o]));
            }
        }
    };
    // in_size 32: n_in = n_tails = 3·(32/32)² = 3; width 2, depth 1, tail width 1.
    double_conv("inc", 3, 2, 2);
    double_conv("down1", 2, 2, 2);
    double_conv("up1", 4, 2, 2);
    for j in 0..3 {
        tensors.push((format!("level1.tail{j}.conv1.weight"), vec![1, 2, 3, 3]));
        tensors.push((format!("level1.tail{j}.conv1.bias"), vec![1]));
        for p in ["weight", "bias", "running_mean", "running_var"] {
            tensors.push((format!("level1.tail{j}.bn1.{p}"), vec![1]));
        }
        tensors.push((format!("level1.tail{j}.conv2.weight"), vec![3, 1, 3, 3]));
        tensors.push((format!("level1.tail{j}.conv2.bias"), vec![3]));
    }

    let mut data = Vec::new();
    let mut entries = Vec::new();
    for (k, (name, shape)) in tensors.iter().enumerate().rev() {
        let n: usize = shape.iter().product();
        let start = data.len();
        for e in 0..n {
            data.extend_from_slice(&((k * 1000 + e) as f32 * 0.001).to_le_bytes());
        }
        entries.push(format!(
            "  \"{name}\": {{\"dtype\": \"F32\", \"shape\": {shape:?}, \"data_offsets\": [{start}, {}]}}",
            data.len()
        ));
    }
    let config = r#"{"in_size": 32, "out_size": 64, "channels": 3, "extension": "zero", "bn_eps": 0.001,
        "levels": [{"n_in": 3, "n_tails": 3, "width": 2, "depth": 1, "tail_width": 1}]}"#;
    let config = config
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let header = format!(
        "{{\n{},\n  \"__metadata__\": {{\"format\": \"pt\", \"nsbg.kind\": \"wavelet-decoder\", \
         \"nsbg.config\": \"{config}\", \"nsbg.format\": \"1\", \"provenance\": \"hand-made\"}}\n}}\n",
        entries.join(",\n")
    );
    let bytes = raw(&header, &data);

    let file = parse(&bytes).expect("a hand-written spec-conforming file loads");
    assert_eq!(file.kind(), Kind::WaveletDecoder);
    assert_eq!(file.config().extension(), Some(Extension::Zero));
    assert_eq!(file.config().bn_eps(), 0.001);
    assert_eq!(file.metadata()["provenance"], "hand-made");
    assert_eq!(file.tensors().len(), tensors.len());
    let (name, shape) = &tensors[5];
    let view = file.tensor(name).unwrap();
    assert_eq!(view.shape(), &shape[..]);
    let values = file.tensor_f32(name).unwrap();
    assert_eq!(
        values,
        (0..values.len())
            .map(|e| (5000 + e) as f32 * 0.001)
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------------
// parameter counts (from the config alone)

#[test]
fn parameter_count_paper_wavelet_decoder() {
    let config = ModelConfig::WaveletDecoder(WaveletDecoderConfig::paper());
    config.validate().unwrap();
    assert_eq!(config.level_parameter_count(1), Some(52_073_508));
    assert_eq!(config.level_parameter_count(2), Some(94_983_312));
    assert_eq!(config.level_parameter_count(0), None);
    assert_eq!(config.level_parameter_count(3), None);
    assert_eq!(config.parameter_count(), 52_073_508 + 94_983_312);
}

#[test]
fn parameter_count_paper_pixel_decoder() {
    let config = ModelConfig::PixelDecoder(PixelDecoderConfig::paper());
    config.validate().unwrap();
    assert_eq!(config.level_parameter_count(1), Some(17_269_059));
    assert_eq!(config.level_parameter_count(2), Some(17_269_059));
    assert_eq!(config.parameter_count(), 2 * 17_269_059);
}

#[test]
fn required_tensors_follow_the_spec_tables() {
    let config = ModelConfig::WaveletDecoder(WaveletDecoderConfig::paper());
    let specs = config.required_tensors();
    let shape = |name: &str| {
        specs
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.shape.clone())
    };
    assert_eq!(shape("level1.inc.conv1.weight"), Some(vec![512, 12, 3, 3]));
    assert_eq!(shape("level2.inc.conv1.weight"), Some(vec![512, 48, 3, 3]));
    assert_eq!(shape("level1.inc.bn1.running_var"), Some(vec![512]));
    assert_eq!(
        shape("level1.down3.conv2.weight"),
        Some(vec![512, 512, 3, 3])
    );
    assert_eq!(
        shape("level1.up1.conv1.weight"),
        Some(vec![512, 1024, 3, 3])
    );
    assert_eq!(
        shape("level1.tail11.conv1.weight"),
        Some(vec![256, 512, 3, 3])
    );
    assert_eq!(
        shape("level1.tail11.conv2.weight"),
        Some(vec![3, 256, 3, 3])
    );
    assert_eq!(shape("level1.tail11.bn2.weight"), None);
    assert_eq!(shape("level1.tail12.conv1.weight"), None);
    assert_eq!(shape("level2.tail47.conv2.bias"), Some(vec![3]));
    let per_level = |n_tails: usize| 12 + 2 * 3 * 12 + n_tails * 8;
    assert_eq!(specs.len(), per_level(12) + per_level(48));
    let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), specs.len(), "names are unique");

    let pixel = ModelConfig::PixelDecoder(PixelDecoderConfig::paper()).required_tensors();
    let shape = |name: &str| {
        pixel
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.shape.clone())
    };
    assert_eq!(shape("level1.inc.conv1.weight"), Some(vec![64, 3, 3, 3]));
    assert_eq!(
        shape("level1.down4.conv1.weight"),
        Some(vec![512, 512, 3, 3])
    );
    assert_eq!(
        shape("level1.up1.conv1.weight"),
        Some(vec![512, 1024, 3, 3])
    );
    assert_eq!(shape("level1.up1.conv2.weight"), Some(vec![256, 512, 3, 3]));
    assert_eq!(shape("level1.up4.conv2.weight"), Some(vec![64, 64, 3, 3]));
    assert_eq!(shape("level2.outc.weight"), Some(vec![3, 64, 3, 3]));
    assert_eq!(shape("level2.outc.bias"), Some(vec![3]));
}

// ---------------------------------------------------------------------------------------------------
// robustness

#[test]
fn truncation_at_every_byte_is_an_error() {
    let bytes = micro_file();
    assert!(parse(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert!(
            parse(&bytes[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
}

#[test]
fn random_mutations_never_panic() {
    let bytes = micro_file();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..4000 {
        let mut m = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            // Bias towards the length prefix and the header, where the structure is.
            let at = match round % 4 {
                0 => rng.below(8),
                1 | 2 => 8 + rng.below(n),
                _ => rng.below(m.len()),
            };
            m[at] = match rng.below(3) {
                0 => m[at] ^ (1 << rng.below(8)),
                1 => {
                    let syntax = b"{}[]\",:0123456789-eE.\\ ";
                    syntax[rng.below(syntax.len())]
                }
                _ => rng.next() as u8,
            };
        }
        match parse(&m) {
            Ok(file) => {
                accepted += 1;
                for (name, view) in file.tensors() {
                    assert_eq!(file.tensor_f32(name).unwrap().len(), view.len());
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(rejected > 1000, "{accepted} accepted, {rejected} rejected");
}

#[test]
fn huge_shapes_are_refused_without_allocating() {
    // 2^30 × 2^30 F32 elements = 2^62 bytes: fits u64, but not the file.
    let bytes = layout_file(
        json!({"a": {"dtype": "F32", "shape": [1u64 << 30, 1u64 << 30], "data_offsets": [0, 1u64 << 62]}}),
        &[],
    );
    assert_eq!(err(&bytes), WeightError::MetadataIncompleteBuffer);
}

// ---------------------------------------------------------------------------------------------------
// one test per rejection rule

#[test]
fn enormous_valid_config_in_tiny_file_fails_fast() {
    // The largest config the bounds allow (2048 → 4096: 12,288 tails of width 4096) in a file with no
    // tensors: refused at the first missing tensor, without building the tensor list.
    let config = WaveletDecoderConfig::uniform(2048, 1, 4096, 4096, 5, Extension::Symmetric);
    config.validate().unwrap();
    let mut header = json!({});
    header["__metadata__"] = json!({
        "nsbg.format": "1",
        "nsbg.kind": "wavelet-decoder",
        "nsbg.config": ModelConfig::WaveletDecoder(config).to_json(),
    });
    assert_eq!(
        err(&raw(&header.to_string(), &[])),
        WeightError::MissingTensor("level1.inc.conv1.weight".into())
    );
}

#[test]
fn header_too_small() {
    let bytes = micro_file();
    for len in 0..8 {
        assert_eq!(err(&bytes[..len]), WeightError::HeaderTooSmall);
    }
}

#[test]
fn header_too_large() {
    for n in [MAX_HEADER_SIZE as u64 + 1, u64::MAX] {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert_eq!(err(&bytes), WeightError::HeaderTooLarge);
    }
}

#[test]
fn invalid_header_length() {
    let mut bytes = micro_file();
    let total = bytes.len() as u64;
    bytes[..8].copy_from_slice(&(total - 7).to_le_bytes());
    assert_eq!(err(&bytes), WeightError::InvalidHeaderLength);
    bytes[..8].copy_from_slice(&(MAX_HEADER_SIZE as u64).to_le_bytes());
    assert_eq!(err(&bytes), WeightError::InvalidHeaderLength);
}

#[test]
fn invalid_header_utf8() {
    let bytes = raw("{\"__metadata__\":{\"a\":\"\u{e9}\"}}", &[]);
    let mut bad = bytes.clone();
    let at = bad.iter().position(|&b| b == 0xc3).unwrap();
    bad[at] = 0xff;
    assert_eq!(err(&bad), WeightError::InvalidHeaderUtf8);
}

#[test]
fn header_too_deep() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(err(&raw(&deep, &[])), WeightError::HeaderTooDeep);
    // Brackets inside strings do not count.
    let mut header = json!({});
    header["__metadata__"] = micro_metadata();
    header["__metadata__"]["note"] = Value::String("[[[[[[[[[[[[{{{{{{{{{{{".into());
    assert_eq!(
        err(&raw(&header.to_string(), &[])),
        WeightError::MissingTensor("level1.inc.conv1.weight".into())
    );
}

#[test]
fn invalid_header_json() {
    let cases = [
        "",
        "{",
        "not json",
        "[]",
        "{\"__metadata__\":{}} trailing",
        // Tensor info as an array (serde's sequence form of a struct) is not the spec's object.
        "{\"__metadata__\":{},\"a\":[\"F32\",[1],[0,4]]}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{},\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":[]}",
    ];
    for header in cases {
        assert!(
            matches!(err(&raw(header, &[])), WeightError::InvalidHeaderJson(_)),
            "{header:?} -> {:?}",
            err(&raw(header, &[]))
        );
    }
}

#[test]
fn duplicate_key() {
    let meta = micro_metadata().to_string();
    let t = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
    let tensor_twice = format!("{{\"__metadata__\":{meta},\"a\":{t},\"a\":{t}}}");
    assert_eq!(
        err(&raw(&tensor_twice, &[0; 4])),
        WeightError::DuplicateKey("a".into())
    );
    let metadata_twice = format!("{{\"__metadata__\":{meta},\"__metadata__\":{meta}}}");
    assert_eq!(
        err(&raw(&metadata_twice, &[])),
        WeightError::DuplicateKey("__metadata__".into())
    );
    let key_twice =
        r#"{"__metadata__":{"nsbg.format":"1","nsbg.format":"2","nsbg.kind":"wavelet-decoder"}}"#;
    assert_eq!(
        err(&raw(key_twice, &[])),
        WeightError::DuplicateKey("nsbg.format".into())
    );
}

#[test]
fn missing_metadata() {
    let bytes = with_header(&micro_file(), |h| {
        h.as_object_mut().unwrap().remove("__metadata__");
    });
    assert_eq!(err(&bytes), WeightError::MissingMetadata);
    assert_eq!(err(&raw("{}", &[])), WeightError::MissingMetadata);
}

#[test]
fn invalid_metadata_value() {
    for value in [
        json!(1),
        json!(null),
        json!({"a": "b"}),
        json!(["1"]),
        json!(true),
    ] {
        let bytes = with_header(&micro_file(), |h| {
            h["__metadata__"]["nsbg.format"] = value.clone()
        });
        assert_eq!(
            err(&bytes),
            WeightError::InvalidMetadataValue("nsbg.format".into())
        );
    }
}

#[test]
fn missing_metadata_key() {
    for key in ["nsbg.format", "nsbg.kind", "nsbg.config"] {
        let bytes = with_header(&micro_file(), |h| {
            h["__metadata__"].as_object_mut().unwrap().remove(key);
        });
        assert_eq!(err(&bytes), WeightError::MissingMetadataKey(key));
    }
}

#[test]
fn unsupported_format_version() {
    for version in ["2", "0", "1.0", "", " 1"] {
        let bytes = with_header(&micro_file(), |h| {
            h["__metadata__"]["nsbg.format"] = json!(version)
        });
        let e = err(&bytes);
        assert_eq!(e, WeightError::UnsupportedFormatVersion(version.into()));
        assert!(e.is_unsupported() && !e.is_format());
        assert_eq!(e.category(), ErrorCategory::Unsupported);
    }
}

#[test]
fn unsupported_kind() {
    for kind in ["generator", "gan", "Wavelet-Decoder"] {
        let bytes = with_header(&micro_file(), |h| {
            h["__metadata__"]["nsbg.kind"] = json!(kind)
        });
        let e = err(&bytes);
        assert_eq!(e, WeightError::UnsupportedKind(kind.into()));
        assert!(e.is_unsupported());
    }
    // A wavelet config under the pixel kind is a config error (unknown fields), not a kind error.
    let bytes = with_header(&micro_file(), |h| {
        h["__metadata__"]["nsbg.kind"] = json!("pixel-decoder")
    });
    assert!(matches!(
        err(&bytes),
        WeightError::InvalidConfig(ConfigError::Json(_))
    ));
}

fn config_error(edit: impl FnOnce(&mut Value)) -> ConfigError {
    match err(&with_config(&micro_file(), edit)) {
        WeightError::InvalidConfig(e) => {
            assert!(WeightError::InvalidConfig(e.clone()).is_format());
            e
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn invalid_config_numbers() {
    assert_eq!(
        config_error(|c| c["channels"] = json!(4)),
        ConfigError::Channels(4)
    );
    for s in [48, 16, 0, 4096, 8192] {
        assert_eq!(
            config_error(|c| c["in_size"] = json!(s)),
            ConfigError::InSize(s)
        );
    }
    assert_eq!(
        config_error(|c| c["out_size"] = json!(128)),
        ConfigError::OutSize(128)
    );
    assert_eq!(
        config_error(|c| c["levels"] = json!([])),
        ConfigError::LevelCount(0)
    );
    assert_eq!(
        config_error(|c| {
            let level = c["levels"][0].clone();
            c["levels"] = Value::Array(vec![level; 9]);
        }),
        ConfigError::LevelCount(9)
    );
    for eps in [json!(0.0), json!(-1e-5), json!(1e-50), json!(2.0)] {
        assert_eq!(
            config_error(|c| c["bn_eps"] = eps.clone()),
            ConfigError::BnEps
        );
    }
    let level = |field: &str, v: u64| {
        let field = field.to_string();
        config_error(move |c| c["levels"][0][field.as_str()] = json!(v))
    };
    assert_eq!(
        level("n_in", 12),
        ConfigError::NIn {
            level: 1,
            expected: 3,
            found: 12
        }
    );
    assert_eq!(
        level("n_tails", 4),
        ConfigError::NTails {
            level: 1,
            expected: 3,
            found: 4
        }
    );
    assert_eq!(level("width", 0), ConfigError::Width { level: 1, found: 0 });
    assert_eq!(
        level("width", 1 << 20),
        ConfigError::Width {
            level: 1,
            found: 1 << 20
        }
    );
    assert_eq!(
        level("tail_width", 0),
        ConfigError::TailWidth { level: 1, found: 0 }
    );
    assert_eq!(level("depth", 0), ConfigError::Depth { level: 1, found: 0 });
    assert_eq!(level("depth", 6), ConfigError::Depth { level: 1, found: 6 });
    // u64::MAX does not fit the checks' arithmetic; it must still be an error, not an overflow.
    assert!(matches!(
        level("width", u64::MAX),
        ConfigError::Width { .. }
    ));
    // Level 2 of 64 → 256 takes side 128: n_in must be 48.
    let two = write_model(&tiny_wavelet(), Dtype::F32, 2).0;
    let e = err(&with_config(&two, |c| c["levels"][1]["n_in"] = json!(12)));
    assert_eq!(
        e,
        WeightError::InvalidConfig(ConfigError::NIn {
            level: 2,
            expected: 48,
            found: 12
        })
    );
}

#[test]
fn invalid_config_extension() {
    assert_eq!(
        config_error(|c| c["extension"] = json!("reflect")),
        ConfigError::Extension("reflect".into())
    );
}

#[test]
fn invalid_config_json() {
    let json_error = |e: ConfigError| matches!(e, ConfigError::Json(_));
    assert!(json_error(config_error(|c| c["unknown"] = json!(1))));
    assert!(json_error(config_error(
        |c| c["levels"][0]["unknown"] = json!(1)
    )));
    assert!(json_error(config_error(|c| {
        c.as_object_mut().unwrap().remove("bn_eps");
    })));
    assert!(json_error(config_error(|c| c["in_size"] = json!(32.0))));
    assert!(json_error(config_error(|c| c["in_size"] = json!(-32))));
    assert!(json_error(config_error(|c| c["extension"] = json!(0))));
    // A config given as an array of field values, and a level given as an array.
    assert!(json_error(config_error(|c| {
        let level = c["levels"][0].clone();
        let l: Vec<Value> = ["n_in", "n_tails", "width", "depth", "tail_width"]
            .iter()
            .map(|k| level[*k].clone())
            .collect();
        c["levels"][0] = Value::Array(l);
    })));
    for text in [
        "",
        "nope",
        "[32,64,3,\"symmetric\",0.00001,[]]",
        "{\"in_size\":32}",
    ] {
        let bytes = with_header(&micro_file(), |h| {
            h["__metadata__"]["nsbg.config"] = json!(text)
        });
        assert!(
            matches!(
                err(&bytes),
                WeightError::InvalidConfig(ConfigError::Json(_))
            ),
            "{text:?}"
        );
    }
}

#[test]
fn invalid_config_too_large_or_deep() {
    let big = format!("{{\"pad\":\"{}\"}}", " ".repeat(MAX_CONFIG_LEN));
    let bytes = with_header(&micro_file(), |h| {
        h["__metadata__"]["nsbg.config"] = json!(big)
    });
    assert_eq!(
        err(&bytes),
        WeightError::InvalidConfig(ConfigError::TooLarge)
    );
    assert_eq!(
        config_error(|c| c["levels"] = json!([[[[[[[[[[]]]]]]]]]])),
        ConfigError::TooDeep
    );
}

#[test]
fn invalid_pixel_config() {
    let bytes = write_model(&small_pixel(), Dtype::F32, 4).0;
    let pixel_error = |edit: &dyn Fn(&mut Value)| match err(&with_config(&bytes, edit)) {
        WeightError::InvalidConfig(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        pixel_error(&|c| c["levels"][0]["base"] = json!(0)),
        ConfigError::Base { level: 1, found: 0 }
    );
    // Level 1 upsamples 8 → 16: at most 4 poolings.
    assert_eq!(
        pixel_error(&|c| c["levels"][0]["depth"] = json!(5)),
        ConfigError::Depth { level: 1, found: 5 }
    );
    assert_eq!(
        pixel_error(&|c| c["levels"][0]["depth"] = json!(0)),
        ConfigError::Depth { level: 1, found: 0 }
    );
    // base 4096 is a valid base, but 4096·2² > MAX_PIXEL_CHANNELS: reported on the depth.
    assert_eq!(
        pixel_error(&|c| c["levels"][1]["base"] = json!(4096)),
        ConfigError::Depth { level: 2, found: 2 }
    );
    assert!(matches!(
        pixel_error(&|c| c["extension"] = json!("symmetric")),
        ConfigError::Json(_)
    ));
}

#[test]
fn unsupported_dtype() {
    for dtype in ["F64", "I8", "U8", "BOOL", "F8_E4M3", "f32", "XYZ"] {
        let bytes = with_header(&micro_file(), |h| {
            h["level1.inc.conv1.weight"]["dtype"] = json!(dtype)
        });
        let e = err(&bytes);
        assert_eq!(
            e,
            WeightError::UnsupportedDtype {
                tensor: "level1.inc.conv1.weight".into(),
                dtype: dtype.into()
            }
        );
        assert!(e.is_unsupported());
    }
}

#[test]
fn invalid_offset_gap() {
    let bytes = layout_file(
        json!({
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
        }),
        &[0; 12],
    );
    assert_eq!(err(&bytes), WeightError::InvalidOffset("b".into()));
}

#[test]
fn invalid_offset_overlap() {
    let bytes = layout_file(
        json!({
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }),
        &[0; 12],
    );
    assert_eq!(err(&bytes), WeightError::InvalidOffset("b".into()));
    // Two tensors on the same bytes.
    let bytes = layout_file(
        json!({
            "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        }),
        &[0; 4],
    );
    assert_eq!(err(&bytes), WeightError::InvalidOffset("b".into()));
}

#[test]
fn invalid_offset_not_from_zero_or_reversed() {
    let bytes = layout_file(
        json!({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}),
        &[0; 8],
    );
    assert_eq!(err(&bytes), WeightError::InvalidOffset("a".into()));
    let bytes = layout_file(
        json!({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, u64::MAX]}}),
        &[0; 8],
    );
    assert_eq!(err(&bytes), WeightError::TensorInvalidInfo("b".into()));
    let bytes = with_header(&micro_file(), |h| {
        let o = h["level1.inc.conv1.bias"]["data_offsets"].clone();
        h["level1.inc.conv1.bias"]["data_offsets"] = json!([o[1], o[0]]);
    });
    assert!(matches!(err(&bytes), WeightError::InvalidOffset(_)));
}

#[test]
fn validation_overflow() {
    for shape in [
        json!([1u64 << 32, 1u64 << 32]),
        json!([u64::MAX, 2]),
        json!([1u64 << 31, 1u64 << 31]),
    ] {
        let bytes = layout_file(
            json!({"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}),
            &[0; 4],
        );
        assert_eq!(err(&bytes), WeightError::ValidationOverflow("a".into()));
    }
}

#[test]
fn tensor_invalid_info() {
    let bytes = layout_file(
        json!({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}),
        &[0; 4],
    );
    assert_eq!(err(&bytes), WeightError::TensorInvalidInfo("a".into()));
    let bytes = layout_file(
        json!({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 8]}}),
        &[0; 8],
    );
    assert_eq!(err(&bytes), WeightError::TensorInvalidInfo("a".into()));
}

#[test]
fn metadata_incomplete_buffer() {
    let mut trailing = micro_file();
    trailing.push(0);
    assert_eq!(err(&trailing), WeightError::MetadataIncompleteBuffer);
    let bytes = micro_file();
    assert_eq!(
        err(&bytes[..bytes.len() - 1]),
        WeightError::MetadataIncompleteBuffer
    );
    // A polyglot: valid file followed by anything.
    let mut polyglot = micro_file();
    polyglot.extend_from_slice(b"PK\x03\x04");
    assert_eq!(err(&polyglot), WeightError::MetadataIncompleteBuffer);
}

#[test]
fn missing_tensor() {
    let config = micro_wavelet();
    let model: Model = random_model(&config, 5)
        .into_iter()
        .filter(|t| t.0 != "level1.tail2.conv2.bias")
        .collect();
    let e = write(&config, &BTreeMap::new(), &named(&model), Dtype::F32).unwrap_err();
    assert_eq!(
        e,
        WeightError::MissingTensor("level1.tail2.conv2.bias".into())
    );
    // The same file written without the check (a tool that forgot a tensor).
    let bytes = layout_file(json!({}), &[]);
    assert_eq!(
        err(&bytes),
        WeightError::MissingTensor("level1.inc.conv1.weight".into())
    );
}

#[test]
fn unexpected_tensor() {
    let config = micro_wavelet();
    let mut model = random_model(&config, 6);
    model.push(("level1.tail3.conv2.bias".into(), vec![3], vec![0.0; 3]));
    let e = write(&config, &BTreeMap::new(), &named(&model), Dtype::F32).unwrap_err();
    assert_eq!(
        e,
        WeightError::UnexpectedTensor("level1.tail3.conv2.bias".into())
    );
    // Parser side: append an extra tensor to a valid file.
    let bytes = micro_file();
    let (mut header, mut data) = split(&bytes);
    let end = data.len() as u64;
    header["zzz.extra"] = json!({"dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]});
    data.extend_from_slice(&1.0f32.to_le_bytes());
    assert_eq!(
        err(&raw(&header.to_string(), &data)),
        WeightError::UnexpectedTensor("zzz.extra".into())
    );
}

#[test]
fn wrong_shape() {
    let config = micro_wavelet();
    let mut model = random_model(&config, 8);
    let t = model
        .iter_mut()
        .find(|t| t.0 == "level1.inc.conv1.weight")
        .unwrap();
    t.1 = vec![2, 3, 9]; // same element count, wrong shape
    let e = write(&config, &BTreeMap::new(), &named(&model), Dtype::F32).unwrap_err();
    assert_eq!(
        e,
        WeightError::WrongShape {
            tensor: "level1.inc.conv1.weight".into(),
            expected: vec![2, 3, 3, 3],
            found: vec![2, 3, 9]
        }
    );
    let bytes = with_header(&micro_file(), |h| {
        h["level1.inc.conv1.weight"]["shape"] = json!([3, 2, 3, 3])
    });
    assert!(matches!(err(&bytes), WeightError::WrongShape { .. }));
}

#[test]
fn non_finite() {
    let name = "level1.up1.bn2.bias";
    for bits in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].map(f32::to_le_bytes) {
        let bytes = with_element(&micro_file(), name, 1, &bits);
        assert_eq!(err(&bytes), WeightError::NonFinite(name.into()));
    }
    let f16_file = write_model(&micro_wavelet(), Dtype::F16, 9).0;
    for bits in [0x7c00u16, 0xfc00, 0x7e00] {
        let bytes = with_element(&f16_file, name, 0, &bits.to_le_bytes());
        assert_eq!(err(&bytes), WeightError::NonFinite(name.into()));
    }
    let bf16_file = write_model(&micro_wavelet(), Dtype::BF16, 9).0;
    for bits in [0x7f80u16, 0xff80, 0x7fc0] {
        let bytes = with_element(&bf16_file, name, 0, &bits.to_le_bytes());
        assert_eq!(err(&bytes), WeightError::NonFinite(name.into()));
    }
}

#[test]
fn negative_variance() {
    let name = "level1.tail0.bn1.running_var";
    let bytes = with_element(&micro_file(), name, 0, &(-0.5f32).to_le_bytes());
    assert_eq!(err(&bytes), WeightError::NegativeVariance(name.into()));
    // -0.0 and 0.0 are fine.
    assert!(parse(&with_element(
        &micro_file(),
        name,
        0,
        &(-0.0f32).to_le_bytes()
    ))
    .is_ok());
}

// ---------------------------------------------------------------------------------------------------
// writer-only rules and accessors

#[test]
fn writer_rejects_what_the_parser_rejects() {
    let config = micro_wavelet();
    let model = random_model(&config, 10);
    let with = |edit: &dyn Fn(&mut Model), dtype: Dtype| {
        let mut m = model.clone();
        edit(&mut m);
        write(&config, &BTreeMap::new(), &named(&m), dtype).unwrap_err()
    };
    let nan = with(&|m| m[3].2[0] = f32::NAN, Dtype::F32);
    assert_eq!(nan, WeightError::NonFinite(model[3].0.clone()));
    // Finite in f32, infinite in f16 and bf16.
    assert_eq!(
        with(&|m| m[0].2[0] = 1e5, Dtype::F16),
        WeightError::NonFinite(model[0].0.clone())
    );
    assert_eq!(
        with(&|m| m[0].2[0] = f32::MAX, Dtype::BF16),
        WeightError::NonFinite(model[0].0.clone())
    );
    let var = model
        .iter()
        .position(|t| t.0.ends_with("running_var"))
        .unwrap();
    assert_eq!(
        with(&|m| m[var].2[0] = -1.0, Dtype::F32),
        WeightError::NegativeVariance(model[var].0.clone())
    );
    assert_eq!(
        with(&|m| m[1].2.push(0.0), Dtype::F32),
        WeightError::DataLengthMismatch {
            tensor: model[1].0.clone(),
            expected: model[1].2.len() as u64,
            found: model[1].2.len() + 1
        }
    );
    assert_eq!(
        with(
            &|m| {
                let t = m[2].clone();
                m.push(t)
            },
            Dtype::F32
        ),
        WeightError::DuplicateKey(model[2].0.clone())
    );

    for key in ["nsbg.format", "nsbg.kind", "nsbg.config"] {
        let meta = BTreeMap::from([(key.to_string(), "x".to_string())]);
        let e = write(&config, &meta, &named(&model), Dtype::F32).unwrap_err();
        assert_eq!(e, WeightError::ReservedMetadataKey(key.into()));
        assert_eq!(e.category(), ErrorCategory::InvalidArgument);
    }
    let mut bad = WaveletDecoderConfig::uniform(32, 1, 2, 1, 1, Extension::Symmetric);
    bad.bn_eps = f64::NAN;
    let e = write(
        &ModelConfig::WaveletDecoder(bad),
        &BTreeMap::new(),
        &named(&model),
        Dtype::F32,
    )
    .unwrap_err();
    assert_eq!(e, WeightError::InvalidConfig(ConfigError::BnEps));
}

#[test]
fn accessors() {
    let bytes = micro_file();
    let file = parse(&bytes).unwrap();
    assert_eq!(
        file.tensor_f32("nope"),
        Err(WeightError::NoSuchTensor("nope".into()))
    );
    assert!(file.tensor("nope").is_none());
    assert_eq!(
        file.tensor_shape("level1.tail2.conv2.weight"),
        Some(&[3, 1, 3, 3][..])
    );
    let view = file.tensor("level1.inc.conv1.weight").unwrap();
    assert_eq!(view.len(), 2 * 3 * 9);
    assert!(!view.is_empty());
    assert_eq!(view.data().len(), view.len() * 4);
    assert_eq!(
        view.values().collect::<Vec<_>>(),
        view.to_f32_vec().unwrap()
    );
    let config = file.config();
    assert_eq!(
        (
            config.in_size(),
            config.out_size(),
            config.channels(),
            config.level_count()
        ),
        (32, 64, 3, 1)
    );
    assert_eq!(config.extension(), Some(Extension::Periodization));
    assert_eq!(small_pixel().extension(), None);
    assert_eq!(Kind::from_name("pixel-decoder"), Some(Kind::PixelDecoder));
    assert_eq!(Dtype::from_name("BF16"), Some(Dtype::BF16));
}

#[test]
fn error_categories_and_messages() {
    let format = [
        WeightError::HeaderTooSmall,
        WeightError::MetadataIncompleteBuffer,
        WeightError::NonFinite("x".into()),
        WeightError::InvalidConfig(ConfigError::BnEps),
    ];
    for e in format {
        assert!(e.is_format() && !e.is_unsupported(), "{e}");
    }
    assert_eq!(
        WeightError::OutOfMemory.category(),
        ErrorCategory::OutOfMemory
    );
    let e = WeightError::InvalidConfig(ConfigError::NIn {
        level: 2,
        expected: 48,
        found: 12,
    });
    assert_eq!(
        e.to_string(),
        "invalid nsbg.config: level 2: n_in is 12, must be 48"
    );
    let source = core::error::Error::source(&e).expect("config error is the source");
    assert_eq!(source.to_string(), "level 2: n_in is 12, must be 48");
}
