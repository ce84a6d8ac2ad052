"""Model versions: the manifest registry (`registry`) and writing a version, ONNX included
(`export`)."""
