"""What the model lifecycle's pages share: the refusal a non-admin reads on the model-version,
comparison and label-export pages."""

ADMIN_ONLY = "Only admins manage model versions."
