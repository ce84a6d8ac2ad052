"""HTML views of the model lifecycle (admins); each calls one service or selector and renders.

One module per concern: training runs (`training`), the model-version pages and their forms
(`versions`), two versions side by side and shadow evaluations (`compare`), label snapshots
(`snapshots`); `common` holds what they share. Their paths stay under /review/ (bookmarks
and guides name them), their URL names are `learning:...`.
"""

from learning.views.compare import model_compare, model_compare_overlay, shadow_evaluation_create
from learning.views.snapshots import snapshot_create, snapshot_download
from learning.views.training import (
    training_run_cancel,
    training_run_detail,
    training_run_new,
    training_run_progress,
    training_runs,
)
from learning.views.versions import (
    model_version_detail,
    model_version_status,
    model_version_target_precision,
    model_version_threshold,
    model_versions,
)

__all__ = [
    "model_compare",
    "model_compare_overlay",
    "model_version_detail",
    "model_version_status",
    "model_version_target_precision",
    "model_version_threshold",
    "model_versions",
    "shadow_evaluation_create",
    "snapshot_create",
    "snapshot_download",
    "training_run_cancel",
    "training_run_detail",
    "training_run_new",
    "training_run_progress",
    "training_runs",
]
