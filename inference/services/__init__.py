"""Services of inference, by concern: model versions, runs, cases, derived files.
Callers use `inference.services.<name>`."""

from inference.services.cases import (
    CASE_TASK,
    case_check_complete,
    case_finalise,
    cases_sweep,
)
from inference.services.files import (
    derived_files_sweep,
)
from inference.services.runs import (
    PHOTO_TASK,
    run_claim,
    run_execute,
    run_fail,
    run_heartbeat,
    run_requeue,
    runs_create,
    runs_sweep,
)
from inference.services.versions import (
    model_version_active,
    model_version_promote,
    model_version_register,
    model_version_retire,
    model_version_set_target_precision,
    model_version_set_threshold,
    models_register_shipped,
)

__all__ = [
    "CASE_TASK",
    "PHOTO_TASK",
    "case_check_complete",
    "case_finalise",
    "cases_sweep",
    "derived_files_sweep",
    "model_version_active",
    "model_version_promote",
    "model_version_register",
    "model_version_retire",
    "model_version_set_target_precision",
    "model_version_set_threshold",
    "models_register_shipped",
    "run_claim",
    "run_execute",
    "run_fail",
    "run_heartbeat",
    "run_requeue",
    "runs_create",
    "runs_sweep",
]
