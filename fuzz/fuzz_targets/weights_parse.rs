//! Weight file parser on arbitrary bytes: never panics; and whatever it accepts is fully readable and
//! rewrites (as F32) into a file that parses to the same configuration and values.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use nsbg_core::weights::{parse, write, Dtype, NamedTensor, KEY_CONFIG, KEY_FORMAT, KEY_KIND};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = parse(data) else {
        return;
    };
    let tensors: Vec<(&str, &[usize], Vec<f32>)> = file
        .tensors()
        .map(|(name, view)| (name, view.shape(), view.to_f32_vec().expect("accepted tensors are readable")))
        .collect();
    let named: Vec<NamedTensor<'_>> = tensors
        .iter()
        .map(|(name, shape, values)| NamedTensor { name, shape, data: values })
        .collect();
    let extra: BTreeMap<String, String> = file
        .metadata()
        .iter()
        .filter(|(k, _)| ![KEY_FORMAT, KEY_KIND, KEY_CONFIG].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let bytes = write(file.config(), &extra, &named, Dtype::F32).expect("accepted files can be rewritten");
    let again = parse(&bytes).expect("rewritten file parses");
    assert_eq!(again.config(), file.config());
    assert_eq!(again.metadata(), file.metadata());
    for (name, _, values) in &tensors {
        assert_eq!(&again.tensor_f32(name).expect("same tensors"), values);
    }
});
