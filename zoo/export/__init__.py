"""Export a run folder into deployable bundles (ONNX, SavedModel, TFLite, quantized Keras).

`export(run_dir, format=...)` lives in `zoo.export.exporter` (it imports TensorFlow); what is exported
(the model, or a GAN's generator, a VAE's encoder and decoder) in `zoo.tasks.export_parts`;
`zoo.runtime.bundle` loads an ONNX bundle with onnxruntime and numpy only.
"""
