"""Training: segmentation (joint or independent), vehicle presence, YOLO detector."""
