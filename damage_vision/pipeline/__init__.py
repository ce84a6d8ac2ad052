"""The per-photo pipeline: images in, `PhotoResult`s out (preprocess, the ONNX or torch back
end, post-processing, grouping, sizing, severity, calibration), and its settings, result
types and serialisation."""
