"""Export a run folder into a deployable bundle (ONNX, SavedModel, TFLite, quantized Keras).

`export(run_dir, format=...)` lives in `zoo.export.exporter` (it imports TensorFlow);
`zoo.export.runtime` loads an ONNX bundle with onnxruntime and numpy only.
"""
