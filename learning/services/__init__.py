"""Writes of the model lifecycle: label snapshots, training runs, promotion with evidence.

Label snapshots (`snapshots`): the reviewed labels exported as COCO, PNG label maps and YOLO,
and their archive. Training runs fine-tune a segmentation model version on those snapshots
(and, if asked, public datasets) with the CPU training stack (`damage_vision.training`), then
package and register the result as a **candidate** version; promoting it stays a person's
call, recorded with the shadow evaluation's figures (`model_versions`). Training by concern:
`validation` (checking a start), `starting` (creating and cancelling a run), `worker`
(claiming, failing and sweeping runs), `progress` (heartbeat, log, progress row), `training`
(the config and the task body), `packaging` and `calibration` (the candidate). Shadow
evaluations are `learning.shadow`'s. Callers use `learning.services.<name>`; the Celery tasks
stay in `learning.tasks`.
"""

from learning.services.model_versions import model_version_promote
from learning.services.progress import PROGRESS_EVERY_S
from learning.services.snapshots import (
    ALREADY_COMPRESSED,
    VERSION_PATTERN,
    export_root,
    snapshot_archive,
    snapshot_export,
)
from learning.services.starting import (
    LOG,
    TRAINING_TASK,
    training_root,
    training_run_cancel,
    training_run_create,
)
from learning.services.training import (
    CONFIG,
    training_run_config,
    training_run_execute,
)
from learning.services.validation import PUBLIC_LIMIT_MAX, SCHEDULE_BOUNDS
from learning.services.worker import (
    training_run_claim,
    training_run_fail,
    training_runs_sweep,
)

__all__ = [
    "ALREADY_COMPRESSED",
    "CONFIG",
    "LOG",
    "PROGRESS_EVERY_S",
    "PUBLIC_LIMIT_MAX",
    "SCHEDULE_BOUNDS",
    "TRAINING_TASK",
    "VERSION_PATTERN",
    "export_root",
    "model_version_promote",
    "snapshot_archive",
    "snapshot_export",
    "training_root",
    "training_run_cancel",
    "training_run_claim",
    "training_run_config",
    "training_run_create",
    "training_run_execute",
    "training_run_fail",
    "training_runs_sweep",
]
