//! Feeds arbitrary bytes to the ONNX importer; a model that imports must also survive
//! statistics and the IR dump. Any panic, overflow, OOM or timeout is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // A base folder that does not exist: external data references must fail cleanly.
    let base = Path::new("/nonexistent-hetc-fuzz");
    if let Ok(model) = hetc_onnx::import_bytes(data.to_vec(), base, &Default::default()) {
        let _ = hetc_ir::stats::model_stats(&model.graph);
        let _ = hetc_ir::text::dump(&model.graph);
    }
});
