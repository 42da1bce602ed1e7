//! Feeds arbitrary bytes to the ONNX importer. A model that imports must also survive the
//! statistics and the IR dump; one that does not must get a one-line error. Any panic,
//! overflow, OOM or timeout is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // A base folder that does not exist: external data references must fail cleanly.
    let base = Path::new("/nonexistent-hetc-fuzz");
    match hetc_onnx::import_bytes(data.to_vec(), base, &Default::default()) {
        Ok(model) => {
            let _ = hetc_ir::stats::model_stats(&model.graph);
            let _ = hetc_ir::text::dump(&model.graph);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains(['\n', '\r']), "error is not one line: {msg:?}");
        }
    }
});
