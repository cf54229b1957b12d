"""Text generation: options, prompt encoding and stop strings (TF-free), the ONNX decoding loop."""
