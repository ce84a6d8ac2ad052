"""Training and evaluation data: COCO loading, taxonomy mapping, cached label maps,
joint part + damage datasets and the paper-1 augmentations (never imports Django)."""
